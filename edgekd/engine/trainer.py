"""The training loop shared by teacher training and distillation.

It knows nothing of the method: it feeds augmented batches to a `TrainingTask`, steps the
optimizer on the returned `loss`, evaluates on val each epoch, writes `metrics.jsonl`, saves a
resumable checkpoint every epoch and stops cleanly on a non-finite loss.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from edgekd.artifacts import atomic_write_text
from edgekd.data import AugmentRecipe, BatchLoader, Dataset, ViewSampler, apply_views, to_unit_float
from edgekd.engine.device import (
    DistributedContext,
    Precision,
    all_reduce_sum,
    process_group_backend,
    resolve_precision,
    use_channels_last,
)
from edgekd.engine.metrics import Predictions, predict
from edgekd.engine.optim import OptimConfig, build_optimizer, build_scheduler
from edgekd.engine.progress import Progress, SilentProgress
from edgekd.engine.state import CHECKPOINT_NAME, load_training_state, restore_rng_state, rng_state, save_training_state
from edgekd.engine.task import TrainingTask
from edgekd.errors import ConfigError, TrainingError
from edgekd.options import check_options, nested, option


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; each option's help says what it does (`edgekd.options`).

    Attributes:
        optim: optimizer and schedule.
        augment: training augmentation (evaluation never augments).
        eval_batch_size: samples per evaluation batch.
    """

    epochs: int = option(10, "Training epochs.", ge=1)
    batch_size: int = option(128, "Samples per step (per process under DDP; >= 2 for BatchNorm).", ge=2)
    optim: OptimConfig = nested(OptimConfig)
    augment: AugmentRecipe = nested(AugmentRecipe)
    ema_decay: float | None = option(
        None, "Keep an EMA of the weights (e.g. 0.999; timm ModelEmaV3) and use it as the result.", gt=0, lt=1
    )
    grad_clip: float | None = option(None, "Clip the gradient norm to this value.", gt=0)
    amp: str = option(
        "auto",
        "Mixed precision: auto (bf16/fp16 on CUDA, off on CPU), off, bf16, fp16.",
        choices=("auto", "off", "bf16", "fp16"),
    )
    channels_last: str = option(
        "auto",
        "channels_last memory format: auto (on: faster on CPU and CUDA), on, off.",
        choices=("auto", "on", "off"),
    )
    compile: bool = option(False, "torch.compile the trained model.")
    keep: str = option("last", "Result weights: 'last' epoch or 'best' val top-1.", choices=("last", "best"))
    seed: int = option(0, "Seed of initialisation, shuffling and augmentation.")
    eval_batch_size: int = 512

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raises ConfigError naming the flag of a value out of its declared range."""
        check_options(self)


@dataclass
class FitResult:
    """What training produced. `history` holds one dict per epoch (as in metrics.jsonl)."""

    history: list[dict[str, Any]]
    best_epoch: int
    kept_epoch: int
    wall_time_s: float
    train_img_per_s: float
    precision: str
    val: Predictions | None = None
    test: Predictions | None = None

    def run_facts(self, epochs: int, device: torch.device, world_size: int, stage_wall_time_s: float) -> dict[str, Any]:
        """The run facts every trained model's card records (epochs, kept epoch, img/s, times, device)."""
        return {
            "epochs": epochs,
            "kept_epoch": self.kept_epoch + 1,
            "best_val_epoch": self.best_epoch + 1 if self.best_epoch >= 0 else None,
            "train_img_per_s": self.train_img_per_s,
            "wall_time_s": stage_wall_time_s,
            "train_time_s": self.wall_time_s,
            "device": str(device),
            "precision": self.precision,
            "world_size": world_size,
            "process_group": process_group_backend(),
        }


class Trainer:
    """Runs a `TrainingTask` on a `Dataset` with a `TrainConfig`.

    Args:
        run_dir: where `checkpoint.pt` and `metrics.jsonl` go (rank 0 only); None keeps
            nothing on disk (library and test use).
        config_key: identifies model + recipe + data; a checkpoint from another key is never resumed.
    """

    def __init__(
        self,
        config: TrainConfig,
        device: torch.device,
        *,
        run_dir: Path | None = None,
        progress: Progress | None = None,
        context: DistributedContext | None = None,
        config_key: str = "",
    ):
        config.validate()
        self.config = config
        self.device = device
        self.run_dir = run_dir
        self.context = context or DistributedContext()
        self.progress = progress if (progress is not None and self.context.is_main) else SilentProgress()
        self.config_key = hashlib.sha256(config_key.encode()).hexdigest()[:16]
        self.precision: Precision = resolve_precision(config.amp, device)

    # -- setup -------------------------------------------------------------------------
    def _prepare(self, task: TrainingTask) -> None:
        task.to(self.device)
        if use_channels_last(self.config.channels_last):
            task.student.to(memory_format=torch.channels_last)
        if self.context.enabled:
            task.prepare_distributed(self.device)
        if self.config.compile:
            task.compile()

    # -- the loop ----------------------------------------------------------------------
    def fit(self, task: TrainingTask, dataset: Dataset, *, resume: bool = False) -> FitResult:
        """Train `task.student` on `dataset.train`, validating on `dataset.val` every epoch."""
        cfg = self.config
        self._prepare(task)
        loader = BatchLoader(
            dataset.train,
            cfg.batch_size,
            shuffle=True,
            seed=cfg.seed,
            rank=self.context.rank,
            world_size=self.context.world_size,
        )
        views = ViewSampler(cfg.augment, len(dataset.train), cfg.seed)
        steps_per_epoch = len(loader)
        params = [p for module in task.trainable_modules().values() for p in module.parameters() if p.requires_grad]
        optimizer = build_optimizer(params, cfg.optim)
        scheduler = build_scheduler(
            optimizer, cfg.optim, cfg.epochs * steps_per_epoch, steps_per_epoch, task.schedule_restarts()
        )
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision.needs_scaler)
        ema = self._make_ema(task)
        history: list[dict[str, Any]] = []
        best_top1, best_epoch, best_state = -math.inf, -1, None
        start_epoch = 0
        checkpoint_path = self.run_dir / CHECKPOINT_NAME if self.run_dir else None

        if resume:
            if checkpoint_path is None:
                raise ConfigError("--resume needs an output directory.")
            state = load_training_state(checkpoint_path, self.config_key)
            for name, module in task.trainable_modules().items():
                module.load_state_dict(state["modules"][name])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            scaler.load_state_dict(state["scaler"])
            if ema is not None and state.get("ema") is not None:
                ema.load_state_dict(state["ema"])
            restore_rng_state(state["rng"])
            history, start_epoch = list(state["history"]), int(state["epoch"])
            best_top1, best_epoch, best_state = state["best_top1"], state["best_epoch"], state.get("best_state")
            self.progress.log(f"resumed from {checkpoint_path} after epoch {start_epoch}")

        started = time.perf_counter()
        val = None
        for epoch in range(start_epoch, cfg.epochs):
            task.train()
            task.start_epoch(epoch)
            record = self._train_epoch(task, loader, views, epoch, optimizer, scheduler, scaler, ema)
            task.end_epoch(epoch)
            eval_model = ema.module if ema is not None else task.student
            val = None
            if len(dataset.val):
                val = self._predict(eval_model, task, dataset, "val")
                record.update(val_top1=val.top1(), val_top5=val.top5())
                if val.top1() > best_top1:
                    best_top1, best_epoch = val.top1(), epoch
                    if cfg.keep == "best":
                        best_state = copy.deepcopy(eval_model.state_dict())
            record.update(task.epoch_metrics(val))
            history.append(record)
            self.progress.finish(record)
            if self.context.is_main and self.run_dir is not None:
                assert checkpoint_path is not None  # set whenever there is a run directory
                self._write_metrics(history)
                save_training_state(
                    checkpoint_path,
                    {
                        "config_key": self.config_key,
                        "epoch": epoch + 1,
                        "modules": {n: m.state_dict() for n, m in task.trainable_modules().items()},
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict(),
                        "ema": ema.state_dict() if ema is not None else None,
                        "rng": rng_state(),
                        "history": history,
                        "best_top1": best_top1,
                        "best_epoch": best_epoch,
                        "best_state": best_state,
                    },
                )
        wall_time = time.perf_counter() - started

        final_model = ema.module if ema is not None else task.student
        kept_epoch = cfg.epochs - 1
        if cfg.keep == "best" and best_state is not None:
            final_model.load_state_dict(best_state)
            kept_epoch = best_epoch
        if final_model is not task.student:
            task.student.load_state_dict(final_model.state_dict())
        rates = [r["img_per_s"] for r in history[start_epoch:]] or [r["img_per_s"] for r in history]
        # The last epoch's val predictions are those of the kept weights when the kept epoch is
        # the last one (`keep: last`, the default): predicting val again would only cost.
        reuse_val = val is not None and kept_epoch == cfg.epochs - 1
        return FitResult(
            history=history,
            best_epoch=best_epoch,
            kept_epoch=kept_epoch,
            wall_time_s=wall_time,
            train_img_per_s=sum(rates) / len(rates),
            precision=self.precision.describe(),
            val=val if reuse_val else (self._predict(task.student, task, dataset, "val") if len(dataset.val) else None),
            test=self._predict(task.student, task, dataset, "test") if len(dataset.test) else None,
        )

    def _train_epoch(self, task, loader, views, epoch, optimizer, scheduler, scaler, ema) -> dict[str, Any]:
        cfg = self.config
        size = (task.student_input.spec.size, task.student_input.spec.size)
        check_every = 1 if self.device.type == "cpu" else 25  # a finiteness check syncs the GPU
        sums: dict[str, torch.Tensor] = {}
        correct = torch.zeros((), device=self.device)
        seen = scored = 0  # scored: samples of steps that returned logits
        self.progress.start(f"epoch {epoch + 1}/{cfg.epochs}", len(loader))
        started = time.perf_counter()
        for step, batch in enumerate(loader.epoch(epoch)):
            batch.images = batch.images.to(self.device, non_blocking=True)
            batch.labels = batch.labels.to(self.device, non_blocking=True)
            pixels = apply_views(to_unit_float(batch.images, size), views.params(epoch, batch.indices), cfg.augment)
            with self.precision.autocast():
                out = task(pixels, batch)
            loss = out["loss"]
            if step % check_every == 0 and not torch.isfinite(loss).item():
                raise TrainingError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                    "the last good checkpoint is kept. Lower --lr, set --grad-clip or --amp off."
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if ema is not None:
                ema.update(task.student)
            batch_size = len(batch)
            seen += batch_size
            for name, value in out.items():
                if name != "output" and value.dim() == 0:
                    sums[name] = (
                        sums.get(name, torch.zeros((), device=self.device)) + value.detach().float() * batch_size
                    )
            if "output" in out:
                correct += out["output"].argmax(dim=1).eq(batch.labels).sum()
                scored += batch_size
            if step % 10 == 9:
                elapsed = time.perf_counter() - started
                self.progress.advance(
                    10, loss=sums["loss"].item() / seen, img_s=seen * self.context.world_size / elapsed
                )
        elapsed = time.perf_counter() - started
        counts = torch.tensor([float(scored), float(seen)], device=self.device)
        totals = torch.cat([torch.stack([*sums.values(), correct.float()]), counts])
        totals = all_reduce_sum(totals, self.context)
        count, scored_count = totals[-1].item(), totals[-2].item()
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        record.update({f"train_{name}": (value / count).item() for name, value in zip(sums, totals)})
        if scored_count:
            record["train_top1"] = 100.0 * totals[-3].item() / scored_count
        record["img_per_s"] = count / elapsed
        record["epoch_time_s"] = elapsed
        if not math.isfinite(record["train_loss"]):
            raise TrainingError(
                f"the loss became non-finite in epoch {epoch + 1}; the last good checkpoint is kept. Lower --lr "
                "or set --grad-clip."
            )
        return record

    def _predict(self, model, task: TrainingTask, dataset: Dataset, split: str) -> Predictions:
        loader = BatchLoader(dataset.split(split), self.config.eval_batch_size, shuffle=False)
        return predict(model, task.student_input, loader, self.device, self.precision)

    def _make_ema(self, task: TrainingTask):
        if self.config.ema_decay is None:
            return None
        from timm.utils import ModelEmaV3

        return ModelEmaV3(task.student, decay=self.config.ema_decay)

    def _write_metrics(self, history: list[dict[str, Any]]) -> None:
        assert self.run_dir is not None  # written only with a run directory
        atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
