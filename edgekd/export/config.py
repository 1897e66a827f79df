"""The export stage's options, typed and validated once (field names match the CLI flags)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgekd.errors import ConfigError

EXPORTERS = ("dynamo", "torchscript")
INT8_TARGETS = ("cpu", "tensorrt")
CALIB_METHODS = ("minmax", "entropy", "percentile")
# dynamo translates at opset 18 (lower opsets go through the version converter, which drops
# ops); the legacy TorchScript exporter writes 9–20. TensorRT 10.3's parser reads up to 20.
OPSET_RANGE = {"dynamo": (18, 21), "torchscript": (11, 20)}


@dataclass(frozen=True)
class ExportConfig:
    """Options of `edgekd export`.

    Attributes:
        checkpoint: an edgekd model artefact (`.safetensors` + `.json` card, or a run directory),
            or an `.onnx` written by edgekd (to build a TensorRT engine on the target).
        out: output directory.
        data: dataset spec of the parity/evaluation images (None: the checkpoint's own dataset).
        data_dir: extra folder to look for Fashion-MNIST in.
        name: file stem of the artefacts (None: the checkpoint's stem, e.g. `student`).
        opset: ONNX opset.
        exporter: `dynamo` (torch.export) or `torchscript` (legacy tracer).
        simplify: run onnxslim on the exported graph.
        bake_preprocess: the model takes uint8 NHWC frames; normalisation happens in the graph.
        parity_samples: val images for the parity gate and the INT8 val figures (None: the whole val split).
        fp16: also write an FP16 ONNX (float32 inputs/outputs), gated at 99.5 % agreement.
        int8: also write INT8 QDQ ONNX models, calibrated from `calib`.
        calib: calibration spec YAML (see calibration/README.md).
        int8_target: one or both of `cpu` (U8S8, what ONNX Runtime runs fastest on x86) and
            `tensorrt` (S8S8 symmetric, explicit quantization); empty: tensorrt with --trt, else cpu.
        calib_method: minmax | entropy | percentile.
        per_channel: per-channel weight scales.
        exclude_op_types: op types kept in float (e.g. `Add`).
        exclude_nodes: node names kept in float (names from the pre-processed graph; see export.json).
        max_drop: sensitivity search: keep the costliest layers in float until the val top-1
            drop is at most this many points.
        speed_search: CPU target: profile the INT8 model per layer and keep in float the layers
            INT8 makes slower (see `speed_search.py`); the faster whole model ships.
        latency: time INT8 against FP32 (batch 1 and 32) on this CPU.
        threads: ONNX Runtime intra-op threads for parity and timing (None: its default).
        trt: build TensorRT engines (needs tensorrt and a CUDA GPU).
        batch: TensorRT optimisation profile, `min,opt,max` (one value: fixed; two: min,max).
        workspace_gb: TensorRT workspace limit (GiB).
        timing_cache: TensorRT timing cache file, loaded if present and saved (None: DIR/tensorrt.timing-cache).
        dla_core: build for this DLA core with GPU fallback (Jetson Orin; where NVIDIA supports it, see `dla.py`).
        deepstream: write labels.txt and an nvinfer classifier config next to each engine.
        device: where the PyTorch reference and ONNX Runtime run for parity (cpu | cuda[:N]).
        bundle: also write a self-checking device bundle into this directory (see `bundle.py`):
            FP32, FP16 and (with --int8) TensorRT-recipe INT8 ONNX, `reference.npz`, labels,
            DeepStream configs, the card and `build.sh`. Its conversions go to the bundle only.
        reference_samples: val images in the bundle's reference (their inputs and PyTorch logits).
        deepstream_softmax: the bundle's GPU ONNX end in a softmax (output `probs`), so nvinfer's
            confidences are probabilities and `classifier-threshold` is one (see `deepstream.py`).
        classifier_threshold: nvinfer's `classifier-threshold` (None: 0.5 on probabilities, below
            any logit otherwise).
    """

    checkpoint: Path
    out: Path
    data: str | None = None
    data_dir: str | None = None
    name: str | None = None
    opset: int = 18
    exporter: str = "dynamo"
    simplify: bool = True
    bake_preprocess: bool = False
    parity_samples: int | None = None
    fp16: bool = False
    int8: bool = False
    calib: Path | None = None
    int8_target: tuple[str, ...] = ()
    calib_method: str = "minmax"
    per_channel: bool = True
    exclude_op_types: tuple[str, ...] = ()
    exclude_nodes: tuple[str, ...] = ()
    max_drop: float | None = None
    speed_search: bool = True
    latency: bool = True
    threads: int | None = None
    trt: bool = False
    batch: tuple[int, ...] = (1, 8, 32)
    workspace_gb: float = 2.0
    timing_cache: Path | None = None
    dla_core: int | None = None
    deepstream: bool = False
    device: str = "cpu"
    bundle: Path | None = None
    reference_samples: int = 256
    deepstream_softmax: bool = False
    classifier_threshold: float | None = None

    @property
    def from_onnx(self) -> bool:
        return Path(self.checkpoint).suffix == ".onnx"

    @property
    def int8_targets(self) -> tuple[str, ...]:
        """The INT8 artefacts to write: as asked, else the one that fits the build target."""
        if not self.int8:
            return ()
        return self.int8_target or (("tensorrt",) if self.trt else ("cpu",))

    def validate(self) -> "ExportConfig":
        """Check every option once; raises `ConfigError` with the flag to fix."""
        if self.exporter not in EXPORTERS:
            raise ConfigError(f"unknown --exporter '{self.exporter}': use {' or '.join(EXPORTERS)}.")
        low, high = OPSET_RANGE[self.exporter]
        if not low <= self.opset <= high:
            raise ConfigError(
                f"--opset {self.opset} is outside what the {self.exporter} exporter writes well ({low}–{high})."
            )
        if self.parity_samples is not None and self.parity_samples < 1:
            raise ConfigError(f"--parity-samples must be at least 1, got {self.parity_samples}.")
        if self.from_onnx and self.bake_preprocess:
            raise ConfigError(
                "--bake-preprocess applies when exporting a checkpoint; this ONNX is already exported (its input "
                "format is fixed)."
            )
        self._validate_int8()
        self._validate_trt()
        if self.reference_samples < 1:
            raise ConfigError(f"--reference-samples must be at least 1, got {self.reference_samples}.")
        if self.bundle is not None and Path(self.bundle).resolve() == Path(self.out).resolve():
            raise ConfigError("--bundle must be a directory of its own, not the --out directory.")
        if self.deepstream_softmax and self.bundle is None:
            raise ConfigError("--deepstream-softmax applies to a device bundle's ONNX; add --bundle DIR.")
        if self.classifier_threshold is not None and self.deepstream_softmax and not 0 <= self.classifier_threshold < 1:
            raise ConfigError(
                "--classifier-threshold is a probability with --deepstream-softmax (0 ≤ p < 1), got "
                f"{self.classifier_threshold}."
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}.")
        return self

    def _validate_int8(self) -> None:
        unknown = [t for t in self.int8_target if t not in INT8_TARGETS]
        if unknown:
            raise ConfigError(f"unknown --int8-target '{unknown[0]}': use cpu, tensorrt or cpu,tensorrt.")
        if self.calib_method not in CALIB_METHODS:
            raise ConfigError(f"unknown --calib-method '{self.calib_method}': use {', '.join(CALIB_METHODS)}.")
        if not self.int8:
            for flag, given in (
                ("--calib", self.calib),
                ("--int8-target", self.int8_target),
                ("--max-drop", self.max_drop),
                ("--exclude-nodes", self.exclude_nodes),
                ("--exclude-op-types", self.exclude_op_types),
            ):
                if given:
                    raise ConfigError(f"{flag} applies to INT8 export; add --int8.")
            return
        if self.calib is None:
            raise ConfigError(
                "--int8 needs --calib SPEC.yaml (e.g. calibration/fmnist-val-512.yaml; see calibration/README.md)."
            )
        if self.max_drop is not None and self.max_drop < 0:
            raise ConfigError(f"--max-drop must be >= 0 points, got {self.max_drop}.")

    def _validate_trt(self) -> None:
        if not self.trt:
            for flag, given in (
                ("--dla-core", self.dla_core is not None),
                ("--deepstream", self.deepstream),
                ("--timing-cache", self.timing_cache),
            ):
                if given:
                    raise ConfigError(f"{flag} applies to TensorRT engines; add --trt.")
            return
        if not 1 <= len(self.batch) <= 3 or any(b < 1 for b in self.batch) or list(self.batch) != sorted(self.batch):
            raise ConfigError(
                "--batch takes 1 to 3 ascending sizes (min,opt,max), e.g. 1,8,32; got "
                f"{','.join(map(str, self.batch))}."
            )
        if self.workspace_gb <= 0:
            raise ConfigError(f"--workspace-gb must be positive, got {self.workspace_gb}.")
        if self.dla_core is not None and self.dla_core < 0:
            raise ConfigError(f"--dla-core must be 0 or 1 (Orin has two DLA cores), got {self.dla_core}.")
        if self.int8 and "tensorrt" not in self.int8_targets:
            raise ConfigError(
                "--trt with --int8 needs --int8-target tensorrt: the CPU INT8 model is asymmetric (U8S8), which "
                "TensorRT's explicit quantization does not take."
            )
        if self.deepstream and self.bake_preprocess:
            raise ConfigError(
                "--deepstream needs float NCHW input (nvinfer normalises frames itself); drop --bake-preprocess."
            )

    def describe(self) -> dict[str, Any]:
        payload = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in payload.items()}
