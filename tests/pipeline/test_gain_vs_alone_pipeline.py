"""A pipeline with `distill: methods: [kd, none]` on three seeds: the report pairs each KD student with
the same seed trained alone, summarises the recipe over the seeds, and the gate checks the gain."""

from __future__ import annotations

import json
import shutil
import statistics

import pytest
from test_end_to_end import REPO, write

from edgekd.report import load_report


@pytest.mark.slow
def test_kd_beside_the_student_alone_reports_the_gain_and_gates_it(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "calibration", tmp_path / "calibration")
    pipeline = write(
        tmp_path / "gain.yaml",
        distill={"methods": ["kd", "none"], "seeds": [0, 1, 2]},
        export={"students": ["kd-s0"]},
        gate={"max_size_mb": 20, "min_gain_vs_alone": -100},
    )
    result = run_cli("run", pipeline)
    assert result.code == 0, result.stderr
    report_dir = tmp_path / "runs" / "tiny" / "report"
    # One of the six students ships, under the name of what ships: `student.onnx`.
    assert {p.name for p in (report_dir.parent / "export" / "kd-s0").glob("*.onnx")} == {
        "student.onnx",
        "student.int8-cpu.onnx",
    }
    report = load_report(report_dir)
    kd = sorted((d for d in report.distillation if d.method == "kd"), key=lambda d: d.seed)
    assert [d.seed for d in kd] == [0, 1, 2]
    alone = [next(d for d in report.distillation if d.model == k.alone) for k in kd]
    assert [(a.method, a.seed) for a in alone] == [("none", 0), ("none", 1), ("none", 2)]
    gains = [k.student_top1 - a.student_top1 for k, a in zip(kd, alone)]
    assert [k.gain_vs_alone_pts for k in kd] == pytest.approx(gains)

    (summary,) = report.distillation_over_seeds  # the student alone is the comparison, not a recipe of its own
    assert summary.method == "kd" and summary.students == [k.model for k in kd] and summary.seeds == [0, 1, 2]
    assert summary.gain_mean_pts == pytest.approx(statistics.fmean(gains))
    assert summary.gain_std_pts == pytest.approx(statistics.stdev(gains))
    assert summary.beats_alone == (statistics.fmean(gains) > statistics.stdev(gains))
    markdown = (report_dir / "report.md").read_text()
    assert "gain vs alone (pts)" in markdown and "Distillation over seeds" in markdown

    rows = json.loads((report_dir.parent / "gate" / "gate.json").read_text())["rows"]
    gain_rows = [row for row in rows if row["check"] == "min_gain_vs_alone"]
    assert sorted(row["artefact"] for row in gain_rows) == sorted(k.model for k in kd)  # each seed's student
    assert {row["status"] for row in gain_rows} == {"pass"}
