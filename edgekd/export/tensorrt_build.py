"""ONNX → TensorRT plan, with one code path for TensorRT 10.x (Jetson) and 11.x (servers).

- A strongly typed network: precision comes from the ONNX itself (FP32, an FP16 ONNX, or a
  QDQ INT8 ONNX with symmetric scales). No builder precision flags and no calibrators: both
  are deprecated in 10 and gone in 11, and a weakly typed network with Q/DQ nodes would need
  the deprecated INT8 flag. `STRONGLY_TYPED` is set where it exists (opt-in on 10, the only
  mode on 11).
- Every ONNX parser error is listed; an optimisation profile comes from `--batch`; the
  workspace is limited with `set_memory_pool_limit`; the timing cache is loaded and saved.
- `--dla-core` (Jetson Orin's DLA, with GPU fallback) where NVIDIA's matrix allows it (see
  `dla.py`), from an FP16 or INT8 ONNX only; the parser's `ADJUST_FOR_DLA` flag is set where it
  exists, and the layers that will fall back to the GPU (`can_run_on_DLA`) are counted.
- The plan is written raw (no header, so `trtexec --loadEngine` reads it) and atomically, with a
  JSON sidecar of the build facts that the runtime checks before loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekd.artifacts import atomic_write_bytes, sha256_file, write_json
from edgekd.engine.progress import Progress
from edgekd.errors import ConfigError, ModelError
from edgekd.export.dla import board_name, dla_refusal
from edgekd.runtime.trt_env import (
    SIDECAR_SCHEMA,
    device_index,
    machine_facts,
    require_tensorrt,
    sidecar_path,
    tensorrt_major,
)

GIB = 1 << 30
# What NVIDIA's "Working with DLA" documents for a DLA build: default device, core, GPU fallback,
# the parser's DLA rewrite flag, the builder's core count and its per-layer capability check.
TRT_DLA_APIS = (
    "default_device_type",
    "DeviceType.DLA",
    "DLA_core",
    "GPU_FALLBACK",
    "ADJUST_FOR_DLA",
    "num_DLA_cores",
    "can_run_on_DLA",
)


@dataclass(frozen=True)
class EngineOptions:
    """How to build.

    Attributes:
        batch: optimisation profile batch sizes: (fixed,), (min, max) or (min, opt, max).
        workspace_gb: builder workspace limit (GiB).
        timing_cache: timing cache file (read if present, written after the build).
        dla_core: DLA core of a Jetson Orin (see `dla.py` for where it is allowed), None for the GPU.
        device: cuda | cuda:N.
    """

    batch: tuple[int, ...] = (1, 8, 32)
    workspace_gb: float = 2.0
    timing_cache: Path | None = None
    dla_core: int | None = None
    device: str = "cuda"


def profile_batches(batch: tuple[int, ...]) -> tuple[int, int, int]:
    """(min, opt, max) from 1–3 sizes; with two, the largest is also the one optimised for."""
    if len(batch) == 1:
        return batch[0], batch[0], batch[0]
    if len(batch) == 2:
        return batch[0], batch[1], batch[1]
    return batch[0], batch[1], batch[2]


def profile_shapes(input_shape: list[int], batch: tuple[int, ...]) -> dict[str, list[int]]:
    """Full min/opt/max input shapes for an input of shape (batch, *rest)."""
    low, opt, high = profile_batches(batch)
    rest = [int(d) for d in input_shape[1:]]
    return {"min": [low, *rest], "opt": [opt, *rest], "max": [high, *rest]}


def trtexec_command(
    onnx_path: Path,
    engine_path: Path,
    input_name: str,
    shapes: dict[str, list[int]],
    options: EngineOptions,
    major: int,
) -> str:
    """The trtexec line that builds the same engine (for people who prefer trtexec)."""
    dims = {k: "x".join(map(str, v)) for k, v in shapes.items()}
    parts = [
        "trtexec",
        f"--onnx={onnx_path.name}",
        f"--saveEngine={engine_path.name}",
        f"--minShapes={input_name}:{dims['min']}",
        f"--optShapes={input_name}:{dims['opt']}",
        f"--maxShapes={input_name}:{dims['max']}",
        f"--memPoolSize=workspace:{int(options.workspace_gb * 1024)}M",
    ]
    if major < 11:
        parts.append("--stronglyTyped")  # the only mode on 11, opt-in on 10
    if options.timing_cache is not None:
        parts.append(f"--timingCacheFile={Path(options.timing_cache).name}")
    if options.dla_core is not None:
        parts += [f"--useDLACore={options.dla_core}", "--allowGPUFallback"]
    return " ".join(parts)


def _parse(trt: Any, builder: Any, logger: Any, onnx_path: Path, for_dla: bool = False) -> tuple[Any, Any, bool]:
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if for_dla and hasattr(trt.OnnxParserFlag, "ADJUST_FOR_DLA"):  # TensorRT 10.x releases after 10.3 and 11.x
        parser.set_flag(trt.OnnxParserFlag.ADJUST_FOR_DLA)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)).strip() for i in range(parser.num_errors)]
        raise ModelError(
            f"TensorRT {trt.__version__} cannot parse {onnx_path.name} ({len(errors)} error(s)): " + " | ".join(errors)
        )
    if network.num_inputs != 1 or network.num_outputs != 1:
        raise ModelError(
            f"{onnx_path.name} has {network.num_inputs} inputs and {network.num_outputs} outputs; edgekd engines "
            "have one of each."
        )
    return network, parser, strongly_typed


def _timing_cache(config: Any, path: Path | None, progress: Progress) -> Any:
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, False):  # False: refuse a cache from another GPU/version
        progress.log(f"timing cache {path} is from another GPU or TensorRT version; starting a fresh one.")
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    return bool(data)


def build_tensorrt_engine(
    onnx_path: Path, engine_path: Path, metadata: dict[str, Any], options: EngineOptions, progress: Progress
) -> dict[str, Any]:
    """Build a plan from an edgekd ONNX and write it with its sidecar.

    Args:
        onnx_path: FP32, FP16 or QDQ INT8 (symmetric) ONNX carrying edgekd metadata.
        engine_path: the plan file to write (`.engine`).
        metadata: the ONNX's `edgekd` metadata (card, precision, input format).

    Returns:
        The sidecar payload (also written to `<engine>.json`).
    """
    trt = require_tensorrt("--trt")
    major = tensorrt_major(trt)
    if options.dla_core is not None:
        refusal = dla_refusal(str(trt.__version__), board_name(), metadata.get("precision", "fp32"), options.dla_core)
        if refusal:
            raise ConfigError(refusal)
    index = device_index(options.device)
    import torch

    torch.cuda.set_device(index)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    if options.dla_core is not None and builder.num_DLA_cores <= options.dla_core:
        raise ConfigError(
            f"--dla-core {options.dla_core}: TensorRT sees {builder.num_DLA_cores} DLA core(s) on this device."
        )
    network, _parser, strongly_typed = _parse(trt, builder, logger, onnx_path, for_dla=options.dla_core is not None)
    tensor = network.get_input(0)
    shapes = profile_shapes(list(tensor.shape), options.batch)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gb * GIB))
    profile = builder.create_optimization_profile()
    profile.set_shape(tensor.name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache_loaded = _timing_cache(config, options.timing_cache, progress)
    dla = None
    if options.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
        layers = [network.get_layer(i) for i in range(network.num_layers)]
        fallback = [layer.name for layer in layers if not config.can_run_on_DLA(layer)]
        dla = {
            "core": options.dla_core,
            "layers": len(layers),
            "gpu_fallback_layers": len(fallback),
            "gpu_fallback": fallback[:50],
        }
        progress.log(
            f"DLA core {options.dla_core}: {len(layers) - len(fallback)} of {len(layers)} layers can run on the "
            f"DLA; {len(fallback)} fall back to the GPU"
        )
    progress.log(
        f"building TensorRT {trt.__version__} engine from {onnx_path.name} (batch "
        f"{shapes['min'][0]}/{shapes['opt'][0]}/{shapes['max'][0]}, workspace {options.workspace_gb:g} GiB)…"
    )
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ModelError(f"TensorRT could not build an engine from {onnx_path.name} (see the TensorRT log above).")
    atomic_write_bytes(engine_path, bytes(plan))
    if options.timing_cache is not None:
        atomic_write_bytes(options.timing_cache, bytes(config.get_timing_cache().serialize()))
    sidecar = sidecar_payload(
        onnx_path,
        engine_path,
        metadata,
        shapes,
        tensor.name,
        options,
        machine_facts(trt, index),
        major,
        strongly_typed,
        cache_loaded,
    )
    sidecar["dla"] = dla
    sidecar["output_name"] = network.get_output(0).name  # `logits`, or `probs` for a DeepStream softmax ONNX
    write_json(sidecar_path(engine_path), sidecar)
    return sidecar


def sidecar_payload(
    onnx_path: Path,
    engine_path: Path,
    metadata: dict[str, Any],
    shapes: dict[str, list[int]],
    input_name: str,
    options: EngineOptions,
    build_facts: dict[str, Any],
    major: int,
    strongly_typed: bool,
    cache_loaded: bool,
) -> dict[str, Any]:
    """The sidecar: what the plan is tied to, what it computes and how to rebuild it."""
    card = metadata["card"]
    return {
        "schema": SIDECAR_SCHEMA,
        "engine": engine_path.name,
        "precision": metadata.get("precision", "fp32"),
        "input_format": metadata.get("input_format"),
        "build": {
            **build_facts,
            "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "strongly_typed": strongly_typed,
        },
        "profile": {"input": input_name, **shapes},
        "workspace_bytes": int(options.workspace_gb * GIB),
        "dla_core": options.dla_core,
        "timing_cache": {"path": str(options.timing_cache) if options.timing_cache else None, "loaded": cache_loaded},
        "source_onnx": {"name": onnx_path.name, "sha256": sha256_file(onnx_path)},
        "class_names": card["class_names"],
        "input_size": card["input"]["input_size"],
        "mean": card["input"]["mean"],
        "std": card["input"]["std"],
        "trtexec": trtexec_command(onnx_path, engine_path, input_name, shapes, options, major),
        "card": card,
    }
