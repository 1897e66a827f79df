"""Batched, replayable augmentation on uint8 tensors.

Each sample's view is a pure function of (seed, epoch, sample index): the crop offsets and flip
of every sample of an epoch come from one generator seeded by (seed, epoch). So a run replays
exactly, DDP shards see the views one process would, and a teacher's outputs can be cached per
view. The work happens on whole batches (on the GPU when training there), never through PIL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from edgekd.options import option


@dataclass(frozen=True)
class AugmentRecipe:
    """Training augmentation. `crop_padding`: px of zero padding before a random crop back to
    the output size (0 disables); `horizontal_flip`: flip half of the samples."""

    crop_padding: int = option(4, "Random-crop padding in px at the input size (0 disables).", ge=0)
    horizontal_flip: bool = option(True, "Random horizontal flips.", key="flip")

    def describe(self) -> dict[str, Any]:
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
        if self._table is None or self._epoch != epoch:
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


MIX_KINDS = ("none", "mixup", "cutmix")


@dataclass(frozen=True)
class MixRecipe:
    """Mixing two training images (Zhang et al. 2018 mixup; Yun et al. 2019 CutMix).

    `kind`: `none`, `mixup` (λ·a + (1 − λ)·b) or `cutmix` (a box of b pasted into a, λ the
    share of a left); `alpha`: λ ~ Beta(α, α).
    """

    kind: str = "none"
    alpha: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    def describe(self) -> dict[str, Any]:
        return asdict(self)


class MixSampler:
    """Per-sample mixing parameters, fixed by (seed, epoch, sample index) like `ViewSampler`'s.

    Sample i of an epoch is mixed with the view of sample `partner[i]` (a permutation of the
    whole split, not of the batch), so the mixed view does not depend on which batch or DDP
    shard sample i lands in: a teacher's logits for it can be cached and replayed.
    """

    def __init__(self, recipe: MixRecipe, num_samples: int, seed: int):
        self.recipe = recipe
        self.num_samples = num_samples
        self.seed = seed
        self._epoch: int | None = None
        self._params: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # partner, λ, centre

    def params(self, epoch: int, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each sample index: partner index (B,) int64, λ (B,) float32, box centre (B, 2) in [0, 1)."""
        if self._params is None or self._epoch != epoch:
            import numpy as np

            # Its own stream (salt 0x6D6978, "mix"), so crops and flips stay as without mixing.
            rng = np.random.default_rng([self.seed, epoch, 0x6D6978])
            partner = torch.from_numpy(rng.permutation(self.num_samples)).long()
            lam = torch.from_numpy(rng.beta(self.recipe.alpha, self.recipe.alpha, self.num_samples)).float()
            centre = torch.from_numpy(rng.random((self.num_samples, 2))).float()
            self._params, self._epoch = (partner, lam, centre), epoch
        rows = indices.cpu()
        partner, lam, centre = self._params
        return partner[rows], lam[rows], centre[rows]


def mix_views(
    pixels: torch.Tensor, partner_pixels: torch.Tensor, lam: torch.Tensor, centre: torch.Tensor, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each view with its partner's; returns (mixed (B, C, H, W), λ (B,): share of the first).

    Args:
        pixels, partner_pixels: (B, C, H, W) float views of the samples and of their partners.
        lam, centre: from `MixSampler.params`. CutMix's box covers a 1 − λ share of the image
            (sides √(1 − λ)·H and √(1 − λ)·W around `centre`); clipped at the border, λ becomes
            the share actually kept.
    """
    lam, centre = lam.to(pixels.device), centre.to(pixels.device)
    if kind == "mixup":
        weight = lam[:, None, None, None].to(pixels.dtype)
        return weight * pixels + (1.0 - weight) * partner_pixels, lam
    _, _, height, width = pixels.shape
    cut = torch.sqrt(1.0 - lam)
    cy, cx = centre[:, 0] * height, centre[:, 1] * width
    top, bottom = (cy - cut * height / 2).round().clamp(0, height), (cy + cut * height / 2).round().clamp(0, height)
    left, right = (cx - cut * width / 2).round().clamp(0, width), (cx + cut * width / 2).round().clamp(0, width)
    rows = torch.arange(height, device=pixels.device)[None, :]
    cols = torch.arange(width, device=pixels.device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < bottom[:, None])  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < right[:, None])  # (B, W)
    box = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (B, 1, H, W)
    kept = 1.0 - box.flatten(1).float().mean(dim=1)
    return torch.where(box, partner_pixels, pixels), kept
