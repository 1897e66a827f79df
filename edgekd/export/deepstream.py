"""DeepStream files for an engine: `labels.txt` and a Gst-nvinfer classifier config.

The classifier runs as a secondary GIE on the objects a detector finds (the usual surveillance
pipeline: detect people/vehicles, then classify each crop); set `process-mode=1` to classify
whole frames instead. nvinfer normalises as `net-scale-factor * (pixel - offsets)`, with one
scale for all channels: a per-channel std is approximated by its mean (the config says so, and
`preprocess_drop.py` measures what that costs on the val split).

The config names the engine (`model-engine-file`) and the ONNX it comes from (`onnx-file`), so
nvinfer rebuilds from the ONNX when the engine is missing or was built on another device. With
a softmax output (`with_softmax`) the confidences nvinfer reports are probabilities and
`classifier-threshold` is a probability; on raw logits the threshold is set below any logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekd.artifacts import atomic_write_text
from edgekd.export.onnx_export import OUTPUT_NAME
from edgekd.verify import PROBS_OUTPUT

if TYPE_CHECKING:  # onnx is imported where it is used
    from onnx import ModelProto

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}  # nvinfer's network-mode values
PROBS_NAME = PROBS_OUTPUT  # the output of the softmax appended for DeepStream (verify compares probabilities then)
DEFAULT_PROBABILITY_THRESHOLD = 0.5  # a crop is labelled only when its top class has ≥ 50 %
LOGIT_THRESHOLD = -1e6  # below any logit: nvinfer always takes the arg-max


@dataclass(frozen=True)
class NvinferModel:
    """What the nvinfer config needs to know about one engine.

    Attributes:
        engine: plan file name (built on the device).
        onnx: the ONNX it is built from (nvinfer's fallback when the plan is missing or foreign).
        precision: fp32 | fp16 | int8.
        max_batch: the engine profile's largest batch.
        arch, class_names, input_size (C, H, W), mean, std: from the model card.
        output: the output tensor nvinfer parses (`logits`, or `probs` with a softmax).
    """

    engine: str
    onnx: str | None
    precision: str
    max_batch: int
    arch: str
    class_names: list[str]
    input_size: list[int]
    mean: list[float]
    std: list[float]
    output: str = OUTPUT_NAME

    @classmethod
    def from_sidecar(cls, sidecar: dict[str, Any]) -> "NvinferModel":
        """From an engine's build sidecar (`<engine>.json`)."""
        return cls(
            sidecar["engine"],
            (sidecar.get("source_onnx") or {}).get("name"),
            sidecar["precision"],
            sidecar["profile"]["max"][0],
            sidecar["card"]["arch"],
            sidecar["class_names"],
            sidecar["input_size"],
            sidecar["mean"],
            sidecar["std"],
            sidecar.get("output_name", OUTPUT_NAME),
        )

    @classmethod
    def from_onnx_metadata(
        cls, onnx_name: str, metadata: dict[str, Any], max_batch: int, output: str = OUTPUT_NAME
    ) -> "NvinferModel":
        """For an engine not built yet (a device bundle): named after its ONNX."""
        card = metadata["card"]
        return cls(
            f"{Path(onnx_name).stem}.engine",
            onnx_name,
            metadata.get("precision", "fp32"),
            max_batch,
            card["arch"],
            card["class_names"],
            card["input"]["input_size"],
            card["input"]["mean"],
            card["input"]["std"],
            output,
        )


def labels_text(class_names: list[str]) -> str:
    """nvinfer classifier label file: one line per output layer, labels separated by ';'."""
    return ";".join(name.replace(";", ",").strip() for name in class_names) + "\n"


def scale_and_offsets(mean: list[float], std: list[float]) -> tuple[float, list[float]]:
    """nvinfer's `net-scale-factor` and per-channel `offsets` (0–255 pixel units) for mean/std.

    nvinfer computes `y = net-scale-factor * (x - offset_c)`: exact when std is the same for
    every channel, else the mean std is used.
    """
    scale_std = sum(std) / len(std)
    return 1.0 / (255.0 * scale_std), [255.0 * m for m in mean]


def nvinfer_config(model: NvinferModel, labels_name: str, threshold: float | None = None) -> str:
    """The `[property]` section of the classifier config (see `write_deepstream`)."""
    channels, height, width = model.input_size
    scale, offsets = scale_and_offsets(model.mean, model.std)
    exact = max(model.std) - min(model.std) < 1e-6
    probabilities = model.output == PROBS_NAME
    threshold = (
        (DEFAULT_PROBABILITY_THRESHOLD if probabilities else LOGIT_THRESHOLD) if threshold is None else threshold
    )
    confidence = (
        "# outputs are softmax probabilities: classifier-threshold is the least probability of the top class."
        if probabilities
        else "# outputs are logits, so the threshold is set below any logit: the default parser takes the arg-max."
    )
    lines = [
        f"# Gst-nvinfer classifier config written by edgekd export for {model.engine}",
        f"# {model.arch}, {len(model.class_names)} classes, {model.precision}.",
        confidence,
    ]
    if not exact:
        lines.append(
            f"# std differs per channel {model.std}: nvinfer takes one scale, so the mean std "
            f"{sum(model.std) / len(model.std):.4f} is used (its top-1 cost: deepstream_preprocess in export.json)"
        )
    lines += [
        "[property]",
        "gpu-id=0",
        f"model-engine-file={model.engine}",
        *([f"onnx-file={model.onnx}"] if model.onnx else []),
        f"labelfile-path={labels_name}",
        f"batch-size={model.max_batch}",
        f"network-mode={NETWORK_MODE.get(model.precision, 0)}",
        "network-type=1",
        "process-mode=2",
        "gie-unique-id=2",
        "operate-on-gie-id=1",
        f"model-color-format={0 if channels == 3 else 2}",
        f"infer-dims={channels};{height};{width}",
        f"net-scale-factor={scale:.8f}",
        f"offsets={';'.join(f'{o:.4f}' for o in offsets)}",
        "maintain-aspect-ratio=0",
        f"output-blob-names={model.output}",
        "classifier-async-mode=0",
        f"classifier-threshold={threshold:g}",
    ]
    return "\n".join(lines) + "\n"


def config_name(engine_name: str) -> str:
    return f"config_infer_{Path(engine_name).stem.replace('.', '_')}.txt"


def write_deepstream(directory: Path, model: NvinferModel, threshold: float | None = None) -> list[Path]:
    """Write `labels.txt` and `config_infer_<engine stem>.txt` into `directory` (atomically)."""
    labels = Path(directory) / "labels.txt"
    config = Path(directory) / config_name(model.engine)
    atomic_write_text(labels, labels_text(model.class_names))
    atomic_write_text(config, nvinfer_config(model, labels.name, threshold))
    return [labels, config]


def with_softmax(proto: ModelProto) -> ModelProto:
    """A copy of a classifier ONNX with `probs = Softmax(logits)` as its only output."""
    import onnx
    from onnx import helper

    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    logits = graph.output[0]
    graph.node.append(helper.make_node("Softmax", [logits.name], [PROBS_NAME], axis=1, name="edgekd_softmax"))
    probs = onnx.ValueInfoProto()
    probs.CopyFrom(logits)
    probs.name = PROBS_NAME
    del graph.output[:]
    graph.output.append(probs)
    return model
