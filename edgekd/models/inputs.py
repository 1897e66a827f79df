"""Choosing a model's input spec (size, channels, normalisation) for a dataset."""

from __future__ import annotations

from edgekd.data import Dataset, InputSpec, fit_channels
from edgekd.models.factory import pretrained_defaults


def input_spec_for(
    arch: str, dataset: Dataset, img_size: int, in_chans: int | None, pretrained: str | None
) -> InputSpec:
    """The model's input: pretrained weights keep their own normalisation, otherwise the data's."""
    channels = in_chans or 3
    if pretrained:
        defaults = pretrained_defaults(arch)
        mean, std = defaults.get("mean", dataset.mean), defaults.get("std", dataset.std)
    else:
        mean, std = dataset.mean, dataset.std
    return InputSpec(img_size, channels, fit_channels(tuple(mean), channels), fit_channels(tuple(std), channels))
