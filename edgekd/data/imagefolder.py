"""ImageFolder datasets: `PATH/<split>/<class>/<image>` or one `PATH/<class>/<image>` tree.

Images are decoded with Pillow, made RGB (`to_rgb`: alpha composited on black, 16-bit scaled
to 8-bit), resized (shorter side) and centre-cropped to a square storage size. Small sets are
decoded once into a uint8 tensor; large ones are decoded on the fly by DataLoader workers
(`StreamingImages`).

Bad files are refused in one line naming them: undecodable or truncated images, images above
`MAX_IMAGE_PIXELS` (checked from the header, before any pixel is decoded), names that are not
valid UTF-8 (they could not be recorded in a JSON artefact), symlink loops and broken links.
"""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from edgekd.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
SPLIT_NAMES = ("train", "val", "test")
# Pillow's own decompression-bomb limit (≈ 89.5 Mpx, 0.25 GiB as RGBA); Pillow only warns up to
# twice that, and a 1-bit 20,000 × 20,000 PNG of 76 kB would become 1.2 GB of RGB. Refuse above it.
MAX_IMAGE_PIXELS = 89_478_485
ALPHA_BACKGROUND = (0, 0, 0)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@dataclass
class FileList:
    """Image files of one split with their class indices."""

    paths: list[Path]
    labels: np.ndarray


def printable(path: Path | str) -> str:
    """A path as a person can read it in one line, undecodable bytes shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_name(path: Path) -> None:
    """Refuse a path that is not valid UTF-8 (Linux allows any bytes in a name)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"the path {printable(path)} is not valid UTF-8, so it cannot be recorded in edgekd's JSON artefacts; "
            "rename it (e.g. convmv -f latin1 -t utf8 -r --notest)."
        ) from exc


def _class_folders(root: Path) -> list[str]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        check_name(folder)
    return [folder.name for folder in folders]


def walk_images(root: Path, skip_hidden: bool = False) -> list[Path]:
    """Every image file under `root` at any depth, symlinks followed, sorted by path.

    Raises:
        DataError: a symlink loop (a link to itself or to a folder it is inside of), a broken
            link with an image suffix, an unreadable folder, or a name that is not UTF-8.
    """
    found: list[Path] = []
    pending = [(root, frozenset({_identity(root)}))]
    while pending:
        folder, inside = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            raise DataError(
                f"cannot read the folder {printable(folder)} ({exc.strerror}); make it readable or remove it."
            ) from exc
        for entry in entries:
            path = Path(entry.path)
            if skip_hidden and entry.name.startswith("."):
                continue
            is_image = path.suffix.lower() in IMAGE_SUFFIXES
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
                if entry.is_symlink() and not (is_dir or is_file):
                    os.stat(path)  # raises the reason: ELOOP, ENOENT
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    message = f"symlink loop at {printable(path)} (it resolves to itself); remove the link."
                    raise DataError(message) from exc
                if is_image:
                    message = f"cannot read {printable(path)} ({exc.strerror}: a broken symlink?); fix or remove it."
                    raise DataError(message) from exc
                continue
            if is_dir:
                identity = _identity(path)
                if identity in inside:
                    raise DataError(
                        f"symlink loop at {printable(path)}: it leads back to {printable(os.path.realpath(path))}, "
                        "a folder it is inside of; remove the link."
                    )
                pending.append((path, inside | {identity}))
            elif is_file and is_image:
                check_name(path)
                found.append(path)
    return sorted(found)


def _identity(folder: Path) -> tuple[int, int]:
    stat = os.stat(folder)
    return stat.st_dev, stat.st_ino


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
        files = walk_images(root / name)
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


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit RGB, by one documented rule (README, Datasets).

    - Alpha (RGBA, LA, PA, palette with a transparent colour) is composited on black: a fully
      transparent pixel becomes 0, as the zero padding of a convolution, and semi-transparent
      edges fade to it instead of showing whatever colour a transparent pixel happens to store.
    - 16-bit (and 32-bit integer) greyscale is scaled, 0..65535 → 0..255 (v / 257, rounded);
      Pillow's own `convert` would clip everything above 255 to white.
    - Everything else (L, 1, CMYK, YCbCr, …) goes through Pillow's `convert("RGB")`.

    Raises:
        ValueError: 32-bit float images (no range to scale from).
    """
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        raise ValueError("32-bit float pixels have no fixed range to scale to 8 bits; save the image as 8- or 16-bit")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, ALPHA_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def decode_image(path: Path, size: int) -> torch.Tensor:
    """Decode one image into a (3, size, size) uint8 tensor: shorter side resized, centre crop.

    Raises:
        DataError: naming the file, when it cannot be decoded, is truncated, or is above
            `MAX_IMAGE_PIXELS` (refused from its header, before decoding).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, in one line
            image: Image.Image = Image.open(path)
        with image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DataError(
                    f"image {printable(path)} is {image.width} × {image.height} px, "
                    f"above the {MAX_IMAGE_PIXELS:,} px limit "
                    "(decoding it could exhaust memory); downscale it or remove it."
                )
            image = to_rgb(image)
            scale = size / min(image.size)
            resized = image.resize(
                (max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                Image.Resampling.BILINEAR,
            )
    except Image.DecompressionBombError as exc:
        raise DataError(f"image {printable(path)} is too large to decode: {exc} Downscale it or remove it.") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot decode image {printable(path)}: {exc}. Remove or replace the file.") from exc
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    array = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


class StreamingImages(torch.utils.data.Dataset[tuple[torch.Tensor, int, int]]):
    """Decodes images on demand; item `i` is `(uint8 image (3,S,S), label, i)`."""

    def __init__(self, files: FileList, size: int):
        self.files = files
        self.size = size

    def __len__(self) -> int:
        return len(self.files.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
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
        raise DataError(worker_error_line(exc)) from exc


def worker_error_line(exc: Exception) -> str:
    """The person-readable line of an error re-raised from a DataLoader worker.

    Workers re-raise with the whole remote traceback as the message; keep only its last line.
    """
    last = str(exc).strip().splitlines()[-1]
    return last.split(": ", 1)[1] if last.startswith(("edgekd.errors.", "DataError")) else last
