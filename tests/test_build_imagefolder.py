"""scripts/build_imagefolder.py: the split is a pure function of an icon's name, and (where the
Debian icon themes are installed) it builds an ImageFolder edgekd reads, with no icon name on two
sides of a split."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from edgekd.data import load_dataset

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_imagefolder.py"
spec = importlib.util.spec_from_file_location("build_imagefolder", SCRIPT)
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)

themes_installed = shutil.which("rsvg-convert") is not None and all(
    folder.is_dir() for folders in build.CLASSES.values() for folder in folders
)


def test_the_split_depends_on_the_name_alone_in_the_declared_shares():
    names = [f"icon-{i}" for i in range(6000)]
    first = [build.split_of(n) for n in names]
    assert first == [build.split_of(n) for n in names]
    shares = Counter(first)
    assert abs(shares["train"] / 6000 - 0.70) < 0.03 and abs(shares["test"] / 6000 - 0.15) < 0.03


@pytest.mark.skipif(not themes_installed, reason="apt-get install papirus-icon-theme oxygen-icon-theme librsvg2-bin")
def test_builds_a_five_class_folder_that_edgekd_reads(tmp_path):
    out = tmp_path / "icons"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--per-class", "20", "--size", "24"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((out / "build.json").read_text())
    names_by_split = {
        split: {p.stem.split("-", 1)[1] for p in (out / split).rglob("*.png")} for split in record["counts"]
    }
    assert not names_by_split["train"] & names_by_split["val"] and not names_by_split["train"] & names_by_split["test"]
    for split, counts in record["counts"].items():
        assert {label: len(list((out / split / label).iterdir())) for label in counts} == counts
    assert all(sum(record["counts"][s][label] for s in record["counts"]) in range(15, 22) for label in build.CLASSES)
    image = Image.open(next((out / "train" / "apps").iterdir()))
    assert image.mode == "RGB" and image.size == (24, 24)
    dataset = load_dataset(f"imagefolder:{out}", image_size=24)
    assert dataset.class_names == sorted(build.CLASSES) and len(dataset.train) == sum(
        record["counts"]["train"].values()
    )
    again = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "not empty" in again.stderr
