"""Resumable training checkpoints: weights, optimizer, scheduler, RNG and history.

Saved with `torch.save` as plain containers of tensors and numbers, and loaded with
`torch.load(weights_only=True)`, which refuses anything that could run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from edgekd.artifacts import atomic_path
from edgekd.errors import ConfigError, ModelError

CHECKPOINT_NAME = "checkpoint.pt"


def save_training_state(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically (an interrupted save keeps the previous one)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        # Through a Python file: torch's own path writer turns a full disk into an opaque
        # "unexpected pos" RuntimeError, while a file object raises OSError(ENOSPC), which
        # atomic_path reports as a full disk naming the checkpoint.
        torch.save(state, handle)


def load_training_state(path: str | os.PathLike, config_key: str) -> dict[str, Any]:
    """Read a checkpoint for `--resume`, refusing one made with a different recipe or data."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--resume: no checkpoint at {path}; start without --resume.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or unsafe files
        raise ModelError(
            f"cannot load checkpoint {path} safely: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}."
        ) from exc
    if state.get("config_key") != config_key:
        raise ConfigError(
            f"--resume: {path} was made with another model, recipe or dataset; "
            "use the same options as the interrupted run, or a new --out."
        )
    return state


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
