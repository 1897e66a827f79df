"""`edgekd eval`: output line, eval.json, and bad input as one line with exit 2."""

from __future__ import annotations

import json

import pytest

from edgekd.models import read_card


def assert_one_line_error(result) -> None:
    assert result.code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    assert len(result.stderr.strip().splitlines()) <= 3  # one line, soft-wrapped by the terminal width at most


def test_eval_prints_accuracy_and_writes_eval_json(run_cli, artefacts, tmp_path):
    result = run_cli("eval", artefacts.student_onnx, "--teacher", artefacts.teacher, "--out", tmp_path)
    assert result.code == 0, result.stderr
    payload = json.loads((tmp_path / "eval.json").read_text())
    assert f"top-1 {payload['metrics']['top1']:.2f} %" in result.stdout
    assert f"agreement with teacher {payload['teacher']['agreement']:.2f} %" in result.stdout


def test_eval_on_the_val_split_with_an_explicit_dataset(run_cli, artefacts, tmp_path):
    result = run_cli("eval", artefacts.teacher, "--data", "digits", "--split", "val", "--out", tmp_path)
    assert result.code == 0, result.stderr
    payload = json.loads((tmp_path / "eval.json").read_text())
    assert payload["data"]["split"] == "val"
    assert payload["metrics"]["top1"] == pytest.approx(read_card(artefacts.teacher).metrics["val"]["top1"], abs=1e-6)


def test_missing_artefact(run_cli, tmp_path):
    result = run_cli("eval", tmp_path / "student.onnx", "--out", tmp_path / "e")
    assert_one_line_error(result)
    assert "not found" in result.stderr and not (tmp_path / "e").exists()


def test_backend_that_cannot_run_the_artefact(run_cli, artefacts, tmp_path):
    result = run_cli("eval", artefacts.student, "--backend", "ort", "--out", tmp_path)
    assert_one_line_error(result)
    assert "--backend torch" in result.stderr


def test_unknown_backend_name(run_cli, artefacts, tmp_path):
    result = run_cli("eval", artefacts.student_onnx, "--backend", "openvino", "--out", tmp_path)
    assert_one_line_error(result)
    assert "torch, ort, trt" in result.stderr


def test_truncated_onnx(run_cli, artefacts, tmp_path):
    broken = tmp_path / "student.onnx"
    broken.write_bytes(artefacts.student_onnx.read_bytes()[:5000])
    result = run_cli("eval", broken, "--out", tmp_path / "e")
    assert_one_line_error(result)
    assert not (tmp_path / "e" / "eval.json").exists()


def test_tensorrt_plan_built_on_another_machine(run_cli, artefacts, tmp_path):
    plan = tmp_path / "student.engine"
    plan.write_bytes(b"ftrt" + bytes(256))  # a plan is opaque bytes; its sidecar says where it was built
    card = json.loads(artefacts.student.with_suffix(".json").read_text())
    sidecar = {
        "schema": "edgekd.tensorrt/1",
        "engine": plan.name,
        "precision": "fp16",
        "build": {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "cuda": "12.6"},
        "card": card,
    }
    plan.with_name(plan.name + ".json").write_text(json.dumps(sidecar))
    for command in ("eval", "profile"):
        result = run_cli(command, plan, "--out", tmp_path / command)
        assert_one_line_error(result)
        assert "student.engine" in result.stderr or "TensorRT" in result.stderr or "tensorrt" in result.stderr
        assert not (tmp_path / command).exists()


def test_bad_split(run_cli, artefacts, tmp_path):
    result = run_cli("eval", artefacts.student, "--split", "holdout", "--out", tmp_path)
    assert_one_line_error(result)
    assert "train, val or test" in result.stderr
