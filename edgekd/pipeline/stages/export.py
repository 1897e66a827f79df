"""Pipeline stage `export:`: `edgekd export` for each student (one run per distill run).

The files are named after the student (`student.onnx`, `student.int8-cpu.onnx`, or
`student-kd-s1.onnx` when several students are trained), so the report and the gate show
names a person recognises. The calibration spec is an input: editing it reruns the export.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.engine import Progress
from edgekd.errors import ConfigError, EdgekdError
from edgekd.export import ExportConfig, export
from edgekd.pipeline.plan import Artefact, PlanContext, RunOutcome, StageRun
from edgekd.pipeline.stages.common import artefact_inputs, section_error, without

consumes = ("distill",)
DEPLOYABLE_KINDS = ("onnx", "tensorrt")


def _students(ctx: PlanContext) -> list[Artefact]:
    section = ctx.pipeline.export
    students = ctx.artefacts.get("distill", [])
    run_ids = [s.source.split("/", 1)[-1] for s in students]
    unknown = [name for name in section.students if name not in run_ids]
    if unknown:
        raise ConfigError(f"{ctx.pipeline.where('export', 'students')}: 'export.students' names '{unknown[0]}', which is not a distill run (runs: {', '.join(run_ids)}).")
    return [s for s, run_id in zip(students, run_ids) if not section.students or run_id in section.students]


def _expected(config: ExportConfig, out_dir: Path, name: str, source: str) -> list[Artefact]:
    """The ONNX files export will write (TensorRT engines are only known once built)."""
    files = [f"{name}.onnx"] + ([f"{name}.fp16.onnx"] if config.fp16 else []) + [f"{name}.int8-{t}.onnx" for t in config.int8_targets]
    return [Artefact(f, "artefact", out_dir / f, source) for f in files]


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.export
    students = _students(ctx)
    single = len(ctx.artefacts.get("distill", [])) == 1
    inputs_extra = {}
    if section.calib is not None:
        calib = Path(section.calib)
        if not calib.is_file():
            raise ConfigError(f"{ctx.pipeline.where('export', 'calib')}: 'export.calib': calibration spec not found: {calib} (paths are relative to where you run edgekd).")
        inputs_extra["calibration spec"] = calib
    runs = []
    for student in students:
        run_id = student.source.split("/", 1)[-1]
        out_dir = ctx.stage_dir("export") / run_id
        name = "student" if single else f"student-{run_id}"
        try:
            config = ExportConfig(checkpoint=student.path, out=out_dir, name=name, **section.options()).validate()
        except (EdgekdError, TypeError) as exc:
            raise section_error(ctx.pipeline, exc if isinstance(exc, EdgekdError) else ConfigError(str(exc)), "export") from exc
        source = f"export/{run_id}"
        expected = _expected(config, out_dir, name, source)
        runs.append(_run(run_id, config, {**artefact_inputs(student), **inputs_extra}, expected, source))
    return runs


def _run(run_id: str, config: ExportConfig, inputs, expected: list[Artefact], source: str) -> StageRun:
    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = export(config, progress)
        produced = [Artefact(r.path.name, "artefact", r.path, source) for r in result.artefacts if r.kind in DEPLOYABLE_KINDS]
        written = [r.path for r in result.artefacts] + [result.summary_path]
        parts = [f"{r.path.name} ({r.size_bytes / 1e6:.2f} MB)" for r in result.artefacts if r.kind in DEPLOYABLE_KINDS]
        return RunOutcome(outputs=written, artefacts=produced, summary=", ".join(parts))

    payload = {"export": without(config.describe(), "checkpoint", "out", "calib"), "calib": config.calib is not None}
    description = ", ".join(a.name for a in expected) + (" + TensorRT engines" if config.trt else "")
    return StageRun("export", run_id, config.out, payload, inputs, action, expected, description=description, artefacts_unknown=config.trt)
