"""Optimizers and the per-step cosine learning-rate schedule with linear warm-up."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from edgekd.errors import ConfigError
from edgekd.options import check_options, option


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer recipe. `lr` is the peak learning rate reached after `warmup_epochs`."""

    name: str = option("sgd", "sgd or adamw.", key="opt", choices=("sgd", "adamw"))
    lr: float = option(0.1, "Peak learning rate (cosine schedule).", gt=0)
    momentum: float = option(0.9, "SGD momentum.", ge=0)
    nesterov: bool = option(True, "Nesterov momentum for SGD.")
    weight_decay: float = option(5e-4, "Weight decay.", ge=0)
    warmup_epochs: float = option(
        0.0, "Linear warm-up length in epochs (fractions allowed; at most half the run).", ge=0
    )
    min_lr_ratio: float = 0.0

    def describe(self) -> dict:
        return asdict(self)


def build_optimizer(params, config: OptimConfig) -> torch.optim.Optimizer:
    """SGD (momentum, optionally Nesterov) or AdamW over `params`."""
    check_options(config)
    if config.name == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ConfigError(f"unknown optimizer '{config.name}': use sgd or adamw.")


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    config: OptimConfig,
    total_steps: int,
    steps_per_epoch: int,
    restarts: tuple[int, ...] = (),
) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay per step from the peak lr to `min_lr_ratio`·lr, after a linear warm-up.

    `restarts`: epochs at which the schedule starts over, each segment with its own warm-up
    and a cosine spanning only that segment (a stage that starts at the decayed tail of one
    long cosine would otherwise train at a fraction of the peak lr).
    """
    # At most half the run: a default warm-up of one epoch must not turn a 1-epoch run into a ramp
    # that ends at the peak lr with no decay at all.
    warmup = min(int(round(config.warmup_epochs * steps_per_epoch)), total_steps // 2)
    starts = [0] + sorted({e * steps_per_epoch for e in restarts if 0 < e * steps_per_epoch < total_steps})

    def factor(step: int) -> float:
        begin = max(s for s in starts if s <= step)
        end = min([s for s in starts if s > step] + [total_steps])
        step, length = step - begin, end - begin
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, length - warmup)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
