"""Augmentation views are a pure function of (seed, epoch, index); DDP shards cover the epoch."""

from __future__ import annotations

import torch

from edgekd.data import AugmentRecipe, BatchLoader, ViewSampler, apply_views, load_dataset, to_unit_float


def _views(dataset, indices, epoch, seed=0):
    recipe = AugmentRecipe(crop_padding=4, horizontal_flip=True)
    sampler = ViewSampler(recipe, len(dataset.train), seed)
    pixels = to_unit_float(dataset.train.images[indices], (32, 32))
    return apply_views(pixels, sampler.params(epoch, indices), recipe)


def test_a_sample_view_does_not_depend_on_its_batch():
    dataset = load_dataset("digits")
    alone = _views(dataset, torch.tensor([5]), epoch=3)
    in_batch = _views(dataset, torch.tensor([9, 5, 2]), epoch=3)
    assert torch.equal(alone[0], in_batch[1])
    some = torch.arange(20)
    assert not torch.equal(_views(dataset, some, epoch=3), _views(dataset, some, epoch=4))
    assert torch.equal(_views(dataset, some, epoch=3), _views(dataset, some, epoch=3))


def test_crop_and_flip_move_pixels_as_specified():
    image = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    params = torch.tensor([[0, 2, 1]])  # shift up-left by (pad - 0, pad - 2), then flip
    out = apply_views(image, params, AugmentRecipe(crop_padding=2, horizontal_flip=True))
    padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
    assert torch.equal(out, padded[..., 0:4, 2:6].flip(-1))


def test_ddp_shards_cover_the_epoch_like_one_process():
    dataset = load_dataset("digits")
    single = BatchLoader(dataset.train, 32, shuffle=True, seed=1).order(2)
    shards = [BatchLoader(dataset.train, 32, shuffle=True, seed=1, rank=r, world_size=2).order(2) for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    assert set(torch.cat(shards).tolist()) == set(single.tolist())
