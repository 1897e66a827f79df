"""`DistillConfig`: the distillation stage's options, one field per `edgekd distill` flag."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgekd.data import DataConfig
from edgekd.data.augment import MIX_KINDS, MixRecipe
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.errors import ConfigError
from edgekd.models.quantized import RECIPES

ENSEMBLE_RULES = ("prob", "logit")

# `edgekd distill --lr` defaults to DEFAULT_LR (the teacher stage keeps 0.1): the student alone's
# best lr on the FMNIST-32 val sweep (docs/benchmark.md), where KD at this lr also did best.
DEFAULT_LR = 0.05
DEFAULT_TRAIN = TrainConfig(optim=OptimConfig(lr=DEFAULT_LR))  # the recipe of `edgekd distill` and `distill:`


@dataclass(frozen=True)
class DistillConfig:
    """What `edgekd distill` does; field names match the CLI flags (`--teacher-cache` → `teacher_cache`; a
    method's own flags go to `method_options`).

    The data options live in `data` and the training recipe (`--epochs`, `--lr`, `--batch-size`,
    …) in `train`, exactly as for the teacher stage.

    Attributes:
        student: timm architecture of the student (`--student`).
        out_dir: run directory (`--out`): student.safetensors, student.json, metrics.jsonl,
            checkpoint.pt.
        teacher: teacher artefacts (`--teacher`, repeatable): run directories, edgekd
            `.safetensors` files with their card, or bare timm checkpoints (with `teacher_arch`).
        method: registered method name (`edgekd.distill.METHODS`: `kd`, `fitnet`, …, and
            `none`, the student alone with the same recipe).
        method_options: the method's own settings by name (`{"temperature": 2.0}`), as its
            class declares them (`DistillMethod.options`); those left out take the method's
            declared default. An option the method does not declare is refused.
        ensemble: how several teachers' soft targets combine: `prob` (mean of their
            probabilities at T) or `logit` (softmax of their mean logits at T).
        mix: `none`, `mixup` or `cutmix`: teacher and student see the same mixed training
            views, replayable from (seed, epoch, sample index) (see `edgekd.distill.mixing`).
        mix_alpha: λ ~ Beta(α, α) of the mix (> 0).
        teacher_arch: timm architecture of a bare teacher checkpoint without `teacher.json`.
        teacher_img_size: input size (px) of a bare teacher (None: the student's `img_size`).
        teacher_mean, teacher_std: normalisation of a bare teacher (None: timm's pretrained
            config of `teacher_arch`).
        teacher_cache: directory of the teacher-logit cache (None: no cache).
        img_size: the student's input size (px); augmentation happens at this size.
        pretrained: student initial weights: a local file, `cache` (hub cache) or None.
        in_chans: student input channels (None: 3).
        label_smoothing: label smoothing of the CE term.
        device: auto | cpu | cuda | cuda:N.
        resume: continue from `out_dir/checkpoint.pt`.
        transfer_data: a transfer set the student also learns from (`--transfer-data`):
            `unlabeled:PATH` (soft term only) or a labelled spec with `data`'s classes.
        transfer_ratio: share of transfer samples in the training set: None keeps each image
            once per epoch; 1 uses the transfer set alone; (0, 1) repeats the smaller side.
        limit_transfer: a seeded random subset of the transfer set of this many images.
        drop_classes: class names whose labelled images the student never sees (val/test keep them).
        bias_adjust: `auto` or `NAME=VALUE[,…]`: shift the output bias of the dropped classes
            after training (auto: chosen on val, see `edgekd.distill.bias`); None: no shift.
        quantize: quantization-aware distillation with this ModelOpt recipe (`int8`,
            `int8-per-tensor`; see `edgekd.distill.qad`); None: a float student.
        from_run: QAD: the trained FP32 student (run directory or student.safetensors) to start from.
        calib: QAD: calibration spec YAML (None: calibration/digits-val.yaml or
            fmnist-val-512.yaml for those datasets).
        evaluate_test: score the student and the teachers on the test split at the end; False
            leaves `metrics.test` empty and never reads that split (the student search's short
            rungs rank on val only). No CLI flag: a library option.
    """

    student: str
    out_dir: Path
    teacher: tuple[str, ...] = ()
    method: str = "kd"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method_options: Mapping[str, Any] = field(default_factory=dict)
    ensemble: str = "prob"
    mix: str = "none"
    mix_alpha: float = 1.0
    teacher_arch: str | None = None
    teacher_img_size: int | None = None
    teacher_mean: tuple[float, ...] | None = None
    teacher_std: tuple[float, ...] | None = None
    teacher_cache: Path | None = None
    img_size: int = 32
    pretrained: str | None = None
    in_chans: int | None = None
    label_smoothing: float = 0.0
    device: str = "auto"
    resume: bool = False
    transfer_data: str | None = None
    transfer_ratio: float | None = None
    limit_transfer: int | None = None
    drop_classes: tuple[str, ...] = ()
    bias_adjust: str | None = None
    quantize: str | None = None
    from_run: Path | None = None
    calib: Path | None = None
    evaluate_test: bool = True

    def describe(self) -> dict:
        payload = asdict(self)
        payload["method_options"] = dict(self.method_options)
        payload["out_dir"] = str(self.out_dir)
        payload["teacher_cache"] = str(self.teacher_cache) if self.teacher_cache else None
        payload["drop_classes"] = list(self.drop_classes)
        payload["from_run"] = str(self.from_run) if self.from_run else None
        payload["calib"] = str(self.calib) if self.calib else None
        return payload

    @property
    def mix_recipe(self) -> MixRecipe:
        return MixRecipe(self.mix, self.mix_alpha)

    def method_settings(self) -> dict[str, Any]:
        """Every option of `method` with its value in this run (declared defaults filled in)."""
        from edgekd.distill.methods import METHODS

        if self.method not in METHODS:
            raise ConfigError(f"unknown --method '{self.method}': use {', '.join(METHODS)}.")
        return METHODS[self.method].resolve_options(self.method_options)

    def validate(self, known_methods: tuple[str, ...] | None = None) -> DistillConfig:
        """Refuse impossible combinations with one line that says how to fix them; returns self.

        The method's own options are checked against its declarations (`method_settings`)
        and its `check_run`; `known_methods` (default: every registered one) limits `method`.
        """
        from edgekd.distill.methods import METHODS

        known = tuple(known_methods) if known_methods is not None else tuple(METHODS)
        if self.method not in known:
            raise ConfigError(f"unknown --method '{self.method}': use {', '.join(known)}.")
        METHODS[self.method].check_run(self, self.method_settings())
        if self.ensemble not in ENSEMBLE_RULES:
            raise ConfigError(f"unknown --ensemble '{self.ensemble}': use {' or '.join(ENSEMBLE_RULES)}.")
        if self.mix not in MIX_KINDS:
            raise ConfigError(f"unknown --mix '{self.mix}': use {', '.join(MIX_KINDS)}.")
        if self.mix_alpha <= 0:
            raise ConfigError(f"--mix-alpha must be > 0 (λ ~ Beta(α, α)), got {self.mix_alpha}.")
        if self.img_size < 8:
            raise ConfigError(f"--img-size must be at least 8 px, got {self.img_size}.")
        if self.teacher_img_size is not None and self.teacher_img_size < 8:
            raise ConfigError(f"--teacher-img-size must be at least 8 px, got {self.teacher_img_size}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"--label-smoothing must be within [0, 1), got {self.label_smoothing}.")
        for name, values in (("--teacher-mean", self.teacher_mean), ("--teacher-std", self.teacher_std)):
            if values is not None and len(values) not in (1, 3):
                raise ConfigError(f"{name} takes 1 or 3 comma-separated values, got {len(values)}.")
        if self.transfer_ratio is not None and self.transfer_data is None:
            raise ConfigError("--transfer-ratio needs --transfer-data.")
        if self.transfer_ratio is not None and not 0.0 < self.transfer_ratio <= 1.0:
            raise ConfigError(
                f"--transfer-ratio must be within (0, 1] (1: the transfer set alone), got {self.transfer_ratio}."
            )
        if self.limit_transfer is not None and self.transfer_data is None:
            raise ConfigError("--limit-transfer needs --transfer-data.")
        if self.limit_transfer is not None and self.limit_transfer < 1:
            raise ConfigError(f"--limit-transfer must be positive, got {self.limit_transfer}.")
        if self.bias_adjust is not None and not self.drop_classes:
            raise ConfigError(
                "--bias-adjust shifts the bias of classes the student never saw: give --drop-classes too."
            )
        if self.teacher_std is not None and any(v <= 0 for v in self.teacher_std):
            raise ConfigError("--teacher-std values must be > 0.")
        self._validate_quantize()
        return self

    def _validate_quantize(self) -> None:
        if self.quantize is None:
            given = [
                flag
                for flag, value in (
                    ("--from", self.from_run),
                    ("--calib", self.calib),
                    ("--teacher self", "self" in self.teacher),
                )
                if value
            ]
            if given:
                raise ConfigError(
                    f"{', '.join(given)} only apply to quantization-aware distillation: add --quantize int8."
                )
            return
        if self.quantize not in RECIPES:
            raise ConfigError(f"unknown --quantize '{self.quantize}': use {' or '.join(RECIPES)}.")
        if self.from_run is None:
            raise ConfigError(
                "--quantize fine-tunes a trained student: give --from RUN (its directory or student.safetensors)."
            )
        if self.method == "fitnet":
            raise ConfigError(
                "--quantize distils with --method kd (or none: quantization-aware training on labels alone), not "
                "fitnet."
            )
