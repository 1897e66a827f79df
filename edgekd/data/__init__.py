"""Datasets: specs, three splits of uint8 images, batched replayable augmentation."""

from edgekd.data.augment import NO_AUGMENT, AugmentRecipe, ViewSampler, apply_views, to_unit_float
from edgekd.data.config import DataConfig
from edgekd.data.dataset import Dataset, ImageSplit, load_dataset
from edgekd.data.loader import Batch, BatchLoader
from edgekd.data.preprocess import InputSpec, ModelInput, fit_channels
from edgekd.data.spec import DatasetSpec, parse_spec

__all__ = [
    "AugmentRecipe",
    "Batch",
    "DataConfig",
    "BatchLoader",
    "Dataset",
    "DatasetSpec",
    "ImageSplit",
    "InputSpec",
    "ModelInput",
    "NO_AUGMENT",
    "ViewSampler",
    "apply_views",
    "fit_channels",
    "load_dataset",
    "parse_spec",
    "to_unit_float",
]
