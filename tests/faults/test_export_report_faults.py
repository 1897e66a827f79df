"""`edgekd export` and `edgekd report` SIGKILLed while writing: every file under its final name
is whole (it loads or parses), the temporaries left are hidden and removed by the rerun, and
the rerun succeeds."""

from __future__ import annotations

import json
import os
import signal

import pytest
from fault_helpers import EXPORT, Edgekd, assert_every_file_loads, run_here, temporaries

from edgekd.locks import LOCK_NAME, read_holder


def _appears(folder, fragment):
    """Whether a file whose name holds `fragment` exists in `folder`, under its final name or
    as the temporary file it is being written to."""
    return lambda: folder.is_dir() and any(fragment in entry.name for entry in os.scandir(folder))


@pytest.mark.slow
def test_export_killed_while_writing_its_int8_onnx_leaves_only_whole_files(straight_teacher, tmp_path):
    out = tmp_path / "export"
    export = Edgekd("export", straight_teacher, "--out", out, *EXPORT, cwd=tmp_path, name="killed")
    export.wait_until(_appears(out, ".int8-cpu.onnx"), "its INT8 ONNX")
    export.signal(signal.SIGKILL)
    assert export.finish().code == -signal.SIGKILL
    # The FP32 ONNX was published before; the INT8 one (and export.json, written last) may or
    # may not have made it, but whatever has its final name is whole.
    assert "teacher.onnx" in assert_every_file_loads(out)
    # The INT8 ONNX is the export's last big write: the kill lands milliseconds either side of
    # the moment the run releases its lock, so a loaded machine decides which (the kill inside
    # the work is test_export_work_folder's). Either way the rerun must say what happened.
    killed_holding_the_lock = read_holder(out) is not None

    rerun = run_here("export", straight_teacher, "--out", out, *EXPORT)
    assert rerun.code == 0, rerun.stderr
    assert ("was interrupted" in rerun.stderr) == killed_holding_the_lock, rerun.stderr
    assert sorted(assert_every_file_loads(out)) == ["export.json", "teacher.int8-cpu.onnx", "teacher.onnx"]
    assert not temporaries(out) and not (out / LOCK_NAME).exists()  # the killed writer's temporary is gone
    assert [a["precision"] for a in json.loads((out / "export.json").read_text())["artefacts"]] == ["fp32", "int8"]


def test_report_killed_while_writing_leaves_only_whole_files(straight_teacher, tmp_path):
    out = tmp_path / "report"
    report = Edgekd("report", straight_teacher, "--out", out, cwd=tmp_path, name="killed")
    report.wait_until(_appears(out, "report.json"), "its report.json")
    report.signal(signal.SIGKILL)
    assert report.finish().code == -signal.SIGKILL
    assert_every_file_loads(out)

    rerun = run_here("report", straight_teacher, "--out", out)
    assert rerun.code == 0, rerun.stderr
    assert sorted(assert_every_file_loads(out)) == ["report.html", "report.json", "report.md"]
    assert not temporaries(out)
