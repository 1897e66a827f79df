"""Model cards (teacher.json / student.json) and eval.json edited by hand into a wrong shape:
every command that reads one refuses it in one line naming the file and the field, exit 2, and
writes nothing. The files start as real ones (trained artefacts, `edgekd eval`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgekd.evaluate import EvalConfig, evaluate


def assert_refused(result, *words: str) -> str:
    assert result.code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def edit(path: Path, change) -> None:
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


def private_model(artefacts, tmp_path, role: str) -> Path:
    source = artefacts.teacher if role == "teacher" else artefacts.student
    folder = tmp_path / role
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(source.with_suffix(suffix), folder / f"{role}{suffix}")
    return folder / f"{role}.safetensors"


CARD_EDITS = {
    "num_classes a word": (
        lambda card: card.update(num_classes="ten"),
        "field 'num_classes': expected an integer, got 'ten'",
    ),
    "input missing": (lambda card: card.pop("input"), "field 'input' is missing"),
    "input_size too short": (
        lambda card: card["input"].update(input_size=[3, 16]),
        "field 'input.input_size[2]' is missing",
    ),
    "test top-1 a word": (
        lambda card: card["metrics"]["test"].update(top1="abc"),
        "field 'metrics.test.top1': expected a number, got 'abc'",
    ),
    "a class name lost": (lambda card: card["class_names"].pop(), "num_classes is 10 but class_names lists 9 names"),
    "role unknown": (
        lambda card: card.update(role="boss"),
        "field 'role': expected 'teacher' or 'student', got 'boss'",
    ),
    "dataset a list": (lambda card: card.update(dataset=["digits"]), "field 'dataset': expected a JSON object"),
}


@pytest.mark.parametrize("role", ["teacher", "student"])
@pytest.mark.parametrize("case", list(CARD_EDITS), ids=list(CARD_EDITS))
def test_a_hand_edited_card_is_refused_naming_the_field(case, role, artefacts, tmp_path, run_cli):
    weights = private_model(artefacts, tmp_path, role)
    change, expected = CARD_EDITS[case]
    edit(weights.with_suffix(".json"), change)
    out = tmp_path / "eval"
    assert_refused(run_cli("eval", weights, "--out", out), f"{weights.with_suffix('.json')}: ", expected)
    assert not out.exists()


@pytest.fixture
def teacher_eval(artefacts, tmp_path) -> Path:
    """A real eval.json of the teacher on digits' test split."""
    return evaluate(EvalConfig(artefact=artefacts.teacher, out_dir=tmp_path / "teacher-eval")).path


EVAL_EDITS = {
    "top-1 a word": (lambda p: p["metrics"].update(top1="abc"), "field 'metrics.top1': expected a number, got 'abc'"),
    "predictions missing": (lambda p: p["predictions"].pop("predicted"), "field 'predictions.predicted' is missing"),
    "labels cut short": (
        lambda p: p["predictions"].update(labels=p["predictions"]["labels"][:10]),
        "predictions.labels holds 10 samples but data.count is",
    ),
    "split unknown": (
        lambda p: p["data"].update(split="holdout"),
        "field 'data.split': expected 'train', 'val' or 'test', got 'holdout'",
    ),
    "artefact not an object": (
        lambda p: p.update(artefact="teacher.safetensors"),
        "field 'artefact': expected a JSON object",
    ),
}


@pytest.mark.parametrize("case", list(EVAL_EDITS), ids=list(EVAL_EDITS))
def test_a_hand_edited_eval_json_is_refused_by_eval_report_and_gate(case, teacher_eval, artefacts, tmp_path, run_cli):
    change, expected = EVAL_EDITS[case]
    # A report over real files first (teacher and student evaluated), then the teacher's eval broken.
    student_eval = evaluate(
        EvalConfig(artefact=artefacts.student, out_dir=tmp_path / "student-eval", teacher=teacher_eval)
    ).path
    good = run_cli("report", teacher_eval.parent, student_eval.parent, "--out", tmp_path / "report")
    assert good.code == 0, good.stderr
    edit(teacher_eval, change)

    # edgekd eval --teacher EVAL.json
    out = tmp_path / "eval-again"
    assert_refused(
        run_cli("eval", artefacts.student, "--teacher", teacher_eval, "--out", out), f"{teacher_eval}: ", expected
    )
    assert not out.exists()
    # edgekd report over a folder holding it
    report_out = tmp_path / "report-again"
    assert_refused(
        run_cli("report", teacher_eval.parent, student_eval.parent, "--out", report_out), f"{teacher_eval}: ", expected
    )
    assert not report_out.exists()
    # edgekd gate on the report that points at it (the paired statistics read it)
    report = tmp_path / "report" / "report.json"
    assert_refused(
        run_cli("gate", report, "--max-drop-vs-teacher", "50", "--artefact", "student"), f"{teacher_eval}: ", expected
    )
    assert not (report.parent / "gate.md").exists() and not (report.parent / "gate.json").exists()
