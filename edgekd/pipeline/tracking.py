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
from edgekd.engine.tracking import RunGroup, TrackedProgress, flatten, log_model, open_run
from edgekd.models import read_card
from edgekd.pipeline.config import Pipeline


class PipelineTracking:
    """The tracker side of `PipelineRunner` (a no-op without a `track:` section or in a dry run)."""

    def __init__(self, pipeline: Pipeline, *, enabled: bool = True):
        targets = pipeline.track.targets() if pipeline.track is not None and enabled else []
        self.parent: RunGroup = open_run(targets, f"pipeline {pipeline.name}")
        self._children: dict[str, RunGroup] = {}
        if self.parent:
            self.parent.log_params({"pipeline": str(pipeline.source or ""), "stages": " → ".join(pipeline.stages()), "root": str(pipeline.root)})
            self.parent.set_tags({"edgekd.role": "pipeline", "edgekd.pipeline": pipeline.name})

    def start(self, label: str, config: dict[str, Any], progress: Progress) -> Progress:
        """Open `label`'s child run; returns the progress sink its action reports to."""
        if not self.parent:
            return progress
        child = self.parent.child(label)
        child.log_params(flatten({k: v for k, v in config.items() if not k.startswith("_")}))
        self._children[label] = child
        return TrackedProgress(progress or SilentProgress(), child)

    def outputs(self, label: str, files: list[Path]) -> None:
        """Log what an executed run wrote: models with their cards, every other file as is."""
        child = self._children.get(label)
        if child is None:
            return
        logged: set[Path] = set()
        for path in files:
            if path.suffix == ".safetensors" and (card := read_card(path)) is not None:
                log_model(child, card, path)
                logged.update({path, path.with_suffix(".json")})
        for path in files:
            if path not in logged and path.is_file():
                child.log_artifact(path)
                logged.add(path)

    def record(self, stage: str, label: str, status: str, summary: str, wall_time_s: float, passed: bool | None, out_dir: Path | None = None) -> None:
        """A run's outcome (ran, failed, cached, kept, given): tag its child and end it (a cached
        run's `edgekd.out_dir` says where the files of the run that made them are)."""
        if not self.parent:
            return
        child = self._children.pop(label, None) or self.parent.child(label)
        tags = {"edgekd.stage": stage, "edgekd.status": status, "edgekd.summary": summary}
        if out_dir is not None:
            tags["edgekd.out_dir"] = str(out_dir)
        if passed is not None:
            tags["edgekd.passed"] = str(passed).lower()
        child.set_tags(tags)
        if status == "ran":
            child.log_metrics({"wall_time_s": wall_time_s}, 0)
        child.end("FAILED" if status == "failed" else "FINISHED")

    def end(self, status: str = "FINISHED", gate_passed: bool | None = None) -> None:
        if self.parent:
            if gate_passed is not None:
                self.parent.set_tags({"edgekd.gate_passed": str(gate_passed).lower()})
            for child in self._children.values():  # runs an interruption left open
                child.end("KILLED")
            self.parent.end(status)
