"""A disk that fills up (a small tmpfs mounted here, skipped where it cannot be): writing a
checkpoint, an ONNX or a report fails with one line naming the file (exit 2), the previous
checkpoint stays loadable and no temporary file is left."""

from __future__ import annotations

from fault_helpers import TEACHER, assert_every_file_loads, checkpoint_epoch, final_files, run_here, temporaries

from edgekd.locks import LOCK_NAME


def _one_line_disk_full(finished, name: str) -> None:
    assert finished.code == 2, finished.stderr
    line = finished.error_lines()[-1]
    assert line.startswith("error: cannot write") and f"{name}: the disk is full" in line
    assert "Traceback" not in finished.stderr


def test_a_checkpoint_that_does_not_fit_fails_in_one_line_and_keeps_the_previous_one(straight_teacher, small_disk):
    checkpoint_bytes = (straight_teacher / "checkpoint.pt").stat().st_size
    # Room for epoch 1's checkpoint, not for epoch 2's beside it (the write is atomic: old + new).
    out = small_disk(checkpoint_bytes * 3 // 2) / "teacher"
    finished = run_here(*TEACHER, "--out", out)
    _one_line_disk_full(finished, "checkpoint.pt")
    assert checkpoint_epoch(out / "checkpoint.pt") == 1
    assert not temporaries(out) and not (out / LOCK_NAME).exists()
    assert not (out / "teacher.safetensors").exists()


def test_an_onnx_that_does_not_fit_fails_in_one_line_leaving_no_partial_file(straight_teacher, small_disk):
    out = small_disk(512 * 1024) / "export"  # the FP32 ONNX is ~1.5 MB
    finished = run_here("export", straight_teacher, "--out", out, "--parity-samples", "32")
    _one_line_disk_full(finished, "teacher.onnx")
    assert not final_files(out) and not temporaries(out)


def test_a_report_that_does_not_fit_fails_in_one_line_leaving_whole_files(straight_teacher, small_disk):
    out = small_disk(16 * 1024) / "report"  # four pages: report.json and .md fit, report.html does not
    finished = run_here("report", straight_teacher, "--out", out)
    _one_line_disk_full(finished, "report.html")
    assert sorted(assert_every_file_loads(out)) == ["report.json", "report.md"]
    assert not temporaries(out)


def test_a_disk_too_full_for_the_lock_file_fails_in_one_line_before_any_work(straight_teacher, small_disk):
    disk = small_disk(4096)
    (disk / "filler").write_bytes(b"x" * 4096)  # the one page this tmpfs has
    finished = run_here("report", straight_teacher, "--out", disk / "report")
    _one_line_disk_full(finished, ".edgekd.lock")
    assert not (disk / "report").exists()


def test_an_export_needs_no_room_in_the_temporary_folder(straight_teacher, small_disk, tmp_path, monkeypatch):
    import tempfile

    full = small_disk(4096)
    (full / "filler").write_bytes(b"x" * 4096)  # the one page this tmpfs has
    monkeypatch.setattr(tempfile, "tempdir", str(full))
    out = tmp_path / "export"
    finished = run_here("export", straight_teacher, "--out", out, "--parity-samples", "32")
    assert finished.code == 0, finished.stderr  # its work folder is inside --out, not in the temp folder
    assert sorted(assert_every_file_loads(out)) == ["export.json", "teacher.onnx"]
    assert [p.name for p in full.iterdir()] == ["filler"] and not list(out.glob(".*.tmp"))
