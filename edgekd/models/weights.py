"""Loading weight files safely, and finding local pretrained ones (the hub cache, offline).

Nothing here unpickles arbitrary objects: a checkpoint from an untrusted source can at worst
fail to load, never run code.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import timm
import torch
from torch import nn

from edgekd.errors import ModelError

log = logging.getLogger(__name__)

PRETRAINED_FROM_CACHE = "cache"


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a weights file into a flat {name: tensor} dict.

    Accepts safetensors, and `.pt`/`.pth`/`.bin` files holding a state dict (optionally nested
    under `state_dict`, `model` or `state_dict_ema`). Pickles that need anything but tensors and
    plain containers are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}.")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{path} is not a readable safetensors file ({exc}); it may be truncated.") from exc
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError… for bad files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} cannot be loaded safely as weights: {first_line}. Use a safetensors file or a plain state dict."
        ) from exc
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors.")
    return {k.removeprefix("module."): v for k, v in payload.items()}


def load_pretrained_weights(model: nn.Module, arch: str, source: str | os.PathLike[str]) -> None:
    """Load local pretrained weights into `model`, re-initialising a classifier of another size.

    Args:
        source: a weights file, or `"cache"` for the local Hugging Face hub cache (offline).
    """
    if str(source) == PRETRAINED_FROM_CACHE:
        state = _state_from_hub_cache(arch)
    else:
        state = read_state_dict(source)
    own = model.state_dict()
    classifier = _classifier_keys(model)
    first_conv = getattr(model, "pretrained_cfg", {}).get("first_conv")
    adapted = {}
    for key, value in state.items():
        if key not in own:
            continue
        if value.shape != own[key].shape:
            if first_conv and key == f"{first_conv}.weight" and value.dim() == 4:
                from timm.models import adapt_input_conv

                value = adapt_input_conv(own[key].shape[1], value)
            elif key in classifier:
                continue  # a classifier for another class count is re-initialised
            else:
                raise ModelError(
                    f"weights do not fit '{arch}': {key} is {tuple(value.shape)}, the model has "
                    f"{tuple(own[key].shape)}."
                )
        adapted[key] = value
    missing = [k for k in own if k not in adapted and k not in classifier and not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelError(
            f"weights do not fit '{arch}': {len(missing)} tensors missing (e.g. {', '.join(missing[:3])}). "
            "Check that the file was made for this architecture."
        )
    model.load_state_dict(adapted, strict=False)


def _classifier_keys(model: nn.Module) -> set[str]:
    names = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    if isinstance(names, str):
        names = (names,)
    return {k for k in model.state_dict() if any(k.startswith(f"{n}.") for n in names)}


def _state_from_hub_cache(arch: str) -> dict[str, torch.Tensor]:
    found = local_weights(arch)
    if found is None:
        raise ModelError(
            f"no local pretrained weights for '{arch}' in the hub cache (HF_HOME). "
            "Pass --pretrained FILE with a safetensors or state-dict file instead."
        )
    return read_state_dict(found)


def local_weights(arch: str) -> str | None:
    """Where local pretrained weights for `arch` are (hub cache), or None. Never touches the network."""
    cfg = timm.get_pretrained_cfg(arch, allow_unregistered=True)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        log.debug("huggingface_hub is not installed: no hub cache to look in for %s", arch)
        return None
    for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str):
            return found
    return None
