"""`edgekd students`: choose the student under a latency budget on the target; `export-candidates`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgekd.cli import options as opt
from edgekd.cli.console import RichProgress, err, out
from edgekd.errors import ConfigError
from edgekd.profile import TimingConfig
from edgekd.students.config import SEARCH_TIMING, StudentsConfig

Candidates = Annotated[
    Optional[str],
    typer.Option(
        "--candidates",
        help="Comma-separated globs over timm names, e.g. 'mobilenetv3_*,lcnet_*' (default: the curated edge list).",
    ),
]
ImgSize = Annotated[
    Optional[int], typer.Option("--img-size", help="Input size of every candidate (px; default: the teacher's).")
]
Exporter = Annotated[str, typer.Option("--exporter", help="ONNX exporter: dynamo or torchscript (as edgekd export).")]
Threads = Annotated[int, typer.Option("--threads", help="CPU threads for timing and training.")]
Int8 = Annotated[
    bool,
    typer.Option(
        "--int8",
        help="Also export and time each candidate's CPU INT8 recipe; a candidate counts at its faster precision.",
    ),
]

app = typer.Typer(
    help="Choose the student: the most accurate timm architecture within a latency budget on the target.",
    invoke_without_command=True,
)


def _patterns(text: Optional[str]) -> tuple[str, ...] | None:
    return tuple(p.strip() for p in text.split(",") if p.strip()) if text else None


def _print_table(payload: dict) -> None:
    from edgekd.students.config import PERCENTILES

    budget = payload["budget"]
    statistic = PERCENTILES[budget["percentile"]]
    table = Table(
        title=(
            f"candidates at {payload['img_size']} px: {budget['percentile']} latency at batch {budget['batch']} on "
            f"{budget['target']}, budget {budget['ms']:g} ms"
        )
    )
    for column in ("candidate", "params (M)", "MFLOPs", "latency ms", "val top-1 by rung", "decision"):
        table.add_column(column, justify="right" if column in ("params (M)", "MFLOPs", "latency ms") else "left")
    for c in payload["candidates"]:
        timed = ", ".join(f"{p} {s[statistic]:.3f}" for p, s in c["latency"].items()) or "–"
        rungs = (
            ", ".join(f"{r['epochs']}ep {r['val_top1']:.1f}" for r in c["rungs"] if r["val_top1"] is not None) or "–"
        )
        table.add_row(
            c["arch"],
            "–" if c["params"] is None else f"{c['params'] / 1e6:.2f}",
            "–" if c["mflops"] is None else f"{c['mflops']:.2f}",
            timed,
            rungs,
            c["decision"],
        )
    out.print(table)
    check = payload["flops_vs_latency"]
    if check["spearman_rho"] is not None:
        out.print(
            f"FLOPs vs measured latency: Spearman ρ {check['spearman_rho']:.3f} over {check['candidates']} candidates; "
            f"fastest 5 by FLOPs {', '.join(check['top5_by_flops'])}; measured {', '.join(check['top5_by_latency'])}",
            highlight=False,
        )


@app.callback()
def students_command(
    ctx: typer.Context,
    teacher: Annotated[
        Optional[Path], typer.Option("--teacher", help="Teacher run directory (edgekd teacher train).")
    ] = None,
    budget_ms: Annotated[
        Optional[float], typer.Option("--budget-ms", help="Latency budget per batch (ms) on the target.")
    ] = None,
    budget_vs_teacher: Annotated[
        Optional[float],
        typer.Option(
            "--budget-vs-teacher",
            help="Instead of --budget-ms: this fraction of the teacher's latency, measured in the same run (e.g. 0.1).",
        ),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="ort-cpu (timed here), or the name of the device whose profile.json files --latency-from reads.",
        ),
    ] = StudentsConfig.target,
    batch: Annotated[int, typer.Option("--batch", help="Batch size of the budget.")] = StudentsConfig.batch,
    percentile: Annotated[
        str, typer.Option("--percentile", help="Statistic the budget bounds: p99, p95, p90, median or mean.")
    ] = StudentsConfig.percentile,
    candidates: Candidates = None,
    epochs: Annotated[
        int, typer.Option("--epochs", help="Full schedule of the finalist; the halving rungs train fractions of it.")
    ] = StudentsConfig.epochs,
    first_rung_epochs: Annotated[
        int, typer.Option("--first-rung-epochs", help="Shortest run of the halving (epochs).")
    ] = StudentsConfig.first_rung_epochs,
    rung_budget: Annotated[
        float,
        typer.Option(
            "--rung-budget",
            help="The short rungs train at most this × --epochs candidate-epochs in all (at least one short run each).",
        ),
    ] = StudentsConfig.rung_budget,
    latency_from: Annotated[
        Optional[Path],
        typer.Option(
            "--latency-from", help="Folder of profile.json files measured on the target (see export-candidates)."
        ),
    ] = None,
    baseline: Annotated[
        Optional[str],
        typer.Option(
            "--baseline",
            help="Also fully distil this architecture with the same recipe, side by side (e.g. mobilenetv3_small_050).",
        ),
    ] = None,
    img_size: ImgSize = None,
    int8: Int8 = False,
    exporter: Exporter = StudentsConfig.exporter,
    threads: Threads = StudentsConfig.threads,
    duration: Annotated[
        float, typer.Option("--duration", help="Longest timed run per candidate and precision (s).")
    ] = SEARCH_TIMING.duration_s,
    seed: opt.Seed = StudentsConfig.seed,
    device: opt.Device = "auto",
    out_dir: opt.OutDir = Path("runs/students"),
    data: opt.DataSpec = "fashion-mnist",
    val_size: opt.ValSize = 0.1,
    limit_train: opt.LimitTrain = None,
    split_seed: opt.SplitSeed = 0,
    data_dir: opt.DataDir = None,
) -> None:
    """Time every candidate on the target, distil those within --budget-ms by successive halving from one
    teacher cache, fully distil the best on val.

    Writes OUT/students.json, OUT/students.md, OUT/students.svg; the chosen student's run directory is a
    normal distill output. Rerun to continue an interrupted search.
    """
    if ctx.invoked_subcommand is not None:
        return
    if teacher is None or (budget_ms is None and budget_vs_teacher is None):
        raise ConfigError(
            "edgekd students needs --teacher DIR and --budget-ms MS (or --budget-vs-teacher 0.1), or a "
            "subcommand: export-candidates."
        )
    from edgekd.students import NoCandidateWithinBudget, run

    config = StudentsConfig(
        teacher=teacher,
        out_dir=out_dir,
        budget_ms=budget_ms,
        budget_vs_teacher=budget_vs_teacher,
        target=target,
        data=opt.data_config(data, data_dir, val_size, limit_train, split_seed, 2),
        candidates=_patterns(candidates),
        epochs=epochs,
        batch=batch,
        percentile=percentile,
        img_size=img_size,
        latency_from=latency_from,
        int8=int8,
        first_rung_epochs=first_rung_epochs,
        rung_budget=rung_budget,
        baseline=baseline,
        seed=seed,
        threads=threads,
        timing=TimingConfig(
            warmup_ms=SEARCH_TIMING.warmup_ms,
            duration_s=duration,
            min_iterations=SEARCH_TIMING.min_iterations,
            settle=SEARCH_TIMING.settle,
        ),
        exporter=exporter,
        device=device,
    )
    try:
        result = run(config, RichProgress())
    except NoCandidateWithinBudget:
        from edgekd.students.schema import load_students

        _print_table(
            load_students(out_dir).model_dump(mode="json", by_alias=True)
        )  # what was measured, before the one-line error
        raise
    _print_table(result.payload)
    passes = result.payload["teacher_forward"]
    out.print(
        f"teacher forward passes: {passes['views_computed']} views (distinct views {passes['distinct_views']}) "
        f"for {passes['runs']} distill runs",
        highlight=False,
    )
    if result.payload["search_vs_finalist_run"] is not None:
        out.print(
            f"search cost: {result.payload['search_wall_time_s']:.1f} s, "
            f"{result.payload['search_vs_finalist_run']:.2f} × the finalist's full run "
            f"({result.payload['finalist_run_wall_time_s']:.1f} s)",
            highlight=False,
        )
    out.print(
        f"[bold green]chosen[/] {result.chosen} → {result.run_dir} (edgekd export {result.run_dir} …)  summary "
        f"{result.summary_path}",
        highlight=False,
    )


@app.command("export-candidates")
def export_candidates_command(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Bundle folder: <arch>.onnx files, candidates.json, profile.sh.")
    ],
    teacher: Annotated[
        Optional[Path], typer.Option("--teacher", help="Teacher run directory (gives the input size).")
    ] = None,
    candidates: Candidates = None,
    img_size: ImgSize = None,
    int8: Int8 = False,
    batch: Annotated[
        int, typer.Option("--batch", help="Batch size profile.sh times by default.")
    ] = StudentsConfig.batch,
    exporter: Exporter = StudentsConfig.exporter,
    threads: Threads = StudentsConfig.threads,
    seed: opt.Seed = StudentsConfig.seed,
    data: opt.DataSpec = "fashion-mnist",
    val_size: opt.ValSize = 0.1,
    limit_train: opt.LimitTrain = None,
    split_seed: opt.SplitSeed = 0,
    data_dir: opt.DataDir = None,
) -> None:
    """Write every candidate's ONNX and profile.sh for another device; then --latency-from BUNDLE/profiles."""
    from edgekd.artifacts import atomic_write_text, read_json
    from edgekd.students import export_candidates

    calib = None
    if int8:
        calib = out_dir / "calibration.yaml"
        atomic_write_text(calib, f"dataset: {data}\nsplit: val\nsamples: 128\nseed: 0\n")
    summary = export_candidates(
        teacher,
        out_dir,
        opt.data_config(data, data_dir, val_size, limit_train, split_seed, 2),
        candidates=_patterns(candidates),
        img_size=img_size,
        int8_calib=calib,
        batch=batch,
        seed=seed,
        exporter=exporter,
        threads=threads,
        progress=RichProgress(),
    )
    rows = read_json(summary)["candidates"]
    shipped = [r for r in rows if not r["dropped"]]
    for row in rows:
        if row["dropped"]:
            err.print(f"{row['arch']}: dropped, {row['dropped']}", highlight=False)
    out.print(
        f"[bold green]bundle[/] {out_dir}: {len(shipped)} of {len(rows)} candidates; on the device run "
        f"{out_dir / 'profile.sh'}, "
        f"then: edgekd students … --target DEVICE --latency-from {out_dir / 'profiles'}",
        highlight=False,
    )
