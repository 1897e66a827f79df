"""What the student learns from: `--data`'s train split and/or a transfer set, minus dropped classes.

    training set = [--data train (labelled)] + [--transfer-data (labelled or unlabeled, label −1)]
                   − every labelled image of --drop-classes,  mixed at --transfer-ratio

Validation and test always stay `--data`'s val and test splits. Val is held out of `--data`'s
train split when the dataset is loaded (`edgekd.data.load_dataset`, stratified, seeded), i.e.
*before* any class is dropped, so val and test keep every class. Unlabeled images cannot be
filtered by class (they have no labels): `--drop-classes` removes labelled images only.

The result is one `ImageSplit` whose sample indices the views and the teacher-logit cache key
on; its fingerprint (composition, sizes, ratio) goes into the cache key, so another mix never
reads these logits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgekd.data import Dataset, ImageSplit, load_dataset, parse_spec
from edgekd.data.dataset import DEFAULT_MEMORY_BUDGET
from edgekd.data.unlabeled import load_unlabeled, to_channels
from edgekd.errors import ConfigError, DataError


@dataclass
class TrainingSet:
    """The training split of a distillation run and what it is made of.

    Attributes:
        split: the samples the student learns from (labels −1 for unlabeled ones).
        parts: per source (`data`, `transfer`): spec, kind, fingerprint, images found,
            images used (after dropping), times each image appears per epoch.
        dropped: names of the classes removed from labelled sources.
        fingerprint: the composition's digest, None for `--data`'s train split unchanged.
    """

    split: ImageSplit
    parts: list[dict[str, Any]]
    dropped: tuple[str, ...] = ()
    fingerprint: str | None = None
    ratio: float | None = None
    seen: list[bool] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return int((self.split.labels >= 0).sum())

    def describe(self) -> dict[str, Any]:
        return {
            "size": len(self.split),
            "labelled": self.labelled,
            "unlabeled": len(self.split) - self.labelled,
            "transfer_ratio": self.ratio,
            "dropped_classes": list(self.dropped),
            "fingerprint": self.fingerprint,
            "parts": self.parts,
        }


def drop_class_indices(names: tuple[str, ...], class_names: list[str]) -> list[int]:
    """Class indices of `--drop-classes` names; an unknown name fails listing the known ones."""
    unknown = [n for n in names if n not in class_names]
    if unknown:
        raise ConfigError(
            f"--drop-classes: no class named {', '.join(repr(n) for n in unknown)}; the classes are: "
            f"{', '.join(class_names)}."
        )
    if len(set(names)) == len(class_names):
        raise ConfigError("--drop-classes would drop every class; keep at least one.")
    return sorted({class_names.index(n) for n in names})


class _Conformed(torch.utils.data.Dataset):
    """A streaming source with its images converted to the run's channels and size."""

    def __init__(self, source, channels: int, size: tuple[int, int]):
        self.source, self.channels, self.size = source, channels, size

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        image, label, _ = self.source[index]
        return _conform(image[None], self.channels, self.size)[0], label, index


def _conform(images: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (N, C, H, W) → the run's channels and stored size (bilinear, antialiased)."""
    images = to_channels(images, channels)
    if tuple(images.shape[-2:]) != tuple(size):
        images = (
            F.interpolate(images.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )
    return images


class _Mixed(torch.utils.data.Dataset):
    """Streams a mix of sources: item `i` is source `part[i]`'s sample `local[i]`, relabelled."""

    def __init__(self, sources: list, part: np.ndarray, local: np.ndarray, labels: torch.Tensor):
        self.sources, self.part, self.local, self.labels = sources, part, local, labels

    def __len__(self) -> int:
        return len(self.part)

    def __getitem__(self, index: int):
        source = self.sources[int(self.part[index])]
        position = int(self.local[index])
        image = source.images[position] if isinstance(source, ImageSplit) else source[position][0]
        return image, int(self.labels[index]), index


def _repeat(count: int, target: int, seed: int) -> np.ndarray:
    """`target` indices over `count` samples: every sample ⌊target/count⌋ times, the rest a
    seeded random choice (so oversampling keeps the set's composition)."""
    whole, rest = divmod(target, count)
    extra = np.sort(np.random.default_rng(seed).permutation(count)[:rest])
    return np.concatenate([np.tile(np.arange(count), whole), extra]).astype(np.int64)


def _load_transfer(
    spec: str, dataset: Dataset, limit: int | None, seed: int, workers: int, data_dir: str | None, memory_budget: int
) -> tuple[ImageSplit, dict[str, Any]]:
    parsed = parse_spec(spec)
    if parsed.kind == "unlabeled":
        loaded = load_unlabeled(
            parsed,
            image_size=dataset.image_size[0],
            channels=dataset.channels,
            limit=limit,
            seed=seed,
            workers=workers,
            memory_budget=memory_budget,
        )
        return loaded.split, loaded.describe()
    labelled = load_dataset(
        parsed,
        data_dir=data_dir,
        val_size=0,
        limit_train=limit,
        split_seed=seed,
        image_size=dataset.image_size[0],
        workers=workers,
    )
    if labelled.class_names != dataset.class_names:
        raise ConfigError(
            f"--transfer-data {parsed} has classes {', '.join(labelled.class_names)}, --data {dataset.spec} has "
            f"{', '.join(dataset.class_names)}: a labelled transfer set needs the same classes in the same order "
            "(or use unlabeled:PATH)."
        )
    train = labelled.train
    if train.in_memory:
        train = ImageSplit("train", train.labels, images=_conform(train.images, dataset.channels, dataset.image_size))
    else:
        train = ImageSplit("train", train.labels, stream=_Conformed(train.stream, dataset.channels, dataset.image_size))
    return train, {
        "spec": str(parsed),
        "kind": "labelled",
        "size": len(train),
        "found": len(labelled.train),
        "fingerprint": labelled.fingerprint,
        "streaming": not train.in_memory,
    }


def build_training_set(
    dataset: Dataset,
    *,
    transfer: str | None = None,
    ratio: float | None = None,
    limit_transfer: int | None = None,
    drop_classes: tuple[str, ...] = (),
    seed: int = 0,
    workers: int = 2,
    data_dir: str | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> TrainingSet:
    """Compose the training split (see the module docstring).

    Args:
        dataset: `--data`, loaded (its val/test splits are not touched).
        transfer: `--transfer-data` spec, or None.
        ratio: share of transfer samples in the training set (hence, in expectation, in every
            shuffled batch): None keeps every image once per epoch; 1 trains on the transfer
            set alone; in (0, 1) the smaller side is repeated (seeded) to reach the ratio.
        limit_transfer: a seeded subset of the transfer set of this many images.
        drop_classes: class names whose labelled images are removed.
        seed: seed of the subset and of the repetition (`--split-seed`).
        memory_budget: bytes of uint8 pixels above which an unlabeled set streams.
    """
    if ratio is not None and transfer is None:
        raise ConfigError("--transfer-ratio needs --transfer-data.")
    if ratio is not None and not 0.0 < ratio <= 1.0:
        raise ConfigError(f"--transfer-ratio must be within (0, 1], got {ratio}.")
    dropped = drop_class_indices(drop_classes, dataset.class_names) if drop_classes else []
    sources: list[tuple[str, ImageSplit, dict[str, Any]]] = []
    if ratio != 1.0:
        sources.append(
            (
                "data",
                dataset.train,
                {
                    "spec": dataset.spec,
                    "kind": "labelled",
                    "size": len(dataset.train),
                    "found": len(dataset.train),
                    "fingerprint": dataset.fingerprint,
                    "streaming": not dataset.train.in_memory,
                },
            )
        )
    if transfer is not None:
        split, facts = _load_transfer(transfer, dataset, limit_transfer, seed, workers, data_dir, memory_budget)
        sources.append(("transfer", split, facts))

    picks: list[np.ndarray] = []
    for name, split, facts in sources:
        keep = np.arange(len(split))
        if dropped:
            labels = split.labels.numpy()
            keep = keep[~np.isin(labels, dropped)]
            facts["dropped_images"] = int(len(split) - len(keep))
        if len(keep) == 0:
            raise DataError(
                f"the {name} set {facts['spec']} has no images left after --drop-classes {', '.join(drop_classes)}."
            )
        facts["used"] = int(len(keep))
        picks.append(keep)
    if ratio is not None and ratio < 1.0:
        n_data, n_transfer = len(picks[0]), len(picks[1])
        if n_transfer / (n_data + n_transfer) < ratio:
            picks[1] = picks[1][_repeat(n_transfer, round(ratio / (1 - ratio) * n_data), seed)]
        else:
            picks[0] = picks[0][_repeat(n_data, round((1 - ratio) / ratio * n_transfer), seed)]
    for (_, _, facts), keep in zip(sources, picks):
        facts["per_epoch"] = int(len(keep))

    labels = torch.cat([split.labels[torch.as_tensor(keep)] for (_, split, _), keep in zip(sources, picks)])
    if all(split.in_memory for _, split, _ in sources):
        images = torch.cat([split.images[torch.as_tensor(keep)] for (_, split, _), keep in zip(sources, picks)])
        combined = ImageSplit("train", labels, images=images)
    else:
        part = np.concatenate([np.full(len(keep), i) for i, keep in enumerate(picks)])
        local = np.concatenate(picks)
        stream_sources = [split if split.in_memory else split.stream for _, split, _ in sources]
        combined = ImageSplit("train", labels, stream=_Mixed(stream_sources, part, local, labels))
    seen = [c not in dropped for c in range(dataset.num_classes)]
    changed = transfer is not None or bool(dropped)
    fingerprint = None
    if changed:
        composition = {
            "parts": [{k: f[k] for k in ("spec", "fingerprint", "used", "per_epoch")} for _, _, f in sources],
            "dropped": [dataset.class_names[c] for c in dropped],
            "ratio": ratio,
            "seed": seed,
        }
        fingerprint = hashlib.sha256(json.dumps(composition, sort_keys=True).encode()).hexdigest()[:16]
    parts = [{"name": name, **facts} for name, _, facts in sources]
    return TrainingSet(combined, parts, tuple(dataset.class_names[c] for c in dropped), fingerprint, ratio, seen)
