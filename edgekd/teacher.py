"""Teacher stage: fine-tune (or train) any timm architecture on a dataset.

Writes `DIR/teacher.safetensors` + `DIR/teacher.json`, plus `metrics.jsonl` and a resumable
`checkpoint.pt`. The CLI's `edgekd teacher train` is a thin layer over `run`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from edgekd.artifacts import provenance
from edgekd.data import DataConfig, ModelInput
from edgekd.engine import ClassificationTask, Progress, TrainConfig, Trainer, init_distributed
from edgekd.engine.device import is_main_process
from edgekd.engine.metrics import accuracy_summary
from edgekd.errors import ConfigError
from edgekd.locks import folder_lock
from edgekd.models import ModelCard, create_model, input_spec_for, resolve_arch, save_model


@dataclass(frozen=True)
class TeacherConfig:
    """Options of the teacher stage.

    Attributes:
        arch: timm architecture name.
        img_size: model input size (px); data is resized to it on the fly.
        pretrained: local weights file, `cache` (local hub cache) or None (random init).
        in_chans: model input channels; None → 3 (grayscale data is repeated to RGB).
        label_smoothing: cross-entropy label smoothing.
        device: auto | cpu | cuda | cuda:N.
        resume: continue from `out_dir/checkpoint.pt` (how the run goes on, not what it makes:
            left out of `describe()`, so a resumed run's card and cache keys match a fresh one's).
    """

    arch: str
    out_dir: Path
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    img_size: int = 32
    pretrained: str | None = None
    in_chans: int | None = None
    label_smoothing: float = 0.0
    device: str = "auto"
    resume: bool = False

    def validate(self) -> TeacherConfig:
        """Check the stage's own options once (the recipe checks itself in `Trainer`); returns self."""
        if self.img_size < 8:
            raise ConfigError(f"--img-size must be at least 8 px, got {self.img_size}.")
        return self

    def describe(self) -> dict:
        payload = asdict(self)
        payload.pop("resume")
        payload["out_dir"] = str(self.out_dir)
        return payload


@dataclass
class TeacherResult:
    weights_path: Path
    card: ModelCard


def run(config: TeacherConfig, progress: Progress | None = None) -> TeacherResult:
    """Train a teacher and save it as `teacher.safetensors` + `teacher.json` in `config.out_dir`.

    Raises:
        FolderInUse: another run is writing `config.out_dir`.
    """
    config = config.validate()
    main = is_main_process()
    with folder_lock(config.out_dir, log=progress.log if progress is not None and main else None, enabled=main):
        return _train_teacher(config, progress)


def train_teacher(config: TeacherConfig, progress: Progress | None = None, *, resume: bool = False) -> TeacherResult:
    """`run` under its former name (kept for the notebooks and tests that call it)."""
    return run(replace(config, resume=resume) if resume else config, progress)


def _train_teacher(config: TeacherConfig, progress: Progress | None) -> TeacherResult:
    arch = resolve_arch(config.arch)
    context, device = init_distributed(config.device)
    dataset = config.data.load(config.img_size)
    spec = input_spec_for(arch, dataset, config.img_size, config.in_chans, config.pretrained)
    torch.manual_seed(config.train.seed)
    model = create_model(arch, dataset.num_classes, spec.in_chans, pretrained=config.pretrained)
    task = ClassificationTask(model, ModelInput(spec), config.label_smoothing)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = f"{arch}|{dataset.fingerprint}|{config.train.describe()}|{spec}|{config.pretrained}|{config.label_smoothing}"
    trainer = Trainer(config.train, device, run_dir=out_dir, progress=progress, context=context, config_key=key)
    if progress is not None and context.is_main:
        progress.log(
            f"{arch} on {dataset.spec}: {len(dataset.train)} train / {len(dataset.val)} val / {len(dataset.test)} "
            f"test, {device}, {trainer.precision.describe()}"
        )
    started = time.perf_counter()
    result = trainer.fit(task, dataset, resume=config.resume)
    card = ModelCard(
        arch=arch,
        num_classes=dataset.num_classes,
        class_names=dataset.class_names,
        input=spec,
        role="teacher",
        dataset=dataset.describe(),
        metrics={
            "val": accuracy_summary(result.val, dataset.num_classes),
            "test": accuracy_summary(result.test, dataset.num_classes),
        },
        training={
            **result.run_facts(config.train.epochs, device, context.world_size, time.perf_counter() - started),
            "pretrained": config.pretrained,
        },
        provenance=provenance(config.describe(), seed=config.train.seed),
    )
    weights_path = out_dir / "teacher.safetensors"
    if context.is_main:
        save_model(task.student, card, weights_path)
    return TeacherResult(weights_path, card)
