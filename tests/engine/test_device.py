"""When a run joins a process group: only under torchrun (its four variables), one process included."""

from __future__ import annotations

import pytest

from edgekd.engine import init_distributed

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.mark.parametrize("present", [(), ("RANK", "WORLD_SIZE"), ("RANK", "WORLD_SIZE", "MASTER_ADDR")])
def test_without_all_of_torchruns_variables_nothing_is_joined(monkeypatch, present):
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in present:  # e.g. a scheduler's RANK/WORLD_SIZE without a rendezvous address
        monkeypatch.setenv(name, "0" if name == "RANK" else "1")
    context, device = init_distributed("cpu")
    assert (context.joined, context.enabled, context.world_size, device.type) == (False, False, 1, "cpu")
