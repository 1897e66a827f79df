"""Model artefacts: `<stem>.safetensors` (weights alone) + `<stem>.json` (how to rebuild and use it).

The weights file is a plain timm state dict: `timm.create_model(arch, num_classes=…)` followed
by `load_state_dict` is all a user needs. The JSON "model card" holds everything else: the
architecture, input spec, class names, the dataset fingerprint and the run's provenance.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgekd.artifacts import atomic_path, sha256_file, write_json
from edgekd.data.preprocess import InputSpec
from edgekd.errors import ModelError
from edgekd.models.factory import create_model
from edgekd.models.weights import read_state_dict
from edgekd.schemas import CARD_SCHEMA, CardFile, validated


@dataclass
class ModelCard:
    """Everything needed to rebuild, feed and trust a saved model.

    Attributes:
        role: "teacher" or "student".
        input: the model's input (size px, channels, mean/std in [0, 1] pixel units).
        dataset: `Dataset.describe()` of the data it was trained on.
        metrics: final figures, e.g. {"val": {"top1": …}, "test": {"top1": …, "top5": …}}.
        training: the training recipe and run facts (epochs, wall time, img/s, …).
        provenance: `edgekd.artifacts.provenance()` (config, versions, seed, command).
    """

    arch: str
    num_classes: int
    class_names: list[str]
    input: InputSpec
    role: str = "teacher"
    dataset: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON data, validated against `edgekd.schemas.CardFile` (a card that could
        not be read back is a bug, caught here rather than by the next stage)."""
        payload = asdict(self)
        payload["input"] = self.input.to_dict()
        payload = {"schema": CARD_SCHEMA, **payload}
        validated(CardFile, payload, f"model card of {self.arch}", ModelError)
        return payload

    @classmethod
    def from_dict(cls, payload: Any, source: str | os.PathLike[str] = "model card") -> "ModelCard":
        """A card from JSON data, validated (`edgekd.schemas.CardFile`).

        Raises:
            ModelError: naming `source` and the field that is missing or of the wrong type.
        """
        card = validated(CardFile, payload, source, ModelError)
        channels, height, _ = card.input.input_size
        return cls(
            arch=card.arch,
            num_classes=card.num_classes,
            class_names=list(card.class_names),
            input=InputSpec(int(height), int(channels), tuple(card.input.mean), tuple(card.input.std)),
            role=card.role,
            dataset=payload.get("dataset", {}),
            metrics=payload.get("metrics", {}),
            training=payload.get("training", {}),
            provenance=payload.get("provenance", {}),
            extra=payload.get("extra", {}),
        )


def save_model(model: nn.Module, card: ModelCard, weights_path: str | os.PathLike[str]) -> Path:
    """Write `weights_path` (.safetensors) and its card (.json beside it), both atomically.

    Returns:
        The weights path. The card gains `weights_sha256` so a report can verify the pair.
    """
    from safetensors.torch import save_file

    weights_path = Path(weights_path)
    # Clone so that tied or strided tensors serialise as plain, independent arrays.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "edgekd_arch": card.arch})
        card.extra["weights_sha256"] = sha256_file(tmp)
    write_json(weights_path.with_suffix(".json"), card.to_dict())
    return weights_path


def resolve_model_path(path: str | os.PathLike[str], preferred: tuple[str, ...] = ("student", "teacher")) -> Path:
    """A model artefact from a file or a run directory (its `student`/`teacher` .safetensors)."""
    path = Path(path)
    if path.is_dir():
        for stem in preferred:
            if (path / f"{stem}.safetensors").exists():
                return path / f"{stem}.safetensors"
        raise ModelError(f"no {' or '.join(s + '.safetensors' for s in preferred)} in {path}.")
    if not path.exists():
        raise ModelError(f"model file not found: {path}.")
    return path


def read_card(weights_path: str | os.PathLike[str]) -> ModelCard | None:
    """The card beside a weights file, or None for a bare checkpoint."""
    card_path = Path(weights_path).with_suffix(".json")
    if not card_path.exists():
        return None
    try:
        payload = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{card_path} is not valid JSON: {exc}.") from exc
    return ModelCard.from_dict(payload, card_path)


def load_model(
    path: str | os.PathLike[str], *, exportable: bool = False, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelCard]:
    """Load an edgekd model artefact (weights + card) in eval mode.

    Args:
        path: a `.safetensors` file with its `.json` card, or a run directory.
        exportable: export-friendly layers, and train-time branches fused for inference where
            the architecture has them (RepViT, FastViT, MobileOne, …: timm's
            `reparameterize_model`; a no-op for the others), so an export ships the fast graph.
    """
    weights_path = resolve_model_path(path)
    card = read_card(weights_path)
    if card is None:
        raise ModelError(
            f"{weights_path} has no model card ({weights_path.with_suffix('.json').name}); for a bare timm "
            "checkpoint give the architecture (--teacher-arch)."
        )
    state = read_state_dict(weights_path)
    model = create_model(card.arch, card.num_classes, card.input.in_chans, exportable=exportable)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(
            f"{weights_path} does not match '{card.arch}' with {card.num_classes} classes: {str(exc).splitlines()[0]}"
        ) from exc
    if exportable:
        from timm.utils.model import reparameterize_model

        model = reparameterize_model(model.eval(), inplace=True)
    return model.to(device).eval(), card
