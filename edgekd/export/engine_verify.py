"""`export --trt` builds each engine and checks it against the PyTorch reference before it ships it.

The reference is the bundle's `reference.npz` beside the ONNX (on the device, which has no
dataset), else one made here from the val split (a CUDA server exporting from a checkpoint).
An engine that disagrees is not written (exit 1). Runs only where TensorRT runs.
"""

from __future__ import annotations

from pathlib import Path

from edgekd.artifacts import atomic_path, write_json
from edgekd.engine.progress import Progress
from edgekd.errors import CheckFailed, ConfigError
from edgekd.export.artefacts import ExportRun
from edgekd.export.records import ArtefactRecord, record_file
from edgekd.verify import REFERENCE_NAME, Reference, VerifyRow, check


def engine_reference(run: ExportRun, fp32_path: Path, onnx_paths: list[Path]) -> Reference | None:
    """The reference the engines are held to, or None when there is neither a bundle nor data."""
    beside = [p.parent / REFERENCE_NAME for p in onnx_paths if (p.parent / REFERENCE_NAME).is_file()]
    if beside:
        return Reference.load(beside[0])
    if run.val is None:
        return None
    from edgekd.export.bundle import make_reference

    return make_reference(run, fp32_path, onnx_paths)


def verify_engine(engine_path: Path, reference: Reference, device: str, progress: Progress) -> VerifyRow:
    """Run a freshly built plan on the reference inputs; raise `CheckFailed` if it disagrees."""
    from edgekd.runtime.trt_backend import TensorRTBackend

    row = check(TensorRTBackend(engine_path, device), engine_path.name, reference)
    progress.log(row.line())
    if not row.passed:
        raise CheckFailed(f"the engine disagrees with the PyTorch reference, so it was not written: {row.line()}")
    return row


def build_engines(run: ExportRun, onnx_paths: list[Path], fp32_path: Path) -> list[ArtefactRecord]:
    """Build a plan per ONNX in the work folder, verify it against the reference, then publish it."""
    import shutil

    from edgekd.export.deepstream import NvinferModel, write_deepstream
    from edgekd.export.tensorrt_build import EngineOptions, build_tensorrt_engine
    from edgekd.runtime.ort_backend import read_onnx_file_metadata
    from edgekd.runtime.trt_env import sidecar_path

    config = run.config
    options = EngineOptions(
        tuple(config.batch),
        config.workspace_gb,
        Path(config.timing_cache) if config.timing_cache else run.out / "tensorrt.timing-cache",
        config.dla_core,
        "cuda" if config.device == "cpu" else config.device,
    )
    reference = engine_reference(run, fp32_path, onnx_paths)
    if reference is None:
        run.progress.log(
            "no reference.npz beside the ONNX and no dataset here: the engines are not verified "
            "(ship an export --bundle instead)."
        )
    records = []
    for onnx_path in onnx_paths:
        metadata = read_onnx_file_metadata(onnx_path)
        if metadata.get("precision") == "int8" and (metadata.get("quantization") or {}).get("target") != "tensorrt":
            raise ConfigError(
                f"{onnx_path.name} is a CPU INT8 model (asymmetric U8S8); "
                "TensorRT needs the --int8-target tensorrt one."
            )
        work_engine = run.work / f"{onnx_path.stem}.engine"
        sidecar = build_tensorrt_engine(onnx_path, work_engine, metadata, options, run.progress)
        sidecar["verify"] = (
            verify_engine(work_engine, reference, options.device, run.progress).to_dict()
            if reference is not None
            else None
        )
        engine_path = run.out / work_engine.name
        with atomic_path(engine_path) as tmp:
            shutil.copyfile(work_engine, tmp)
        write_json(sidecar_path(engine_path), sidecar)
        records.append(record_file("tensorrt", sidecar["precision"], engine_path, details=sidecar))
        if config.deepstream:
            for path in write_deepstream(
                engine_path.parent, NvinferModel.from_sidecar(sidecar), config.classifier_threshold
            ):
                records.append(record_file("deepstream", sidecar["precision"], path))
    return records
