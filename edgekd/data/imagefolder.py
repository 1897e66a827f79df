"""ImageFolder datasets: `PATH/<split>/<class>/<image>` or one `PATH/<class>/<image>` tree.

Images are decoded with Pillow, made RGB, resized (shorter side) and centre-cropped to a square
storage size. Small sets are decoded once into a uint8 tensor; large ones are decoded on the fly
by DataLoader workers (`StreamingImages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from edgekd.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class FileList:
    """Image files of one split with their class indices."""

    paths: list[Path]
    labels: np.ndarray


def _class_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def scan_split(root: Path, class_names: list[str] | None = None) -> tuple[FileList, list[str]]:
    """List `root/<class>/**/image` files. `class_names` fixes the order (for val/test)."""
    found = _class_folders(root)
    if not found:
        raise DataError(f"no class folders in {root}: expected {root}/<class>/<image>.")
    if class_names is not None and found != class_names:
        extra, missing = sorted(set(found) - set(class_names)), sorted(set(class_names) - set(found))
        raise DataError(
            f"class folders of {root} differ from the training split's: "
            f"{'extra ' + ', '.join(extra) if extra else ''}{'; ' if extra and missing else ''}"
            f"{'missing ' + ', '.join(missing) if missing else ''}."
        )
    paths, labels = [], []
    for index, name in enumerate(found):
        files = _images_in(root / name)
        paths += files
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"no images under {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}).")
    return FileList(paths, np.asarray(labels, dtype=np.int64)), found


def scan_imagefolder(root: Path) -> tuple[dict[str, FileList], list[str]]:
    """Find the splits present under `root` and their files.

    Returns:
        ({split name: FileList} for the splits found, class names). A root without `train/`
        is a single tree, returned as the split `all`.
    """
    if (root / "train").is_dir():
        splits, class_names = {}, None
        splits["train"], class_names = scan_split(root / "train")
        for name in ("val", "test"):
            if (root / name).is_dir():
                splits[name], _ = scan_split(root / name, class_names)
        return splits, class_names
    files, class_names = scan_split(root)
    return {"all": files}, class_names


def decode_image(path: Path, size: int) -> torch.Tensor:
    """Decode one image into a (3, size, size) uint8 tensor: shorter side resized, centre crop."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            scale = size / min(image.size)
            resized = image.resize(
                (max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                Image.BILINEAR,
            )
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot decode image {path}: {exc}. Remove or replace the file.") from None
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    array = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


class StreamingImages(torch.utils.data.Dataset):
    """Decodes images on demand; item `i` is `(uint8 image (3,S,S), label, i)`."""

    def __init__(self, files: FileList, size: int):
        self.files = files
        self.size = size

    def __len__(self) -> int:
        return len(self.files.paths)

    def __getitem__(self, index: int):
        return decode_image(self.files.paths[index], self.size), int(self.files.labels[index]), index


def decode_all(files: FileList, size: int, workers: int) -> torch.Tensor:
    """Decode every image of `files` into one (N, 3, S, S) uint8 tensor, in parallel."""
    if not files.paths:
        return torch.empty(0, 3, size, size, dtype=torch.uint8)
    loader = torch.utils.data.DataLoader(
        StreamingImages(files, size), batch_size=256, num_workers=workers, shuffle=False
    )
    try:
        return torch.cat([images for images, _, _ in loader])
    except DataError as exc:
        raise DataError(worker_error_line(exc)) from None


def worker_error_line(exc: Exception) -> str:
    """The person-readable line of an error re-raised from a DataLoader worker.

    Workers re-raise with the whole remote traceback as the message; keep only its last line.
    """
    last = str(exc).strip().splitlines()[-1]
    return last.split(": ", 1)[1] if last.startswith(("edgekd.errors.", "DataError")) else last
