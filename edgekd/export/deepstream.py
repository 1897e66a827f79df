"""DeepStream files for an engine: `labels.txt` and a Gst-nvinfer classifier config.

The classifier runs as a secondary GIE on the objects a detector finds (the usual surveillance
pipeline: detect people/vehicles, then classify each crop); set `process-mode=1` to classify
whole frames instead. nvinfer normalises as `net-scale-factor * (pixel - offsets)`, with one
scale for all channels: a per-channel std is approximated by its mean (the config says so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekd.artifacts import atomic_write_text
from edgekd.export.onnx_export import OUTPUT_NAME

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}  # nvinfer's network-mode values


def labels_text(class_names: list[str]) -> str:
    """nvinfer classifier label file: one line per output layer, labels separated by ';'."""
    return ";".join(name.replace(";", ",").strip() for name in class_names) + "\n"


def nvinfer_config(sidecar: dict[str, Any], labels_name: str) -> str:
    """The `[property]` section for an edgekd engine (see `write_deepstream`)."""
    channels, height, width = sidecar["input_size"]
    mean, std = sidecar["mean"], sidecar["std"]
    scale_std = sum(std) / len(std)
    exact = max(std) - min(std) < 1e-6
    offsets = ";".join(f"{255.0 * m:.4f}" for m in mean)
    note = "" if exact else f"# std differs per channel {std}: nvinfer takes one scale, so the mean std {scale_std:.4f} is used (small accuracy cost; check with edgekd eval)\n"
    return (
        f"# Gst-nvinfer classifier config written by edgekd export for {sidecar['engine']}\n"
        f"# {sidecar['card']['arch']}, {len(sidecar['class_names'])} classes, {sidecar['precision']}; outputs are logits, so the\n"
        "# threshold below is on logits: the default parser takes the arg-max above it.\n"
        f"{note}"
        "[property]\n"
        "gpu-id=0\n"
        f"model-engine-file={sidecar['engine']}\n"
        f"labelfile-path={labels_name}\n"
        f"batch-size={sidecar['profile']['max'][0]}\n"
        f"network-mode={NETWORK_MODE.get(sidecar['precision'], 0)}\n"
        "network-type=1\n"
        "process-mode=2\n"
        "gie-unique-id=2\n"
        "operate-on-gie-id=1\n"
        f"model-color-format={0 if channels == 3 else 2}\n"
        f"infer-dims={channels};{height};{width}\n"
        f"net-scale-factor={1.0 / (255.0 * scale_std):.8f}\n"
        f"offsets={offsets}\n"
        "maintain-aspect-ratio=0\n"
        f"output-blob-names={OUTPUT_NAME}\n"
        "classifier-async-mode=0\n"
        "classifier-threshold=-1000000\n"
    )


def write_deepstream(engine_path: Path, sidecar: dict[str, Any]) -> list[Path]:
    """Write `labels.txt` and `config_infer_<engine stem>.txt` next to the engine (atomically)."""
    labels = engine_path.with_name("labels.txt")
    config = engine_path.with_name(f"config_infer_{engine_path.stem.replace('.', '_')}.txt")
    atomic_write_text(labels, labels_text(sidecar["class_names"]))
    atomic_write_text(config, nvinfer_config(sidecar, labels.name))
    return [labels, config]
