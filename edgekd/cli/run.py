"""`edgekd run PIPELINE.yaml`: the whole path in one command, redoing only what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from edgekd.cli.console import RichProgress, err, out
from edgekd.cli.gate import print_gate_table
from edgekd.errors import CheckFailed
from edgekd.gate.runner import read_gate_json
from edgekd.pipeline import STAGES, PipelineResult, RunRecord, load_pipeline, run_pipeline

STATUS_STYLE = {
    "cached": "[cyan]cached[/]",
    "ran": "[green]ran[/]",
    "will run": "[yellow]will run[/]",
    "given": "[dim]given[/]",
    "kept": "[dim]kept[/]",
    "failed": "[bold red]failed[/]",
}


def _print_record(record: RunRecord) -> None:
    timing = f" {record.wall_time_s:.1f} s" if record.status == "ran" else ""
    informative = record.reason and record.reason != "not run yet"
    why = f" ({record.reason})" if informative and record.status in ("ran", "will run", "kept", "failed") else ""
    summary = f"  {record.summary}" if record.summary else ""
    err.print(
        f"  {STATUS_STYLE.get(record.status, record.status)} {record.label}{why}{timing}{summary}", highlight=False
    )


def _print_plan(result: PipelineResult) -> None:
    title = f"plan of {result.pipeline.name} (dry run: nothing was run)"
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False
    )
    for column in ("stage", "run", "status", "why", "result"):
        table.add_column(column, no_wrap=column in ("stage", "status"), overflow="fold")
    for record in result.records:
        run = record.label.split("/", 1)[1] if "/" in record.label else ""
        why = record.reason if record.status != "cached" else ""
        table.add_row(record.stage, run, STATUS_STYLE.get(record.status, record.status), why, record.summary)
    out.print(table)


def run_command(
    pipeline_file: Annotated[
        Path, typer.Argument(metavar="PIPELINE.yaml", help="Pipeline file, e.g. pipelines/quickstart.yaml.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Rerun every stage, cached or not.")] = False,
    from_stage: Annotated[
        Optional[str],
        typer.Option("--from", help=f"Rerun this stage and every later one; keep earlier ones ({', '.join(STAGES)})."),
    ] = None,
    only_stage: Annotated[Optional[str], typer.Option("--only", help="Rerun just this stage.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate the pipeline and print the plan without running anything.")
    ] = False,
) -> None:
    """Run a pipeline: teacher → distill → export → eval → profile → report → gate, skipping cached stages.

    Outputs go to runs/<name>/<stage>/, each run with a manifest of its inputs' and its config's
    hashes. Exit 0 done (gate passed), 1 gate failed, 2 bad pipeline or input.
    """
    pipeline = load_pipeline(pipeline_file)
    err.print(
        f"[bold]{pipeline.name}[/] → {pipeline.root}  "
        f"({' → '.join(pipeline.stages())}){'  [dry run]' if dry_run else ''}"
    )
    on_record = None if dry_run else _print_record  # a dry run prints its plan as one table
    # Ctrl-C: `edgekd.cli.main` says how to go on (finished runs are cached, training resumes).
    result = run_pipeline(
        pipeline,
        force=force,
        from_stage=from_stage,
        only_stage=only_stage,
        dry_run=dry_run,
        progress=RichProgress(),
        on_record=on_record,
    )
    if dry_run:
        _print_plan(result)
        return
    counts = {status: sum(r.status == status for r in result.records) for status in STATUS_STYLE}
    done = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    out.print(f"pipeline [bold]{pipeline.name}[/]: {len(result.records)} runs ({done}) in {result.wall_time_s:.1f} s")
    gate_json = pipeline.root / "gate" / "gate.json"
    if result.gate_passed is not None and gate_json.exists():
        rows, passed = read_gate_json(gate_json)
        print_gate_table(rows, passed)
    report_md = pipeline.root / "report" / "report.md"
    if report_md.exists():
        out.print(f"report: {report_md} (and report.html, report.json beside it)")
    if result.gate_passed is False:
        raise CheckFailed(f"gate failed: see {pipeline.root / 'gate' / 'gate.md'}.")
