"""A pipeline's `track:` section: one parent run per `edgekd run`, one child per stage run.

A run that executes gets its config as parameters, its epochs (or eval/profile figures) as
metrics through the progress it reports to, and the files it wrote as artefacts (a model's
card and weights with `log_model`, so a student carries its teachers as tags). A cached or
kept run still gets a child, tagged with its status and summary, so every pipeline run lists
all its stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.engine import Progress, SilentProgress
from edgekd.engine.tracking import RunTree, flatten, log_model
from edgekd.models import read_card
from edgekd.pipeline.config import Pipeline


class PipelineTracking:
    """The tracker side of `PipelineRunner` (a no-op without a `track:` section or in a dry run)."""

    def __init__(self, pipeline: Pipeline, *, enabled: bool = True):
        targets = pipeline.track.targets() if pipeline.track is not None and enabled else []
        self.runs = RunTree(
            targets,
            f"pipeline {pipeline.name}",
            {
                "pipeline": str(pipeline.source or ""),
                "stages": " → ".join(pipeline.stages()),
                "root": str(pipeline.root),
            },
            {"edgekd.role": "pipeline", "edgekd.pipeline": pipeline.name},
        )
        self._started: set[str] = set()

    def start(self, label: str, config: dict[str, Any], progress: Progress) -> Progress:
        """Open `label`'s child run; returns the progress sink its action reports to."""
        if not self.runs:
            return progress
        self._started.add(label)
        return self.runs.start(
            label, flatten({k: v for k, v in config.items() if not k.startswith("_")}), progress or SilentProgress()
        )

    def outputs(self, label: str, files: list[Path]) -> None:
        """Log what an executed run wrote: models with their cards, every other file as is."""
        if label not in self._started:
            return
        child = self.runs.child(label)
        logged: set[Path] = set()
        for path in files:
            if path.suffix == ".safetensors" and (card := read_card(path)) is not None:
                log_model(child, card, path)
                logged.update({path, path.with_suffix(".json")})
        for path in files:
            if path not in logged and path.is_file():
                child.log_artifact(path)
                logged.add(path)

    def record(
        self,
        stage: str,
        label: str,
        status: str,
        summary: str,
        wall_time_s: float,
        passed: bool | None,
        out_dir: Path | None = None,
    ) -> None:
        """A run's outcome (ran, failed, cached, kept, given): tag its child and end it (a cached
        run's `edgekd.out_dir` says where the files of the run that made them are)."""
        self._started.discard(label)
        tags = {"edgekd.stage": stage, "edgekd.status": status, "edgekd.summary": summary}
        if out_dir is not None:
            tags["edgekd.out_dir"] = str(out_dir)
        if passed is not None:
            tags["edgekd.passed"] = str(passed).lower()
        self.runs.finish(
            label,
            tags,
            {"wall_time_s": wall_time_s} if status == "ran" else None,
            status="FAILED" if status == "failed" else "FINISHED",
        )

    def end(self, status: str = "FINISHED", gate_passed: bool | None = None) -> None:
        if self.runs and gate_passed is not None:
            self.runs.parent.set_tags({"edgekd.gate_passed": str(gate_passed).lower()})
        self.runs.end(status)
