"""`edgekd gate REPORT`: pass/fail a release on thresholds; exit 0 pass, 1 fail, 2 bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from edgekd.cli.console import out
from edgekd.errors import CheckFailed
from edgekd.gate import CheckRow, GateThresholds, run_gate, write_gate_outputs
from edgekd.gate.markdown import format_measured, format_threshold

STATUS_STYLE = {"pass": "[green]pass[/]", "fail": "[bold red]FAIL[/]", "skip": "[dim]skip[/]"}


def print_gate_table(rows: list[CheckRow], passed: bool) -> None:
    """The checks as a table on stdout (measured, threshold, pass/fail), then why each failed or was skipped."""
    table = Table(title="edgekd gate", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    cells = [
        (STATUS_STYLE[row.status], row.label, row.artefact, f"{row.backend}/{row.device}" + ("" if row.batch is None else f" b{row.batch}"), format_measured(row), format_threshold(row))
        for row in rows
    ]
    for index, column in enumerate(("result", "check", "artefact", "on", "measured", "threshold")):
        # Only the check's label may wrap: artefact names and figures stay whole on narrow consoles.
        plain = [Text.from_markup(c[index]).plain for c in cells]
        width = {"check": 10}.get(column) or max([len(column)] + [len(p) for p in plain])
        table.add_column(column, justify="right" if column in ("measured", "threshold") else "left", no_wrap=column != "check", min_width=width)
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
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="The last release's report.json, for the vs-baseline checks.")] = None,
    artefact: Annotated[Optional[list[str]], typer.Option("--artefact", help="Artefact name or role (student, artefact, teacher) to check; repeatable. Default: every deployable artefact.")] = None,
    pipeline: Annotated[Optional[Path], typer.Option("--pipeline", help="Read thresholds (and baseline) from this pipeline YAML's gate: section; flags override it.")] = None,
    max_drop_vs_teacher: Annotated[Optional[float], typer.Option("--max-drop-vs-teacher", help="Max top-1 drop below the teacher (points).")] = None,
    max_drop_vs_baseline: Annotated[Optional[float], typer.Option("--max-drop-vs-baseline", help="Max top-1 drop below the baseline's same artefact (points).")] = None,
    max_class_drop: Annotated[Optional[float], typer.Option("--max-class-drop", help="Max drop of any one class's accuracy below the teacher's (points).")] = None,
    min_agreement: Annotated[Optional[float], typer.Option("--min-agreement", help="Min agreement with the teacher's predictions (%).")] = None,
    max_p99_ms: Annotated[Optional[float], typer.Option("--max-p99-ms", help="Max p99 latency at --batch (ms).")] = None,
    max_p99_increase: Annotated[Optional[float], typer.Option("--max-p99-increase-vs-baseline", help="Max p99 latency increase over the baseline (%), same machine only.")] = None,
    min_speedup: Annotated[Optional[float], typer.Option("--min-speedup", help="Min speed-up over the teacher at --batch (teacher mean / artefact mean latency, same device and machine).")] = None,
    max_size_mb: Annotated[Optional[float], typer.Option("--max-size-mb", help="Max artefact file size (MB, 10^6 bytes).")] = None,
    batch: Annotated[Optional[int], typer.Option("--batch", help="Batch size the latency checks read (default 1).")] = None,
    significance: Annotated[Optional[bool], typer.Option("--significance/--point-estimates", help="Judge accuracy drops by their paired confidence bounds (default: point estimates).")] = None,
    significance_mode: Annotated[Optional[str], typer.Option("--significance-mode", help="inferiority: fail a drop only when its lower bound is above the threshold; non-inferiority: pass it only when its upper bound is within. Implies --significance (default inferiority).")] = None,
    alpha: Annotated[Optional[float], typer.Option("--alpha", help="One-sided error level of the paired test (default 0.05).")] = None,
    allow_foreign_baseline: Annotated[Optional[bool], typer.Option("--allow-foreign-baseline", help="Skip (and say so) latency-vs-baseline checks from another machine instead of refusing.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where gate.md and gate.json go (default: beside the report).")] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Also write JUnit XML here.")] = None,
) -> None:
    """Check a report against release thresholds; writes gate.md (+ JUnit XML). Exit 0 pass, 1 fail, 2 bad input."""
    base = GateThresholds()
    if pipeline is not None:
        from edgekd.pipeline import load_pipeline

        loaded = load_pipeline(pipeline)
        base = loaded.gate_thresholds()
        if baseline is None and loaded.gate.baseline:
            baseline = Path(loaded.gate.baseline)
    thresholds = base.merged(
        dict(
            max_drop_vs_teacher=max_drop_vs_teacher, max_drop_vs_baseline=max_drop_vs_baseline, max_class_drop=max_class_drop,
            min_agreement=min_agreement, max_p99_ms=max_p99_ms, max_p99_increase_vs_baseline=max_p99_increase, min_speedup=min_speedup,
            max_size_mb=max_size_mb, batch=batch, significance=True if significance is None and significance_mode else significance,
            significance_mode=significance_mode, alpha=alpha, artefacts=artefact or None,
            allow_foreign_baseline=allow_foreign_baseline,
        )
    )
    result = run_gate(report, thresholds, baseline)
    report_dir = result.report.path.parent
    written = write_gate_outputs(result, out_dir or report_dir, junit)
    print_gate_table(result.rows, result.passed)
    out.print(f"wrote {', '.join(str(p) for p in written.values())}")
    if not result.passed:
        names = ", ".join(sorted({f"{row.artefact} ({row.label})" for row in result.failures()}))
        raise CheckFailed(f"gate failed: {names}.")
