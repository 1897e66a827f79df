"""`run(config, progress)`: checkpoint → gated FP32 ONNX → FP16 / INT8 ONNX → TensorRT engines.

Every input (checkpoint or ONNX, parity data, calibration spec and its images, TensorRT
availability) is checked before anything is written. Each artefact is built and checked in a
private work folder and moved into `out` only once it has passed, so a failed gate or an
interrupted run leaves no file behind; `export.json` lists what was written and every figure.
The work folder is a hidden `.export-work.<pid>.<random>.tmp` inside `out` (not under /tmp): the
next run on `out` removes one that a SIGKILLed export left (`edgekd.artifacts.work_folder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekd.artifacts import work_folder, write_json
from edgekd.data import Dataset
from edgekd.engine.progress import Progress, SilentProgress
from edgekd.errors import ConfigError
from edgekd.export.artefacts import ExportRun
from edgekd.export.config import ExportConfig
from edgekd.export.onnx_export import OUTPUT_NAME
from edgekd.export.qdq import check_qad_source, qad_int8_onnx
from edgekd.export.records import ArtefactRecord, record_file
from edgekd.export.source import is_qad_checkpoint, open_source
from edgekd.locks import folder_lock
from edgekd.runtime.base import INPUT_NHWC_UINT8

EXPORT_SCHEMA = "edgekd.export/1"


@dataclass
class ExportResult:
    """What `run` wrote: the artefacts in order, and `export.json` describing them."""

    out_dir: Path
    source: dict[str, Any]
    artefacts: list[ArtefactRecord]
    summary_path: Path

    def get(self, precision: str, kind: str = "onnx", target: str | None = None) -> ArtefactRecord | None:
        """The artefact of that kind and precision (and INT8 target), or None."""
        return next(
            (
                a
                for a in self.artefacts
                if a.kind == kind and a.precision == precision and (target is None or a.target == target)
            ),
            None,
        )


def run(config: ExportConfig, progress: Progress | None = None, *, dataset: Dataset | None = None) -> ExportResult:
    """Run the export stage; see `ExportConfig` for the options.

    Args:
        dataset: the parity/calibration data already loaded by the caller, when it is the one
            the config names (a search exporting many candidates of one dataset loads it once);
            None: loaded here.

    Returns:
        The artefacts written (FP32 ONNX, then FP16, INT8 per target, engines, DeepStream
        files) and the path of `export.json`.

    Raises:
        EdgekdError: bad input or a missing prerequisite (exit 2), before anything is written.
        CheckFailed: a parity gate failed (exit 1); the failing artefact is not written.
        FolderInUse: another run is writing `config.out`.
    """
    config = config.validate()
    progress = progress or SilentProgress()
    with folder_lock(config.out, log=progress.log):
        return _export(config, progress, dataset)


export = run  # the former name, kept for the notebooks and tests that call it


def _export(config: ExportConfig, progress: Progress, dataset: Dataset | None) -> ExportResult:
    source = open_source(config.checkpoint)
    if source.kind == "onnx" and not (config.trt or config.fp16 or config.int8):
        raise ConfigError(f"{source.path.name} is already an ONNX: add --trt (build an engine here), --fp16 or --int8.")
    if (
        config.trt
        and source.kind == "onnx"
        and source.precision == "int8"
        and (source.metadata.get("quantization") or {}).get("target") != "tensorrt"
    ):
        raise ConfigError(
            f"{source.path.name} is a CPU INT8 model (asymmetric U8S8); TensorRT needs the --int8-target tensorrt one."
        )
    if config.deepstream and source.input_format == INPUT_NHWC_UINT8:
        raise ConfigError(
            f"--deepstream: {source.path.name} takes uint8 NHWC frames (preprocessing baked in), but nvinfer "
            "feeds normalised NCHW float; use an ONNX exported without --bake-preprocess."
        )
    if (
        config.dla_core is not None
        and source.precision == "fp32"
        and not (config.fp16 or config.int8 or (source.kind == "checkpoint" and is_qad_checkpoint(source.path)))
    ):
        from edgekd.export.dla import dla_refusal

        raise ConfigError(dla_refusal("", None, "fp32", config.dla_core))
    if config.trt:
        from edgekd.runtime.trt_env import require_tensorrt

        require_tensorrt("--trt")
    check_qad_source(source, config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)  # folder_lock made it; removed again if nothing is published
    with work_folder(out, "export-work") as work_dir:
        run = ExportRun(config, source, work_dir, progress, dataset)  # reads and checks every input
        fp32_path, fp32_record = run.fp32_onnx()
        artefacts = [fp32_record] if fp32_record else []
        fp16_record = run.fp16_onnx(fp32_path) if config.fp16 else None
        artefacts += [fp16_record] if fp16_record else []
        int8_records = [record_file("onnx", "int8", **qad_int8_onnx(run, fp32_path))] if run.qad else []
        ptq_records = [run.int8_onnx(fp32_path, target) for target in config.int8_targets]
        int8_records += ptq_records + [run.int8_fp16_onnx(fp32_path, r) for r in ptq_records if r.target == "tensorrt"]
        artefacts += int8_records
        preprocess = None
        if (config.deepstream or config.bundle is not None) and run.val is not None:
            from edgekd.export.preprocess_drop import score_nvinfer_preprocessing

            preprocess = score_nvinfer_preprocessing(run.ort(fp32_path), run.val)
            if preprocess is not None:
                progress.log(preprocess.line())
        if config.bundle is not None:
            from edgekd.export.bundle import write_bundle

            artefacts += write_bundle(run, fp32_path, artefacts, preprocess)
        if config.trt:
            sources = [r.path for r in int8_records if r.target == "tensorrt"] + (
                [fp16_record.path] if fp16_record else []
            )
            from edgekd.export.engine_verify import build_engines

            artefacts += build_engines(run, sources or [fp32_path], fp32_path)
    summary = {
        "schema": EXPORT_SCHEMA,
        "source": source.describe(),
        "output_name": OUTPUT_NAME,
        "artefacts": [a.to_dict() for a in artefacts],
        "deepstream_preprocess": preprocess.to_dict() if preprocess else None,
        "provenance": run.provenance,
    }
    summary_path = out / "export.json"
    write_json(summary_path, summary)
    return ExportResult(out, source.describe(), artefacts, summary_path)
