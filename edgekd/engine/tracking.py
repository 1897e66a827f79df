"""Experiment tracking (MLflow, TensorBoard) behind the engine's progress hook.

The stages never see a tracker: `TrackedProgress` wraps the progress sink they already report
to and turns each epoch record into metrics; the caller (a CLI command, the pipeline runner)
opens the run, logs the recipe as parameters before training and the card and weights as
artefacts after it. Both libraries are optional extras, imported only when a run is opened
(the trackers themselves: `edgekd.engine.trackers`).

    --track mlflow                      → sqlite:///runs/mlflow.db, artefacts in runs/mlartifacts/
    --track mlflow:http://host:5000     → any MLflow tracking URI
    --track tensorboard                 → event files under runs/tensorboard/<run name>/
    --track tensorboard:DIR
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Mapping, Protocol, Sequence

from edgekd.engine.progress import Progress, scalar_fields
from edgekd.engine.trackers import MlflowRun, TensorBoardRun
from edgekd.errors import ConfigError

if TYPE_CHECKING:
    from edgekd.models import ModelCard

DEFAULT_MLFLOW_URI = "sqlite:///runs/mlflow.db"
DEFAULT_TENSORBOARD_DIR = "runs/tensorboard"
DEFAULT_EXPERIMENT = "edgekd"
BACKENDS = ("mlflow", "tensorboard")


@dataclass(frozen=True)
class TrackTarget:
    """Where one tracker writes: `mlflow` and a tracking URI, or `tensorboard` and a folder."""

    backend: Literal["mlflow", "tensorboard"]
    location: str

    @classmethod
    def parse(cls, text: str) -> "TrackTarget":
        """`mlflow`, `mlflow:URI`, `tensorboard` or `tensorboard:DIR` (the `--track` syntax)."""
        backend, _, location = text.partition(":")
        if backend not in BACKENDS:
            raise ConfigError(f"--track {text}: unknown tracker '{backend}'; use mlflow[:URI] or tensorboard[:DIR].")
        default = DEFAULT_MLFLOW_URI if backend == "mlflow" else DEFAULT_TENSORBOARD_DIR
        return cls(backend, location or default)  # type: ignore[arg-type]


class TrackedRun(Protocol):
    """One tracked run; `child` opens a nested run (a pipeline's stage runs)."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def set_tags(self, tags: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def log_artifact(self, path: Path) -> None: ...

    def child(self, name: str) -> "TrackedRun": ...

    def end(self, status: str = "FINISHED") -> None: ...


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config → `{"train.optim.lr": "0.1", …}`: trackers take flat string parameters."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value, default=str) if isinstance(value, (list, tuple)) else str(value)
    return flat


class RunGroup:
    """Several trackers at once (`--track mlflow --track tensorboard`), or none (a no-op)."""

    def __init__(self, runs: Sequence[TrackedRun] = ()):
        self.runs = list(runs)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for run in self.runs:
            run.log_params(params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for run in self.runs:
            run.set_tags(tags)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if metrics:
            for run in self.runs:
                run.log_metrics(metrics, step)

    def log_artifact(self, path: Path) -> None:
        for run in self.runs:
            run.log_artifact(path)

    def child(self, name: str) -> "RunGroup":
        return RunGroup([run.child(name) for run in self.runs])

    def end(self, status: str = "FINISHED") -> None:
        for run in self.runs:
            run.end(status)


def open_run(targets: Sequence[TrackTarget], name: str, experiment: str = DEFAULT_EXPERIMENT) -> RunGroup:
    """Start one run per target (an empty group for none, and on DDP ranks other than 0).

    Raises:
        ConfigError: a tracker's library is not installed (with the command that installs it).
    """
    if not targets or int(os.environ.get("RANK", "0")) != 0:
        return RunGroup()
    runs: list[TrackedRun] = []
    for target in targets:
        if target.backend == "mlflow":
            runs.append(MlflowRun.open(target.location, experiment, name))
        else:
            runs.append(TensorBoardRun.open(target.location, name))
    return RunGroup(runs)


@contextmanager
def tracking(
    targets: Sequence[TrackTarget],
    name: str,
    recipe: Mapping[str, Any],
    progress: Progress,
    experiment: str = DEFAULT_EXPERIMENT,
) -> Iterator[tuple[RunGroup, Progress]]:
    """Open a run, log `recipe` (flattened) as its parameters and yield it with the progress
    sink to train with; the run ends FINISHED, FAILED (an error) or KILLED (Ctrl-C)."""
    run = open_run(targets, name, experiment)
    if not run:
        yield run, progress
        return
    run.log_params(flatten(recipe))
    try:
        yield run, TrackedProgress(progress, run)
    except KeyboardInterrupt:
        run.end("KILLED")
        raise
    except BaseException:
        run.end("FAILED")
        raise
    run.end()


class RunTree:
    """A parent run with one child per labelled unit of work (a pipeline's stage runs, a bench's
    training runs); a no-op without targets. A child still open when the parent ends is KILLED."""

    def __init__(self, targets: Sequence[TrackTarget], name: str, params: Mapping[str, Any], tags: Mapping[str, Any]):
        self.parent: RunGroup = open_run(targets, name)
        self._open: dict[str, RunGroup] = {}
        if self.parent:
            self.parent.log_params(params)
            self.parent.set_tags(tags)

    def __bool__(self) -> bool:
        return bool(self.parent)

    def start(self, label: str, params: Mapping[str, Any], progress: Progress) -> Progress:
        """Open `label`'s child with `params`; returns the progress sink its work reports to."""
        if not self.parent:
            return progress
        child = self.parent.child(label)
        child.log_params(params)
        self._open[label] = child
        return TrackedProgress(progress, child)

    def child(self, label: str) -> RunGroup:
        """`label`'s open child (opened now, without parameters, if there is none)."""
        if label not in self._open:
            self._open[label] = self.parent.child(label) if self.parent else RunGroup()
        return self._open[label]

    def finish(
        self,
        label: str,
        tags: Mapping[str, Any],
        metrics: Mapping[str, float] | None = None,
        step: int = 0,
        status: str = "FINISHED",
    ) -> None:
        """Tag `label`'s child, log its last figures and end it."""
        if not self.parent:
            return
        child = self.child(label)
        del self._open[label]
        child.set_tags(tags)
        child.log_metrics(metrics or {}, step)
        child.end(status)

    def end(self, status: str = "FINISHED") -> None:
        if self.parent:
            for child in self._open.values():  # runs an interruption left open
                child.end("KILLED")
            self._open.clear()
            self.parent.end(status)


class TrackedProgress:
    """A progress sink that also sends each finished record's numbers to a run as metrics.

    The step is the record's `epoch` (training), else a count of finished records (eval,
    profile: one record per batch size)."""

    def __init__(self, inner: Progress, run: TrackedRun):
        self.inner, self.run = inner, run
        self._finished = 0

    def start(self, description: str, total: int) -> None:
        self.inner.start(description, total)

    def advance(self, steps: int = 1, **fields: Any) -> None:
        self.inner.advance(steps, **fields)

    def finish(self, summary: dict[str, Any]) -> None:
        self.inner.finish(summary)
        self._finished += 1
        step = summary.get("epoch", self._finished)
        self.run.log_metrics(
            {k: v for k, v in scalar_fields(summary).items() if not isinstance(v, str) and k != "epoch"}, int(step)
        )

    def log(self, message: str) -> None:
        self.inner.log(message)


def log_model(run: TrackedRun, card: "ModelCard", weights_path: Path) -> None:
    """After training: the card and the weights as artefacts, the final accuracy as metrics
    (`test_top1`, …), and for a student each teacher as tags (`teacher.0.arch`, …)."""
    run.log_metrics(final_metrics(card.metrics), int(card.training.get("epochs") or 0))
    tags: dict[str, Any] = {
        "edgekd.role": card.role,
        "edgekd.arch": card.arch,
        "edgekd.dataset": card.dataset.get("spec", ""),
    }
    for index, teacher in enumerate(card.training.get("teachers") or []):
        tags.update(
            {
                f"teacher.{index}.{key}": teacher.get(key)
                for key in ("arch", "path", "sha256")
                if teacher.get(key) is not None
            }
        )
    run.set_tags(tags)
    for path in (weights_path.with_suffix(".json"), weights_path):
        if path.exists():
            run.log_artifact(path)


def final_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """A card's final accuracy as flat metrics: `final_test_top1`, `final_val_top5`, …"""
    final: dict[str, float] = {}
    for split in ("val", "test"):
        figures = metrics.get(split) or {}
        final.update(
            {
                f"final_{split}_{k}": float(v)
                for k, v in scalar_fields(figures).items()
                if k in ("top1", "top5", "agreement")
            }
        )
    return final
