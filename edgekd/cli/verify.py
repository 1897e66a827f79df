"""`edgekd verify BUNDLE|ARTEFACT`: a thin layer over `edgekd.verify.verify`; exit 1 on disagreement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from edgekd.cli.console import RichProgress, out
from edgekd.verify import VerifyResult, verify


def print_verify_table(result: VerifyResult) -> None:
    """One row per artefact: agreement and max |Δlogit| against the reference, with the thresholds."""
    table = Table(
        title=f"edgekd verify against {result.reference}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    columns = ("result", "artefact", "on", "agree %", "≥", "max |Δ|", "≤", "top-1 %")
    cells = [
        (
            "pass" if row.passed else "FAIL",
            row.artefact,
            f"{row.backend} {row.precision}",
            f"{row.agreement:.2f}",
            f"{row.threshold.min_agreement:g}",
            f"{row.max_abs_diff:.2e}",
            f"{row.threshold.max_abs_diff:g}",
            f"{row.top1:.2f}",
        )
        for row in result.rows
    ]
    for index, column in enumerate(columns):
        table.add_column(
            column,
            no_wrap=True,
            min_width=max([len(column)] + [len(c[index]) for c in cells]),
            justify="left" if index < 3 else "right",
        )
    for row_cells in cells:
        table.add_row(*row_cells, style=None if row_cells[0] == "pass" else "bold red")
    out.print(table)


def verify_command(
    target: Annotated[
        Path,
        typer.Argument(help="A device bundle (export --bundle DIR) or one artefact (.onnx, .engine, .safetensors)."),
    ],
    backend: Annotated[
        str,
        typer.Option(
            "--backend", help="ort (ONNX files), trt (TensorRT engines, on the device) or torch (a checkpoint)."
        ),
    ] = "ort",
    reference: Annotated[
        Optional[Path],
        typer.Option(
            "--reference",
            help="Reference inputs + logits (default: reference.npz in the bundle / beside the artefact).",
        ),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="cpu, cuda or cuda:N (TensorRT always runs on CUDA).")
    ] = "cpu",
    threads: Annotated[
        Optional[int], typer.Option("--threads", help="ONNX Runtime intra-op threads (default: its own).")
    ] = None,
) -> None:
    """Run artefacts on the reference images; check top-1 agreement and max |Δlogit| against PyTorch (exit 1 if
    any fails)."""
    result = verify(target, backend, reference, device, threads, RichProgress())
    print_verify_table(result)
    result.enforce()
    out.print(f"[bold green]verify passed[/]: {len(result.rows)} artefact(s) agree with the PyTorch reference")
