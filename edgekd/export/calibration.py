"""Calibration-set specs (`calibration/*.yaml`) and the images they select.

A spec names the data, not the preprocessing: images are prepared exactly as the model to be
quantized takes them (its own size, normalisation or uint8 frames), from the checkpoint's
metadata. Calibration uses val (or train) images, never test, which only reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgekd.data import DataConfig
from edgekd.engine.progress import Progress
from edgekd.errors import ConfigError
from edgekd.export.samples import DEFAULT_VAL_SIZE, ImageSet, load_for_card, take
from edgekd.models import ModelCard
from edgekd.runtime.base import INPUT_NHWC_UINT8, Backend


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
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(payload, dict):
        raise ConfigError(f"{path} must be a YAML mapping with at least 'dataset:' (see calibration/README.md).")
    try:
        return CalibrationSpec(**payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise ConfigError(f"{path}: '{where}': {first['msg']} (see calibration/README.md).") from None


def data_config_of(spec: CalibrationSpec, card: ModelCard, data_dir: str | None) -> DataConfig:
    """The DataConfig the spec selects from, with the checkpoint's own val hold-out where it applies."""
    recorded = card.dataset or {}
    options = recorded.get("options") or {}
    same = spec.dataset == recorded.get("spec")
    val_size = spec.val_size if spec.val_size is not None else (options.get("val_size", DEFAULT_VAL_SIZE) if same else DEFAULT_VAL_SIZE)
    if spec.split == "val" and not val_size:
        val_size = DEFAULT_VAL_SIZE  # the checkpoint trained on all of train: hold a share out anyway
    return DataConfig(spec=spec.dataset, data_dir=spec.data_dir or data_dir, val_size=val_size, split_seed=int(options.get("split_seed", 0)) if same else 0)


def calibration_images(spec: CalibrationSpec, card: ModelCard, data_dir: str | None, progress: Progress) -> ImageSet:
    """The images a spec selects (seeded, stratified), checked against the model's classes."""
    config = data_config_of(spec, card, data_dir)
    dataset = load_for_card(config, card)
    if spec.dataset != (card.dataset or {}).get("spec"):
        progress.log(f"calibrating on {spec.dataset}, not the checkpoint's training set ({(card.dataset or {}).get('spec')}).")
    split = dataset.split(spec.split)
    images = take(split, dataset.spec, spec.samples, spec.seed)
    if len(images) < spec.samples:
        progress.log(f"calibration: {spec.dataset} {spec.split} has {len(images)} images, fewer than the {spec.samples} asked; using all of them.")
    return images


class CalibrationReader:
    """ONNX Runtime calibration data reader over prepared images (re-iterable via `rewind`).

    Duck-typed (`get_next`), so importing the export stage needs no onnxruntime: a Jetson that
    only builds engines from a shipped ONNX may not have it.

    Args:
        inputs: the model's inputs for every calibration image, as `backend.prepare` makes them.
        input_name: the ONNX input name.
        batch_size: images per batch.
    """

    def __init__(self, inputs: np.ndarray, input_name: str, batch_size: int = 32):
        self.inputs = inputs
        self.input_name = input_name
        self.batch_size = batch_size
        self._start = 0

    def get_next(self) -> dict | None:
        if self._start >= len(self.inputs):
            return None
        batch = self.inputs[self._start : self._start + self.batch_size]
        self._start += self.batch_size
        return {self.input_name: np.ascontiguousarray(batch)}

    def rewind(self) -> None:
        self._start = 0

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch_size)


def prepared_inputs(backend: Backend, images: ImageSet, batch_size: int = 256) -> np.ndarray:
    """Every image as the FP32 model's input (float NCHW normalised, or uint8 NHWC frames)."""
    as_frames = backend.input_format == INPUT_NHWC_UINT8
    size = backend.card.input.size
    parts = [backend.prepare(images.pixels(size, start, start + batch_size, as_frames)).numpy() for start in range(0, len(images), batch_size)]
    return np.concatenate(parts)
