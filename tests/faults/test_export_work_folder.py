"""`edgekd export` SIGKILLed while it gates an ONNX in its work folder: the folder is inside
`--out` (hidden, named after the killed pid), nothing is left under the temp directory, and the
rerun removes the stale folder and publishes every artefact whole."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from fault_helpers import EXPORT, Edgekd, assert_every_file_loads, run_here, temporaries
from trained_artefacts import train_tiny

from edgekd.locks import LOCK_NAME


@pytest.fixture(scope="module")
def digits_student(tmp_path_factory) -> Path:
    """timm's test_resnet trained for one epoch on digits at 16 px (a student card)."""
    return train_tiny(tmp_path_factory.mktemp("student"), "test_resnet", "student", epochs=1)


def _work_folders(out: Path) -> list[Path]:
    return sorted(out.glob(".export-work.*.tmp"))


def test_killed_export_leaves_its_work_folder_only_in_out_and_the_rerun_removes_it(digits_student, tmp_path):
    out, scratch = tmp_path / "export", tmp_path / "scratch"
    scratch.mkdir()
    export = Edgekd(
        "export", digits_student, "--out", out, *EXPORT, cwd=tmp_path, name="killed", env={"TMPDIR": str(scratch)}
    )
    # The FP32 ONNX lands in the work folder to be gated before anything is published.
    export.wait_until(lambda: any(out.glob(".export-work.*.tmp/*.onnx")), "an ONNX in its work folder")
    export.signal(signal.SIGKILL)
    assert export.finish().code == -signal.SIGKILL
    (stale,) = _work_folders(out)
    assert f".{export.pid}." in stale.name
    assert not [p.name for p in scratch.iterdir() if "edgekd" in p.name or "export" in p.name]
    assert_every_file_loads(out)  # whatever was published under its final name is whole

    rerun = run_here("export", digits_student, "--out", out, *EXPORT)
    assert rerun.code == 0, rerun.stderr
    assert "was interrupted" in rerun.stderr
    assert not _work_folders(out) and not temporaries(out) and not (out / LOCK_NAME).exists()
    assert sorted(assert_every_file_loads(out)) == ["export.json", "student.int8-cpu.onnx", "student.onnx"]
    listed = json.loads((out / "export.json").read_text())["artefacts"]
    assert [(a["precision"], Path(a["path"]).name) for a in listed] == [
        ("fp32", "student.onnx"),
        ("int8", "student.int8-cpu.onnx"),
    ]


def test_killed_bundle_export_leaves_no_staging_beside_the_bundle(digits_student, tmp_path):
    out, bundle = tmp_path / "export", tmp_path / "devices" / "bundle"
    args = ("export", digits_student, "--out", out, "--bundle", bundle, "--parity-samples", "64")
    export = Edgekd(*args, "--reference-samples", "64", cwd=tmp_path, name="killed")
    # The bundle is staged in the export's work folder, then renamed into place whole.
    export.wait_until(lambda: any(out.glob(".export-work.*.tmp/.bundle.*/*.onnx")), "its bundle being staged")
    export.signal(signal.SIGKILL)
    assert export.finish().code == -signal.SIGKILL
    assert list(bundle.parent.iterdir()) == []  # no staging folder, no half bundle
    assert len(_work_folders(out)) == 1

    rerun = run_here(*args, "--reference-samples", "64")
    assert rerun.code == 0, rerun.stderr
    assert not _work_folders(out) and [p.name for p in bundle.parent.iterdir()] == ["bundle"]
    assert {"student.onnx", "student.fp16.onnx", "reference.npz", "bundle.json"} <= set(assert_every_file_loads(bundle))
    assert run_here("verify", bundle).code == 0
