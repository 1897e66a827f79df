"""Running a pipeline: plan each stage, skip the runs whose manifest still matches, run the rest.

Stages run in the fixed order teacher → distill → export → eval → profile → report → gate.
Each stage is planned only after the stages before it have run, so its inputs are real
files whose hashes can be compared with its manifest: a rerun after an edit to `export:`
redoes export and whatever reads its files, and never the training.

`--force` reruns everything; `--from STAGE` reruns that stage and every later one, keeping the
earlier ones as they are; `--only STAGE` reruns just that stage; `--dry-run` prints the plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from edgekd.artifacts import read_json, write_json
from edgekd.engine import Progress, SilentProgress
from edgekd.engine.state import CHECKPOINT_NAME
from edgekd.errors import ConfigError
from edgekd.locks import folder_lock
from edgekd.pipeline.config import STAGES, Pipeline
from edgekd.pipeline.manifest import (
    Manifest,
    config_hash,
    file_hash,
    read_manifest,
    relative_to,
    remove_manifest,
    staleness,
    write_manifest,
)
from edgekd.pipeline.plan import Artefact, PlanContext, Planner, RunOutcome, StageRun, StageSpec
from edgekd.pipeline.tracking import PipelineTracking

CACHED, RAN, WILL_RUN, GIVEN, KEPT, FAILED = "cached", "ran", "will run", "given", "kept", "failed"
PENDING_NAME = "run-pending.json"  # written when a run starts, removed when it finishes


@dataclass
class RunRecord:
    """What happened to one run (or, in a dry run, what would happen)."""

    stage: str
    label: str
    status: str
    reason: str = ""
    summary: str = ""
    wall_time_s: float = 0.0
    passed: bool | None = None
    out_dir: Path | None = None


@dataclass
class PipelineResult:
    pipeline: Pipeline
    records: list[RunRecord] = field(default_factory=list)
    dry_run: bool = False
    wall_time_s: float = 0.0

    @property
    def gate_passed(self) -> bool | None:
        verdicts = [r.passed for r in self.records if r.stage == "gate" and r.passed is not None]
        return None if not verdicts else all(verdicts)


def _check_stage_option(pipeline: Pipeline, flag: str, stage: str | None) -> None:
    if stage is None:
        return
    if stage not in STAGES:
        raise ConfigError(f"{flag} {stage}: unknown stage; stages are {', '.join(STAGES)}.")
    if stage not in pipeline.stages():
        raise ConfigError(
            f"{flag} {stage}: {pipeline.source or 'the pipeline'} has no '{stage}:' section (it has "
            f"{', '.join(pipeline.stages())})."
        )


def stage_specs(planners: dict[str, Planner] | None = None) -> dict[str, StageSpec]:
    """The registry's stages, with the planners of some replaced (tests pass stand-ins)."""
    from edgekd.pipeline.stages import SPECS  # the planners import the stage APIs: load them only to run

    return {name: replace(spec, plan=(planners or {}).get(name, spec.plan)) for name, spec in SPECS.items()}


def _artefacts_from_manifest(manifest: Manifest | None) -> list[Artefact]:
    if manifest is None:
        return []
    return [Artefact.from_dict(a) for a in manifest.config.get("_artefacts", [])]


class PipelineRunner:
    """Plans and runs one pipeline; `run()` returns every run's record.

    Args:
        planners: {stage: planner} replacing the registry's planners of those stages (tests pass
            stand-ins); what each stage consumes stays as the registry declares it.
        on_record: called with each record as soon as it is decided (the CLI prints it).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        force: bool = False,
        from_stage: str | None = None,
        only_stage: str | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        planners: dict[str, Planner] | None = None,
        on_record: Callable[[RunRecord], None] | None = None,
    ):
        if from_stage and only_stage:
            raise ConfigError("--from and --only exclude each other: pick one.")
        self._options = dict(force=force, from_stage=from_stage, only_stage=only_stage, planners=planners)
        _check_stage_option(pipeline, "--from", from_stage)
        _check_stage_option(pipeline, "--only", only_stage)
        self.pipeline = pipeline
        self.order = pipeline.stages()
        if from_stage:
            self.selected = self.order[self.order.index(from_stage) :]
        elif only_stage:
            self.selected = [only_stage]
        else:
            self.selected = list(self.order)
        self.forced = set(self.order) if force else set(self.selected) if (from_stage or only_stage) else set()
        self.dry_run = dry_run
        self.progress = progress or SilentProgress()
        self.specs = stage_specs(planners)
        self.on_record = on_record or (lambda record: None)
        self.context = PlanContext(pipeline, pipeline.root)
        self.result = PipelineResult(pipeline, dry_run=dry_run)
        self._rebuilt: set[Path] = set()  # dry run: files that runs planned to run will rewrite
        self.tracking = PipelineTracking(pipeline, enabled=False)  # opened by run(), after validation

    def run(self) -> PipelineResult:
        """Run (or, in a dry run, plan) the selected stages.

        Raises:
            FolderInUse: another `edgekd run` of this pipeline holds its root (a dry run only
                reads, so it takes no lock).
        """
        started = time.perf_counter()
        if self.dry_run:
            return self._run(started)
        with folder_lock(self.pipeline.root, log=self.progress.log):
            # Plan every stage first without running anything: a mistake in a later section
            # (a FitNet layer, a missing calibration spec) must stop the run before training.
            self._validation_pass()
            self.tracking = PipelineTracking(self.pipeline)
            return self._run(started)

    def _run(self, started: float) -> PipelineResult:
        last = self.selected[-1]
        try:
            for stage in self.order:
                self._run_stage(stage)
                if stage == last:
                    break
        except BaseException as exc:
            self.tracking.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise
        self.tracking.end(gate_passed=self.result.gate_passed)
        self.result.wall_time_s = time.perf_counter() - started
        return self.result

    def _validation_pass(self) -> None:
        PipelineRunner(self.pipeline, dry_run=True, **self._options).run()

    def _record(self, record: RunRecord) -> None:
        self.result.records.append(record)
        if record.status != WILL_RUN:
            self.tracking.record(
                record.stage,
                record.label,
                record.status,
                record.summary,
                record.wall_time_s,
                record.passed,
                record.out_dir,
            )
        self.on_record(record)

    def _run_stage(self, stage: str) -> None:
        spec = self.specs[stage]
        runs = spec.plan(self.context)
        ids = [run.run_id for run in runs]
        if len(set(ids)) != len(ids):
            raise ValueError(
                f"stage {stage} planned two runs with one id: {sorted(i for i in ids if ids.count(i) > 1)[0]}"
            )
        artefacts: list[Artefact] = []
        outputs: list[Path] = []
        for run in runs:
            artefacts += self._run_one(stage, run)
            outputs += run.expected_outputs
        consumes = set(spec.consumes)
        if self.dry_run and consumes & self.context.unknown:
            upstream = ", ".join(sorted(consumes & self.context.unknown))
            self._record(RunRecord(stage, f"{stage}/…", WILL_RUN, f"also the files {upstream} adds when it runs"))
            self.context.unknown.add(stage)
        self.context.artefacts[stage] = artefacts
        self.context.outputs[stage] = outputs

    def _run_one(self, stage: str, run: StageRun) -> list[Artefact]:
        digest = config_hash(run.config)
        manifest = read_manifest(run.out_dir)
        if run.action is None:
            self._record(RunRecord(stage, run.label, GIVEN, run.description, out_dir=run.out_dir))
            return run.artefacts
        if stage not in self.selected:
            return self._keep(stage, run, manifest, digest)
        pending = sorted(
            name for name, path in run.inputs.items() if path.resolve() in self._rebuilt or not path.exists()
        )
        if stage in self.forced:
            reason = "forced"
        elif pending:
            reason = f"input {pending[0]} {'is rebuilt first' if self.dry_run else 'missing'}"
        else:
            reason = staleness(manifest, run.out_dir, digest, run.inputs, run.machine)
        if reason is None:
            self._record(
                RunRecord(
                    stage, run.label, CACHED, "", manifest.summary, manifest.wall_time_s, manifest.passed, run.out_dir
                )
            )
            return _artefacts_from_manifest(manifest) or run.artefacts
        if self.dry_run:
            self._record(RunRecord(stage, run.label, WILL_RUN, reason, run.description, out_dir=run.out_dir))
            self._rebuilt.update(p.resolve() for p in [*run.expected_outputs, *(a.path for a in run.artefacts)])
            if run.artefacts_unknown:
                self.context.unknown.add(stage)
            return run.artefacts
        if pending:
            raise ConfigError(
                f"{run.label}: input {run.inputs[pending[0]]} does not exist; an earlier stage did not produce it."
            )
        return self._execute(stage, run, digest, reason)

    def _keep(self, stage: str, run: StageRun, manifest: Manifest | None, digest: str) -> list[Artefact]:
        """A stage before --from / other than --only: use what is there, say if it is stale."""
        if manifest is None:
            raise ConfigError(
                f"{run.label} has not run yet, and --from/--only keep earlier stages as they are: run the "
                "pipeline without them first."
            )
        stale = staleness(manifest, run.out_dir, digest, run.inputs, run.machine)
        self._record(
            RunRecord(
                stage,
                run.label,
                KEPT,
                f"stale ({stale}), kept as asked" if stale else "",
                manifest.summary,
                manifest.wall_time_s,
                manifest.passed,
                run.out_dir,
            )
        )
        return _artefacts_from_manifest(manifest) or run.artefacts

    def _execute(self, stage: str, run: StageRun, digest: str, reason: str) -> list[Artefact]:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        remove_manifest(run.out_dir)
        pending_path = run.out_dir / PENDING_NAME
        # An interrupted training run of the same config resumes from its checkpoint; any other
        # checkpoint there belongs to an older config and must not be picked up.
        checkpoint = run.out_dir / CHECKPOINT_NAME
        resume = pending_path.exists() and read_json(pending_path).get("config_hash") == digest and checkpoint.exists()
        if not resume:
            checkpoint.unlink(missing_ok=True)
        write_json(pending_path, {"config_hash": digest})
        why = "" if reason == "not run yet" else f" ({reason})"
        self.progress.log(f"[bold]{run.label}[/]: running{why}{' — resuming its checkpoint' if resume else ''}")
        started = time.perf_counter()
        try:
            outcome: RunOutcome = run.action(self.tracking.start(run.label, run.config, self.progress), resume)
        except BaseException:
            self._record(RunRecord(stage, run.label, FAILED, reason, out_dir=run.out_dir))
            raise
        wall = time.perf_counter() - started
        produced = outcome.artefacts or run.artefacts
        files = [p for p in [*outcome.outputs, *(a.path for a in produced)] if p.exists()]
        outputs = {relative_to(p, run.out_dir): file_hash(p) for p in files}
        self.tracking.outputs(run.label, files)
        inputs = {name: file_hash(path) for name, path in run.inputs.items()}
        config = {**run.config, "_artefacts": [a.to_dict() for a in produced]}
        write_manifest(
            run.out_dir,
            Manifest(
                stage, run.run_id, digest, inputs, outputs, run.machine, outcome.summary, outcome.passed, wall, config
            ),
        )
        pending_path.unlink(missing_ok=True)
        self._record(RunRecord(stage, run.label, RAN, reason, outcome.summary, wall, outcome.passed, run.out_dir))
        return produced


def run_pipeline(pipeline: Pipeline, **options) -> PipelineResult:
    """Plan and run `pipeline` (see `PipelineRunner` for the options)."""
    return PipelineRunner(pipeline, **options).run()
