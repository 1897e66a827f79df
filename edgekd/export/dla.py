"""May this engine be built for a DLA core? TensorRT version × board × the ONNX's precision.

NVIDIA's "Working with DLA" pages (TensorRT 11.3.0, 11.4.0 and 11.4.1 documentation, checked
November 2026) give the support matrix encoded in `DLA_SUPPORT`:

| TensorRT      | DLA                                                                   |
|---------------|-----------------------------------------------------------------------|
| 10.0 – 10.7   | Jetson Orin (JetPack 6 ships 10.3); "10.7 was the last release that supported DLA" |
| 10.8 – 11.3   | none                                                                  |
| 11.4.0        | Windows on ARM only (not JetPack)                                     |
| 11.4.1 and on | Jetson AGX Orin with JetPack 7.2.2 or later; never Jetson Thor (no DLA) |

DLA runs FP16 and INT8 only: a strongly typed FP32 network would quietly fall back to the GPU,
so an FP32 ONNX is refused. The builder's own `num_DLA_cores` is checked at build time too (it
is 0 on a board or JetPack without DLA), so this table only decides what to refuse early and in
words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")  # "NVIDIA Jetson AGX Orin Developer Kit", …
SOURCE = "NVIDIA TensorRT docs, 'Working with DLA' (11.3.0, 11.4.0, 11.4.1)"


@dataclass(frozen=True)
class DlaSupport:
    """One row of NVIDIA's DLA matrix: TensorRT versions [first, last] and the boards it names."""

    first: tuple[int, ...]
    last: tuple[int, ...] | None  # None: this release and every later one
    boards: tuple[str, ...]  # substrings of the board name that qualify ("Orin", "AGX Orin")
    note: str


DLA_SUPPORT = (
    DlaSupport((10, 0), (10, 7, 999), ("Orin",), "TensorRT 10.0–10.7 on Jetson Orin"),
    DlaSupport((11, 4, 1), None, ("AGX Orin",), "TensorRT 11.4.1+ on Jetson AGX Orin with JetPack 7.2.2 or later"),
)


def parse_version(text: str) -> tuple[int, ...]:
    """'10.3.0.30' → (10, 3, 0, 30); anything after the digits is ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:4])


def board_name(path: Path = DEVICE_TREE_MODEL) -> str | None:
    """The Jetson board name from the device tree, or None off a Jetson."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip("\x00\n ") or None
    except OSError:
        return None


def dla_refusal(tensorrt_version: str, board: str | None, precision: str, dla_core: int) -> str | None:
    """Why `--dla-core` cannot be used here, in one line, or None when it may.

    Args:
        tensorrt_version: the installed TensorRT (`tensorrt.__version__`).
        board: the board name (`board_name()`), None when not a Jetson.
        precision: the ONNX's precision (fp32 | fp16 | int8).
        dla_core: the core asked for (Orin has 0 and 1).
    """
    if precision not in ("fp16", "int8"):
        return (
            f"--dla-core: DLA runs FP16 and INT8 only and this ONNX is {precision}; build from the .fp16.onnx or "
            ".int8-tensorrt.onnx (a strongly typed FP32 network would run on the GPU)."
        )
    if dla_core not in (0, 1):
        return f"--dla-core {dla_core}: Jetson Orin has DLA cores 0 and 1."
    if board is not None and "thor" in board.lower():
        return f"--dla-core: {board} has no DLA (Jetson Thor); build for the GPU."
    version = parse_version(tensorrt_version)
    for row in DLA_SUPPORT:
        if version >= row.first and (row.last is None or version <= row.last):
            if board is None or not any(name.lower() in board.lower() for name in row.boards):
                return (
                    f"--dla-core: TensorRT {tensorrt_version} supports DLA only as '{row.note}', and this is "
                    f"{board or 'not a Jetson'} ({SOURCE})."
                )
            return None
    return (
        f"--dla-core: TensorRT {tensorrt_version} has no DLA support on Jetson (DLA: TensorRT 10.0–10.7 on Orin, or "
        f"11.4.1+ on AGX Orin with JetPack 7.2.2+; {SOURCE})."
    )
