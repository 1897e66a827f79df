"""`edgekd distill`: train a student from teachers (any registered method) or alone (`none`); `--list-layers`."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from edgekd import distill as distill_stage
from edgekd.cli import options as opt
from edgekd.cli.console import make_progress, model_result, out, print_result
from edgekd.data import DataConfig
from edgekd.distill import METHODS, DistillConfig
from edgekd.distill.config import DEFAULT_TRAIN
from edgekd.engine import TrainConfig
from edgekd.engine.tracking import log_model, tracking
from edgekd.errors import ConfigError, ModelError
from edgekd.options import with_values


def _floats(text: Optional[str], flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"{flag} takes comma-separated numbers, e.g. 0.485,0.456,0.406; got '{text}'.") from exc


def list_layers_command(model: str, img_size: int, explicit_size: bool) -> None:
    """Print the feature layers of a timm architecture or a saved model (channels, stride)."""
    from edgekd.models import create_model, load_model, read_card, resolve_model_path
    from edgekd.models.features import list_layers, middle_stage

    in_chans = 3
    if Path(model).exists():
        card = read_card(resolve_model_path(model, ("student", "teacher")))
        if card is None:
            raise ModelError(f"{model} has no model card; give its timm architecture name to --list-layers instead.")
        network, card = load_model(model)
        in_chans = card.input.in_chans
        img_size = img_size if explicit_size else card.input.size
        name = card.arch
    else:
        network, name = create_model(model, 10), model
    layers = list_layers(network, img_size, in_chans)
    try:
        auto = middle_stage(network)["module"]
    except ModelError:
        auto = None
    table = Table(
        title=f"{name}: layers with (B, C, H, W) outputs at {img_size} px",
        caption="stride: input px per output px; timm stage: feature_info index (auto: the default --guided-layer)",
    )
    table.add_column("layer", no_wrap=True)  # the path is what users copy: never cut it
    table.add_column("type", overflow="ellipsis", max_width=18)
    for column in ("channels", "stride", "output"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("timm stage")
    for layer in layers:
        stage = "" if layer.stage is None else f"#{layer.stage}" + (" auto" if layer.name == auto else "")
        table.add_row(
            layer.name, layer.kind, str(layer.channels), f"{layer.stride:g}", f"{layer.height}×{layer.width}", stage
        )
    out.print(table)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was set on the command line (or its environment variable)."""
    source = ctx.get_parameter_source(name)
    # Compared by name: Typer ships its own copy of click, whose enum is not click's.
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _relaunch_under_torchrun(ctx: typer.Context, nproc: int) -> int:
    """Run this same command in `nproc` DDP processes through torchrun; returns its exit code."""
    args = []
    for param in ctx.command.params:
        if param.name == "nproc" or not _given(ctx, param.name):
            continue
        value = ctx.params[param.name]
        if getattr(param, "is_flag", False) and param.secondary_opts:
            args.append(param.opts[0] if value else param.secondary_opts[0])
        elif getattr(param, "is_flag", False):  # --json, --quiet, --resume: no value to pass
            args += [param.opts[0]] if value else []
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [param.opts[0], str(item)]
        elif value is not None:
            args += [param.opts[0], str(value)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "edgekd",
        "distill",
        *args,
    ]
    return subprocess.call(command, env=os.environ.copy())


def _method_help() -> str:
    """`--method`'s help: each registered method with the first line of its module's docstring."""
    lines = []
    for name, cls in METHODS.items():
        summary = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0].split(":", 1)[-1].strip()
        lines.append(f"{name} = {summary.rstrip('.')}")
    return "; ".join(lines) + "."


@opt.with_method_options
@opt.with_config_options(data=DataConfig(), options=DistillConfig, train=DEFAULT_TRAIN)
def distill_command(
    ctx: typer.Context,
    teacher: Annotated[
        Optional[list[str]],
        typer.Option(
            "--teacher", help="Teacher run directory or weights file; repeat for several teachers (an ensemble)."
        ),
    ] = None,
    student: Annotated[
        Optional[str], typer.Option("--student", help="Student timm architecture, e.g. mobilenetv3_small_050.")
    ] = None,
    method: Annotated[str, typer.Option("--method", help=_method_help())] = "kd",
    teacher_mean: Annotated[
        Optional[str],
        typer.Option(
            "--teacher-mean",
            help="Bare teacher's normalisation mean, e.g. 0.485,0.456,0.406 (default: timm's pretrained config).",
        ),
    ] = None,
    teacher_std: Annotated[
        Optional[str],
        typer.Option("--teacher-std", help="Bare teacher's normalisation std (default: timm's pretrained config)."),
    ] = None,
    teacher_cache: Annotated[
        Optional[Path],
        typer.Option(
            "--teacher-cache",
            help="Directory of the teacher-logit cache: filled by the first run, read by the next ones.",
        ),
    ] = None,
    list_layers: Annotated[
        Optional[str],
        typer.Option(
            "--list-layers",
            help="Print the feature layers (channels, stride) of a timm architecture or saved model, then exit.",
        ),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Run N DDP processes on this machine (shortcut for torchrun --nproc-per-node N -m edgekd distill …).",
        ),
    ] = 1,
    out_dir: opt.OutDir = Path("runs/student"),
    *,
    data: DataConfig,
    options: dict[str, Any],
    train: TrainConfig,
    resume: opt.Resume = False,
    drop_classes: Annotated[
        Optional[str],
        typer.Option(
            "--drop-classes",
            help=(
                "Comma-separated class names whose labelled images the student never sees (val and test keep them), "
                "e.g. Sandal."
            ),
        ),
    ] = None,
    quantize: Annotated[
        Optional[str],
        typer.Option(
            "--quantize",
            help=(
                "Quantization-aware distillation (NVIDIA ModelOpt): int8 (per-channel weights) or int8-per-tensor; "
                "needs --from. Default lr then 1/10, epochs 2."
            ),
        ),
    ] = None,
    from_run: Annotated[
        Optional[Path],
        typer.Option(
            "--from",
            help="--quantize: the trained FP32 model to start from: a student or teacher run directory, or its "
            ".safetensors.",
        ),
    ] = None,
    calib: Annotated[
        Optional[Path],
        typer.Option(
            "--calib",
            help="--quantize: calibration spec YAML (default: calibration/digits-val.yaml or fmnist-val-512.yaml).",
        ),
    ] = None,
    track: opt.Track = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
    **method_options: Any,
) -> None:
    """Distil a student from teachers: writes DIR/student.safetensors (plain timm weights) + DIR/student.json.

    KD loss = (1−α)·CE(student, labels) + α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)), KL with
    batchmean reduction, T² at every T (also α=1).

    FitNet: --hint-epochs of hint regression (MSE through an adaptation layer that is not saved), then KD (+ β·hint).

    Several processes: --nproc N, or torchrun --nproc-per-node N -m edgekd distill …
    """
    if list_layers is not None:
        list_layers_command(list_layers, options["img_size"], _given(ctx, "img_size"))
        return
    if (
        quantize is not None and from_run is not None
    ):  # QAD: the --from student's model and data, a short gentle schedule
        from edgekd.distill.qad import QAD_SCHEDULE, from_model_card

        start = from_model_card(from_run)
        student = student or start.arch
        if not _given(ctx, "img_size"):
            options["img_size"] = start.input.size
        if not _given(ctx, "spec"):
            data = replace(data, spec=(start.dataset or {}).get("spec", data.spec))
        given = {key: value for key, value in QAD_SCHEDULE.items() if not _given(ctx, key)}
        train = with_values(train, given)
    if student is None and quantize is None:  # with --quantize, a missing --from is the error to report
        raise ConfigError("--student is required (a timm architecture, e.g. --student mobilenetv3_small_050).")
    config = DistillConfig(
        student=student or "",
        out_dir=out_dir,
        teacher=tuple(teacher or ()),
        method=method,
        data=data,
        train=train,
        method_options={name: value for name, value in method_options.items() if value is not None},
        **options,
        teacher_mean=_floats(teacher_mean, "--teacher-mean"),
        teacher_std=_floats(teacher_std, "--teacher-std"),
        teacher_cache=teacher_cache,
        resume=resume,
        drop_classes=tuple(n.strip() for n in drop_classes.split(",") if n.strip()) if drop_classes else (),
        quantize=quantize,
        from_run=from_run,
        calib=calib,
    )
    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {nproc}.")
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        config.validate()  # fail here, in one line, rather than in every process
        code = _relaunch_under_torchrun(ctx, nproc)
        if code:
            raise typer.Exit(code)
        return
    with tracking(
        opt.track_targets(track),
        f"{config.method} {student}",
        config.describe(),
        make_progress(as_json=as_json, quiet=quiet),
    ) as (run, progress):
        result = distill_stage.run(config, progress)
        log_model(run, result.card, result.weights_path)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    print_result(_result_line(config.method, result), model_result(result.weights_path, result.card), as_json=as_json)
    if not as_json:
        _print_extras(result.card.metrics, result.card.training)


def _result_line(method: str, result) -> str:
    """The student's figures in one line; a split or teacher the run did not have is left out."""
    metrics, training = result.card.metrics, result.card.training
    test, teacher_top1 = metrics.get("test"), (metrics.get("teacher") or {}).get("top1")
    line = f"[bold green]student saved[/] {result.weights_path}  {method}"
    if test:
        line += f"  test top-1 {test['top1']:.2f} %"
        if teacher_top1 is not None and test.get("agreement") is not None:
            line += f"  (teacher {teacher_top1:.2f} %, agreement {test['agreement']:.2f} %)"
    return (
        line + f"  train {training['train_img_per_s']:.0f} img/s (whole epochs)  wall {training['wall_time_s']:.0f} s"
    )


def _pct(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _print_extras(metrics: dict, training: dict) -> None:
    """Ensemble members vs ensemble vs student; per-class accuracy when some class was never seen."""
    ensemble = metrics.get("ensemble")
    if ensemble:
        table = Table(title=f"ensemble ({ensemble['rule']}) vs its members vs the student: test top-1 %")
        table.add_column("model")
        table.add_column("val top-1", justify="right")
        table.add_column("test top-1", justify="right")
        table.add_column("test: only ensemble right / only member right (McNemar p)", justify="right")
        for member in ensemble["members"]:
            paired = member.get("test_vs_ensemble")
            versus = (
                f"{paired['only_ensemble_right']} / {paired['only_member_right']} (p {paired['mcnemar_p']:.2g})"
                if paired
                else ""
            )
            table.add_row(
                f"teacher {member['arch']} ({Path(member['path']).parent.name or member['path']})",
                _pct(member["val_top1"]),
                _pct(member["top1"]),
                versus,
            )
        table.add_row("ensemble", _pct(ensemble["val_top1"]), _pct(ensemble["top1"]), "")
        table.add_row("student", _pct(ensemble["student_val_top1"]), _pct(ensemble["student_top1"]), "")
        out.print(table)
    if training.get("never_seen_classes"):
        adjusted = "bias_adjust" in metrics
        table = Table(title="student per-class accuracy % (✗ = never seen in training)")
        for column in ("class", "seen", "train images", "val", "test") + (
            ("test before bias adjust",) if adjusted else ()
        ):
            table.add_column(column, justify="left" if column == "class" else "right")
        for row in metrics["per_class"]:
            table.add_row(
                row["class"],
                "" if row["seen"] else "✗",
                str(row["train_labelled"]),
                _pct(row["val"]),
                _pct(row["test"]),
                *((_pct(row["test_before_bias_adjust"]),) if adjusted else ()),
            )
        out.print(table)
        if adjusted:
            shifts = ", ".join(f"{n} +{v:.3f}" for n, v in metrics["bias_adjust"]["shifts"].items())
            out.print(
                f"bias adjust ({metrics['bias_adjust']['rule']}): {shifts}; test top-1 "
                f"{_pct(metrics['before_bias_adjust']['test'].get('top1'))} → {_pct(metrics['test']['top1'])} %"
            )
