"""The images a calibration spec (`calibration/*.yaml`, read by `edgekd.data.calibration`) selects.

A spec names the data, not the preprocessing: images are prepared exactly as the model to be
quantized takes them (its own size, normalisation or uint8 frames), from the checkpoint's
metadata. Calibration uses val (or train) images, never test, which only reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekd.data import DataConfig
from edgekd.data.calibration import CalibrationSpec, calibration_data_config, load_calibration_spec
from edgekd.engine.progress import Progress
from edgekd.export.samples import ImageSet, load_for_card, take
from edgekd.models import ModelCard
from edgekd.runtime.base import INPUT_NHWC_UINT8, Backend

__all__ = [
    "CalibrationReader",
    "CalibrationSpec",
    "calibration_images",
    "data_config_of",
    "load_calibration_spec",
    "prepared_inputs",
]


def data_config_of(spec: CalibrationSpec, card: ModelCard, data_dir: str | None) -> DataConfig:
    """The DataConfig the spec selects from, with the checkpoint's own val hold-out where it applies."""
    return calibration_data_config(spec, card.dataset or {}, data_dir)


def calibration_images(spec: CalibrationSpec, card: ModelCard, data_dir: str | None, progress: Progress) -> ImageSet:
    """The images a spec selects (seeded, stratified), checked against the model's classes."""
    config = data_config_of(spec, card, data_dir)
    dataset = load_for_card(config, card)
    if spec.dataset != (card.dataset or {}).get("spec"):
        progress.log(
            f"calibrating on {spec.dataset}, not the checkpoint's training set ({(card.dataset or {}).get('spec')})."
        )
    split = dataset.split(spec.split)
    images = take(split, dataset.spec, spec.samples, spec.seed)
    if len(images) < spec.samples:
        progress.log(
            f"calibration: {spec.dataset} {spec.split} has {len(images)} images, fewer than the {spec.samples} "
            "asked; using all of them."
        )
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

    def get_next(self) -> dict[str, Any] | None:
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
    parts = [
        backend.prepare(images.pixels(size, start, start + batch_size, as_frames)).numpy()
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(parts)
