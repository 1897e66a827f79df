"""Options shared by several commands, declared once so that they read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from edgekd.data import AugmentRecipe, DataConfig
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.engine.tracking import TrackTarget

if TYPE_CHECKING:
    from edgekd.distill.methods.options import MethodOption

DataSpec = Annotated[
    str,
    typer.Option("--data", help="Dataset spec: fashion-mnist, digits, imagefolder:PATH, cifar10:PATH, cifar100:PATH."),
]
DataDir = Annotated[
    Optional[str],
    typer.Option("--data-dir", help="Extra folder holding Fashion-MNIST's IDX files (also $EDGEKD_DATA_DIR)."),
]
ValSize = Annotated[
    float,
    typer.Option(
        "--val-size",
        help="Share (<1) or count (>=1) of train held out as val when the set has none; 0 trains on all of it.",
    ),
]
LimitTrain = Annotated[
    Optional[int], typer.Option("--limit-train", help="Train on a seeded stratified subset of N samples.")
]
SplitSeed = Annotated[int, typer.Option("--split-seed", help="Seed of the val hold-out and of --limit-train's subset.")]
Workers = Annotated[int, typer.Option("--workers", help="Image decoding processes (ImageFolder sets).")]
OutDir = Annotated[Path, typer.Option("--out", help="Output directory.")]

Epochs = Annotated[int, typer.Option("--epochs", help="Training epochs.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Samples per step (per process under DDP).")]
Optimizer = Annotated[str, typer.Option("--opt", help="sgd or adamw.")]
LearningRate = Annotated[float, typer.Option("--lr", help="Peak learning rate (cosine schedule).")]
Momentum = Annotated[float, typer.Option("--momentum", help="SGD momentum.")]
Nesterov = Annotated[bool, typer.Option("--nesterov/--no-nesterov", help="Nesterov momentum for SGD.")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", help="Weight decay.")]
WarmupEpochs = Annotated[
    float, typer.Option("--warmup-epochs", help="Linear warm-up length in epochs (fractions allowed).")
]
EmaDecay = Annotated[
    Optional[float],
    typer.Option("--ema-decay", help="Keep an EMA of the weights (e.g. 0.999) and use it as the result."),
]
GradClip = Annotated[Optional[float], typer.Option("--grad-clip", help="Clip the gradient norm to this value.")]
Amp = Annotated[
    str, typer.Option("--amp", help="Mixed precision: auto (bf16/fp16 on CUDA, off on CPU), off, bf16, fp16.")
]
ChannelsLast = Annotated[
    str,
    typer.Option("--channels-last", help="channels_last memory format: auto (on: faster on CPU and CUDA), on, off."),
]
Compile = Annotated[bool, typer.Option("--compile/--no-compile", help="torch.compile the trained model.")]
Keep = Annotated[str, typer.Option("--keep", help="Result weights: 'last' epoch or 'best' val top-1.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of initialisation, shuffling and augmentation.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
CropPadding = Annotated[
    int, typer.Option("--crop-padding", help="Random-crop padding in px at the input size (0 disables).")
]
Flip = Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flips.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from DIR/checkpoint.pt.")]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="For machines: one JSON object per epoch on stdout, then one with the result; messages go to stderr.",
    ),
]
Track = Annotated[
    Optional[list[str]],
    typer.Option(
        "--track",
        help=(
            "Log params, epoch metrics, card and weights: mlflow[:URI] (default sqlite:///runs/mlflow.db) or "
            "tensorboard[:DIR] (default runs/tensorboard); repeatable."
        ),
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output: only the result (and errors).")]


def track_targets(track: Optional[list[str]]) -> list[TrackTarget]:
    return [TrackTarget.parse(text) for text in track or ()]


def data_config(
    spec: str, data_dir: Optional[str], val_size: float, limit_train: Optional[int], split_seed: int, workers: int
) -> DataConfig:
    return DataConfig(
        spec=spec, data_dir=data_dir, val_size=val_size, limit_train=limit_train, split_seed=split_seed, workers=workers
    )


def train_config(
    *,
    epochs,
    batch_size,
    opt,
    lr,
    momentum,
    nesterov,
    weight_decay,
    warmup_epochs,
    ema_decay,
    grad_clip,
    amp,
    channels_last,
    compile,
    keep,
    seed,
    crop_padding,
    flip,
) -> TrainConfig:
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optim=OptimConfig(
            name=opt,
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
        ),
        augment=AugmentRecipe(crop_padding=crop_padding, horizontal_flip=flip),
        ema_decay=ema_decay,
        grad_clip=grad_clip,
        amp=amp,
        channels_last=channels_last,
        compile=compile,
        keep=keep,
        seed=seed,
    )


def _default_text(value) -> str:
    if value is None:
        return "automatic"
    return f"{value:g}" if isinstance(value, float) else str(value)


def method_option_help(declarations) -> str:
    """One help text for a flag several methods declare: each method's meaning and default."""
    groups: dict[int, tuple[MethodOption, list[str]]] = {}
    for method, option in declarations:  # methods inheriting a declaration share one entry
        groups.setdefault(id(option), (option, []))[1].append(method)
    if len(groups) == 1:
        [(option, methods)] = groups.values()
        return f"{', '.join(methods)}: {option.help} Default {_default_text(option.default)}."
    return "  ".join(
        f"{', '.join(methods)}: {option.help} Default {_default_text(option.default)}."
        for option, methods in groups.values()
    )


def with_method_options(command):
    """Give `command` one flag per option the registered methods declare, after `--method`.

    `command` takes `**method_options`; it receives every such flag by name (None: not
    given, so the method's own default applies). Flags, help and types come from the methods'
    declarations (`edgekd.distill.methods.options`): a new method's options appear here
    without touching the CLI.
    """
    import inspect

    from edgekd.distill.methods.base import all_options

    signature = inspect.signature(command, eval_str=True)  # Typer reads a set __signature__ as is
    plain = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    added = []
    for name, declarations in all_options().items():
        option = declarations[0][1]
        flags = (option.flag, option.short) if option.short else (option.flag,)
        annotation = Annotated[Optional[option.type], typer.Option(*flags, help=method_option_help(declarations))]
        added.append(
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation)
        )
    at = next((i + 1 for i, p in enumerate(plain) if p.name == "method"), len(plain))
    command.__signature__ = signature.replace(parameters=[*plain[:at], *added, *plain[at:]])
    return command
