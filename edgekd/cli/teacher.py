"""`edgekd teacher list|train`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgekd import teacher as teacher_stage
from edgekd.cli import options as opt
from edgekd.cli.console import make_progress, model_result, out, print_result
from edgekd.data import DataConfig
from edgekd.engine import TrainConfig
from edgekd.engine.tracking import log_model, tracking
from edgekd.models import list_architectures
from edgekd.teacher import TeacherConfig

app = typer.Typer(help="Pick a timm architecture and train (fine-tune) the teacher.", no_args_is_help=True)


@app.command("list")
def list_command(
    pattern: Annotated[
        str, typer.Argument(help="Glob over timm names, e.g. 'resnet*'; a plain word matches anywhere.")
    ] = "*",
    img_size: Annotated[int, typer.Option("--img-size", help="Input size (px) for the GFLOPs column.")] = 224,
    limit: Annotated[int, typer.Option("--limit", help="Show at most N models (0: all).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List timm architectures with parameters, GFLOPs and local pretrained weights."""
    rows = list_architectures(pattern, img_size, limit or None)
    if as_json:
        out.print_json(json.dumps([row.__dict__ for row in rows]))
        return
    table = Table(title=f"timm models matching '{pattern}' ({len(rows)} shown)")
    for column in ("model", "params (M)", f"GFLOPs @{img_size}px", "local weights"):
        table.add_column(column, justify="right" if "(" in column or "@" in column else "left")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.params / 1e6:.2f}",
            "-" if row.gflops is None else f"{row.gflops:.3f}",
            row.local_weights or "no",
        )
    out.print(table)
    if not rows:
        out.print(f"No timm model matches '{pattern}'.")


@app.command("train")
@opt.with_config_options(data=DataConfig(), train=TrainConfig(), model_options=TeacherConfig)
def train_command(
    model: Annotated[str, typer.Argument(help="timm architecture, e.g. resnet18 (see 'edgekd teacher list').")],
    out_dir: opt.OutDir = Path("runs/teacher"),
    *,
    data: DataConfig,
    model_options: dict[str, Any],
    train: TrainConfig,
    resume: opt.Resume = False,
    track: opt.Track = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Train a teacher: writes DIR/teacher.safetensors + DIR/teacher.json (+ metrics.jsonl, checkpoint.pt)."""
    config = TeacherConfig(arch=model, out_dir=out_dir, data=data, train=train, **model_options)
    with tracking(
        opt.track_targets(track), f"teacher {model}", config.describe(), make_progress(as_json=as_json, quiet=quiet)
    ) as (run, progress):
        result = teacher_stage.run(replace(config, resume=resume), progress)
        log_model(run, result.card, result.weights_path)
    print_result(_result_line(result), model_result(result.weights_path, result.card), as_json=as_json)


def _accuracy(split: dict | None, name: str) -> str:
    """`name top-1 X %  top-5 Y %`, or nothing for a split the run did not have."""
    return "" if not split else f"  {name} top-1 {split['top1']:.2f} %  top-5 {split['top5']:.2f} %"


def _result_line(result) -> str:
    training = result.card.training
    return (
        f"[bold green]teacher saved[/] {result.weights_path}{_accuracy(result.card.metrics.get('test'), 'test')}  "
        f"train {training['train_img_per_s']:.0f} img/s (whole epochs, data included)  wall "
        f"{training['wall_time_s']:.0f} s"
    )
