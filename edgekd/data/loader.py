"""Iterating a split in batches of uint8 images, their labels and their sample indices.

The sample index travels with every batch: augmentation views and cached teacher outputs are
keyed by it. In-memory splits are sliced directly (no worker processes, no per-sample Python);
streaming splits go through a DataLoader with workers that decode the same index batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from edgekd.data.dataset import ImageSplit
from edgekd.data.imagefolder import worker_error_line
from edgekd.errors import DataError


@dataclass
class Batch:
    """uint8 images (B, C, H, W), int64 labels (B,) and int64 sample indices (B,)."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class BatchLoader:
    """Batches of one split; shuffled order is a function of (seed, epoch), sharded for DDP.

    Args:
        split: the split to read.
        batch_size: samples per batch (per process under DDP).
        shuffle: reshuffle every epoch (training) or keep file order (evaluation).
        seed: shuffling seed.
        rank, world_size: this process's shard of every epoch (DistributedSampler semantics:
            the order is padded by wrapping so that every rank gets the same number of batches).
        workers: decoding processes for streaming splits.
    """

    def __init__(
        self,
        split: ImageSplit,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        workers: int = 2,
    ):
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}.")
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.workers = workers

    def order(self, epoch: int) -> torch.Tensor:
        """Sample indices this rank visits in `epoch`, in visiting order."""
        total = len(self.split)
        if self.shuffle:
            order = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
        else:
            order = torch.arange(total)
        if self.world_size > 1:
            per_rank = -(-total // self.world_size)
            order = torch.cat([order, order[: per_rank * self.world_size - total]])[self.rank :: self.world_size]
        return order

    def index_batches(self, epoch: int) -> list[torch.Tensor]:
        batches = list(torch.split(self.order(epoch), self.batch_size))
        # A training batch of one sample breaks BatchNorm; drop such a tail when shuffling.
        if self.shuffle and batches and len(batches[-1]) < 2 and len(batches) > 1:
            batches.pop()
        return batches

    def __len__(self) -> int:
        return len(self.index_batches(0))

    def epoch(self, epoch: int = 0) -> Iterator[Batch]:
        """Yield the batches of one epoch."""
        index_batches = self.index_batches(epoch)
        images, stream = self.split.images, self.split.stream
        if images is not None:  # in memory
            for indices in index_batches:
                yield Batch(images[indices], self.split.labels[indices], indices)
            return
        assert stream is not None  # a split holds its images or streams them
        loader = torch.utils.data.DataLoader(
            stream,
            batch_sampler=[b.tolist() for b in index_batches],
            num_workers=self.workers,
            persistent_workers=False,
        )
        try:
            for images, labels, indices in loader:
                yield Batch(images, labels, indices)
        except DataError as exc:
            raise DataError(worker_error_line(exc)) from exc
