"""ImageFolder input a user really has: every Pillow mode loads by the documented rule (README,
Datasets); files that cannot be used are refused in one line naming them, exit 2, nothing written.

Every image is a real file written here with Pillow (or, for the 20,000 px ones, a valid PNG
streamed row by row so the test never holds the pixels).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgekd.data import load_dataset
from edgekd.data.imagefolder import MAX_IMAGE_PIXELS, decode_image
from edgekd.errors import DataError
from tests.conftest import write_digit_pngs


def solid(mode: str, value, size: int = 12, **info) -> Image.Image:
    image = Image.new(mode, (size, size), value)
    image.info.update(info)
    return image


def pixel(path: Path) -> tuple[int, int, int]:
    """The decoded (R, G, B) of a solid-colour image file."""
    decoded = decode_image(path, 8)
    assert decoded.shape == (3, 8, 8) and decoded.dtype == torch.uint8
    assert (decoded == decoded[:, :1, :1]).all()  # solid in, solid out
    return tuple(int(v) for v in decoded[:, 0, 0])


def sixteen_bit_png(path: Path, value: int) -> Path:
    Image.fromarray(np.full((12, 12), value, dtype=np.uint16)).save(path)
    assert Image.open(path).mode == "I;16"
    return path


def palette_png(path: Path, transparent: bool) -> Path:
    image = Image.new("P", (12, 12), 1 if not transparent else 0)
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.save(path, transparency=0)
    return path


def test_every_image_mode_decodes_by_the_documented_rule(tmp_path):
    def saved(name: str, image: Image.Image, **save) -> Path:
        path = tmp_path / name
        image.save(path, **save)
        return path

    # Alpha is composited on black: transparent → 0, half-transparent → half the colour.
    assert pixel(saved("opaque.png", solid("RGBA", (200, 100, 50, 255)))) == (200, 100, 50)
    assert pixel(saved("clear.png", solid("RGBA", (200, 100, 50, 0)))) == (0, 0, 0)
    assert pixel(saved("half.png", solid("RGBA", (200, 100, 50, 128)))) == pytest.approx((100, 50, 25), abs=1)
    assert pixel(saved("la.png", solid("LA", (200, 128)))) == pytest.approx((100, 100, 100), abs=1)
    assert pixel(palette_png(tmp_path / "p-clear.png", transparent=True)) == (0, 0, 0)
    assert pixel(palette_png(tmp_path / "p-opaque.png", transparent=False)) == (200, 100, 50)
    # 16-bit is scaled (v / 257), not clipped to white as Pillow's convert would.
    assert Image.open(sixteen_bit_png(tmp_path / "mid16.png", 32896)).convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    assert pixel(tmp_path / "mid16.png") == (128, 128, 128)
    assert pixel(sixteen_bit_png(tmp_path / "max16.png", 65535)) == (255, 255, 255)
    assert pixel(sixteen_bit_png(tmp_path / "low16.png", 257)) == (1, 1, 1)
    # The rest through Pillow: greyscale replicated, 1-bit to 0/255, CMYK by its formula.
    assert pixel(saved("grey.png", solid("L", 77))) == (77, 77, 77)
    assert pixel(saved("bits.png", solid("1", 1))) == (255, 255, 255)
    assert pixel(saved("cmyk.jpg", solid("CMYK", (0, 255, 255, 0)), quality=100)) == pytest.approx((255, 0, 0), abs=3)


def test_an_imagefolder_of_mixed_modes_loads(tmp_path, run_cli):
    root = tmp_path / "mixed"
    write_digit_pngs(root, per_class=6, classes=(0, 1))
    for cls in ("digit0", "digit1"):
        folder = root / cls
        solid("RGBA", (200, 100, 50, 128)).save(folder / "rgba.png")
        sixteen_bit_png(folder / "deep.png", 40000)
        solid("CMYK", (0, 255, 255, 0)).save(folder / "print.jpg")
        palette_png(folder / "palette.png", transparent=True)
        solid("L", 77).save(folder / "grey.png")
        solid("LA", (200, 128)).save(folder / "la.png")
        solid("1", 1).save(folder / "bits.png")
    dataset = load_dataset(f"imagefolder:{root}", image_size=16, val_size=2)
    assert len(dataset.train) + len(dataset.val) + len(dataset.test) == 26
    assert dataset.train.images.shape[1:] == (3, 16, 16)
    result = run_cli("data", "info", f"imagefolder:{root}", "--img-size", "16", "--val-size", "2")
    assert result.code == 0 and "digit1" in result.stdout, result.stderr


def streamed_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG of `width` × `height` white pixels, compressed as it is written."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    compressor, parts = zlib.compressobj(9), []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )
    return path


def truncated_jpeg(path: Path) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def non_utf8_file(folder: Path) -> Path:
    raw = os.fsencode(folder) + b"/caf\xe9.png"  # Latin-1 'é': valid on Linux, not UTF-8
    solid("L", 9).save(open(raw, "wb"), format="PNG")
    return Path(os.fsdecode(raw))


def non_utf8_subfolder(folder: Path) -> Path:
    raw = os.fsencode(folder) + b"/batch\xe9"
    os.mkdir(raw)
    solid("L", 9).save(open(raw + b"/a.png", "wb"), format="PNG")
    return Path(os.fsdecode(raw))


def non_utf8_class(root: Path) -> Path:
    raw = os.fsencode(root) + b"/\xff\xfeclass"
    os.mkdir(raw)
    solid("L", 9).save(open(raw + b"/a.png", "wb"), format="PNG")
    return Path(os.fsdecode(raw))


def folder_loop(folder: Path) -> Path:
    (folder / "more").mkdir()
    (folder / "more" / "back").symlink_to("..")
    return folder / "more" / "back"


def self_link(folder: Path) -> Path:
    (folder / "self.png").symlink_to("self.png")
    return folder / "self.png"


def broken_link(folder: Path) -> Path:
    (folder / "gone.png").symlink_to(folder / "never-written.png")
    return folder / "gone.png"


BAD_INPUTS = {
    "truncated JPEG": (lambda folder: truncated_jpeg(folder / "cut.jpg"), ["cut.jpg", "truncated"]),
    "20,000 px square PNG": (
        lambda folder: streamed_png(folder / "huge.png", 20_000, 20_000),
        ["huge.png", "too large to decode", "400000000 pixels"],
    ),
    "10,000 px square PNG (Pillow only warns)": (
        lambda folder: streamed_png(folder / "big.png", 10_000, 10_000),
        ["big.png", "10000 × 10000 px", f"{MAX_IMAGE_PIXELS:,} px limit"],
    ),
    "file name not UTF-8": (non_utf8_file, ["caf\\xe9.png", "not valid UTF-8"]),
    "subfolder not UTF-8": (non_utf8_subfolder, ["batch\\xe9/a.png", "not valid UTF-8"]),
    "class folder not UTF-8": (lambda folder: non_utf8_class(folder.parent), ["\\xff\\xfeclass", "not valid UTF-8"]),
    "32-bit float TIFF": (
        lambda folder: solid("F", 0.5).save(folder / "depth.tif"),
        ["depth.tif", "32-bit float pixels have no fixed range"],
    ),
    "symlink to a folder above": (folder_loop, ["more/back", "symlink loop"]),
    "symlink to itself": (self_link, ["self.png", "symlink loop"]),
    "broken symlink": (broken_link, ["gone.png", "broken symlink"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_files_are_refused_in_one_line_and_nothing_is_written(case, tmp_path, run_cli):
    make, expected = BAD_INPUTS[case]
    root = tmp_path / "set"
    write_digit_pngs(root, per_class=6, classes=(0, 1))
    make(root / "digit1")
    out = tmp_path / "teacher"
    result = run_cli(
        "teacher",
        "train",
        "resnet10t",
        "--data",
        f"imagefolder:{root}",
        "--epochs",
        "1",
        "--img-size",
        "16",
        "--batch-size",
        "8",
        "--out",
        out,
    )
    assert result.code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    for words in expected:
        assert words in lines[0], lines[0]
    assert not out.exists()
    with pytest.raises(DataError):  # the Python API refuses the same way
        load_dataset(f"imagefolder:{root}", image_size=16)


def test_transfer_folders_refuse_the_same_files(tmp_path):
    from edgekd.data.unlabeled import load_unlabeled

    root = tmp_path / "transfer"
    write_digit_pngs(root, per_class=2, classes=(0,))
    assert len(load_unlabeled(f"unlabeled:{root}", image_size=8, channels=1).split) == 2
    non_utf8_file(root)
    with pytest.raises(DataError, match="not valid UTF-8"):
        load_unlabeled(f"unlabeled:{root}", image_size=8, channels=1)
