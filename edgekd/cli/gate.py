"""`edgekd gate REPORT`: pass/fail a release on thresholds; exit 0 pass, 1 fail, 2 bad input."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from edgekd import gate as gate_stage
from edgekd.cli.console import out
from edgekd.errors import CheckFailed
from edgekd.gate import GATE_CHECKS, CheckRow, GateConfig, GateThresholds, write_gate_outputs
from edgekd.gate.rows import format_measured, format_threshold

STATUS_STYLE = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}


def print_gate_table(rows: list[CheckRow], passed: bool) -> None:
    """The checks as a table on stdout (measured, threshold, pass/fail), then why each failed or was skipped."""
    table = Table(
        title="edgekd gate",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_edge=False,
    )
    cells = [
        (
            STATUS_STYLE[row.status],
            row.label,
            row.artefact,
            f"{row.backend}/{row.device}" + ("" if row.batch is None else f" b{row.batch}"),
            format_measured(row),
            format_threshold(row),
        )
        for row in rows
    ]
    for index, column in enumerate(("result", "check", "artefact", "on", "measured", "threshold")):
        # Only the check's label may wrap: artefact names and figures stay whole on narrow consoles.
        plain = [Text.from_markup(c[index]).plain for c in cells]
        width = {"check": 10}.get(column) or max([len(column)] + [len(p) for p in plain])
        table.add_column(
            column,
            justify="right" if column in ("measured", "threshold") else "left",
            no_wrap=column != "check",
            min_width=width,
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    out.print(table)
    for row in rows:
        if row.status != "pass":
            out.print(f"  {STATUS_STYLE[row.status]} {row.artefact}, {row.label}: {row.detail}", highlight=False)
    counts = {status: sum(row.status == status for row in rows) for status in STATUS_STYLE}
    verdict = "[bold green]GATE PASSED[/]" if passed else "[bold red]GATE FAILED[/]"
    out.print(f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")


def gate_command(
    report: Annotated[Path, typer.Argument(help="report.json from 'edgekd report' (or its folder).")],
    baseline: Annotated[
        Optional[Path], typer.Option("--baseline", help="The last release's report.json, for the vs-baseline checks.")
    ] = None,
    artefact: Annotated[
        Optional[list[str]],
        typer.Option(
            "--artefact",
            help=(
                "Artefact name or role (student, artefact, teacher) to check; repeatable. Default: every deployable "
                "artefact."
            ),
        ),
    ] = None,
    pipeline: Annotated[
        Optional[Path],
        typer.Option(
            "--pipeline",
            help="Read thresholds (and baseline) from this pipeline YAML's gate: section; flags override it.",
        ),
    ] = None,
    batch: Annotated[
        Optional[int], typer.Option("--batch", help="Batch size the latency checks read (default 1).")
    ] = None,
    significance: Annotated[
        Optional[bool],
        typer.Option(
            "--significance/--point-estimates",
            help="Judge accuracy drops by their paired confidence bounds (default: point estimates).",
        ),
    ] = None,
    significance_mode: Annotated[
        Optional[str],
        typer.Option(
            "--significance-mode",
            help=(
                "inferiority: fail a drop only when its lower bound is above the threshold; non-inferiority: pass it "
                "only when its upper bound is within. Implies --significance (default inferiority)."
            ),
        ),
    ] = None,
    alpha: Annotated[
        Optional[float], typer.Option("--alpha", help="One-sided error level of the paired test (default 0.05).")
    ] = None,
    allow_foreign_baseline: Annotated[
        Optional[bool],
        typer.Option(
            "--allow-foreign-baseline",
            help="Skip (and say so) latency-vs-baseline checks from another machine instead of refusing.",
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Where gate.md and gate.json go (default: beside the report).")
    ] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Also write JUnit XML here.")] = None,
    **thresholds: Optional[float],
) -> None:
    """Check a report against release thresholds; writes gate.md (+ JUnit XML). Exit 0 pass, 1 fail, 2 bad input."""
    base = GateThresholds()
    if pipeline is not None:
        from edgekd.pipeline import load_pipeline

        loaded = load_pipeline(pipeline)
        base = loaded.gate_thresholds()
        if baseline is None and loaded.gate is not None and loaded.gate.baseline:
            baseline = Path(loaded.gate.baseline)
    merged = base.merged(
        dict(
            **thresholds,
            batch=batch,
            significance=True if significance is None and significance_mode else significance,
            significance_mode=significance_mode,
            alpha=alpha,
            artefacts=artefact or None,
            allow_foreign_baseline=allow_foreign_baseline,
        )
    )
    result = gate_stage.run(GateConfig(report, merged, baseline))
    report_dir = result.report.path.parent
    written = write_gate_outputs(result, out_dir or report_dir, junit)
    print_gate_table(result.rows, result.passed)
    out.print(f"wrote {', '.join(str(p) for p in written.values())}")
    if not result.passed:
        names = ", ".join(sorted({f"{row.artefact} ({row.label})" for row in result.failures()}))
        raise CheckFailed(f"gate failed: {names}.")


def _with_threshold_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` one `--FIELD` option per `GATE_CHECKS` entry, in place of its `**thresholds`."""
    signature = inspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    flags = [
        inspect.Parameter(
            check.field,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[Optional[float], typer.Option(check.flag, help=f"{check.help} ({check.unit}).")],
        )
        for check in GATE_CHECKS
    ]
    # Typer reads the flags from the signature and the annotations; the thresholds go right after --pipeline.
    at = [p.name for p in fixed].index("pipeline") + 1
    parameters = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and i >= at
        else p
        for i, p in enumerate(fixed)
    ]
    command.__signature__ = signature.replace(parameters=parameters[:at] + flags + parameters[at:])  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in parameters},
        **{p.name: p.annotation for p in flags},
        "return": None,
    }
    return command


gate_command = _with_threshold_flags(gate_command)
