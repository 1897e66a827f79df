"""The pipeline's stages, one planner module each, registered by stage name.

A planner takes the `PlanContext` and returns its `StageRun`s; a module's `consumes` names the
stages whose artefacts or outputs it reads. A new stage is one new module plus a line here.
"""

from __future__ import annotations

from edgekd.pipeline.stages import distill, evaluate, export, gate, profile, report, teacher


def _planner(module):
    planner = module.plan
    planner.consumes = getattr(module, "consumes", ())
    return planner


PLANNERS = {
    "teacher": _planner(teacher),
    "distill": _planner(distill),
    "export": _planner(export),
    "eval": _planner(evaluate),
    "profile": _planner(profile),
    "report": _planner(report),
    "gate": _planner(gate),
}
