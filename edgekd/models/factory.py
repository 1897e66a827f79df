"""Creating timm models by name, with local pretrained weights and nothing from the network.

Every model edgekd trains or loads comes through `create_model`, so an unknown name always
fails the same way (with the closest timm names) and pretrained weights are always local.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import os
from dataclasses import dataclass
from typing import Any

import timm
import torch
from torch import nn

from edgekd.errors import ModelError
from edgekd.models.weights import PRETRAINED_FROM_CACHE, load_pretrained_weights, local_weights

log = logging.getLogger(__name__)


def resolve_arch(name: str) -> str:
    """Return `name` if timm knows it, else fail with the closest architecture names."""
    if timm.is_model(name.split(".")[0]):
        return name
    known = timm.list_models()
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    if not close:
        close = [m for m in known if name.lower().replace("-", "_") in m][:5]
    hint = f" Closest timm names: {', '.join(close)}." if close else ""
    raise ModelError(f"unknown model '{name}'.{hint} See 'edgekd teacher list PATTERN'.")


def create_model(
    arch: str,
    num_classes: int,
    in_chans: int = 3,
    *,
    pretrained: str | os.PathLike[str] | None = None,
    exportable: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Create a timm model, optionally with local pretrained weights.

    Args:
        arch: timm architecture name (optionally with a pretrained tag, `resnet18.a1_in1k`).
        num_classes: classifier outputs; a pretrained classifier of another size is re-initialised.
        in_chans: input channels; pretrained 3-channel stems are adapted by timm's rule.
        pretrained: a weights file (safetensors, or a state dict loaded with weights_only=True),
            or `"cache"` for the local Hugging Face hub cache (offline), or None.
        exportable: ask timm for export-friendly layers (ONNX/TensorRT).
    """
    arch = resolve_arch(arch)
    try:
        model = timm.create_model(
            arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, exportable=exportable, **kwargs
        )
    except (TypeError, ValueError, RuntimeError, AssertionError) as exc:
        raise ModelError(f"cannot create '{arch}' with {num_classes} classes and {in_chans} channels: {exc}") from exc
    if pretrained is not None:
        load_pretrained_weights(model, arch, pretrained)
    return model


def pretrained_defaults(arch: str) -> dict[str, Any]:
    """timm's pretrained config for `arch` (input size, mean, std, …) without building weights."""
    cfg = timm.get_pretrained_cfg(resolve_arch(arch), allow_unregistered=True)
    # timm's PretrainedCfg.to_dict is unannotated.
    return cfg.to_dict() if cfg is not None else {}  # type: ignore[no-untyped-call]


@dataclass
class ArchInfo:
    """One row of `edgekd teacher list`: params (count), GFLOPs (2×MACs) at `input_size` px."""

    name: str
    params: int
    gflops: float | None
    input_size: int
    local_weights: str | None


def model_cost(
    model_or_arch: nn.Module | str, input_size: int, in_chans: int = 3, num_classes: int = 1000
) -> tuple[int, float | None]:
    """(parameter count, GFLOPs per image) measured on the meta device: no memory, no weights."""
    from torch.utils.flop_counter import FlopCounterMode

    if isinstance(model_or_arch, str):
        with torch.device("meta"):
            model = timm.create_model(model_or_arch, num_classes=num_classes, in_chans=in_chans)
        device: str | torch.device = "meta"
    else:
        model = model_or_arch
        device = next(model.parameters()).device
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, in_chans, input_size, input_size, device=device))
        gflops = counter.get_total_flops() / 1e9
    except Exception as exc:  # some architectures reject a size or meta tensors: the count is optional
        log.debug("no FLOP count for %s at %d px: %s: %s", type(model).__name__, input_size, type(exc).__name__, exc)
        gflops = None
    finally:
        model.train(was_training)
    return params, gflops


def list_architectures(pattern: str = "*", input_size: int = 224, limit: int | None = 50) -> list[ArchInfo]:
    """timm architectures matching a glob, with cost at `input_size` and local-weight status."""
    if not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    names = [n for n in timm.list_models() if fnmatch.fnmatch(n, pattern)]
    rows = []
    for name in names[:limit] if limit else names:
        params, gflops = model_cost(name, input_size)
        rows.append(ArchInfo(name, params, gflops, input_size, local_weights(name)))
    return rows


__all__ = [
    "PRETRAINED_FROM_CACHE",
    "ArchInfo",
    "create_model",
    "list_architectures",
    "model_cost",
    "pretrained_defaults",
    "resolve_arch",
]
