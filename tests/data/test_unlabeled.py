"""`unlabeled:PATH`: every image at any depth, label −1, in memory or streaming through workers;
bad folders refused in one line."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from edgekd.data import BatchLoader, load_dataset, parse_spec
from edgekd.data.unlabeled import UNLABELED, load_unlabeled, to_channels
from edgekd.errors import DataError


def _write_tree(root, count=10, size=20):
    """Greyscale digit-like PNGs at three depths, plus a non-image file and a hidden folder."""
    rng = np.random.default_rng(0)
    written = []
    for i in range(count):
        folder = root / ("a" if i % 3 == 0 else "b/c" if i % 3 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.png")
        written.append(pixels)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    Image.fromarray(written[0]).save(root / ".hidden" / "skip.png")
    return written


def test_every_image_at_any_depth_unlabeled_in_memory(tmp_path):
    pixels = _write_tree(tmp_path, 10, 20)
    loaded = load_unlabeled(f"unlabeled:{tmp_path}", image_size=20, channels=1)
    split = loaded.split
    assert len(split) == 10 and loaded.found == 10 and split.in_memory
    assert split.labels.eq(UNLABELED).all()
    assert split.images.shape == (10, 1, 20, 20) and split.images.dtype == torch.uint8
    # Greyscale PNG → RGB decode → 1 channel is lossless: every written image comes back exactly.
    stored = {bytes(im.numpy().tobytes()) for im in split.images}
    assert {p.tobytes() for p in pixels} == stored
    assert loaded.describe()["kind"] == "unlabeled" and len(loaded.fingerprint) == 16


def test_limit_is_a_seeded_subset_and_changes_the_fingerprint(tmp_path):
    _write_tree(tmp_path, 10)
    a = load_unlabeled(f"unlabeled:{tmp_path}", image_size=20, channels=3, limit=4, seed=1)
    b = load_unlabeled(f"unlabeled:{tmp_path}", image_size=20, channels=3, limit=4, seed=1)
    full = load_unlabeled(f"unlabeled:{tmp_path}", image_size=20, channels=3)
    assert len(a.split) == 4 and a.split.images.shape[1] == 3 and torch.equal(a.split.images, b.split.images)
    assert a.fingerprint == b.fingerprint != full.fingerprint


def test_large_sets_stream_through_a_dataloader_with_workers(tmp_path):
    _write_tree(tmp_path, 12, 16)
    in_memory = load_unlabeled(f"unlabeled:{tmp_path}", image_size=16, channels=1)
    streamed = load_unlabeled(f"unlabeled:{tmp_path}", image_size=16, channels=1, memory_budget=100)
    assert not streamed.split.in_memory and streamed.describe()["streaming"]
    batches = list(BatchLoader(streamed.split, 5, shuffle=False, workers=2).epoch(0))
    images = torch.cat([b.images for b in batches])
    assert images.shape == (12, 1, 16, 16) and torch.equal(images, in_memory.split.images)
    assert torch.cat([b.labels for b in batches]).eq(UNLABELED).all()
    assert torch.cat([b.indices for b in batches]).tolist() == list(range(12))


def test_a_damaged_image_is_named_even_from_a_worker(tmp_path):
    _write_tree(tmp_path, 4, 16)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="broken.png"):
        load_unlabeled(f"unlabeled:{tmp_path}", image_size=16, channels=1)
    streamed = load_unlabeled(f"unlabeled:{tmp_path}", image_size=16, channels=1, memory_budget=10)
    with pytest.raises(DataError, match="broken.png"):
        list(BatchLoader(streamed.split, 8, shuffle=False, workers=1).epoch(0))


def test_empty_unreadable_and_misused_folders_are_refused(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no images under"):
        load_unlabeled(f"unlabeled:{empty}", image_size=16, channels=1)
    with pytest.raises(DataError, match="not found"):
        parse_spec(f"unlabeled:{tmp_path / 'missing'}")
    with pytest.raises(DataError, match="needs a path"):
        parse_spec("unlabeled:")
    with pytest.raises(DataError, match="no labels.*--transfer-data"):
        load_dataset(f"unlabeled:{empty}")
    if os.geteuid() != 0:  # root reads everything: the permission check cannot fail for it
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0)
        try:
            with pytest.raises(DataError, match="cannot read"):
                load_unlabeled(f"unlabeled:{locked}", image_size=16, channels=1)
        finally:
            locked.chmod(0o755)


def test_to_channels_is_exact_for_grey_and_expands_grey_to_rgb():
    grey = torch.randint(0, 256, (2, 1, 4, 4), dtype=torch.uint8)
    assert torch.equal(to_channels(grey.expand(2, 3, 4, 4), 1), grey)
    assert torch.equal(to_channels(grey, 3), grey.expand(2, 3, 4, 4))
