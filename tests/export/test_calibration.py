"""Calibration specs: the shipped YAML files, validation, and the images a spec selects."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import CALIBRATION
from PIL import Image

from edgekd.engine import SilentProgress
from edgekd.errors import ConfigError, DataError
from edgekd.export.calibration import CalibrationSpec, calibration_images, load_calibration_spec
from edgekd.models import read_card


def test_shipped_specs_are_valid():
    specs = sorted(CALIBRATION.glob("*.yaml"))
    assert {p.name for p in specs} >= {"fmnist-val-512.yaml", "digits-val.yaml"}
    for path in specs:
        spec = load_calibration_spec(path)
        assert spec.split in ("val", "train") and spec.samples >= 1
    fmnist = load_calibration_spec(CALIBRATION / "fmnist-val-512.yaml")
    assert (fmnist.dataset, fmnist.split, fmnist.samples, fmnist.seed) == ("fashion-mnist", "val", 512, 0)
    assert (CALIBRATION / "README.md").is_file()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dataset: digits\nsamples: 0\n", "'samples'"),
        ("dataset: digits\nsplit: test\n", "'split'"),
        ("dataset: digits\nsampels: 10\n", "'sampels'"),
        ("samples: 10\n", "'dataset'"),
        ("- digits\n", "YAML mapping"),
        ("dataset: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_specs_fail_in_one_line(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_calibration_spec(path)
    assert "\n" not in str(info.value)


def test_missing_spec_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="calibration spec not found"):
        load_calibration_spec(tmp_path / "nope.yaml")


def test_selection_is_seeded_stratified_and_from_val(student):
    card = read_card(student)
    first = calibration_images(CalibrationSpec(dataset="digits", samples=50, seed=3), card, None, SilentProgress())
    again = calibration_images(CalibrationSpec(dataset="digits", samples=50, seed=3), card, None, SilentProgress())
    other = calibration_images(CalibrationSpec(dataset="digits", samples=50, seed=4), card, None, SilentProgress())
    assert len(first) == 50 and first.split == "val" and first.images.dtype.is_floating_point is False
    assert (first.images == again.images).all() and not (first.images == other.images).all()
    counts = first.labels.bincount(minlength=10)
    assert counts.min() >= 4 and counts.max() <= 6  # ~5 per class
    everything = calibration_images(CalibrationSpec(dataset="digits", samples=10_000), card, None, SilentProgress())
    assert len(everything) == 144  # all of val when fewer than asked


def test_spec_naming_a_missing_dataset_is_a_data_error(student, tmp_path):
    card = read_card(student)
    with pytest.raises(DataError, match="not found"):
        calibration_images(CalibrationSpec(dataset=f"imagefolder:{tmp_path}/missing"), card, None, SilentProgress())


def test_spec_with_other_classes_is_refused(student, tmp_path):
    for name in ("cat", "dog", "bird"):
        folder = tmp_path / "set" / name
        folder.mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 12, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(DataError, match="3 classes but the model has 10"):
        calibration_images(
            CalibrationSpec(dataset=f"imagefolder:{tmp_path / 'set'}"), read_card(student), None, SilentProgress()
        )
