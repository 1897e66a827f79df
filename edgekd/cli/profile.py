"""`edgekd profile ARTEFACT`: trtexec-like latency and throughput per batch size on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgekd import profile as profile_stage
from edgekd.cli.console import RichProgress, out
from edgekd.errors import ConfigError
from edgekd.profile import ProfileConfig, TimingConfig


def parse_batches(text: str) -> tuple[int, ...]:
    """'1,8,32' → (1, 8, 32)."""
    try:
        batches = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"--batch takes comma-separated sizes such as 1,8,32; got '{text}'.") from exc
    return batches


def profile_command(
    artefact: Annotated[
        Path,
        typer.Argument(
            help="A .safetensors model (with its .json card), an .onnx, a TensorRT .engine/.plan, or a run directory."
        ),
    ],
    backend: Annotated[
        Optional[str], typer.Option("--backend", help="torch, ort or trt (default: the artefact's own).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated.")] = "1,8,32",
    threads: Annotated[
        Optional[int],
        typer.Option(
            "--threads", help="CPU intra-op threads for PyTorch and ONNX Runtime alike (default: PyTorch's setting)."
        ),
    ] = None,
    warmup_ms: Annotated[float, typer.Option("--warmup-ms", help="Warm-up per batch size (ms).")] = 200.0,
    duration: Annotated[float, typer.Option("--duration", help="Timed run per batch size (s).")] = 3.0,
    min_iterations: Annotated[
        int, typer.Option("--min-iterations", help="Minimum timed calls per batch size (>= 10).")
    ] = 10,
    settle: Annotated[
        Optional[float],
        typer.Option(
            "--settle",
            help="Stop a batch size before --duration once its median and p99 moved by at most this fraction "
            "since half as many calls (from 1,000 calls on; e.g. 0.05). Default: the full duration.",
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            help="Output directory for profile.json (default: <artefact dir>/profile/<name>-<backend>-<device>).",
        ),
    ] = None,
) -> None:
    """Time an artefact per batch size (mean/p50/p90/p95/p99 ms, img/s) with the machine's facts → profile.json."""
    config = ProfileConfig(
        artefact=artefact,
        out_dir=out_dir,
        backend=backend,
        device=device,
        batches=parse_batches(batch),
        threads=threads,
        timing=TimingConfig(warmup_ms=warmup_ms, duration_s=duration, min_iterations=min_iterations, settle=settle),
    )
    result = profile_stage.run(config, RichProgress())
    payload = result.payload
    info = payload["backend"]
    table = Table(
        title=(
            f"{payload['artefact']['name']} on {info['backend']}/{info['device']} "
            f"({payload['artefact']['precision']}, {info['threads'] or '-'} threads), machine {payload['machine']}"
        )
    )
    for column in (
        "batch",
        "iterations",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "min ms",
        "max ms",
        "img/s",
    ):
        table.add_column(column, justify="right")
    for entry in payload["batches"]:
        table.add_row(
            str(entry["batch"]),
            str(entry["iterations"]),
            *(f"{entry[k]:.3f}" for k in ("mean_ms", "median_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms", "max_ms")),
            f"{entry['throughput_img_s']:,.0f}",
        )
    out.print(table)
    out.print(f"latency: {payload['latency_definition']}.", highlight=False)
    out.print(f"[bold green]profile[/] → {result.path}", highlight=False)
