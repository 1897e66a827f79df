"""`unlabeled:PATH`: every image under PATH, in any folder structure, without labels.

Such a set is only ever a *transfer set* (what a student learns from through its teachers);
it has no classes, so it cannot be `--data`. Every sample's label is `UNLABELED` (−1).
Images are decoded as for ImageFolder sets (`edgekd.data.imagefolder.decode_image`: RGB,
shorter side resized, centre crop) at the labelled data's stored size and converted to its
channel count, so both can share one training split. Small sets are decoded once into memory
by DataLoader workers; sets above the memory budget stream through a DataLoader with workers
(`edgekd.data.loader.BatchLoader`'s streaming path), decoded on the fly.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgekd.data.dataset import DEFAULT_MEMORY_BUDGET, ImageSplit
from edgekd.data.imagefolder import IMAGE_SUFFIXES, FileList, StreamingImages, decode_all, decode_image, walk_images
from edgekd.data.spec import DatasetSpec, parse_spec
from edgekd.errors import DataError

UNLABELED = -1  # the label of every sample of an unlabeled set


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (…, 3, H, W) RGB → `channels` (1: rounded mean of R, G, B; 3: unchanged).

    The mean, not luminance weights, so that a greyscale image saved as RGB (R = G = B) comes
    back bit-identical.
    """
    if channels == images.shape[-3]:
        return images
    if channels == 1:
        return images.float().mean(dim=-3, keepdim=True).round().to(torch.uint8)
    if channels == 3 and images.shape[-3] == 1:
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:]).contiguous()
    raise DataError(f"cannot convert {images.shape[-3]}-channel images to {channels} channels.")


class UnlabeledImages(StreamingImages):
    """Decodes images on demand; item `i` is `(uint8 image (channels, S, S), −1, i)`."""

    def __init__(self, files: FileList, size: int, channels: int):
        super().__init__(files, size)
        self.channels = channels

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        return to_channels(decode_image(self.files.paths[index], self.size), self.channels), UNLABELED, index


@dataclass
class UnlabeledSet:
    """A loaded unlabeled set.

    Attributes:
        spec: the spec as given (`unlabeled:/abs/path`).
        split: its images as one training split (labels all −1; in memory or streaming).
        found: image files under the folder (before `limit`).
        fingerprint: covers the file names and sizes, storage size, channels and subset.
    """

    spec: str
    split: ImageSplit
    found: int
    fingerprint: str

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": "unlabeled",
            "size": len(self.split),
            "found": self.found,
            "fingerprint": self.fingerprint,
            "streaming": not self.split.in_memory,
        }


def scan_images(root: Path) -> list[Path]:
    """Every image file under `root` (any depth, symlinks followed, hidden files and folders
    skipped), sorted by path.

    Raises:
        DataError: the folder cannot be read, holds no image, a symlink loop or a non-UTF-8 name.
    """
    if not os.access(root, os.R_OK | os.X_OK):
        raise DataError(
            f"cannot read the transfer folder {root} (permission denied); make it readable or pick another folder."
        )
    paths = walk_images(root, skip_hidden=True)
    if not paths:
        raise DataError(
            f"no images under {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} at any depth); point "
            "unlabeled:PATH at a folder of images."
        )
    return sorted(paths)


def load_unlabeled(
    spec: str | DatasetSpec,
    *,
    image_size: int,
    channels: int,
    limit: int | None = None,
    seed: int = 0,
    workers: int = 2,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> UnlabeledSet:
    """Load an `unlabeled:PATH` spec as one training split of label −1.

    Args:
        spec: `unlabeled:PATH`.
        image_size: storage size in px (the labelled data's, so both share one split).
        channels: channels to convert to (the labelled data's: 1 or 3).
        limit: keep a seeded random subset of this many images (None: all).
        seed: seed of that subset.
        workers: decoding processes.
        memory_budget: bytes of uint8 pixels above which the set streams instead of being
            decoded into memory.
    """
    parsed = spec if isinstance(spec, DatasetSpec) else parse_spec(spec)
    if parsed.kind != "unlabeled":
        raise DataError(f"'{parsed}' is not an unlabeled:PATH spec.")
    root = parsed.folder()
    paths = scan_images(root)
    found = len(paths)
    if limit is not None:
        if limit <= 0:
            raise DataError(f"--limit-transfer must be positive, got {limit}.")
        if limit < found:
            keep = np.sort(np.random.default_rng(seed).permutation(found)[:limit])
            paths = [paths[i] for i in keep]
    files = FileList(paths, np.full(len(paths), UNLABELED, dtype=np.int64))
    digest = hashlib.sha256(f"unlabeled|{image_size}|{channels}|{limit}|{seed}".encode())
    for path in paths:
        digest.update(f"{path.relative_to(root)}:{path.stat().st_size}".encode())
    labels = torch.as_tensor(files.labels)
    if len(paths) * channels * image_size * image_size > memory_budget:
        split = ImageSplit("train", labels, stream=UnlabeledImages(files, image_size, channels))
    else:
        decode_workers = workers if len(paths) > 512 else 0
        split = ImageSplit("train", labels, images=to_channels(decode_all(files, image_size, decode_workers), channels))
    return UnlabeledSet(str(parsed), split, found, digest.hexdigest()[:16])
