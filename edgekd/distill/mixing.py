"""Consistent mixed views (`--mix mixup|cutmix`): teacher and student see the same mixed batch.

Sample i of epoch e is mixed with the view of sample `partner[i]` by λ, all drawn from (seed,
epoch, sample index) (`edgekd.data.augment.MixSampler`), never from the batch it lands in: the
mixed view of i is the same in every run with these settings, on every DDP shard, so the
teacher-logit cache replays it (its key includes the mix recipe). The mix happens in front of
the method (a forward pre-hook on `DistillMethod`), so every method trains on mixed views
without a line of its own; methods take the label term from `DistillMethod.label_terms`,
which mixes the two labels' CE by λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edgekd.data import AugmentRecipe, Batch, ViewSampler, apply_views, to_unit_float
from edgekd.data.augment import MixRecipe, MixSampler, mix_views
from edgekd.data.dataset import ImageSplit


@dataclass
class MixedBatch(Batch):
    """A batch whose views were mixed: `partner_labels` (B,) int64 (−1: unlabeled) and
    `lam` (B,) float32, the share of each sample's own image (its own label's CE weight)."""

    partner_labels: torch.Tensor | None = None
    lam: torch.Tensor | None = None

    @property
    def dominant_labels(self) -> torch.Tensor:
        """Per sample, the label of the larger share (for methods that need one class)."""
        assert self.lam is not None and self.partner_labels is not None  # set on every mixed batch
        return torch.where(self.lam.to(self.labels.device) >= 0.5, self.labels, self.partner_labels)


class BatchMixer:
    """Mixes each training batch with its partners' views.

    Args:
        split: the training split (the partners' images come from it).
        recipe: the mix.
        augment: the training views' recipe (a partner is mixed in with its own view of the epoch).
        seed: the training seed (seeds views and mix alike).
        size: (H, W) of the views.
    """

    def __init__(self, split: ImageSplit, recipe: MixRecipe, augment: AugmentRecipe, seed: int, size: tuple[int, int]):
        self.split = split
        self.recipe = recipe
        self.augment = augment
        self.size = size
        self.mix_sampler = MixSampler(recipe, len(split), seed)
        self.views = ViewSampler(augment, len(split), seed)

    def _images(self, indices: torch.Tensor) -> torch.Tensor:
        images, stream = self.split.images, self.split.stream
        if images is not None:  # in memory
            return images[indices]
        assert stream is not None  # a split holds its images or streams them
        return torch.stack([stream[int(i)][0] for i in indices])

    def __call__(self, epoch: int, pixels: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, MixedBatch]:
        """The mixed views of `batch` (whose own views are `pixels`) and the batch with its partners' labels."""
        partners, lam, centre = self.mix_sampler.params(epoch, batch.indices)
        images = self._images(partners).to(pixels.device, non_blocking=True)
        partner_pixels = apply_views(to_unit_float(images, self.size), self.views.params(epoch, partners), self.augment)
        mixed, lam = mix_views(pixels, partner_pixels.to(pixels.dtype), lam, centre, self.recipe.kind)
        partner_labels = self.split.labels[partners].to(batch.labels.device)
        return mixed, MixedBatch(batch.images, batch.labels, batch.indices, partner_labels, lam.to(batch.labels.device))


def mix_before_forward(task, args):
    """Forward pre-hook of `DistillMethod`: replaces (pixels, batch) by their mixed versions."""
    if task.mixer is None:
        return None
    pixels, batch = args
    return task.mixer(task.epoch, pixels, batch)
