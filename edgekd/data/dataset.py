"""Loading a dataset spec into three splits (train, val, test) of uint8 images.

Small sets live in memory as (N, C, H, W) uint8 tensors; they are augmented in batches later
(`edgekd.data.augment`), never per sample through PIL. Large ImageFolder sets stream.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgekd.data import cifar, idx, imagefolder
from edgekd.data.spec import DatasetSpec, parse_spec
from edgekd.data.splits import resolve_count, stratified_split, stratified_subset
from edgekd.errors import DataError

FASHION_MNIST_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Built-in sets without a test split get one held out with this fixed seed and share, so that
# every run of every seed reports on the same test images.
DEFAULT_TEST_SHARE, TEST_SPLIT_SEED = 0.2, 0
DEFAULT_MEMORY_BUDGET = 4 << 30  # bytes of uint8 pixels kept in memory before streaming


@dataclass
class ImageSplit:
    """One split: uint8 images in memory (or a streaming source) and int64 labels.

    Attributes:
        images: (N, C, H, W) uint8, or None when the split streams from files.
        labels: (N,) int64 class indices.
        stream: decoder for streaming splits, else None.
    """

    name: str
    labels: torch.Tensor
    images: torch.Tensor | None = None
    stream: imagefolder.StreamingImages | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()


@dataclass
class Dataset:
    """A loaded dataset: three splits plus what every artefact records about them."""

    spec: str
    class_names: list[str]
    channels: int
    image_size: tuple[int, int]
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    mean: tuple[float, ...]
    std: tuple[float, ...]
    options: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> ImageSplit:
        if name not in ("train", "val", "test"):
            raise DataError(f"unknown split '{name}': use train, val or test.")
        split: ImageSplit = getattr(self, name)
        return split

    def describe(self) -> dict[str, Any]:
        """The dataset facts recorded in artefact metadata."""
        return {
            "spec": self.spec,
            "fingerprint": self.fingerprint,
            "class_names": self.class_names,
            "channels": self.channels,
            "stored_size": list(self.image_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "counts": {s.name: len(s) for s in (self.train, self.val, self.test)},
            "options": self.options,
        }


def find_fashion_mnist(data_dir: str | os.PathLike[str] | None) -> Path:
    """The folder holding Fashion-MNIST's IDX files: `data_dir`, $EDGEKD_DATA_DIR, then the Debian path."""
    candidates: list[Path] = []
    for base in (data_dir, os.environ.get("EDGEKD_DATA_DIR")):
        if base:
            candidates += [Path(base), Path(base) / "fashion-mnist"]
    candidates += list(FASHION_MNIST_DIRS)
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").exists() or (folder / "train-images-idx3-ubyte").exists():
            return folder
    raise DataError(
        "Fashion-MNIST not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "). Install it with 'apt-get install dataset-fashion-mnist', or put the four IDX files in a folder and "
        "pass --data-dir."
    )


def _read_idx_pair(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    def pick(stem: str) -> Path:
        gz = folder / f"{stem}.gz"
        return gz if gz.exists() else folder / stem

    images = idx.read_idx(pick(f"{prefix}-images-idx3-ubyte"))
    labels = idx.read_idx(pick(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{folder}: {prefix} has {len(images)} images but {len(labels)} labels.")
    return images[:, None, :, :], labels


def _load_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 0..16 intensities → 0..255 uint8 so that every set shares one pixel format.
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    return images, bunch.target.astype(np.int64), [str(n) for n in bunch.target_names]


def _channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std in [0, 1] units, from a uint8 (N, C, H, W) tensor."""
    sample = images[:: max(1, len(images) // 20000)].to(torch.float64) / 255.0
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


def _fingerprint(kind: str, class_names: list[str], splits: list[ImageSplit], options: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{kind}|{'|'.join(class_names)}|{sorted(options.items())}".encode())
    for split in splits:
        digest.update(split.name.encode())
        digest.update(split.labels.numpy().tobytes())
        if split.images is not None:
            digest.update(split.images.numpy().tobytes())
        elif split.stream is not None:
            for path in split.stream.files.paths:
                digest.update(f"{path}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def load_dataset(
    spec: str | DatasetSpec,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    val_size: float = 0.1,
    limit_train: int | None = None,
    split_seed: int = 0,
    image_size: int = 32,
    workers: int = 2,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Dataset:
    """Load `spec` into train/val/test splits.

    Args:
        spec: dataset spec (`fashion-mnist`, `digits`, `imagefolder:PATH`, `cifar10:PATH`, …).
        data_dir: where to look for Fashion-MNIST besides $EDGEKD_DATA_DIR and the Debian path.
        val_size: share (< 1) or count (>= 1) of train held out, stratified, as val when the
            set ships no val split; 0 trains on all of it (val is then empty).
        limit_train: train on a seeded stratified subset of this many samples.
        split_seed: seed of the val hold-out and of the subset (not the training seed, so runs
            with different training seeds share their val images).
        image_size: storage size (px) of ImageFolder images; built-in sets keep their own.
        workers: decoding processes for ImageFolder sets.
        memory_budget: bytes of uint8 pixels above which an ImageFolder set streams.
    """
    parsed = spec if isinstance(spec, DatasetSpec) else parse_spec(spec)
    options = {"val_size": val_size, "limit_train": limit_train, "split_seed": split_seed}
    arrays: dict[str, tuple[Any, np.ndarray]] = {}
    stream_size = None
    if parsed.kind == "unlabeled":
        raise DataError(
            f"'{parsed}' has no labels, so it cannot be trained or validated on alone: give it as a transfer set "
            f"(edgekd distill --transfer-data {parsed}) with a labelled --data."
        )
    if parsed.kind == "fashion-mnist":
        folder = find_fashion_mnist(data_dir)
        arrays["train"], arrays["test"] = _read_idx_pair(folder, "train"), _read_idx_pair(folder, "t10k")
        class_names = list(FASHION_MNIST_CLASSES)
    elif parsed.kind == "digits":
        images, labels, class_names = _load_digits()
        keep, test = stratified_split(
            labels, resolve_count(DEFAULT_TEST_SHARE, len(labels), "test share"), TEST_SPLIT_SEED
        )
        arrays["train"], arrays["test"] = (images[keep], labels[keep]), (images[test], labels[test])
    elif parsed.kind in ("cifar10", "cifar100"):
        arrays["train"], arrays["test"], class_names = cifar.read_cifar(parsed.folder(), parsed.kind)
    else:  # imagefolder
        file_splits, class_names = imagefolder.scan_imagefolder(parsed.folder())
        arrays = {name: (files, files.labels) for name, files in file_splits.items()}
        stream_size = image_size
        options["image_size"] = image_size
        if "all" in arrays:  # one tree: hold test out first, with the fixed protocol seed
            files, labels = arrays.pop("all")
            keep, test = stratified_split(
                labels, resolve_count(DEFAULT_TEST_SHARE, len(labels), "test share"), TEST_SPLIT_SEED
            )
            arrays["train"] = (_subset_files(files, keep), labels[keep])
            arrays["test"] = (_subset_files(files, test), labels[test])
        elif "test" not in arrays:  # train + val only: split val in halves so test is never tuned on
            files, labels = arrays["val"]
            keep, test = stratified_split(labels, len(labels) // 2, TEST_SPLIT_SEED)
            arrays["val"], arrays["test"] = (
                (_subset_files(files, keep), labels[keep]),
                (_subset_files(files, test), labels[test]),
            )

    if "val" not in arrays:
        images, labels = arrays["train"]
        keep, val = stratified_split(labels, resolve_count(val_size, len(labels), "--val-size"), split_seed)
        arrays["train"], arrays["val"] = _take(images, labels, keep), _take(images, labels, val)
    if limit_train is not None:
        if limit_train <= 0:
            raise DataError(f"--limit-train must be positive, got {limit_train}.")
        images, labels = arrays["train"]
        arrays["train"] = _take(images, labels, stratified_subset(labels, limit_train, split_seed))

    splits = {
        name: _to_split(name, *arrays[name], stream_size, workers, memory_budget) for name in ("train", "val", "test")
    }
    train = splits["train"]
    if len(train) == 0:
        raise DataError(f"the training split of '{parsed}' is empty.")
    if train.images is not None:  # in memory
        mean, std = _channel_stats(train.images)
        channels, size = train.images.shape[1], (train.images.shape[2], train.images.shape[3])
    else:
        assert stream_size is not None  # only image folders stream, and they set the decode size
        mean, std, channels, size = IMAGENET_MEAN, IMAGENET_STD, 3, (stream_size, stream_size)
    dataset = Dataset(
        str(parsed), class_names, channels, size, splits["train"], splits["val"], splits["test"], mean, std, options
    )
    dataset.fingerprint = _fingerprint(parsed.kind, class_names, [splits[n] for n in ("train", "val", "test")], options)
    return dataset


def _subset_files(files: imagefolder.FileList, indices: np.ndarray) -> imagefolder.FileList:
    return imagefolder.FileList([files.paths[i] for i in indices], files.labels[indices])


def _take(images: Any, labels: np.ndarray, indices: np.ndarray) -> tuple[Any, np.ndarray]:
    if isinstance(images, imagefolder.FileList):
        return _subset_files(images, indices), labels[indices]
    return images[indices], labels[indices]


def _to_split(name: str, images: Any, labels: np.ndarray, size: int | None, workers: int, budget: int) -> ImageSplit:
    label_tensor = torch.as_tensor(np.ascontiguousarray(labels), dtype=torch.int64)
    if not isinstance(images, imagefolder.FileList):
        return ImageSplit(name, label_tensor, images=torch.from_numpy(np.ascontiguousarray(images)))
    assert size is not None  # file lists come from image folders, which set the decode size
    if len(images.paths) * 3 * size * size > budget:
        return ImageSplit(name, label_tensor, stream=imagefolder.StreamingImages(images, size))
    decode_workers = workers if len(images.paths) > 512 else 0
    return ImageSplit(name, label_tensor, images=imagefolder.decode_all(images, size, decode_workers))
