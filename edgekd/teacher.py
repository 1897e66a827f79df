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
from edgekd.locks import folder_lock
from edgekd.models import ModelCard, create_model, input_spec_for, resolve_arch, save_model
from edgekd.options import check_options, option


@dataclass(frozen=True)
class TeacherConfig:
    """Options of the teacher stage: `arch` trained into `out_dir` on `data` with `train`, and
    the model options below (each option's help says what it does; `edgekd.options`), which
    `edgekd distill` and the pipeline's `distill:` share.

    Attributes:
        resume: continue from `out_dir/checkpoint.pt` (how the run goes on, not what it makes:
            left out of `describe()`, so a resumed run's card and cache keys match a fresh one's).
    """

    arch: str
    out_dir: Path
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    img_size: int = option(32, "Model input size in px (augmentation happens at this size).", ge=8)
    pretrained: str | None = option(
        None, "Initial weights: local file (safetensors or state dict), or 'cache' for the local hub cache."
    )
    in_chans: int | None = option(None, "Model input channels (default 3; 1 keeps grayscale).", choices=(1, 3))
    label_smoothing: float = option(0.0, "Label smoothing of the cross-entropy term.", ge=0, lt=1)
    device: str = option("auto", "auto, cpu, cuda or cuda:N.")
    resume: bool = False

    def validate(self) -> TeacherConfig:
        """This config, its data and recipe checked against their declared options; returns self."""
        for config in (self, self.data, self.train):
            check_options(config)
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
