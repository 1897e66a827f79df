"""`edgekd run` with the real stages on digits: a full run, an all-cached rerun, an export edit
that reruns export onwards only, a failing gate (exit 1) and bad YAML (exit 2, nothing run)."""

from __future__ import annotations

import json
import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

PIPELINE = {
    "name": "tiny",
    "data": {"spec": "digits", "val_size": 0.15},
    "teacher": {"arch": "resnet10t", "img_size": 16, "epochs": 1, "batch_size": 64, "lr": 0.05},
    "distill": {
        "student": "mobilenetv3_small_050",
        "img_size": 16,
        "methods": ["kd"],
        "epochs": 1,
        "batch_size": 64,
        "lr": 0.05,
    },
    "export": {"int8": True, "int8_target": ["cpu"], "calib": "calibration/digits-val.yaml", "latency": False},
    "eval": {},
    "profile": {"batches": [1], "duration_s": 0.1, "warmup_ms": 10},
    "report": {},
    "gate": {"max_size_mb": 20, "max_drop_vs_teacher": 100},
}


def write(path: Path, **sections) -> Path:
    content = json.loads(json.dumps(PIPELINE))
    for name, changes in sections.items():
        content[name].update(changes)
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def statuses(stderr: str) -> dict[str, str]:
    """'  cached eval/teacher  top-1 …' lines → {label: status}."""
    found = {}
    for line in stderr.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("cached", "ran", "kept"):
            found[parts[1]] = parts[0]
    return found


@pytest.mark.slow
def test_run_caches_reruns_export_onwards_and_gates(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    shutil.copytree(REPO / "calibration", tmp_path / "calibration")
    pipeline = write(tmp_path / "tiny.yaml")

    first = run_cli("run", pipeline)
    assert first.code == 0, first.stderr
    root = tmp_path / "runs" / "tiny"
    report = json.loads((root / "report" / "report.json").read_text())
    assert {m["name"] for m in report["models"]} >= {
        "teacher.safetensors",
        "student.safetensors",
        "student.onnx",
        "student.int8-cpu.onnx",
    }
    assert (root / "report" / "report.html").exists() and "Gate passed" in (root / "gate" / "gate.md").read_text()
    assert ET.parse(root / "gate" / "junit.xml").getroot().get("failures") == "0"
    manifest = json.loads((root / "export" / "kd" / "manifest.json").read_text())
    assert (
        set(manifest["inputs"]) == {"student", "student.card", "calibration spec"}
        and "student.onnx" in manifest["outputs"]
    )
    assert json.loads((root / "profile" / "teacher" / "manifest.json").read_text())["machine"]

    started = time.perf_counter()
    second = run_cli("run", pipeline)
    assert second.code == 0 and time.perf_counter() - started < 20
    again = statuses(second.stderr)
    assert len(again) == 13 and set(again.values()) == {"cached"}, second.stderr

    third = run_cli("run", write(pipeline, export={"simplify": False}))
    assert third.code == 0, third.stderr
    status = statuses(third.stderr)
    assert status["teacher"] == status["distill/kd"] == "cached"  # never the training
    assert status["export/kd"] == "ran" and status["report"] == "ran" and status["gate"] == "ran"
    assert status["eval/teacher"] == status["eval/student"] == status["profile/student"] == "cached"

    failing = run_cli("run", write(pipeline, export={"simplify": False}, gate={"max_size_mb": 0.5}))
    assert failing.code == 1 and "gate failed" in failing.stderr and "GATE FAILED" in failing.stdout
    assert statuses(failing.stderr)["gate"] == "ran" and statuses(failing.stderr)["report"] == "cached"
    junit = ET.parse(root / "gate" / "junit.xml").getroot()
    assert int(junit.get("failures")) >= 2

    # Another pipeline reusing this teacher by path: the teacher is given, not trained.
    reuse = {**PIPELINE, "name": "reuse", "teacher": {"path": "runs/tiny/teacher"}}
    (tmp_path / "reuse.yaml").write_text(yaml.safe_dump(reuse, sort_keys=False))
    plan = run_cli("run", tmp_path / "reuse.yaml", "--dry-run")
    assert plan.code == 0, plan.stderr
    rows = [line.split() for line in plan.stdout.splitlines()]
    assert ["teacher", "given"] == [r for r in rows if r and r[0] == "teacher"][0][:2]
    assert any(r[:3] == ["distill", "kd", "will"] for r in rows)


def test_bad_yaml_exits_2_in_one_line_and_runs_nothing(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: tiny\ndata: {spec: digits}\nteacher:\n  arch: resnet10t\n  epochs: two\n")
    result = run_cli("run", bad)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}:5: 'teacher.epochs': Input should be a valid integer, unable to parse string as an integer "
        "(got 'two')."
    ]
    assert not (tmp_path / "runs").exists()


def test_a_late_stage_mistake_stops_the_run_before_training(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pipeline = write(tmp_path / "p.yaml", export={"calib": "calibration/missing.yaml"})
    result = run_cli("run", pipeline)
    assert result.code == 2 and "'export.calib': calibration spec not found: calibration/missing.yaml" in result.stderr
    assert not (tmp_path / "runs" / "tiny" / "teacher" / "teacher.safetensors").exists()


def test_from_an_unknown_stage_exits_2(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("run", write(tmp_path / "p.yaml"), "--from", "deploy")
    assert result.code == 2 and "unknown stage; stages are teacher, distill" in result.stderr
