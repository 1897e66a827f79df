"""`DistillConfig`: the distillation stage's options, one field per `edgekd distill` flag."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgekd.data import DataConfig
from edgekd.engine import TrainConfig
from edgekd.errors import ConfigError
from edgekd.models.quantized import RECIPES

ENSEMBLE_RULES = ("prob", "logit")
KD_LOSSES = ("kl", "kl-std")

# Shipped KD defaults, chosen on the FMNIST-32 val sweep (docs/benchmark.md): with 4 epochs from
# scratch the textbook recipe (T = 4, α = 0.9, lr 0.1) did not beat the student alone at its own
# best lr (0.05). α = 0.5 keeps half the weight on the labels, which a short run still needs; at
# lr 0.05, T = 4 and T = 2 tied over two seeds (83.6 vs 83.7 % val, alone 82.7 %), and T = 4
# keeps more of the teacher's dark knowledge (what a class missing from the transfer set is
# learnt from). `edgekd distill --lr` defaults to DEFAULT_LR (the teacher stage keeps 0.1).
DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.5
DEFAULT_LR = 0.05


@dataclass(frozen=True)
class DistillConfig:
    """What `edgekd distill` does; field names match the CLI flags (`--hint-layer` → `hint_layer`).

    The data options live in `data` and the training recipe (`--epochs`, `--lr`, `--batch-size`,
    …) in `train`, exactly as for the teacher stage.

    Attributes:
        student: timm architecture of the student (`--student`).
        out_dir: run directory (`--out`): student.safetensors, student.json, metrics.jsonl,
            checkpoint.pt.
        teacher: teacher artefacts (`--teacher`, repeatable): run directories, edgekd
            `.safetensors` files with their card, or bare timm checkpoints (with `teacher_arch`).
        method: registered method name: `kd`, `fitnet` or `none` (the student alone, same recipe).
        temperature: KD temperature T (> 0). Loss = (1−α)·CE + α·T²·KL(softmax(t/T) ‖ softmax(s/T)).
        alpha: weight α of the soft (KD) term, in [0, 1].
        ensemble: how several teachers' soft targets combine: `prob` (mean of their
            probabilities at T) or `logit` (softmax of their mean logits at T).
        hint_layer: FitNet: teacher module path (None: paired automatically).
        guided_layer: FitNet: student module path (None: the student's middle timm stage).
        hint_epochs: FitNet: epochs of stage 1 (hint regression), counted within `train.epochs`.
        beta: FitNet: weight β of the hint loss added to KD in stage 2 (0: KD alone).
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
    """

    student: str
    out_dir: Path
    teacher: tuple[str, ...] = ()
    method: str = "kd"
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA
    ensemble: str = "prob"
    kd_loss: str = "kl"
    hint_layer: str | None = None
    guided_layer: str | None = None
    hint_epochs: int = 1
    beta: float = 0.0
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

    def describe(self) -> dict:
        payload = asdict(self)
        payload["out_dir"] = str(self.out_dir)
        payload["teacher_cache"] = str(self.teacher_cache) if self.teacher_cache else None
        payload["drop_classes"] = list(self.drop_classes)
        payload["from_run"] = str(self.from_run) if self.from_run else None
        payload["calib"] = str(self.calib) if self.calib else None
        return payload

    def validate(self, known_methods: tuple[str, ...]) -> None:
        """Refuse impossible combinations with one line that says how to fix them."""
        if self.method not in known_methods:
            raise ConfigError(f"unknown --method '{self.method}': use {', '.join(known_methods)}.")
        if self.temperature <= 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}.")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"--alpha must be within [0, 1], got {self.alpha}.")
        if self.beta < 0:
            raise ConfigError(f"--beta must be >= 0, got {self.beta}.")
        if self.kd_loss not in KD_LOSSES:
            raise ConfigError(f"unknown --kd-loss '{self.kd_loss}': use {' or '.join(KD_LOSSES)}.")
        if self.ensemble not in ENSEMBLE_RULES:
            raise ConfigError(f"unknown --ensemble '{self.ensemble}': use {' or '.join(ENSEMBLE_RULES)}.")
        if self.img_size < 8:
            raise ConfigError(f"--img-size must be at least 8 px, got {self.img_size}.")
        if self.teacher_img_size is not None and self.teacher_img_size < 8:
            raise ConfigError(f"--teacher-img-size must be at least 8 px, got {self.teacher_img_size}.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"--label-smoothing must be within [0, 1), got {self.label_smoothing}.")
        if self.method != "fitnet":
            used = [flag for flag, value in (("--hint-layer", self.hint_layer), ("--guided-layer", self.guided_layer), ("--beta", self.beta or None)) if value]
            if used:
                raise ConfigError(f"{', '.join(used)} only apply to --method fitnet (this run uses --method {self.method}).")
        else:
            if self.hint_epochs < 0:
                raise ConfigError(f"--hint-epochs must be >= 0, got {self.hint_epochs}.")
            if self.hint_epochs >= self.train.epochs:
                raise ConfigError(
                    f"--hint-epochs ({self.hint_epochs}) must be smaller than --epochs ({self.train.epochs}): "
                    "--epochs counts both FitNet stages and stage 2 (KD) needs at least one epoch."
                )
            if self.train.compile:
                raise ConfigError("--compile is not supported with --method fitnet (its hint stage stops the student mid-forward); drop --compile.")
        for name, values in (("--teacher-mean", self.teacher_mean), ("--teacher-std", self.teacher_std)):
            if values is not None and len(values) not in (1, 3):
                raise ConfigError(f"{name} takes 1 or 3 comma-separated values, got {len(values)}.")
        if self.transfer_ratio is not None and self.transfer_data is None:
            raise ConfigError("--transfer-ratio needs --transfer-data.")
        if self.transfer_ratio is not None and not 0.0 < self.transfer_ratio <= 1.0:
            raise ConfigError(f"--transfer-ratio must be within (0, 1] (1: the transfer set alone), got {self.transfer_ratio}.")
        if self.limit_transfer is not None and self.transfer_data is None:
            raise ConfigError("--limit-transfer needs --transfer-data.")
        if self.limit_transfer is not None and self.limit_transfer < 1:
            raise ConfigError(f"--limit-transfer must be positive, got {self.limit_transfer}.")
        if self.bias_adjust is not None and not self.drop_classes:
            raise ConfigError("--bias-adjust shifts the bias of classes the student never saw: give --drop-classes too.")
        if self.teacher_std is not None and any(v <= 0 for v in self.teacher_std):
            raise ConfigError("--teacher-std values must be > 0.")
        self._validate_quantize()

    def _validate_quantize(self) -> None:
        if self.quantize is None:
            given = [flag for flag, value in (("--from", self.from_run), ("--calib", self.calib), ("--teacher self", "self" in self.teacher)) if value]
            if given:
                raise ConfigError(f"{', '.join(given)} only apply to quantization-aware distillation: add --quantize int8.")
            return
        if self.quantize not in RECIPES:
            raise ConfigError(f"unknown --quantize '{self.quantize}': use {' or '.join(RECIPES)}.")
        if self.from_run is None:
            raise ConfigError("--quantize fine-tunes a trained student: give --from RUN (its directory or student.safetensors).")
        if self.method == "fitnet":
            raise ConfigError("--quantize distils with --method kd (or none: quantization-aware training on labels alone), not fitnet.")
