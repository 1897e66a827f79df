"""Quantization-aware distillation (QAD): PTQ with ModelOpt, then KD of the fake-quantized student.

NVIDIA Model Optimizer's recipe: start from the trained full-precision student (`--from RUN`),
insert INT8 quantizers and calibrate them on a calibration spec (the `calibration/*.yaml` that
export uses), then fine-tune the fake-quantized student against a frozen full-precision teacher
with the shipped KD loss, at a small learning rate for a short schedule. The quantizers' ranges
stay as calibrated (ModelOpt freezes the scales during QAT) and so do BatchNorm's running
statistics (the ranges were measured with them); weights and BN's affine terms train.
`--teacher self` distils from the FP32 student itself.

The stage calls `QadRun.prepare(config)` once, `student(...)` where it would create a fresh
student, and `save(...)` where it would save one; everything QAD-specific lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgekd.artifacts import sha256_file
from edgekd.data import BatchLoader, DataConfig, InputSpec, ModelInput, to_unit_float
from edgekd.data.calibration import CalibrationSpec, calibration_data_config, load_calibration_spec
from edgekd.data.splits import stratified_subset
from edgekd.distill.config import DEFAULT_LR, DistillConfig
from edgekd.engine import Predictions, predict
from edgekd.errors import ConfigError, DataError
from edgekd.models import ModelCard, load_model, quantized, read_card, resolve_model_path

SELF_TEACHER = "self"  # `--teacher self`: the FP32 student of `--from` teaches its quantized copy
# The short, gentle schedule of fine-tuning a calibrated model: 1/10 of distillation's lr (ModelOpt's
# CNN QAT example fine-tunes at a small lr for a few epochs), 2 epochs (the budget).
QAD_LR = DEFAULT_LR / 10
QAD_EPOCHS = 2
# What a QAD run takes in place of distillation's recipe defaults (no lr warm-up: the model starts
# trained, and the QAD figures in docs/distill.md were measured without one).
QAD_SCHEDULE = {"lr": QAD_LR, "epochs": QAD_EPOCHS, "warmup_epochs": 0.0}
DEFAULT_CALIB = {"digits": "digits-val.yaml", "fashion-mnist": "fmnist-val-512.yaml"}


# `--from` takes any trained edgekd classifier: a student, or a teacher that is itself to ship as
# INT8 (a resnet18-size model). The output is a student artefact either way: the model that ships.
FROM_ROLES = ("student", "teacher")


def from_model_card(from_run: str | Path) -> ModelCard:
    """The card of the FP32 model a QAD run starts from (its arch, input and data are the run's defaults)."""
    card = read_card(resolve_model_path(from_run, FROM_ROLES))
    if card is None or card.role not in FROM_ROLES:
        raise ConfigError(
            f"--from {from_run}: not an edgekd model (student or teacher .safetensors + .json from 'edgekd distill' "
            "or 'edgekd teacher train')."
        )
    return card


@dataclass
class QadRun:
    """One QAD run's inputs, resolved and checked before anything trains.

    Attributes:
        recipe: the `--quantize` recipe (see `edgekd.models.quantized.RECIPES`).
        from_path: the FP32 model's weights (`--from`: a student, or a teacher to ship as INT8).
        from_card: its model card.
        calib_path, calib_spec: the calibration spec and its contents.
        ptq: figures of the calibrated student before training (val/test top-1, percent).
    """

    recipe: str
    from_path: Path
    from_card: ModelCard
    calib_path: Path
    calib_spec: CalibrationSpec
    ptq: dict[str, Any] | None = None
    batchnorm_frozen: int = 0
    counts: dict[str, int] | None = None

    @classmethod
    def prepare(cls, config: DistillConfig) -> tuple["QadRun", DistillConfig]:
        """Check the QAD inputs; returns the run and the config with `--teacher self` resolved."""
        quantized.require_modelopt()
        assert config.from_run is not None and config.quantize is not None  # validated: --quantize needs --from
        from_path = resolve_model_path(config.from_run, FROM_ROLES)
        card = from_model_card(from_path)
        if quantized.is_quantized_artefact(from_path):
            raise ConfigError(f"--from {config.from_run} is already a QAD student; start from the FP32 model.")
        if config.student and config.student != card.arch:
            raise ConfigError(
                f"--student {config.student} differs from the --from student's architecture {card.arch}; leave "
                "--student out."
            )
        if config.img_size != card.input.size:
            raise ConfigError(
                f"--img-size {config.img_size} differs from the --from student's {card.input.size} px; pass "
                f"--img-size {card.input.size}."
            )
        calib_path = Path(config.calib) if config.calib else cls._default_calib((card.dataset or {}).get("spec"))
        spec = load_calibration_spec(calib_path)
        teachers = tuple(str(from_path) if t == SELF_TEACHER else t for t in config.teacher)
        return cls(config.quantize, from_path, card, calib_path, spec), replace(
            config, teacher=teachers, student=card.arch
        )

    @staticmethod
    def _default_calib(dataset: str | None) -> Path:
        name = DEFAULT_CALIB.get(dataset or "")
        if name is None or not (Path("calibration") / name).is_file():
            raise ConfigError(
                "--quantize calibrates on a calibration spec: pass --calib calibration/NAME.yaml (see "
                f"calibration/README.md) for {dataset or 'this dataset'}."
            )
        return Path("calibration") / name

    def input_spec(self, spec: InputSpec) -> InputSpec:
        """The `--from` student's own input (its normalisation is part of the model, whatever subset
        of its data QAD fine-tunes on); its size and channels must be this run's."""
        start = self.from_card.input
        if (start.size, start.in_chans) != (spec.size, spec.in_chans):
            raise ConfigError(
                f"--from {self.from_path}: it takes {start.in_chans}×{start.size}² input, this run "
                f"{spec.in_chans}×{spec.size}²; pass --img-size {start.size}."
            )
        return start

    def student(self, spec: InputSpec, num_classes: int, data_dir: str | None, log) -> nn.Module:
        """The FP32 student of `--from`, quantizers inserted and calibrated, BN frozen (CPU, train mode)."""
        model, card = load_model(self.from_path)
        if card.num_classes != num_classes or card.input != spec:
            raise ConfigError(
                f"--from {self.from_path}: its {card.num_classes} classes / input {card.input} differ from this "
                f"run's {num_classes} / {spec}; distil on the data it was trained on."
            )
        inputs = self.calibration_inputs(spec, data_dir)
        model = quantized.quantize_model(
            model, self.recipe, quantized.calibration_batches(inputs, self.calib_spec.batch_size)
        )
        self.counts = quantized.quantization_counts(model)
        self.batchnorm_frozen = quantized.freeze_batchnorm(model)
        log(
            f"QAD: {self.recipe} quantizers from ModelOpt ({self.counts['enabled']} enabled of "
            f"{self.counts['quantizers']}), calibrated on {len(inputs)} "
            f"{self.calib_spec.split} images of {self.calib_spec.dataset} ({self.calib_path.name}); "
            f"{self.batchnorm_frozen} BatchNorm layers frozen"
        )
        return model.train()

    def calibration_inputs(self, spec: InputSpec, data_dir: str | None) -> torch.Tensor:
        """The spec's images (seeded, stratified, as export selects them) as the student's normalised input."""
        config: DataConfig = calibration_data_config(self.calib_spec, self.from_card.dataset or {}, data_dir)
        image_size = int(((self.from_card.dataset or {}).get("options") or {}).get("image_size", spec.size))
        dataset = config.load(image_size)
        if dataset.num_classes != self.from_card.num_classes:
            raise DataError(
                f"{self.calib_path}: {dataset.spec} has {dataset.num_classes} classes but the student has "
                f"{self.from_card.num_classes}."
            )
        split = dataset.split(self.calib_spec.split)
        if split.images is None:  # streamed
            raise DataError(
                f"{self.calib_path}: QAD calibrates from an in-memory split; {dataset.spec} streams from disk."
            )
        index = torch.as_tensor(
            stratified_subset(split.labels.numpy(), self.calib_spec.samples, self.calib_spec.seed), dtype=torch.int64
        )
        if len(index) == 0:
            raise DataError(f"{self.calib_path}: the {self.calib_spec.split} split of {dataset.spec} is empty.")
        with torch.no_grad():
            return ModelInput(spec)(to_unit_float(split.images[index], (spec.size, spec.size)))

    def measure_ptq(self, model: nn.Module, model_input: ModelInput, dataset, device, batch_size: int) -> None:
        """Val/test top-1 (percent) of the calibrated student before any training: the PTQ baseline."""
        figures = {}
        for split in ("val", "test"):
            data = dataset.split(split)
            if len(data):
                predictions: Predictions = predict(
                    model.to(device), model_input, BatchLoader(data, batch_size, shuffle=False), device
                )
                figures[f"{split}_top1"] = predictions.top1()
        self.ptq = figures
        model.train()

    def describe(self) -> dict[str, Any]:
        """The recipe as the student card records it (`training.quantize`)."""
        return {
            "recipe": self.recipe,
            "library": "nvidia-modelopt",
            "config": "INT8_DEFAULT_CFG" + (" with per-tensor weights" if self.recipe == "int8-per-tensor" else ""),
            "from": {
                "path": str(self.from_path),
                "sha256": sha256_file(self.from_path),
                "arch": self.from_card.arch,
                "metrics": {
                    k: {m: v for m, v in (self.from_card.metrics.get(k) or {}).items() if m != "per_class"}
                    for k in ("val", "test")
                },
            },
            "calibration": self.calib_spec.model_dump() | {"path": str(self.calib_path)},
            "quantizers": self.counts,
            "batchnorm": (
                f"{self.batchnorm_frozen} layers frozen (running statistics fixed, unquantized; folded by TensorRT)"
            ),
            "ptq": self.ptq,
        }

    def save(self, student: nn.Module, card: ModelCard, weights_path: Path) -> Path:
        """Write the QAD student: plain FP32 weights + card, and its quantizer state beside them."""
        return quantized.save_quantized(student, card, weights_path, self.recipe)
