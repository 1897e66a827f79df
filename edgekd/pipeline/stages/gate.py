"""Pipeline stage `gate:`: judge the report against the section's thresholds (see `edgekd gate`).

Writes gate.md, gate.json and junit.xml in the stage folder. A failing gate is recorded, not
raised: the pipeline finishes, prints the checks and exits 1 (also when the gate is cached).
"""

from __future__ import annotations

from pathlib import Path

from edgekd import gate as gate_stage
from edgekd.engine import Progress
from edgekd.errors import ConfigError
from edgekd.gate import GateConfig, write_gate_outputs
from edgekd.pipeline.plan import PlanContext, RunOutcome, StageRun

consumes = ("report",)


def plan(ctx: PlanContext) -> list[StageRun]:
    section = ctx.pipeline.gate
    assert section is not None  # planned only for a pipeline with a gate: section
    out_dir = ctx.stage_dir("gate")
    thresholds = ctx.pipeline.gate_thresholds()
    report_json = ctx.outputs["report"][0]
    inputs = {"report.json": report_json}
    baseline = Path(section.baseline) if section.baseline else None
    if baseline is not None:
        baseline = baseline / "report.json" if baseline.is_dir() else baseline
        if not baseline.is_file():
            raise ConfigError(
                f"{ctx.pipeline.where('gate', 'baseline')}: 'gate.baseline': report not found: {baseline} (paths "
                "are relative to where you run edgekd)."
            )
        inputs["baseline"] = baseline

    def action(progress: Progress, resume: bool) -> RunOutcome:
        result = gate_stage.run(GateConfig(report_json, thresholds, inputs.get("baseline")), progress)
        written = write_gate_outputs(result, out_dir, out_dir / "junit.xml")
        counts = result.counts()
        verdict = "PASSED" if result.passed else "FAILED"
        summary = f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        return RunOutcome(outputs=list(written.values()), summary=summary, passed=result.passed)

    payload = {"gate": thresholds.model_dump()}
    return [
        StageRun(
            "gate",
            "gate",
            out_dir,
            payload,
            inputs,
            action,
            description=f"{len(thresholds.active())} thresholds on {report_json}",
            expected_outputs=[out_dir / "gate.md"],
        )
    ]
