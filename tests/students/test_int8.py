"""`--int8`: a candidate's INT8 model is exported and timed only where it can change the verdict."""

from __future__ import annotations

import shutil

import pytest
from students_helpers import DIGITS, IMG_SIZE

from edgekd.engine import SilentProgress
from edgekd.profile import TimingConfig
from edgekd.students import int8
from edgekd.students.candidates import prepare
from edgekd.students.config import StudentsConfig
from edgekd.students.latency import INT8_MAX_SPEEDUP, choose_precision, int8_skip_reason, measure

QUICK = TimingConfig(warmup_ms=20.0, duration_s=0.2)


def test_int8_is_skipped_when_fp32_fits_or_no_int8_speed_up_could_make_it_fit():
    assert "already within" in int8_skip_reason(0.9, 1.0)
    assert "already within" in int8_skip_reason(1.0, 1.0)
    assert int8_skip_reason(1.5, 1.0) is None
    assert int8_skip_reason(INT8_MAX_SPEEDUP, 1.0) is None  # exactly at the bound: INT8 might just fit
    assert "beyond what INT8 gains" in int8_skip_reason(INT8_MAX_SPEEDUP * 1.01, 1.0)


@pytest.fixture(scope="module")
def timed_candidate(tmp_path_factory):
    """A real tiny candidate: exported (FP32, parity-gated) and timed with ONNX Runtime."""
    root = tmp_path_factory.mktemp("int8-candidates")
    dataset = DIGITS.load(IMG_SIZE)
    candidate = prepare(
        "test_efficientnet",
        dataset,
        IMG_SIZE,
        root,
        seed=0,
        int8_calib=None,
        exporter="torchscript",
        threads=1,
        progress=SilentProgress(),
    )
    assert not candidate.dropped and set(candidate.onnx) == {"fp32"}
    fp32 = candidate.onnx["fp32"]
    candidate.latency["fp32"] = measure(
        fp32, fp32.parent / "profile", backend="ort", device="cpu", batch=1, threads=1, timing=QUICK,
        progress=SilentProgress(),
    )  # fmt: skip
    choose_precision(candidate, "median_ms")
    calib = root / "calibration.yaml"
    calib.write_text("dataset: digits\nsplit: val\nsamples: 64\nseed: 0\n")
    return root, dataset, candidate, calib


def _decide(timed_candidate, budget_factor: float, tmp_path):
    root, dataset, timed, calib = timed_candidate
    folder = tmp_path / "candidates" / timed.arch  # its own copy: INT8 goes beside it, in export-int8/
    shutil.copytree(root / timed.arch, folder)
    fp32 = folder / timed.onnx["fp32"].relative_to(root / timed.arch)
    candidate = type(timed)(timed.arch, onnx={"fp32": fp32}, latency=dict(timed.latency))
    choose_precision(candidate, "median_ms")
    config = StudentsConfig(
        teacher=root, out_dir=tmp_path, budget_ms=candidate.latency_ms * budget_factor, percentile="median",
        threads=1, timing=QUICK,
    )  # fmt: skip
    int8.time_where_it_matters(config, [candidate], calib, dataset, SilentProgress())
    return candidate


@pytest.mark.parametrize("budget_factor", [2.0, 1 / (2 * INT8_MAX_SPEEDUP)])
def test_a_candidate_whose_verdict_int8_cannot_change_is_left_at_fp32_and_says_why(
    timed_candidate, budget_factor, tmp_path
):
    candidate = _decide(timed_candidate, budget_factor, tmp_path)
    assert set(candidate.latency) == {"fp32"} and "int8" not in candidate.onnx
    assert candidate.int8.startswith("not measured: FP32")
    assert not (candidate.onnx["fp32"].parent.parent / "export-int8").exists()  # nothing quantized
    candidate.decision = "over budget: …"
    int8.note_in_decisions([candidate])
    assert candidate.decision.startswith("over budget: …; INT8 not measured")


def test_a_candidate_just_over_budget_gets_its_int8_model_exported_gated_and_timed(timed_candidate, tmp_path):
    candidate = _decide(timed_candidate, 0.5, tmp_path)
    assert candidate.int8 is None, candidate.int8
    assert candidate.onnx["int8"].exists() and (candidate.onnx["int8"].parent / "export.json").exists()
    assert set(candidate.latency) == {"fp32", "int8"} and candidate.latency["int8"]["iterations"] >= 10
    assert candidate.latency_ms == min(s["median_ms"] for s in candidate.latency.values())
