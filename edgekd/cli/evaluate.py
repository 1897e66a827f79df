"""`edgekd eval ARTEFACT`: accuracy of a PyTorch, ONNX or TensorRT artefact on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekd import evaluate as evaluate_stage
from edgekd.cli import options as opt
from edgekd.cli.console import RichProgress, out
from edgekd.evaluate import DataOverrides, EvalConfig


def eval_command(
    artefact: Annotated[
        Path,
        typer.Argument(
            help="A .safetensors model (with its .json card), an .onnx, a TensorRT .engine/.plan, or a run directory."
        ),
    ],
    data: Annotated[
        Optional[str], typer.Option("--data", help="Dataset spec (default: the one recorded in the artefact).")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    teacher: Annotated[
        Optional[Path],
        typer.Option(
            "--teacher",
            help="Teacher artefact, or the teacher's eval.json on the same data: adds agreement with its predictions.",
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path],
        typer.Option("--out", help="Output directory for eval.json (default: <artefact dir>/eval/<artefact name>)."),
    ] = None,
    backend: Annotated[
        Optional[str], typer.Option("--backend", help="torch, ort or trt (default: the artefact's own).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    threads: Annotated[
        Optional[int], typer.Option("--threads", help="ONNX Runtime intra-op threads (default: its own).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per inference call.")] = 256,
    val_size: Annotated[
        Optional[float],
        typer.Option("--val-size", help="Val hold-out as at training (default: as recorded in the artefact)."),
    ] = None,
    split_seed: Annotated[
        Optional[int], typer.Option("--split-seed", help="Seed of the val hold-out (default: as recorded).")
    ] = None,
    data_dir: opt.DataDir = None,
) -> None:
    """Score an artefact: top-1/top-5, per-class accuracy, confusion matrix, per-sample predictions → eval.json."""
    config = EvalConfig(
        artefact=artefact,
        out_dir=out_dir,
        data=DataOverrides(spec=data, data_dir=data_dir, val_size=val_size, split_seed=split_seed),
        split=split,
        teacher=teacher,
        backend=backend,
        device=device,
        threads=threads,
        batch_size=batch_size,
    )
    result = evaluate_stage.run(config, RichProgress())
    payload = result.payload
    metrics, teacher_block = payload["metrics"], payload["teacher"]
    agreement = f"  agreement with teacher {teacher_block['agreement']:.2f} %" if teacher_block else ""
    out.print(
        f"[bold green]eval[/] {payload['artefact']['name']} "
        f"({payload['backend']['backend']}/{payload['backend']['device']}, {payload['artefact']['precision']}) "
        f"on {payload['data']['spec']} {payload['data']['split']} ({metrics['count']} images): "
        f"top-1 {metrics['top1']:.2f} %  top-5 {metrics['top5']:.2f} %{agreement}  → {result.path}",
        highlight=False,
    )
