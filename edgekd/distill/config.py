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
from edgekd.options import check_options, option, option_of
from edgekd.teacher import TeacherConfig

ENSEMBLE_RULES = ("prob", "logit")

# `edgekd distill --lr` defaults to DEFAULT_LR (the teacher stage keeps 0.1): the student alone's
# best lr on the FMNIST-32 val sweep (docs/benchmark.md), where KD at this lr also did best.
DEFAULT_LR = 0.05
# One epoch of linear lr warm-up (docs/benchmark.md, "lr warm-up"): without it KD stalled on one
# seed of eight on a 2,000-image folder (31 steps an epoch); with it KD gained on Fashion-MNIST-32
# (+2.70 ± 0.42 points, 3 seeds), digits and that folder, and the student alone on Fashion-MNIST.
DEFAULT_WARMUP_EPOCHS = 1.0
DEFAULT_TRAIN = TrainConfig(  # the recipe of `edgekd distill` and `distill:`
    optim=OptimConfig(lr=DEFAULT_LR, warmup_epochs=DEFAULT_WARMUP_EPOCHS)
)


@dataclass(frozen=True)
class DistillConfig:
    """What `edgekd distill` does; field names match the CLI flags (`--teacher-cache` → `teacher_cache`; a
    method's own flags go to `method_options`).

    The data options live in `data` and the training recipe (`--epochs`, `--lr`, `--batch-size`,
    …) in `train`, exactly as for the teacher stage; the model options (`img_size`, …) are the
    teacher stage's. Each declared option's help says what it does (`edgekd.options`).

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
        mix: the mixed views are replayable from (seed, epoch, sample index) (see `edgekd.distill.mixing`).
        teacher_mean, teacher_std: normalisation of a bare teacher (None: timm's pretrained
            config of `teacher_arch`).
        teacher_cache: directory of the teacher-logit cache (None: no cache).
        resume: continue from `out_dir/checkpoint.pt`.
        transfer_ratio: (0, 1) repeats the smaller side.
        drop_classes: class names whose labelled images the student never sees (val/test keep them).
        bias_adjust: see `edgekd.distill.bias`.
        quantize: quantization-aware distillation with this ModelOpt recipe (`int8`,
            `int8-per-tensor`; see `edgekd.distill.qad`); None: a float student.
        from_run: QAD: the trained FP32 model to start from (a student or teacher run directory, or its
            .safetensors).
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
    train: TrainConfig = DEFAULT_TRAIN  # `edgekd distill`'s recipe; TrainConfig() is the teacher stage's
    method_options: Mapping[str, Any] = field(default_factory=dict)
    ensemble: str = option(
        "prob", "Several teachers: prob (mean of probabilities at T) or logit (mean logits).", choices=ENSEMBLE_RULES
    )
    mix: str = option(
        "none",
        "Mixed views: none, mixup or cutmix; teacher and student see the same mixed batch, replayable from "
        "(seed, epoch, sample) so the teacher cache holds it. --alpha 1 (kd) drops the label term: function matching.",
        choices=MIX_KINDS,
    )
    mix_alpha: float = option(1.0, "The mix's λ ~ Beta(α, α).", gt=0)
    teacher_arch: str | None = option(None, "timm architecture of a bare teacher checkpoint without teacher.json.")
    teacher_img_size: int | None = option(
        None, "Input size (px) of a bare teacher checkpoint (default: --img-size).", ge=8
    )
    teacher_mean: tuple[float, ...] | None = None
    teacher_std: tuple[float, ...] | None = None
    teacher_cache: Path | None = None
    img_size: int = option_of(TeacherConfig, "img_size")
    pretrained: str | None = option_of(TeacherConfig, "pretrained")
    in_chans: int | None = option_of(TeacherConfig, "in_chans")
    label_smoothing: float = option_of(TeacherConfig, "label_smoothing")
    device: str = option_of(TeacherConfig, "device")
    resume: bool = False
    transfer_data: str | None = option(
        None,
        "Transfer set the student also learns from: unlabeled:PATH (every image under PATH, soft term only) "
        "or a labelled spec with --data's classes.",
    )
    transfer_ratio: float | None = option(
        None,
        "Share of transfer images in the training set (and so in each shuffled batch): 1 = the transfer set "
        "alone; default: every image once per epoch.",
        gt=0,
        le=1,
    )
    limit_transfer: int | None = option(None, "Use a seeded random subset of this many transfer images.", ge=1)
    drop_classes: tuple[str, ...] = ()
    bias_adjust: str | None = option(
        None,
        "Shift the output bias of the dropped classes: auto (maximise val top-1), auto:TOL (best val recall of "
        "the dropped classes within TOL points of the best val top-1) or NAME=VALUE[,NAME=VALUE].",
    )
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
        check_options(self)
        for name, values in (("--teacher-mean", self.teacher_mean), ("--teacher-std", self.teacher_std)):
            if values is not None and len(values) not in (1, 3):
                raise ConfigError(f"{name} takes 1 or 3 comma-separated values, got {len(values)}.")
        if self.transfer_ratio is not None and self.transfer_data is None:
            raise ConfigError("--transfer-ratio needs --transfer-data.")
        if self.limit_transfer is not None and self.transfer_data is None:
            raise ConfigError("--limit-transfer needs --transfer-data.")
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
