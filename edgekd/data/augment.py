"""Batched, replayable augmentation on uint8 tensors.

Each sample's view is a pure function of (seed, epoch, sample index): the crop offsets and flip
of every sample of an epoch come from one generator seeded by (seed, epoch). So a run replays
exactly, DDP shards see the views one process would, and a teacher's outputs can be cached per
view. The work happens on whole batches (on the GPU when training there), never through PIL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentRecipe:
    """Training augmentation. `crop_padding`: px of zero padding before a random crop back to
    the output size (0 disables); `horizontal_flip`: flip half of the samples."""

    crop_padding: int = 4
    horizontal_flip: bool = True

    def describe(self) -> dict:
        return asdict(self)


NO_AUGMENT = AugmentRecipe(crop_padding=0, horizontal_flip=False)


class ViewSampler:
    """Per-sample augmentation parameters, fixed by (seed, epoch, sample index)."""

    def __init__(self, recipe: AugmentRecipe, num_samples: int, seed: int):
        self.recipe = recipe
        self.num_samples = num_samples
        self.seed = seed
        self._epoch: int | None = None
        self._table: torch.Tensor | None = None

    def params(self, epoch: int, indices: torch.Tensor) -> torch.Tensor:
        """(B, 3) int64: row offset, column offset, flip (0/1) for each sample index."""
        if self._epoch != epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            span = 2 * self.recipe.crop_padding + 1
            offsets = torch.randint(0, span, (self.num_samples, 2), generator=generator)
            flips = torch.randint(0, 2, (self.num_samples, 1), generator=generator)
            if not self.recipe.horizontal_flip:
                flips.zero_()
            self._table, self._epoch = torch.cat([offsets, flips], dim=1), epoch
        return self._table[indices.cpu()]


def to_unit_float(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (B, C, H, W) → float32 in [0, 1] at `size` (bilinear, antialiased when shrinking)."""
    pixels = images.float().div_(255.0)
    if tuple(pixels.shape[-2:]) != tuple(size):
        shrinking = pixels.shape[-2] > size[0] or pixels.shape[-1] > size[1]
        pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return pixels


def apply_views(pixels: torch.Tensor, params: torch.Tensor, recipe: AugmentRecipe) -> torch.Tensor:
    """Random crop with zero padding and horizontal flip, per sample, on a float batch.

    Args:
        pixels: (B, C, H, W) float.
        params: (B, 3) from `ViewSampler.params`, on any device.
    """
    params = params.to(pixels.device)
    batch, _, height, width = pixels.shape
    pad = recipe.crop_padding
    if pad:
        padded = F.pad(pixels, (pad, pad, pad, pad))
        rows = torch.arange(height, device=pixels.device)[None, :] + params[:, 0:1]  # (B, H)
        cols = torch.arange(width, device=pixels.device)[None, :] + params[:, 1:2]  # (B, W)
        batch_index = torch.arange(batch, device=pixels.device)[:, None, None]
        # Advanced indexing gathers (B, H, W, C); move channels back to dim 1.
        pixels = padded.permute(0, 2, 3, 1)[batch_index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if recipe.horizontal_flip:
        flip = params[:, 2].bool()[:, None, None, None]
        pixels = torch.where(flip, pixels.flip(-1), pixels)
    return pixels.contiguous()
