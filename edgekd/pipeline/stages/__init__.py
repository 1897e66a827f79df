"""The stage registry: one `StageSpec` per pipeline stage, in run order.

A new stage is its section model (a `Stage[...]` field of `Pipeline`), its planner module, and
one entry here naming the stages it reads. `PLANNERS` and the runner's view of `consumes` are
derived from this table; the import check below keeps it in step with `Pipeline`'s fields.
"""

from __future__ import annotations

from edgekd.pipeline.config import STAGES
from edgekd.pipeline.plan import Planner, StageSpec
from edgekd.pipeline.stages import distill, evaluate, export, gate, profile, report, teacher

STAGE_SPECS: tuple[StageSpec, ...] = (
    StageSpec("teacher", teacher.plan),
    StageSpec("distill", distill.plan, distill.consumes),
    StageSpec("export", export.plan, export.consumes),
    StageSpec("eval", evaluate.plan, evaluate.consumes),
    StageSpec("profile", profile.plan, profile.consumes),
    StageSpec("report", report.plan, report.consumes),
    StageSpec("gate", gate.plan, gate.consumes),
)

if tuple(spec.name for spec in STAGE_SPECS) != STAGES:
    raise RuntimeError(
        f"the stage registry {[s.name for s in STAGE_SPECS]} and Pipeline's stage fields {list(STAGES)} differ"
    )

SPECS: dict[str, StageSpec] = {spec.name: spec for spec in STAGE_SPECS}
PLANNERS: dict[str, Planner] = {spec.name: spec.plan for spec in STAGE_SPECS}
