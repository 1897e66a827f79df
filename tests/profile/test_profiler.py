"""`edgekd profile` / `profile()`: profile.json of real artefacts under one latency definition."""

from __future__ import annotations

import json

import pytest
import torch

from edgekd.errors import ConfigError
from edgekd.profile import HOST_LATENCY, ProfileConfig, TimingConfig, profile, system_facts
from edgekd.records import PROFILE_SCHEMA

QUICK = TimingConfig(warmup_ms=20, duration_s=0.25, min_iterations=10)


def test_profile_json_has_per_batch_figures_and_machine_facts(artefacts, tmp_path):
    result = profile(ProfileConfig(artefact=artefacts.student_onnx, batches=(1, 4), timing=QUICK, out_dir=tmp_path))
    payload = json.loads((tmp_path / "profile.json").read_text())
    assert payload == result.payload and payload["schema"] == PROFILE_SCHEMA
    assert payload["artefact"]["format"] == "onnx" and payload["backend"]["backend"] == "ort"
    assert payload["backend"]["threads"] == torch.get_num_threads()
    assert payload["latency_definition"] == HOST_LATENCY and payload["device_latency_definition"] is None
    assert payload["machine"] == system_facts()["fingerprint"] == payload["system"]["fingerprint"]
    assert payload["timing"] == {"warmup_ms": 20, "duration_s": 0.25, "min_iterations": 10, "settle": None}
    assert [b["batch"] for b in payload["batches"]] == [1, 4]
    for entry in payload["batches"]:
        assert entry["iterations"] >= 10 and entry["total_s"] >= 0.25 and entry["stopped"] == "duration"
        assert (
            entry["min_ms"]
            <= entry["median_ms"]
            <= entry["p90_ms"]
            <= entry["p95_ms"]
            <= entry["p99_ms"]
            <= entry["max_ms"]
        )
        assert entry["throughput_img_s"] == pytest.approx(entry["batch"] * 1000 / entry["mean_ms"])
        # Measured independently (images / wall time of the loop): the wall time holds every timed
        # call plus the loop's own gaps, so it can only be lower; how much lower depends on how
        # often the scheduler preempts the process between calls (a busy machine), not on edgekd.
        assert (
            0.5 * entry["throughput_img_s"] <= entry["wall_throughput_img_s"] <= entry["throughput_img_s"] * (1 + 1e-9)
        )
        assert entry["device"] is None and entry["power"] is None


def test_teacher_and_student_are_timed_under_the_same_definition_and_threads(artefacts, tmp_path):
    teacher = profile(
        ProfileConfig(artefact=artefacts.teacher, batches=(2,), threads=1, timing=QUICK, out_dir=tmp_path / "t")
    ).payload
    student = profile(
        ProfileConfig(artefact=artefacts.student_onnx, batches=(2,), threads=1, timing=QUICK, out_dir=tmp_path / "s")
    ).payload
    assert teacher["latency_definition"] == student["latency_definition"]
    assert teacher["backend"]["threads"] == student["backend"]["threads"] == 1
    assert teacher["machine"] == student["machine"]
    assert teacher["artefact"]["role"] == "teacher" and student["artefact"]["role"] == "student"


def test_thread_setting_is_restored(artefacts, tmp_path):
    before = torch.get_num_threads()
    profile(ProfileConfig(artefact=artefacts.student, batches=(1,), threads=1, timing=QUICK, out_dir=tmp_path))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "changes",
    [
        {"batches": ()},
        {"batches": (0,)},
        {"threads": 0},
        {"device": "tpu"},
        {"timing": TimingConfig(min_iterations=2)},
        {"device": "cuda"} if not torch.cuda.is_available() else {"batches": (-1,)},
    ],
)
def test_bad_options_are_refused(artefacts, tmp_path, changes):
    with pytest.raises(ConfigError):
        profile(ProfileConfig(artefact=artefacts.student_onnx, out_dir=tmp_path, **changes))
    assert not (tmp_path / "profile.json").exists()


def test_cli_prints_the_table_and_the_latency_definition(run_cli, artefacts, tmp_path):
    result = run_cli(
        "profile",
        artefacts.student_int8,
        "--batch",
        "1,2",
        "--duration",
        "0.2",
        "--warmup-ms",
        "10",
        "--threads",
        "1",
        "--out",
        tmp_path,
    )
    assert result.code == 0, result.stderr
    payload = json.loads((tmp_path / "profile.json").read_text())
    assert payload["artefact"]["precision"] == "int8" and [b["batch"] for b in payload["batches"]] == [1, 2]
    assert "host to host" in result.stdout and "profile.json" in result.stdout


def test_cli_bad_batch_list_exits_2(run_cli, artefacts, tmp_path):
    result = run_cli("profile", artefacts.student_onnx, "--batch", "1,eight", "--out", tmp_path)
    assert result.code == 2 and "Traceback" not in result.stderr and "--batch" in result.stderr


def test_cli_backend_that_cannot_run_the_artefact_exits_2(run_cli, artefacts, tmp_path):
    result = run_cli("profile", artefacts.student_onnx, "--backend", "torch", "--out", tmp_path)
    assert result.code == 2 and "--backend ort" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "profile.json").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_profile_records_device_time(artefacts, tmp_path):
    payload = profile(
        ProfileConfig(artefact=artefacts.teacher, device="cuda", batches=(1, 8), timing=QUICK, out_dir=tmp_path)
    ).payload
    assert payload["system"]["gpu"] and payload["device_latency_definition"]
    for entry in payload["batches"]:
        assert entry["device"]["iterations"] >= 10 and entry["device"]["mean_ms"] > 0
