"""`edgekd bench`: the FMNIST-32 benchmark (accuracy, training speed, deployment speed)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markdown import Markdown

from edgekd.cli import options as opt
from edgekd.cli.console import RichProgress, err, out
from edgekd.errors import CheckFailed


def bench_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", help="Work and result folder; finished runs found there with the same settings are reused."
        ),
    ] = Path("runs/bench"),
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Smoke mode: 4,000 train images, 1 teacher + 2 student epochs, short timings (a few minutes).",
        ),
    ] = False,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Seeds of each student recipe (≥ 3 for the 'beats the student alone' rule).")
    ] = 1,
    teacher: Annotated[
        Optional[Path],
        typer.Option("--teacher", help="A trained FMNIST-32 resnet18 run folder to use instead of training one."),
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep/--no-sweep", help="Also run the val sweep behind the KD defaults (18 runs).")
    ] = False,
    speed: Annotated[
        bool, typer.Option("--speed/--no-speed", help="Measure training speed (step rates and whole epochs).")
    ] = True,
    deploy: Annotated[
        bool, typer.Option("--deploy/--no-deploy", help="Export and time eager vs ONNX Runtime FP32 vs INT8.")
    ] = True,
    threads: Annotated[
        int, typer.Option("--threads", help="CPU threads for training and inference (the protocol uses 2).")
    ] = 2,
    limit_train: Annotated[
        Optional[int],
        typer.Option("--limit-train", help="Train images (default: all; --quick: 4000). Not the protocol."),
    ] = None,
    teacher_epochs: Annotated[
        Optional[int],
        typer.Option(
            "--teacher-epochs", help="Teacher epochs (default: the protocol's; --quick: 1). Not the protocol."
        ),
    ] = None,
    student_epochs: Annotated[
        Optional[int],
        typer.Option(
            "--student-epochs", help="Student epochs (default: the protocol's; --quick: 2). Not the protocol."
        ),
    ] = None,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="short: teacher and students 4 epochs (≥ 3 seeds); long: 20 epochs each, students from the "
            "teacher-logit cache (≥ 2 seeds).",
        ),
    ] = "short",
    recipes: Annotated[
        Optional[str],
        typer.Option(
            "--recipes",
            help="Comma-separated recipe names to run (the student alone always runs), e.g. kd,kd-cutmix.",
        ),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a target is missed.")] = False,
    track: opt.Track = None,
) -> None:
    """Run the FMNIST-32 benchmark and write OUT/bench.json + OUT/bench.md.

    Teacher resnet18 and student mobilenetv3_small_050 (batch 128, SGD 0.1 nesterov, cosine, students with 1
    warm-up epoch, 2 threads; 4 epochs each, or 20 with --protocol long); the student alone, KD, DIST, DKD, FitNet,
    consistent CutMix views and the textbook KD recipe; training-speed rates; eager vs ONNX Runtime FP32 vs INT8
    latency.
    """
    from edgekd.bench import BenchConfig, run_bench

    config = BenchConfig(
        out_dir,
        seeds=seeds,
        quick=quick,
        teacher=teacher,
        sweep=sweep,
        speed=speed,
        deploy=deploy,
        threads=threads,
        limit_train=limit_train,
        teacher_epochs=teacher_epochs,
        student_epochs=student_epochs,
        protocol=protocol,
        recipes=tuple(name.strip() for name in recipes.split(",") if name.strip()) if recipes else (),
    )
    command = (
        "edgekd " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "edgekd bench"
    )
    result = run_bench(config, RichProgress(), command=command, track=opt.track_targets(track))
    out.print(Markdown((out_dir / "bench.md").read_text()))
    err.print(f"bench done {out_dir / 'bench.json'} ({result['wall_time_s'] / 60:.1f} min)")
    missed = [t for t in result["targets"] if t["status"] == "MISS"]
    if strict and missed:
        raise CheckFailed(f"{len(missed)} benchmark target(s) missed: {missed[0]['line']}")
