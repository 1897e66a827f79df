"""`edgekd.evaluate.evaluate`: eval.json of PyTorch and ONNX artefacts, agreement, the documented fields."""

from __future__ import annotations

import json

import pytest

from edgekd.errors import ConfigError, DataError, ModelError
from edgekd.evaluate import DataOverrides, EvalConfig, evaluate
from edgekd.models import read_card
from edgekd.records import EVAL_SCHEMA


def test_eval_json_holds_the_documented_fields(artefacts, tmp_path):
    result = evaluate(EvalConfig(artefact=artefacts.student, teacher=artefacts.teacher, out_dir=tmp_path))
    payload = json.loads((tmp_path / "eval.json").read_text())
    assert payload["schema"] == EVAL_SCHEMA and payload == result.payload
    artefact = payload["artefact"]
    assert artefact["format"] == "torch" and artefact["role"] == "student" and len(artefact["sha256"]) == 64
    assert artefact["size_bytes"] == artefacts.student.stat().st_size
    assert payload["backend"]["backend"] == "torch" and payload["backend"]["device"] == "cpu"
    data = payload["data"]
    assert data["spec"] == "digits" and data["split"] == "test" and data["count"] == 359
    assert data["fingerprint"] == data["trained_on_fingerprint"]  # the recorded dataset was reloaded
    metrics = payload["metrics"]
    assert len(metrics["per_class"]) == 10 and sum(map(sum, metrics["confusion"])) == 359
    assert sum(metrics["confusion"][i][i] for i in range(10)) == metrics["correct"]
    assert metrics["top1"] == pytest.approx(100.0 * metrics["correct"] / 359)
    predictions = payload["predictions"]
    assert len(predictions["labels"]) == len(predictions["predicted"]) == len(predictions["teacher_predicted"]) == 359
    same = sum(a == b for a, b in zip(predictions["predicted"], predictions["teacher_predicted"]))
    assert payload["teacher"]["agreement"] == pytest.approx(100.0 * same / 359)
    assert payload["teacher"]["sha256"] != artefact["sha256"] and payload["created"]


def test_eval_reproduces_the_accuracy_recorded_at_training(artefacts, tmp_path):
    # Training scored the test split with the engine's predict(); eval must feed the model identically.
    result = evaluate(EvalConfig(artefact=artefacts.teacher, out_dir=tmp_path))
    assert result.top1 == pytest.approx(read_card(artefacts.teacher).metrics["test"]["top1"], abs=1e-6)


def test_onnx_and_pytorch_student_agree(artefacts, tmp_path):
    torch_eval = evaluate(EvalConfig(artefact=artefacts.student, out_dir=tmp_path / "torch")).payload
    onnx_eval = evaluate(EvalConfig(artefact=artefacts.student_onnx, out_dir=tmp_path / "onnx")).payload
    assert onnx_eval["backend"]["backend"] == "ort" and onnx_eval["artefact"]["format"] == "onnx"
    assert onnx_eval["data"]["fingerprint"] == torch_eval["data"]["fingerprint"]
    same = sum(a == b for a, b in zip(torch_eval["predictions"]["predicted"], onnx_eval["predictions"]["predicted"]))
    assert same / 359 >= 0.999
    assert onnx_eval["metrics"]["top1"] == pytest.approx(torch_eval["metrics"]["top1"], abs=0.3)


def test_int8_artefact_is_scored_and_labelled_int8(artefacts, tmp_path):
    fp32 = evaluate(EvalConfig(artefact=artefacts.student_onnx, out_dir=tmp_path / "fp32")).payload
    int8 = evaluate(EvalConfig(artefact=artefacts.student_int8, out_dir=tmp_path / "int8")).payload
    assert int8["artefact"]["precision"] == "int8" and fp32["artefact"]["precision"] == "fp32"
    assert int8["artefact"]["sha256"] != fp32["artefact"]["sha256"]
    assert int8["metrics"]["top1"] > fp32["metrics"]["top1"] - 10  # calibrated INT8 stays close


def test_teacher_eval_json_gives_the_same_agreement_as_the_teacher_artefact(artefacts, tmp_path):
    teacher_eval = evaluate(EvalConfig(artefact=artefacts.teacher, out_dir=tmp_path / "teacher"))
    from_artefact = evaluate(
        EvalConfig(artefact=artefacts.student_onnx, teacher=artefacts.teacher, out_dir=tmp_path / "a")
    ).payload
    from_json = evaluate(
        EvalConfig(artefact=artefacts.student_onnx, teacher=teacher_eval.path, out_dir=tmp_path / "b")
    ).payload
    assert from_json["teacher"]["source"] == "eval.json" and from_artefact["teacher"]["source"] == "artefact"
    assert from_json["teacher"]["agreement"] == from_artefact["teacher"]["agreement"]
    assert from_json["teacher"]["sha256"] == from_artefact["teacher"]["sha256"]


def test_a_teacher_eval_of_another_split_is_refused(artefacts, tmp_path):
    val_eval = evaluate(EvalConfig(artefact=artefacts.teacher, split="val", out_dir=tmp_path / "val"))
    assert val_eval.payload["data"]["split"] == "val"
    with pytest.raises(ConfigError, match="same data"):
        evaluate(EvalConfig(artefact=artefacts.student, teacher=val_eval.path, out_dir=tmp_path / "s"))
    assert not (tmp_path / "s" / "eval.json").exists()


def test_data_with_other_classes_is_refused(artefacts, tmp_path, imagefolder_split):
    with pytest.raises(DataError, match="classes"):
        evaluate(
            EvalConfig(
                artefact=artefacts.student,
                data=DataOverrides(spec=f"imagefolder:{imagefolder_split}"),
                out_dir=tmp_path,
            )
        )


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"split": "dev"}, ConfigError),
        ({"batch_size": 0}, ConfigError),
        ({"backend": "tensorflow"}, ModelError),
        ({"backend": "ort"}, ConfigError),
    ],
)
def test_bad_options_fail_before_anything_is_written(artefacts, tmp_path, changes, error):
    with pytest.raises(error):
        evaluate(EvalConfig(artefact=artefacts.student, out_dir=tmp_path, **changes))
    assert not (tmp_path / "eval.json").exists()


def test_default_output_lands_beside_the_artefact(artefacts, tmp_path):
    from trained_artefacts import copy_artefacts

    private = copy_artefacts(artefacts, tmp_path / "copy")
    result = evaluate(EvalConfig(artefact=private.student_onnx))
    assert result.path == private.student_onnx.parent / "eval" / "student-onnx" / "eval.json"
    run_dir_result = evaluate(EvalConfig(artefact=private.student.parent))  # a run directory resolves to its student
    assert run_dir_result.payload["artefact"]["name"] == "student.safetensors"


def test_a_teacher_run_directory_means_its_teacher(artefacts, tmp_path):
    from trained_artefacts import copy_artefacts

    private = copy_artefacts(artefacts, tmp_path / "copy")
    # A distillation run folder may hold the student too: --teacher DIR must still pick the teacher.
    (private.teacher.parent / "student.safetensors").write_bytes(private.student.read_bytes())
    (private.teacher.parent / "student.json").write_bytes(private.student.with_suffix(".json").read_bytes())
    result = evaluate(EvalConfig(artefact=private.student_onnx, teacher=private.teacher.parent, out_dir=tmp_path / "e"))
    assert result.payload["teacher"]["name"] == "teacher.safetensors"
