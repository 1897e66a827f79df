"""Running the gate: load the reports, run every set threshold's check, write the verdicts.

`run` is what `edgekd gate` and a pipeline's gate stage call. It returns the rows; the
caller decides how to show them. `write_gate_outputs` writes `gate.md`, `gate.json` and the
optional JUnit XML, each atomically, before the caller turns a failure into exit code 1.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.artifacts import atomic_write_text, write_json
from edgekd.engine.progress import Progress
from edgekd.errors import ConfigError
from edgekd.gate.config import GateConfig, GateThresholds
from edgekd.gate.context import GateContext
from edgekd.gate.inputs import load_gate_report
from edgekd.gate.junit import junit_xml
from edgekd.gate.markdown import gate_markdown
from edgekd.gate.registry import BY_FIELD
from edgekd.gate.result import GateResult
from edgekd.gate.rows import SKIP, CheckRow


def run(config: GateConfig, progress: Progress | None = None) -> GateResult:
    """Judge a report against `config.thresholds` (and a baseline report).

    Args:
        progress: unused (the gate reads two JSON files); taken for the one stage shape.

    Raises:
        ConfigError: no threshold set, a bad report, a selector matching nothing, latency
            baselines from another machine (without `allow_foreign_baseline`), or a threshold
            that no selected artefact could be checked against.
    """
    config = config.validate()
    thresholds = config.thresholds
    active = thresholds.active()
    report = load_gate_report(config.report)
    baseline = load_gate_report(config.baseline) if config.baseline is not None else None
    artefacts = report.select(thresholds.artefacts)
    if not artefacts:
        raise ConfigError(
            f"{report.path} has no deployable artefact (role student or artefact) to gate; choose some with "
            "--artefact NAME|ROLE."
        )
    context = GateContext(report, baseline, thresholds, artefacts)
    rows: list[CheckRow] = []
    for name in active:
        produced = BY_FIELD[name].check(context)
        if produced and all(row.status == SKIP and not row.waived for row in produced):
            reasons = "; ".join(sorted({f"{row.artefact}: {row.detail}" for row in produced}))
            raise ConfigError(f"{BY_FIELD[name].flag} could not be checked on any artefact ({reasons}).")
        rows.extend(produced)
    return GateResult(report, baseline, thresholds, rows)


def run_gate(
    report_path: str | Path, thresholds: GateThresholds, baseline_path: str | Path | None = None
) -> GateResult:
    """`run` under its former signature (kept for the notebooks and tests that call it)."""
    baseline = Path(baseline_path) if baseline_path is not None else None
    return run(GateConfig(Path(report_path), thresholds, baseline))


def write_gate_outputs(
    result: GateResult, out_dir: str | Path, junit_path: str | Path | None = None
) -> dict[str, Path]:
    """Write `gate.md` and `gate.json` into `out_dir` (and JUnit XML to `junit_path`)."""
    out_dir = Path(out_dir)
    written = {"markdown": out_dir / "gate.md", "json": out_dir / "gate.json"}
    atomic_write_text(written["markdown"], gate_markdown(result))
    write_json(written["json"], result.to_dict())
    if junit_path is not None:
        written["junit"] = Path(junit_path)
        atomic_write_text(written["junit"], junit_xml(result.rows))
    return written


def read_gate_json(path: str | Path) -> tuple[list[CheckRow], bool]:
    """The rows and verdict of a gate.json written by `write_gate_outputs`."""
    from edgekd.artifacts import read_json

    payload = read_json(path)
    return [CheckRow(**row) for row in payload["rows"]], bool(payload["passed"])
