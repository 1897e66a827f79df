"""`distill: {student: auto, budget_ms: …}`: the student search as the pipeline's distill run, on
digits with two real tiny timm candidates; export, eval and gate take the chosen student as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

PIPELINE = {
    "name": "auto",
    "data": {"spec": "digits", "val_size": 0.15},
    "teacher": {"arch": "resnet10t", "img_size": 16, "epochs": 1, "batch_size": 64, "lr": 0.05},
    # A generous median budget: both candidates fit on any machine, however loaded.
    "distill": {
        "student": "auto",
        "budget_ms": 50,
        "percentile": "median",
        "candidates": ["test_resnet", "test_efficientnet"],
        "img_size": 16,
        "epochs": 2,
        "device": "cpu",
    },
    "export": {"exporter": "torchscript", "latency": False},
    "eval": {},
    "report": {},
    "gate": {"max_size_mb": 20, "max_drop_vs_teacher": 100},
}


def write(path: Path, **distill) -> Path:
    content = json.loads(json.dumps(PIPELINE))
    content["distill"].update(distill)
    content["distill"] = {k: v for k, v in content["distill"].items() if v is not None}
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


@pytest.mark.slow  # ~40 s on 2 loaded cores: teacher, two exports timed, three distill runs, export, eval
def test_auto_student_is_the_distill_run_that_export_eval_and_gate_take(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("run", write(tmp_path / "auto.yaml"))
    assert result.code == 0, result.stderr
    root = tmp_path / "runs" / "auto"
    search = json.loads((root / "distill" / "search" / "students.json").read_text())
    chosen = search["chosen"]["arch"]
    assert chosen in ("test_resnet", "test_efficientnet")
    card = json.loads((root / "distill" / "kd" / "student.json").read_text())
    assert card["arch"] == chosen  # the run the search fully distilled, copied as this stage's run
    assert (root / "distill" / "kd" / "student.safetensors").read_bytes() == (
        Path(search["chosen"]["run_dir"]) / "student.safetensors"
    ).read_bytes()
    assert set(search["cost"]) >= {"export", "timing", "rung_0", "finalist"}
    assert (root / "export" / "kd" / "student.onnx").is_file()
    assert "Gate passed" in (root / "gate" / "gate.md").read_text()

    again = run_cli("run", tmp_path / "auto.yaml")  # finished: nothing searched again
    assert again.code == 0 and "cached distill/kd" in again.stderr and "successive halving" not in again.stderr


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"budget_ms": None}, "add 'budget_ms: MS'"),
        ({"student": "mobilenetv3_small_050"}, "set 'student: auto'"),
        ({"seeds": [0, 1]}, "kd, one seed"),
        ({"budget_ms": -1}, "budget_ms"),
    ],
)
def test_auto_student_needs_a_budget_and_one_kd_run(run_cli, tmp_path, monkeypatch, changes, message):
    monkeypatch.chdir(tmp_path)
    result = run_cli("run", write(tmp_path / "auto.yaml", **changes))
    assert result.code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_auto_student_on_another_device_points_to_latency_from(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("run", write(tmp_path / "auto.yaml", target="orin"))
    assert result.code == 2 and "--latency-from" in result.stderr and "Traceback" not in result.stderr
