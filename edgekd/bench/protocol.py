"""The FMNIST-32 benchmark protocol: what is fixed, which student runs it compares, the val sweep.

Fixed (every run): Fashion-MNIST at 32 px (3 channels), random crop with 4 px padding +
horizontal flip, batch 128, SGD lr 0.1 nesterov momentum 0.9, weight decay 5e-4, cosine, 2 CPU
threads; teacher timm `resnet18` 4 epochs, student `mobilenetv3_small_050` 4 epochs with
`edgekd distill`'s one epoch of lr warm-up (the teacher has none).
Free for the distillation runs (and reported): T, α, the KD loss variant, the student's lr.

Choices are made on a val split of 10,000 train images (`SWEEP`); the published figures are
test top-1 of runs on the full train set (`HEADLINE`). Two schedules (`PROTOCOLS`): `short`
(teacher and students 4 epochs, ≥ 3 seeds) and `long` (20 epochs each, students from the
teacher-logit cache, ≥ 2 seeds), each with its target for the best recipe's share of the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.distill import METHODS
from edgekd.distill.config import DEFAULT_LR

DATA = "fashion-mnist"
IMG_SIZE = 32
BATCH_SIZE = 128
LR = 0.1
TEACHER_ARCH = "resnet18"
STUDENT_ARCH = "mobilenetv3_small_050"
EPOCHS = 4
THREADS = 2
SWEEP_VAL_SIZE = 10_000
# The student alone's best learning rate on the val sweep (none-lr0.025/0.05/0.1/0.2).
ALONE_LR = 0.05


@dataclass(frozen=True)
class StudentRun:
    """One student recipe: a method and the options it sets (the rest take its declared defaults).

    Attributes:
        options: (name, value) pairs of the method's declared options, e.g. (("temperature", 4.0),).
    """

    name: str
    method: str
    lr: float | None = None
    options: tuple[tuple[str, Any], ...] = ()
    label: str = ""
    mix: str = "none"  # `none`, `mixup` or `cutmix`: teacher and student see the same mixed views
    claim: bool = True  # False: a reference recipe, reported but not held to "beats the student alone"

    @property
    def effective_lr(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR

    def settings(self) -> dict[str, Any]:
        """lr and every option of the method as the run uses them (defaults filled in), for tables."""
        mix = {"mix": self.mix} if self.mix != "none" else {}
        return {"lr": self.effective_lr, **mix, **METHODS[self.method].resolve_options(dict(self.options))}


def _sweep_run(
    method: str,
    lr: float = LR,
    temperature: float | None = None,
    alpha: float | None = None,
    kd_loss: str | None = None,
) -> StudentRun:
    if method == "none":
        return StudentRun(f"none-lr{lr:g}", "none", lr)
    name = (
        f"kd-T{temperature:g}-a{alpha:g}"
        + (f"-lr{lr:g}" if lr != LR else "")
        + (f"-{kd_loss}" if kd_loss and kd_loss != "kl" else "")
    )
    options = tuple(
        (k, v)
        for k, v in (
            ("temperature", None if temperature is None else float(temperature)),
            ("alpha", None if alpha is None else float(alpha)),
            ("kd_loss", kd_loss),
        )
        if v is not None
    )
    return StudentRun(name, method, lr, options)


# Ordered by what the headline needs most: an interrupted bench has the main comparisons first.
HEADLINE = (
    StudentRun("alone", "none", ALONE_LR, label="student alone (its best lr on val)"),
    StudentRun("kd", "kd", label="KD, shipped defaults"),
    StudentRun("dist", "dist", label="DIST (Pearson relations), shipped defaults"),
    StudentRun("kd-cutmix", "kd", mix="cutmix", label="KD on consistent CutMix views"),
    StudentRun("dist-cutmix", "dist", mix="cutmix", label="DIST on consistent CutMix views"),
    StudentRun("dkd", "dkd", label="DKD (α·TCKD + β·NCKD), shipped defaults"),
    StudentRun("fitnet", "fitnet", label="FitNet (1 hint epoch, then KD), shipped defaults"),
    StudentRun(
        "kd-textbook",
        "kd",
        LR,
        (("temperature", 4.0), ("alpha", 0.9), ("kd_loss", "kl")),
        label="KD textbook (T=4, α=0.9, lr 0.1)",
        claim=False,
    ),
)

SWEEP = (
    _sweep_run("none", 0.025),
    _sweep_run("none", 0.05),
    _sweep_run("none", 0.1),
    _sweep_run("none", 0.2),
    _sweep_run("kd", temperature=4, alpha=0.9),  # the textbook recipe
    _sweep_run("kd", temperature=1, alpha=0.9),
    _sweep_run("kd", temperature=4, alpha=0.5),
    _sweep_run("kd", temperature=2, alpha=0.5),
    _sweep_run("kd", temperature=1, alpha=0.5),
    _sweep_run("kd", temperature=4, alpha=0.3),
    _sweep_run("kd", temperature=4, alpha=0.7),
    _sweep_run("kd", lr=0.05, temperature=4, alpha=0.5),
    _sweep_run("kd", lr=0.05, temperature=2, alpha=0.5),
    _sweep_run("kd", lr=0.05, temperature=1, alpha=0.5),
    _sweep_run("kd", lr=0.2, temperature=4, alpha=0.5),
    _sweep_run("kd", temperature=4, alpha=0.9, kd_loss="kl-std"),
    _sweep_run("kd", temperature=4, alpha=0.5, kd_loss="kl-std"),
    _sweep_run("kd", temperature=1, alpha=0.5, kd_loss="kl-std"),
)

# The closest candidates of the seed-0 sweep, run again with seed 1 before choosing (one seed's
# val top-1 moves by up to ~1 point here).
SWEEP_SECOND_SEED = (
    "none-lr0.05",
    "kd-T4-a0.5",
    "kd-T1-a0.5",
    "kd-T1-a0.5-kl-std",
    "kd-T4-a0.5-lr0.05",
    "kd-T2-a0.5-lr0.05",
)


# The long schedule compares the student alone, KD and the recipes that add consistent mixed
# views (function matching profits most from long schedules, Beyer et al. 2022).
LONG_RUNS = tuple(run for run in HEADLINE if run.name in ("alone", "kd", "dist", "kd-cutmix", "dist-cutmix"))


@dataclass(frozen=True)
class Protocol:
    """One fixed schedule of the benchmark and the target its best recipe is held to.

    Attributes:
        min_gap_closed: share of the teacher–student gap the best claimed recipe must close.
        min_seeds: seeds the protocol asks for (the "beats" rule needs 3).
    """

    name: str
    teacher_epochs: int
    student_epochs: int
    runs: tuple[StudentRun, ...]
    min_gap_closed: float
    min_seeds: int


PROTOCOLS = {
    "short": Protocol("short", EPOCHS, EPOCHS, HEADLINE, min_gap_closed=0.5, min_seeds=3),
    "long": Protocol("long", 20, 20, LONG_RUNS, min_gap_closed=0.6, min_seeds=2),
}


@dataclass(frozen=True)
class BenchConfig:
    """Options of `edgekd bench`.

    Attributes:
        out: work and result folder (runs are reused from it when their settings match).
        seeds: seeds of the headline student runs (≥ 3 for the "beats" rule).
        quick: smoke mode — a few thousand images, short epochs, short timings.
        teacher: a trained FMNIST-32 resnet18 (run dir) to use instead of training one.
        sweep: also run the val sweep (`SWEEP`) that chose the defaults.
        protocol: `short` or `long` (`PROTOCOLS`): epochs, recipes and the gap-closed target.
        recipes: run only these of the protocol's recipes (plus the student alone).
        speed / deploy: run the training-speed and the deployment parts.
        limit_train / teacher_epochs / student_epochs: override the protocol (quick mode sets
            them small; the published table uses the protocol's).
    """

    out: Path
    seeds: int = 1
    quick: bool = False
    teacher: Path | None = None
    sweep: bool = False
    speed: bool = True
    deploy: bool = True
    threads: int = THREADS
    limit_train: int | None = None
    teacher_epochs: int | None = None
    student_epochs: int | None = None
    protocol: str = "short"
    runs: tuple[StudentRun, ...] | None = None  # None: the protocol's
    recipes: tuple[str, ...] = ()  # names of the protocol's runs to keep (the student alone always); () = all

    @property
    def schedule(self) -> Protocol:
        return PROTOCOLS[self.protocol]

    @property
    def effective_runs(self) -> tuple[StudentRun, ...]:
        runs = self.runs if self.runs is not None else self.schedule.runs
        if not self.recipes:
            return runs
        return tuple(run for run in runs if run.name == "alone" or run.name in self.recipes)

    @property
    def effective_limit_train(self) -> int | None:
        return self.limit_train if self.limit_train is not None else (4000 if self.quick else None)

    @property
    def effective_teacher_epochs(self) -> int:
        return self.teacher_epochs or (1 if self.quick else self.schedule.teacher_epochs)

    @property
    def effective_student_epochs(self) -> int:
        return self.student_epochs or (2 if self.quick else self.schedule.student_epochs)
