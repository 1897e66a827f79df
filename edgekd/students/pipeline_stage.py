"""`distill: {student: auto, budget_ms: …}` in a pipeline: the student search as the distill run.

The pipeline's distill stage plans one run (`kd`, artefact `student`) whose action runs
`edgekd students` in `distill/search/` and copies the chosen student's fully distilled run
(student.safetensors, student.json, metrics.jsonl: a normal distill output) into the run folder, so export,
eval, report and gate take it as they take any distilled student. The search's own files stay
reusable: a rerun after an interruption continues where it stopped.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edgekd.artifacts import atomic_path
from edgekd.engine import Progress
from edgekd.errors import EdgekdError
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import section_error, without
from edgekd.profile.system import system_facts
from edgekd.students.config import StudentsConfig

RUN_ID = "kd"  # the search distils with kd, the shipped recipe: the name a kd run would have
# What later stages read of a distill run (the report plots metrics.jsonl's curves).
COPIED = ("student.safetensors", "student.json", "metrics.jsonl")


def search_config(ctx: PlanContext, section: Any) -> StudentsConfig:
    """The search of a `student: auto` distill section (its out_dir: `distill/search`)."""
    export = getattr(ctx.pipeline, "export", None)
    teacher = ctx.teacher()
    assert teacher is not None  # the teacher stage is planned before distill
    return StudentsConfig(
        teacher=Path(teacher.path),
        out_dir=ctx.stage_dir("distill") / "search",
        budget_ms=section.budget_ms,
        target=section.target,
        percentile=section.percentile,
        data=ctx.pipeline.data.to_config(),
        candidates=tuple(section.candidates) if section.candidates else None,
        epochs=section.epochs,
        img_size=section.img_size,
        seed=section.seeds[0],
        device=section.device,
        exporter=(getattr(export, "exporter", None) or StudentsConfig.exporter),
    )


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def plan_search(ctx: PlanContext, section: Any, inputs: dict[str, Path], data_facts: dict[str, Any]) -> StageRun:
    """The one distill run of a `student: auto` section.

    Raises:
        ConfigError: the search's options are impossible (pointed at the `distill:` key),
            e.g. a `target` that is not this machine.
    """
    config = search_config(ctx, section)
    try:
        config.validate()
    except EdgekdError as exc:
        raise section_error(ctx.pipeline, exc, "distill") from None
    out_dir = ctx.stage_dir("distill") / RUN_ID
    weights = out_dir / "student.safetensors"

    def action(progress: Progress, resume: bool) -> RunOutcome:
        from edgekd.students.stage import run  # the search pulls in the exporter and profiler: only when it runs

        result = run(config, progress)
        for name in COPIED:
            _copy(result.run_dir / name, out_dir / name)
        chosen = result.payload["chosen"]
        test = chosen.get("test_top1")
        summary = (
            f"auto → {result.chosen} ({chosen['latency_ms']:.3f} ms {config.percentile} on {config.target} ≤ "
            f"{config.budget_ms:g} ms)" + (f": test top-1 {test:.2f} %" if test is not None else "")
        )
        return RunOutcome(outputs=[out_dir / name for name in COPIED] + [result.summary_path], summary=summary)

    # The latency decides the student: the run belongs to this machine (like a profile run).
    payload = {"students": without(config.describe(), "out_dir", "teacher"), **data_facts}
    description = (
        f"student search: budget {config.budget_ms:g} ms {config.percentile} on {config.target}, {config.epochs} "
        "epochs for the finalist"
    )
    return StageRun(
        "distill",
        RUN_ID,
        out_dir,
        payload,
        inputs,
        action,
        [Artefact("student", "student", weights, f"distill/{RUN_ID}")],
        machine=system_facts()["fingerprint"],
        description=description,
    )
