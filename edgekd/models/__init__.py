"""Models: the timm factory, safe weight loading and model artefacts (weights + card)."""

from edgekd.models.checkpoint import ModelCard, load_model, read_card, resolve_model_path, save_model
from edgekd.models.factory import (
    ArchInfo,
    create_model,
    list_architectures,
    model_cost,
    pretrained_defaults,
    resolve_arch,
)
from edgekd.models.inputs import input_spec_for
from edgekd.models.weights import PRETRAINED_FROM_CACHE, load_pretrained_weights, local_weights, read_state_dict

__all__ = [
    "PRETRAINED_FROM_CACHE",
    "ArchInfo",
    "ModelCard",
    "create_model",
    "input_spec_for",
    "list_architectures",
    "load_model",
    "load_pretrained_weights",
    "local_weights",
    "model_cost",
    "pretrained_defaults",
    "read_card",
    "read_state_dict",
    "resolve_arch",
    "resolve_model_path",
    "save_model",
]
