"""Artefacts are written atomically: a failed write leaves the previous file and no debris."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgekd.artifacts import atomic_path, atomic_write_text, provenance, remove_stale_temporaries, work_folder


def test_failed_write_keeps_the_previous_file_and_no_temporaries(tmp_path):
    target = tmp_path / "report.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_provenance_records_versions_seed_and_config():
    record = provenance({"lr": 0.1}, seed=3)
    assert record["seed"] == 3 and record["config"] == {"lr": 0.1}
    assert {"edgekd", "torch", "timm", "python"} <= set(record["versions"])


def test_artefacts_get_the_usual_permissions_whatever_the_writer(tmp_path):
    import stat

    import torch
    from safetensors.torch import save_file

    with atomic_path(tmp_path / "model.safetensors") as tmp:
        save_file({"w": torch.zeros(2)}, str(tmp))  # safetensors writes a file of its own
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == 0o666 & ~mask


def test_a_work_folder_is_removed_when_its_block_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with work_folder(tmp_path, "export-work") as work:
            assert work.parent == tmp_path and work.name.startswith(f".export-work.{os.getpid()}.")
            (work / "model.onnx").write_bytes(b"unpublished")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_only_the_work_folders_of_dead_processes_are_removed(tmp_path):
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".export-work.{int(ended.stdout)}.abcd1234.tmp"  # what a SIGKILLed export leaves
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "model.onnx").write_bytes(b"half")
    with work_folder(tmp_path, "export-work") as live:
        assert remove_stale_temporaries(tmp_path) == [dead]
        assert live.is_dir() and not dead.exists()
