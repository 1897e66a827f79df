"""What a stage hands the runner: its runs, each with a config, input files and an action.

Stage planners (`edgekd.pipeline.stages`) turn a pipeline section into `StageRun`s. The runner
hashes each run's config and inputs against its manifest, runs what changed, and passes the
`Artefact`s a run produced (teacher, students, exported files) on to later stages' planners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgekd.engine import Progress
from edgekd.pipeline.config import Pipeline


@dataclass(frozen=True)
class Artefact:
    """A model file a stage produced, for later stages to evaluate, profile and export.

    Attributes:
        name: unique within the pipeline, used for eval/profile folder names
            (e.g. `teacher`, `kd`, `kd.onnx`).
        role: teacher | student | artefact.
        path: the file (`.safetensors` with its `.json` card, `.onnx`, `.engine`).
        source: the run that made it ("distill/kd").
    """

    name: str
    role: str
    path: Path
    source: str = ""

    def input_files(self) -> dict[str, Path]:
        """The files whose bytes decide what it computes (weights and, for PyTorch, the card)."""
        files = {self.name: self.path}
        if self.path.suffix == ".safetensors":
            files[f"{self.name}.card"] = self.path.with_suffix(".json")
        return files

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role, "path": str(self.path), "source": self.source}

    @classmethod
    def from_dict(cls, payload: dict[str, str]) -> "Artefact":
        return cls(payload["name"], payload["role"], Path(payload["path"]), payload.get("source", ""))


@dataclass
class RunOutcome:
    """What an executed run reports back.

    Attributes:
        outputs: files it wrote (hashed into its manifest; paths inside its run directory).
        artefacts: model files it produced, for later stages.
        summary: one short line for the plan table (shown again when the run is cached).
        passed: gate runs only: whether the gate passed.
    """

    outputs: list[Path] = field(default_factory=list)
    artefacts: list[Artefact] = field(default_factory=list)
    summary: str = ""
    passed: bool | None = None


class RunAction(Protocol):
    """Does a run's work; `resume` says its interrupted checkpoint (same config) may be picked up."""

    def __call__(self, progress: Progress, resume: bool) -> RunOutcome: ...


@dataclass
class StageRun:
    """One unit of work of a stage (one teacher, one distill method × seed, one eval of an artefact, …).

    Attributes:
        run_id: unique within the stage; also the folder name below the stage's folder
            (single-run stages use the stage folder itself).
        out_dir: its run directory (manifest.json goes here).
        config: everything that decides its result, hashed into the manifest.
        inputs: {name: file} it reads; their sha256 go into the manifest.
        action: does the work and returns its outcome; None for a run with nothing to do
            (a teacher given by path).
        artefacts: the artefacts it will produce when known before it runs (teacher, students).
        machine: fingerprint of this machine for machine-dependent runs (profile).
        description: what the plan shows for it.
        expected_outputs: files it will write that later stages read (eval.json, report.json).
        artefacts_unknown: its artefacts are only known once it has run (export's files).
    """

    stage: str
    run_id: str
    out_dir: Path
    config: dict[str, Any]
    inputs: dict[str, Path]
    action: RunAction | None
    artefacts: list[Artefact] = field(default_factory=list)
    machine: str | None = None
    description: str = ""
    expected_outputs: list[Path] = field(default_factory=list)
    artefacts_unknown: bool = False

    @property
    def label(self) -> str:
        return self.stage if self.run_id == self.stage else f"{self.stage}/{self.run_id}"


@dataclass
class PlanContext:
    """What planners read: the pipeline, its output root, and the artefacts earlier stages produce.

    Attributes:
        artefacts: {stage: artefacts} of the stages planned so far. During a dry run an
            artefact may not exist yet; `unknown` lists stages whose artefacts are only known
            after they run (export).
        outputs: {stage: files} its runs write for later stages (eval.json, report.json).
    """

    pipeline: Pipeline
    root: Path
    artefacts: dict[str, list[Artefact]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    outputs: dict[str, list[Path]] = field(default_factory=dict)

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def all_artefacts(self, *stages: str) -> list[Artefact]:
        return [a for stage in stages for a in self.artefacts.get(stage, [])]

    def teacher(self) -> Artefact | None:
        teachers = self.artefacts.get("teacher", [])
        return teachers[0] if teachers else None


class Planner(Protocol):
    """Turns its pipeline section (read from `ctx.pipeline`) into the stage's runs."""

    def __call__(self, ctx: PlanContext) -> list[StageRun]: ...


@dataclass(frozen=True)
class StageSpec:
    """One pipeline stage, as the registry (`edgekd.pipeline.stages.STAGE_SPECS`) declares it.

    Attributes:
        name: the stage's `Pipeline` key (its section model is that field's type) and folder name.
        plan: its planner.
        consumes: the stages whose artefacts or outputs it reads; in a dry run, a stage that
            consumes one whose artefacts are only known after it runs is marked as growing too.
    """

    name: str
    plan: Planner
    consumes: tuple[str, ...] = ()
