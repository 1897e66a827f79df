"""Pipeline stage `profile:`: latency of the teacher, students and exported artefacts on this machine.

A profile is only valid on the machine that measured it: the machine fingerprint is part of
each run's manifest, so the same pipeline on another machine profiles again.
"""

from __future__ import annotations

from dataclasses import replace

from edgekd import profile as profile_stage
from edgekd.engine import Progress
from edgekd.errors import EdgekdError
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import artefact_inputs, section_error, without
from edgekd.profile import ProfileConfig, TimingConfig, system_facts

consumes = ("teacher", "distill", "export")


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.profile
    teacher = ctx.teacher()
    machine = system_facts()["fingerprint"]
    timing = TimingConfig(
        warmup_ms=section.warmup_ms, duration_s=section.duration_s, min_iterations=section.min_iterations
    )
    runs = []
    for artefact in ctx.all_artefacts(*consumes):
        if artefact is teacher and not section.include_teacher:
            continue
        config = ProfileConfig(
            artefact=artefact.path,
            out_dir=ctx.stage_dir("profile") / artefact.name,
            device=section.device,
            batches=tuple(section.batches),
            threads=section.threads,
            timing=timing,
        )
        try:
            # Whether CUDA is visible is the target machine's business (a Jetson pipeline
            # must dry-run anywhere): it is checked when the profile runs.
            replace(config, device="cpu").validate()
        except EdgekdError as exc:
            raise section_error(ctx.pipeline, exc, "profile") from exc
        runs.append(_run(artefact, config, machine))
    return runs


def _run(artefact: Artefact, config: ProfileConfig, machine: str) -> StageRun:
    profile_json = config.out_dir / "profile.json"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = profile_stage.run(config, progress)
        return RunOutcome(outputs=[result.path], summary=_summary(result.payload))

    payload = {"profile": without(config.describe(), "artefact", "out_dir")}
    batches = ",".join(map(str, config.batches))
    return StageRun(
        "profile",
        artefact.name,
        config.out_dir,
        payload,
        artefact_inputs(artefact),
        action,
        machine=machine,
        description=f"{artefact.path.name} on {config.device}, batch {batches}",
        expected_outputs=[profile_json],
    )


def _summary(payload: dict) -> str:
    """ "b1 median 0.21 ms, b32 median 2.9 ms" from a profile.json payload."""
    parts = [
        f"b{entry['batch']} median {entry['median_ms']:.3g} ms"
        for entry in payload.get("batches", [])
        if "median_ms" in entry
    ]
    return ", ".join(parts)
