"""Training-speed figures of distillation: the student alone, the teacher's inference, online
KD and KD from the teacher-logit cache, as steps on pre-made batches and as whole epochs.

Targets (issue "distill"): KD from the cache ≥ 0.95 × the student-alone step rate; online KD ≥
0.95 × 1 / (1/student + 1/teacher-inference), the rate of running both back to back. The
benchmark script `benchmarks/distill_speed.py` prints these; the bench harness can call
`measure_speed` directly.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from edgekd.data import (
    AugmentRecipe,
    Batch,
    BatchLoader,
    DataConfig,
    Dataset,
    ImageSplit,
    ModelInput,
    ViewSampler,
    apply_views,
    to_unit_float,
)
from edgekd.distill.cache import CacheKey, TeacherCache, epoch_table
from edgekd.distill.methods import METHODS
from edgekd.distill.methods.kd import KnowledgeDistillation
from edgekd.distill.methods.none import StudentAlone
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import TeacherBank, load_teacher
from edgekd.engine import OptimConfig, Progress, SilentProgress, TrainConfig, Trainer, build_optimizer
from edgekd.errors import ConfigError
from edgekd.models import ModelCard, create_model, input_spec_for, save_model

MODES = ("student", "teacher", "online_kd", "cached_kd")


@dataclass(frozen=True)
class SpeedConfig:
    """What to measure.

    Attributes:
        teacher: a trained teacher (run dir or file); None builds `teacher_arch` with random
            weights (speed does not depend on the weights).
        batches: pre-made batches cycled through by the step measurements.
        steps: steps per mode per round; rounds: interleaved rounds (the median is reported,
            so that load from other processes hits every mode alike).
        epoch_samples: training samples of the whole-epoch measurements (None: the full split).
        threads: torch intra-op threads (the FMNIST-32 protocol uses 2).
        methods: more registered methods (`dkd`, `dist`) whose steps are timed from the cache
            beside the others (modes `cached_<name>`, step rates only), at their defaults.
    """

    data: str = "fashion-mnist"
    teacher: str | None = None
    teacher_arch: str = "resnet18"
    student_arch: str = "mobilenetv3_small_050"
    img_size: int = 32
    batch_size: int = 128
    batches: int = 8
    warmup: int = 3
    steps: int = 10
    rounds: int = 5
    epoch_samples: int | None = None
    threads: int = 2
    device: str = "cpu"
    methods: tuple[str, ...] = ()


def _prepare_teacher(config: SpeedConfig, dataset: Dataset, workdir: Path):
    if config.teacher is not None:
        return load_teacher(config.teacher)
    spec = input_spec_for(config.teacher_arch, dataset, config.img_size, None, None)
    torch.manual_seed(1)
    model = create_model(config.teacher_arch, dataset.num_classes)
    card = ModelCard(
        arch=config.teacher_arch, num_classes=dataset.num_classes, class_names=dataset.class_names, input=spec
    )
    return load_teacher(save_model(model, card, workdir / "teacher.safetensors"))


def _student(config: SpeedConfig, dataset: Dataset, state: dict | None, device: torch.device):
    spec = input_spec_for(config.student_arch, dataset, config.img_size, None, None)
    torch.manual_seed(0)
    model = create_model(config.student_arch, dataset.num_classes)
    if state is not None:
        model.load_state_dict(state)
    return model.to(device, memory_format=torch.channels_last), ModelInput(spec).to(device)


def _subset(split: ImageSplit, count: int) -> ImageSplit:
    count = min(count, len(split))
    return ImageSplit(split.name, split.labels[:count].clone(), images=split.images[:count].clone())


def _premade_batches(dataset: Dataset, config: SpeedConfig, device: torch.device) -> list[tuple[torch.Tensor, Batch]]:
    """Augmented [0, 1] batches ready for a step; sample indices 0…batches·batch_size−1."""
    recipe, size = AugmentRecipe(), (config.img_size, config.img_size)
    views = ViewSampler(recipe, config.batches * config.batch_size, seed=0)
    made = []
    for number in range(config.batches):
        indices = torch.arange(number * config.batch_size, (number + 1) * config.batch_size)
        batch = Batch(dataset.train.images[indices].to(device), dataset.train.labels[indices].to(device), indices)
        made.append((apply_views(to_unit_float(batch.images, size), views.params(0, indices), recipe), batch))
    return made


def _train_step(task, optimizer) -> Callable:
    def step(pixels, batch):
        out = task(pixels, batch)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()

    return step


def step_rates(config: SpeedConfig, dataset: Dataset, teacher, workdir: Path, device: torch.device) -> dict[str, float]:
    """img/s of one training step (forward, backward, optimizer) per mode, on pre-made batches;
    the teacher's figure is its inference alone. Median over interleaved rounds."""
    batches = _premade_batches(dataset, config, device)
    rows = len(batches) * config.batch_size
    bank = TeacherBank([teacher]).to(device)
    cache = TeacherCache(workdir / "step-cache", CacheKey("premade", AugmentRecipe().describe(), config.img_size, 0))
    with torch.no_grad():
        table = torch.cat([bank(pixels)[0] for pixels, _ in batches]).cpu()
    cache.save(teacher.cache_id, epoch_table(0), table)

    steps: dict[str, Callable] = {}
    for mode in ("student", "online_kd", "cached_kd"):
        student, student_input = _student(config, dataset, None, device)
        if mode == "student":
            task = StudentAlone(student, student_input, None)
        else:
            targets = TeacherTargets(bank, cache if mode == "cached_kd" else None, rows, dataset.num_classes)
            task = KnowledgeDistillation(student, student_input, targets)
        task.train()
        task.start_epoch(0)
        steps[mode] = _train_step(task, build_optimizer(student.parameters(), OptimConfig()))
    for name in config.methods:
        student, student_input = _student(config, dataset, None, device)
        task = METHODS[name](student, student_input, TeacherTargets(bank, cache, rows, dataset.num_classes))
        task.train()
        task.start_epoch(0)
        steps[f"cached_{name}"] = _train_step(task, build_optimizer(student.parameters(), OptimConfig()))
    steps["teacher"] = lambda pixels, batch: bank(pixels)
    modes = (*MODES, *(f"cached_{name}" for name in config.methods))

    def settle() -> None:
        if device.type == "cuda":  # CUDA launches are asynchronous: time finished work only
            torch.cuda.synchronize(device)

    def run(mode: str, count: int) -> float:
        settle()
        started = time.perf_counter()
        for number in range(count):
            steps[mode](*batches[number % len(batches)])
        settle()
        return count * config.batch_size / (time.perf_counter() - started)

    for mode in modes:
        run(mode, config.warmup)
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(config.rounds):
        for mode in modes:
            samples[mode].append(run(mode, config.steps))
    return {mode: statistics.median(values) for mode, values in samples.items()}


def epoch_rates(
    config: SpeedConfig, dataset: Dataset, teacher, workdir: Path, device: torch.device
) -> dict[str, float]:
    """img/s of whole training epochs through the `Trainer` (data, augmentation, steps); the
    teacher's figure is an epoch of its inference on the same views, which also fills the cache
    that the `cached_kd` epoch then reads."""
    train = TrainConfig(epochs=1, batch_size=config.batch_size, seed=0, eval_batch_size=1024)
    bank = TeacherBank([teacher]).to(device)
    cache = TeacherCache(
        workdir / "epoch-cache", CacheKey(dataset.fingerprint, train.augment.describe(), config.img_size, 0)
    )
    rates: dict[str, float] = {}

    filler = TeacherTargets(bank, cache, len(dataset.train), dataset.num_classes)
    filler.start_epoch(0, device)
    loader = BatchLoader(dataset.train, config.batch_size, shuffle=True, seed=0)
    views = ViewSampler(train.augment, len(dataset.train), 0)
    size = (config.img_size, config.img_size)
    started, seen = time.perf_counter(), 0
    for batch in loader.epoch(0):
        pixels = apply_views(
            to_unit_float(batch.images.to(device), size), views.params(0, batch.indices), train.augment
        )
        filler.logits(pixels, batch)
        seen += len(batch)
    rates["teacher"] = seen / (time.perf_counter() - started)
    filler.end_epoch(0)

    initial = _student(config, dataset, None, torch.device("cpu"))[0].state_dict()
    for mode in ("student", "online_kd", "cached_kd"):
        student, student_input = _student(config, dataset, initial, device)
        if mode == "student":
            task = StudentAlone(student, student_input, None)
        else:
            task = KnowledgeDistillation(
                student,
                student_input,
                TeacherTargets(bank, cache if mode == "cached_kd" else None, len(dataset.train), dataset.num_classes),
            )
        result = Trainer(train, device).fit(task, dataset)
        rates[mode] = result.history[0]["img_per_s"]
    return rates


def _report(rates: dict[str, float]) -> dict[str, Any]:
    bound = 1.0 / (1.0 / rates["student"] + 1.0 / rates["teacher"])
    return {
        "img_per_s": rates,
        "ratio_to_student": {mode: rate / rates["student"] for mode, rate in rates.items()},
        "online_bound_img_per_s": bound,
        "cached_kd_vs_student": rates["cached_kd"] / rates["student"],
        "online_kd_vs_bound": rates["online_kd"] / bound,
    }


def measure_speed(config: SpeedConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Both kinds of rates, their ratios and whether the targets are met, plus machine facts."""
    progress = progress or SilentProgress()
    torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    unknown = [
        name for name in config.methods if name not in METHODS or not METHODS[name].uses_teacher or name == "fitnet"
    ]
    if unknown:
        raise ConfigError(
            f"speed: cannot time method(s) {', '.join(unknown)} from the cache; use logit methods such as "
            f"{', '.join(m for m in METHODS if m not in ('none', 'fitnet'))}."
        )
    started = time.perf_counter()
    dataset = DataConfig(spec=config.data, val_size=0).load(config.img_size)
    small_eval = _subset(dataset.test, config.batch_size)
    with tempfile.TemporaryDirectory(prefix="edgekd-speed-") as tmp:
        workdir = Path(tmp)
        teacher = _prepare_teacher(config, dataset, workdir)
        progress.log(
            f"step rates: {config.rounds} rounds × {config.steps} steps per mode, batch {config.batch_size}, "
            f"{config.img_size} px"
        )
        steps = _report(step_rates(config, dataset, teacher, workdir, device))
        train = dataset.train if config.epoch_samples is None else _subset(dataset.train, config.epoch_samples)
        epoch_set = replace(dataset, train=train, val=small_eval, test=small_eval)
        progress.log(f"epoch rates: 1 epoch of {len(train)} samples per mode")
        epochs = _report(epoch_rates(config, epoch_set, teacher, workdir, device))
    return {
        "config": asdict(config),
        "steps": steps,
        "epochs": epochs,
        "targets": {
            "cached_kd_vs_student": {
                "target": 0.95,
                "measured": steps["cached_kd_vs_student"],
                "met": steps["cached_kd_vs_student"] >= 0.95,
            },
            "online_kd_vs_bound": {
                "target": 0.95,
                "measured": steps["online_kd_vs_bound"],
                "met": steps["online_kd_vs_bound"] >= 0.95,
            },
        },
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "wall_time_s": time.perf_counter() - started,
    }
