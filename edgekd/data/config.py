"""The data options every stage shares (CLI flags and pipeline keys of the same names)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgekd.data.dataset import Dataset, load_dataset


@dataclass(frozen=True)
class DataConfig:
    """Which data and which part of it.

    Attributes:
        spec: dataset spec, e.g. `fashion-mnist`, `digits`, `imagefolder:PATH`.
        data_dir: extra folder to look for Fashion-MNIST in.
        val_size: share (< 1) or count (>= 1) of train held out as val when the set has no
            val split; 0 trains on all of it.
        limit_train: train on a seeded stratified subset of this many samples.
        split_seed: seed of the held-out val split and of the subset.
        workers: decoding processes for ImageFolder sets.
    """

    spec: str = "fashion-mnist"
    data_dir: str | None = None
    val_size: float = 0.1
    limit_train: int | None = None
    split_seed: int = 0
    workers: int = 2

    def load(self, image_size: int = 32) -> Dataset:
        """Load the dataset; ImageFolder images are stored at `image_size` px."""
        return load_dataset(
            self.spec,
            data_dir=self.data_dir,
            val_size=self.val_size,
            limit_train=self.limit_train,
            split_seed=self.split_seed,
            image_size=image_size,
            workers=self.workers,
        )

    def describe(self) -> dict:
        return asdict(self)
