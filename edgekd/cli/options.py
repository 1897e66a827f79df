"""Options shared by several commands, declared once so that they read the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgekd.data import AugmentRecipe, DataConfig
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.engine.tracking import TrackTarget

DataSpec = Annotated[str, typer.Option("--data", help="Dataset spec: fashion-mnist, digits, imagefolder:PATH, cifar10:PATH, cifar100:PATH.")]
DataDir = Annotated[Optional[str], typer.Option("--data-dir", help="Extra folder holding Fashion-MNIST's IDX files (also $EDGEKD_DATA_DIR).")]
ValSize = Annotated[float, typer.Option("--val-size", help="Share (<1) or count (>=1) of train held out as val when the set has none; 0 trains on all of it.")]
LimitTrain = Annotated[Optional[int], typer.Option("--limit-train", help="Train on a seeded stratified subset of N samples.")]
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
WarmupEpochs = Annotated[float, typer.Option("--warmup-epochs", help="Linear warm-up length in epochs (fractions allowed).")]
EmaDecay = Annotated[Optional[float], typer.Option("--ema-decay", help="Keep an EMA of the weights (e.g. 0.999) and use it as the result.")]
GradClip = Annotated[Optional[float], typer.Option("--grad-clip", help="Clip the gradient norm to this value.")]
Amp = Annotated[str, typer.Option("--amp", help="Mixed precision: auto (bf16/fp16 on CUDA, off on CPU), off, bf16, fp16.")]
ChannelsLast = Annotated[str, typer.Option("--channels-last", help="channels_last memory format: auto (on: faster on CPU and CUDA), on, off.")]
Compile = Annotated[bool, typer.Option("--compile/--no-compile", help="torch.compile the trained model.")]
Keep = Annotated[str, typer.Option("--keep", help="Result weights: 'last' epoch or 'best' val top-1.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of initialisation, shuffling and augmentation.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
CropPadding = Annotated[int, typer.Option("--crop-padding", help="Random-crop padding in px at the input size (0 disables).")]
Flip = Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flips.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from DIR/checkpoint.pt.")]
Json = Annotated[bool, typer.Option("--json", help="For machines: one JSON object per epoch on stdout, then one with the result; messages go to stderr.")]
Track = Annotated[Optional[list[str]], typer.Option("--track", help="Log params, epoch metrics, card and weights: mlflow[:URI] (default sqlite:///runs/mlflow.db) or tensorboard[:DIR] (default runs/tensorboard); repeatable.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output: only the result (and errors).")]


def track_targets(track: Optional[list[str]]) -> list[TrackTarget]:
    return [TrackTarget.parse(text) for text in track or ()]


def data_config(spec: str, data_dir: Optional[str], val_size: float, limit_train: Optional[int], split_seed: int, workers: int) -> DataConfig:
    return DataConfig(spec=spec, data_dir=data_dir, val_size=val_size, limit_train=limit_train, split_seed=split_seed, workers=workers)


def train_config(
    *, epochs, batch_size, opt, lr, momentum, nesterov, weight_decay, warmup_epochs, ema_decay, grad_clip, amp, channels_last, compile, keep, seed, crop_padding, flip
) -> TrainConfig:
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optim=OptimConfig(name=opt, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, warmup_epochs=warmup_epochs),
        augment=AugmentRecipe(crop_padding=crop_padding, horizontal_flip=flip),
        ema_decay=ema_decay,
        grad_clip=grad_clip,
        amp=amp,
        channels_last=channels_last,
        compile=compile,
        keep=keep,
        seed=seed,
    )
