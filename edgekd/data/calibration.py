"""Calibration-set specs (`calibration/*.yaml`): which images calibrate a quantized model.

Read here, in the core, because two stages calibrate: export (ONNX Runtime PTQ) and distill
(ModelOpt calibration before quantization-aware distillation). A spec names the data, not the
preprocessing: each stage prepares the images as the model to be quantized takes them.
Calibration uses val (or train) images, never test, which only reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgekd.data.config import DataConfig
from edgekd.errors import ConfigError

# The val hold-out of sets without a val split when the model records none for the same data.
DEFAULT_VAL_SIZE = DataConfig.val_size


class CalibrationSpec(BaseModel):
    """A calibration set.

    Attributes:
        dataset: dataset spec (`fashion-mnist`, `digits`, `imagefolder:PATH`, …).
        split: `val` (default) or `train`; `test` is refused (it only reports).
        samples: images to draw (all of the split when it holds fewer).
        seed: seed of the stratified selection.
        val_size: val hold-out of sets without a val split (None: as the checkpoint recorded
            for the same dataset, else 0.1). Must match training, or "val" overlaps train.
        data_dir: extra folder to look for Fashion-MNIST in.
        batch_size: images per calibration batch.
        description: free text shown in reports.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    split: Literal["val", "train"] = "val"
    samples: int = Field(512, ge=1, le=100_000)
    seed: int = 0
    val_size: float | None = Field(None, ge=0)
    data_dir: str | None = None
    batch_size: int = Field(32, ge=1, le=1024)
    description: str | None = None


def load_calibration_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec YAML; any problem is one `ConfigError` line."""
    path = Path(path)
    if not path.is_file():
        known = sorted(p.name for p in Path("calibration").glob("*.yaml")) if Path("calibration").is_dir() else []
        hint = f" Specs in ./calibration: {', '.join(known)}." if known else ""
        raise ConfigError(f"calibration spec not found: {path}.{hint}")
    try:
        payload = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(payload, dict):
        raise ConfigError(f"{path} must be a YAML mapping with at least 'dataset:' (see calibration/README.md).")
    try:
        return CalibrationSpec(**payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise ConfigError(f"{path}: '{where}': {first['msg']} (see calibration/README.md).") from exc


def calibration_data_config(spec: CalibrationSpec, trained_on: dict[str, Any], data_dir: str | None) -> DataConfig:
    """The DataConfig the spec selects from, with the model's own val hold-out where it applies.

    Args:
        trained_on: the model card's `dataset` record (`Dataset.describe()` of its training data).
    """
    options = trained_on.get("options") or {}
    same = spec.dataset == trained_on.get("spec")
    val_size = (
        spec.val_size
        if spec.val_size is not None
        else (options.get("val_size", DEFAULT_VAL_SIZE) if same else DEFAULT_VAL_SIZE)
    )
    if spec.split == "val" and not val_size:
        val_size = DEFAULT_VAL_SIZE  # the model trained on all of train: hold a share out anyway
    return DataConfig(
        spec=spec.dataset,
        data_dir=spec.data_dir or data_dir,
        val_size=val_size,
        split_seed=int(options.get("split_seed", 0)) if same else 0,
    )
