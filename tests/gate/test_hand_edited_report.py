"""report.json edited by hand into a wrong shape: `edgekd gate` refuses it in one line naming the
file and the field (the report's own schema, `edgekd.report/1`), exit 2, and writes no verdict."""

from __future__ import annotations

import json

import pytest
from gate_reports import standard_models

REPORT_EDITS = {
    "top-1 a word": (
        lambda r: r["models"][1]["accuracy"].update(top1="abc"),
        "field 'models[1].accuracy.top1': expected a number, got 'abc'",
    ),
    "models missing": (lambda r: r.pop("models"), "field 'models' is missing"),
    "role unknown": (
        lambda r: r["models"][0].update(role="boss"),
        "field 'models[0].role': expected 'teacher', 'student' or 'artefact', got 'boss'",
    ),
    "latency batch a word": (
        lambda r: r["models"][0]["latency"][0].update(batch="one"),
        "field 'models[0].latency[0].batch': expected an integer, got 'one'",
    ),
    "a model not an object": (
        lambda r: r["models"].append("student"),
        "field 'models[4]': expected a JSON object, got 'student'",
    ),
    "a misspelt key": (lambda r: r["models"][2].update(acuracy={}), "unknown field 'models[2].acuracy'"),
    "schema renamed": (
        lambda r: r.update(schema="edgekd.report/9"),
        "has schema 'edgekd.report/9'; this edgekd reads edgekd.report/1",
    ),
    "models null": (lambda r: r.update(models=None), "field 'models': expected a list, got None"),
}


@pytest.mark.parametrize("case", list(REPORT_EDITS), ids=list(REPORT_EDITS))
def test_a_hand_edited_report_is_refused_naming_the_field(case, reports, run_cli):  # noqa: F811
    path = reports.write("r", standard_models(reports))
    change, expected = REPORT_EDITS[case]
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))
    result = run_cli("gate", path, "--max-drop-vs-teacher", "5")
    assert result.code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert str(path) in lines[0] and expected in lines[0], lines[0]
    assert not (path.parent / "gate.md").exists() and not (path.parent / "gate.json").exists()


def test_a_report_that_is_json_but_not_an_object_is_refused(tmp_path, run_cli):
    path = tmp_path / "report.json"
    path.write_text("[1, 2, 3]")
    result = run_cli("gate", path, "--max-size-mb", "5")
    assert result.code == 2 and "has schema None" in result.stderr and len(result.stderr.strip().splitlines()) == 1
