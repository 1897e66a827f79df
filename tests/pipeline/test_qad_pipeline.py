"""A pipeline with quantization-aware distillation, for real on digits: teacher → kd → qad (from
kd) → export → eval → report → gate, the PTQ and QAD INT8 models side by side, then a rerun
that reuses every finished stage, and the `from:` mistakes refused before anything runs."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

from edgekd.errors import ConfigError
from edgekd.pipeline import load_pipeline

REPO = Path(__file__).resolve().parents[2]
needs_modelopt = pytest.mark.skipif(
    importlib.util.find_spec("modelopt") is None, reason="NVIDIA ModelOpt not installed: pip install 'edgekd[modelopt]'"
)

PIPELINE = {
    "name": "qad",
    "data": {"spec": "digits", "val_size": 0.15},
    "teacher": {"arch": "resnet10t", "img_size": 16, "epochs": 1, "batch_size": 64, "lr": 0.05},
    "distill": {
        "student": "test_resnet",
        "img_size": 16,
        "epochs": 2,
        "batch_size": 64,
        "lr": 0.1,
        "device": "cpu",
        "methods": [
            "kd",
            {
                "method": "kd",
                "name": "qad",
                "quantize": "int8",
                "from": "kd",
                "epochs": 1,
                "calib": "calibration/digits-val.yaml",
            },
        ],
    },
    "export": {"int8": True, "int8_target": ["tensorrt"], "calib": "calibration/digits-val.yaml", "latency": False},
    "eval": {},
    "profile": {"batches": [1], "duration_s": 0.1, "warmup_ms": 10, "include_teacher": False},
    "report": {},
    "gate": {"max_drop_vs_teacher": 100, "artefacts": ["artefact"]},
}


def statuses(stderr: str) -> dict[str, str]:
    return {
        p[1]: p[0]
        for p in (line.split() for line in stderr.splitlines())
        if len(p) >= 2 and p[0] in ("cached", "ran", "kept")
    }


@needs_modelopt
@pytest.mark.slow
def test_a_pipeline_distils_quantizes_and_reports_ptq_beside_qad(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    shutil.copytree(REPO / "calibration", tmp_path / "calibration")
    pipeline = tmp_path / "qad.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE, sort_keys=False))

    first = run_cli("run", pipeline)
    assert first.code == 0, first.stderr
    root = tmp_path / "runs" / "qad"
    card = json.loads((root / "distill" / "qad" / "student.json").read_text())
    assert (
        Path(card["training"]["quantize"]["from"]["path"]).resolve() == root / "distill" / "kd" / "student.safetensors"
    )
    manifest = json.loads((root / "distill" / "qad" / "manifest.json").read_text())
    assert {"fp32 student", "fp32 student.card", "calibration spec"} <= set(manifest["inputs"])
    # The FP32 student's TensorRT INT8 is ONNX Runtime PTQ; the QAD student's comes from its quantizers.
    assert (root / "export" / "kd" / "student-kd.int8-tensorrt.onnx").exists()
    assert (root / "export" / "qad" / "student-qad.int8-tensorrt.onnx").exists()

    report = json.loads((root / "report" / "report.json").read_text())
    by_name = {m["name"]: m for m in report["models"]}
    ptq, qad = by_name["student-kd.int8-tensorrt.onnx"], by_name["student-qad.int8-tensorrt.onnx"]
    assert ptq["precision"] == "int8" and qad["precision"] == "int8-qad"
    assert ptq["target"] == qad["target"] == "tensorrt"
    assert ptq["accuracy"]["top1"] is not None and qad["accuracy"]["top1"] is not None
    assert "int8-qad" in (root / "report" / "report.md").read_text()
    # Both INT8 models beside the one FP32 student (kd): PTQ quantized it, QAD started from it.
    beside = {entry["model"]: entry for entry in report["int8_vs_fp32"]}
    ptq_row, qad_row = beside["student-kd.int8-tensorrt.onnx"], beside["student-qad.int8-tensorrt.onnx"]
    assert (ptq_row["method"], qad_row["method"]) == ("ptq", "qad")
    assert ptq_row["student"] == qad_row["student"] and ptq_row["student_top1"] == qad_row["student_top1"] is not None
    assert qad_row["drop_pts"] == pytest.approx(qad_row["student_top1"] - qad["accuracy"]["top1"])
    gate = json.loads((root / "gate" / "gate.json").read_text())
    gated = {row["artefact"] for row in gate["rows"] if row["check"] == "max_drop_vs_teacher"}
    assert {"student-kd.int8-tensorrt.onnx", "student-qad.int8-tensorrt.onnx"} <= gated

    again = run_cli("run", pipeline)
    assert again.code == 0 and set(statuses(again.stderr).values()) == {"cached"}, again.stderr


def _write(tmp_path: Path, methods: list) -> Path:
    content = json.loads(json.dumps(PIPELINE))
    content["distill"]["methods"] = methods
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ([{"method": "kd", "quantize": "int8"}], "name it with 'from:'"),
        (["kd", {"method": "kd", "name": "q", "from": "kd"}], "'from' only applies to quantization-aware distillation"),
        ([{"method": "kd", "quantize": "int4", "from": "kd"}], "quantize"),
    ],
)
def test_qad_keys_are_checked_when_the_file_is_read(tmp_path, methods, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(_write(tmp_path, methods))


@needs_modelopt
@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ([{"method": "kd", "name": "q", "quantize": "int8", "from": "kd"}, "kd"], "names no earlier run"),
        (
            [
                "kd",
                {"method": "kd", "name": "q", "quantize": "int8", "from": "kd"},
                {"method": "kd", "name": "q2", "quantize": "int8", "from": "q"},
            ],
            "itself a QAD run",
        ),
    ],
)
def test_a_qad_run_must_start_from_an_earlier_fp32_run(run_cli, tmp_path, monkeypatch, methods, message):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "calibration", tmp_path / "calibration")
    result = run_cli("run", _write(tmp_path, methods), "--dry-run")
    assert result.code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


def test_with_several_seeds_each_qad_run_starts_from_its_own_seed(tmp_path, monkeypatch):
    from edgekd.pipeline.plan import Artefact, PlanContext
    from edgekd.pipeline.stages import distill

    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "calibration", tmp_path / "calibration")
    content = json.loads(json.dumps(PIPELINE))
    content["distill"]["seeds"] = [0, 1]
    path = tmp_path / "seeds.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    pipeline = load_pipeline(path)
    teacher = Artefact("teacher", "teacher", tmp_path / "runs" / "qad" / "teacher" / "teacher.safetensors", "teacher")
    runs = {r.run_id: r for r in distill.plan(PlanContext(pipeline, pipeline.root, artefacts={"teacher": [teacher]}))}
    assert set(runs) == {"kd-s0", "kd-s1", "qad-s0", "qad-s1"}
    for seed in (0, 1):
        assert (
            runs[f"qad-s{seed}"].inputs["fp32 student"]
            == pipeline.root / "distill" / f"kd-s{seed}" / "student.safetensors"
        )
        assert runs[f"qad-s{seed}"].config["distill"]["train"]["seed"] == seed
    assert "fp32 student" not in runs["kd-s0"].inputs
