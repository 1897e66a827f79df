"""`edgekd report RUN_DIR…`: report.json, report.md and report.html from artefacts, eval.json and profile.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekd import report as report_stage
from edgekd.cli.console import RichProgress, out
from edgekd.report import ReportConfig


def report_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Run directories (searched recursively) or eval.json/profile.json/artefact files."),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output directory for report.json, report.md and report.html.")
    ] = Path("runs/report"),
    teacher: Annotated[
        Optional[Path],
        typer.Option(
            "--teacher",
            help="The teacher artefact or its run directory (default: the model whose card says role teacher).",
        ),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Heading of the report.")] = "edgekd report",
    batch: Annotated[
        Optional[int],
        typer.Option(
            "--batch", help="Batch size of the speed-up column and the Pareto plot (default: 1 when profiled)."
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Eval split to report when several were scored.")] = "test",
) -> None:
    """Join artefacts, eval.json and profile.json into one report (JSON, Markdown, self-contained HTML)."""
    result = report_stage.run(
        ReportConfig(inputs=tuple(inputs), out_dir=out_dir, teacher=teacher, title=title, batch=batch, split=split),
        RichProgress(),
    )
    report = result.report
    for comparison in report.comparisons:
        parts = [comparison.model]
        if comparison.top1_delta is not None:
            parts.append(f"top-1 {comparison.top1_delta:+.2f} pts")
        if comparison.speedup is not None:
            parts.append(f"{comparison.speedup:.2f}× faster @b{comparison.speedup_batch}")
        if comparison.size_ratio is not None:
            parts.append(f"{comparison.size_ratio:.2f}× smaller")
        out.print("  " + ", ".join(parts), highlight=False)
    out.print(
        f"[bold green]report[/] {len(report.models)} models → {result.json_path}, {result.markdown_path.name}, "
        f"{result.html_path.name}",
        highlight=False,
    )
