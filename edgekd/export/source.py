"""What `edgekd export` starts from: an edgekd checkpoint, or an `.onnx` that edgekd exported.

Everything is read and checked before any output is written, so a missing, truncated or
foreign input fails in one line with nothing left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from edgekd.artifacts import sha256_file
from edgekd.errors import ModelError
from edgekd.models import ModelCard, load_model, resolve_model_path
from edgekd.models.quantized import is_quantized_artefact
from edgekd.runtime.base import INPUT_NCHW_FLOAT
from edgekd.runtime.ort_backend import read_onnx_file_metadata


@dataclass
class ExportSource:
    """The input of an export.

    Attributes:
        path: the checkpoint (`.safetensors`) or ONNX file.
        kind: "checkpoint" or "onnx".
        card: the model card (from the `.json` beside a checkpoint, or the ONNX metadata).
        sha256: hex digest of `path`'s bytes (recorded in every artefact made from it).
        model: the PyTorch model (exportable layers, eval mode) for checkpoints, else None.
        metadata: the `edgekd` ONNX metadata for ONNX inputs, else None.
    """

    path: Path
    kind: str
    card: ModelCard
    sha256: str
    model: nn.Module | None = None
    metadata: dict[str, Any] | None = None

    @property
    def precision(self) -> str:
        return str((self.metadata or {}).get("precision", "fp32"))

    @property
    def input_format(self) -> str:
        return str((self.metadata or {}).get("input_format", INPUT_NCHW_FLOAT))

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.path.name,
            "kind": self.kind,
            "sha256": self.sha256,
            "role": self.card.role,
            "arch": self.card.arch,
        }


def open_source(path: str | Path) -> ExportSource:
    """Load and check the export input.

    Raises:
        ModelError: missing file, missing card, truncated or pickled weights, an ONNX without
            edgekd metadata.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        metadata = read_onnx_file_metadata(path)
        return ExportSource(path, "onnx", ModelCard.from_dict(metadata["card"]), sha256_file(path), metadata=metadata)
    weights = resolve_model_path(path)
    if weights.suffix != ".safetensors":
        raise ModelError(
            f"{weights.name}: export takes an edgekd model artefact (.safetensors + .json card, as written by "
            "'edgekd teacher train' or 'edgekd distill') or an edgekd .onnx."
        )
    if _looks_pickled(weights):
        raise ModelError(
            f"{weights.name} holds a PyTorch pickle (torch.save), not safetensors; edgekd never unpickles models. "
            "Save the state dict with safetensors (edgekd.models.save_model)."
        )
    model, card = load_model(weights, exportable=True)
    return ExportSource(weights, "checkpoint", card, sha256_file(weights), model=model)


def _looks_pickled(path: Path) -> bool:
    """torch.save writes a zip archive (b"PK") or, in its legacy format, a raw pickle (b"\\x80").

    A safetensors file starts with an 8-byte header length followed by `{`, which is checked
    first: the length's low byte may well be 0x80.
    """
    with open(path, "rb") as handle:
        head = handle.read(9)
    if head[8:9] == b"{":
        return False
    return head[:2] == b"PK" or head[:1] == b"\x80"


def is_qad_checkpoint(path: Path) -> bool:
    """Whether an export source is a QAD student (its quantizer state lies beside it)."""
    return path.suffix == ".safetensors" and is_quantized_artefact(path)
