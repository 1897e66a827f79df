"""A pipeline with `distill: methods: [kd, none]`: the report pairs the two students and the gate checks the gain."""

from __future__ import annotations

import json
import shutil

import pytest
from test_end_to_end import REPO, write

from edgekd.report import load_report


@pytest.mark.slow
def test_kd_beside_the_student_alone_reports_the_gain_and_gates_it(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "calibration", tmp_path / "calibration")
    pipeline = write(
        tmp_path / "gain.yaml",
        distill={"methods": ["kd", "none"]},
        export={"students": ["kd"]},
        gate={"max_size_mb": 20, "min_gain_vs_alone": -100},
    )
    result = run_cli("run", pipeline)
    assert result.code == 0, result.stderr
    report_dir = tmp_path / "runs" / "tiny" / "report"
    report = load_report(report_dir)
    (kd,) = [d for d in report.distillation if d.method == "kd"]
    alone = next(d for d in report.distillation if d.model == kd.alone)
    assert alone.method == "none" and kd.gain_vs_alone_pts == pytest.approx(kd.student_top1 - alone.student_top1)
    assert "gain vs alone (pts)" in (report_dir / "report.md").read_text()
    rows = json.loads((report_dir.parent / "gate" / "gate.json").read_text())["rows"]
    gain_rows = [row for row in rows if row["check"] == "min_gain_vs_alone"]
    assert [row["artefact"] for row in gain_rows] == [kd.model] and gain_rows[0]["status"] == "pass"
