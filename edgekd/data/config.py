"""The data options every stage shares (CLI flags and pipeline keys derived from the fields)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgekd.data.dataset import Dataset, load_dataset
from edgekd.options import check_options, option


@dataclass(frozen=True)
class DataConfig:
    """Which data and which part of it (each field's help says what it holds)."""

    spec: str = option(
        "fashion-mnist",
        "Dataset spec: fashion-mnist, digits, imagefolder:PATH, cifar10:PATH, cifar100:PATH.",
        long="--data",
    )
    data_dir: str | None = option(None, "Extra folder holding Fashion-MNIST's IDX files (also $EDGEKD_DATA_DIR).")
    val_size: float = option(
        0.1, "Share (<1) or count (>=1) of train held out as val when the set has none; 0 trains on all of it.", ge=0
    )
    limit_train: int | None = option(None, "Train on a seeded stratified subset of N samples.", ge=1)
    split_seed: int = option(0, "Seed of the val hold-out and of --limit-train's subset.")
    workers: int = option(2, "Image decoding processes (ImageFolder sets).", ge=0)

    def load(self, image_size: int = 32) -> Dataset:
        """Load the dataset; ImageFolder images are stored at `image_size` px."""
        check_options(self)
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
