"""One-command pipelines: a YAML of stages (teacher → distill → export → eval → profile → report → gate),
validated up front, each stage's runs cached by manifests under `runs/<name>/<stage>/`."""

from edgekd.pipeline.config import STAGES, Pipeline, load_pipeline
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.runner import PipelineResult, PipelineRunner, RunRecord, run_pipeline

__all__ = [
    "STAGES",
    "Artefact",
    "Pipeline",
    "PipelineResult",
    "PipelineRunner",
    "PlanContext",
    "RunOutcome",
    "RunRecord",
    "StageRun",
    "load_pipeline",
    "run_pipeline",
]
