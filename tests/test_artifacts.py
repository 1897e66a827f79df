"""Artefacts are written atomically: a failed write leaves the previous file and no debris."""

from __future__ import annotations

import os

import pytest

from edgekd.artifacts import atomic_path, atomic_write_text, provenance


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
