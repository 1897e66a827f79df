"""`edgekd export`: a thin layer over `edgekd.export.export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from edgekd import export as export_stage
from edgekd.cli import options as opt
from edgekd.cli.console import RichProgress, out
from edgekd.errors import ConfigError
from edgekd.export import ExportConfig, ExportResult


def _csv(text: Optional[str]) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _batches(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _csv(text))
    except ValueError as exc:
        raise ConfigError(f"--batch takes comma-separated sizes like 1,8,32; got '{text}'.") from exc


def export_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help=(
                "Model artefact (.safetensors + .json card, or its run directory), or an edgekd .onnx (to build an "
                "engine on the target)."
            )
        ),
    ],
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Output directory (default: <checkpoint dir>/export).")
    ] = None,
    data: Annotated[
        Optional[str],
        typer.Option(
            "--data", help="Dataset spec of the parity images (default: the checkpoint's own; its val split is used)."
        ),
    ] = None,
    data_dir: opt.DataDir = None,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="File stem of the artefacts (default: the checkpoint's, e.g. student)."),
    ] = None,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset (dynamo: 18–21, torchscript: 11–20).")] = 18,
    exporter: Annotated[
        str, typer.Option("--exporter", help="dynamo (torch.export) or torchscript (legacy tracer).")
    ] = "dynamo",
    simplify: Annotated[
        bool, typer.Option("--simplify/--no-simplify", help="Simplify the graph with onnxslim.")
    ] = True,
    bake_preprocess: Annotated[
        bool,
        typer.Option(
            "--bake-preprocess", help="Take uint8 NHWC camera frames; normalisation and layout change run in the graph."
        ),
    ] = False,
    parity_samples: Annotated[
        Optional[int],
        typer.Option(
            "--parity-samples", help="Val images for the parity gate and INT8 val figures (default: all of val)."
        ),
    ] = None,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16", help="Also write an FP16 ONNX (gated at 99.5 % top-1 agreement); the FP16 source for TensorRT."
        ),
    ] = False,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write INT8 QDQ ONNX models, calibrated from --calib.")
    ] = False,
    calib: Annotated[
        Optional[Path], typer.Option("--calib", help="Calibration spec YAML, e.g. calibration/fmnist-val-512.yaml.")
    ] = None,
    int8_target: Annotated[
        Optional[str],
        typer.Option(
            "--int8-target",
            help=(
                "cpu (U8S8, fastest in ONNX Runtime on x86), tensorrt (S8S8 symmetric) or cpu,tensorrt. Default: "
                "tensorrt with --trt, else cpu."
            ),
        ),
    ] = None,
    calib_method: Annotated[str, typer.Option("--calib-method", help="minmax, entropy or percentile.")] = "minmax",
    per_channel: Annotated[
        bool,
        typer.Option("--per-channel/--per-tensor", help="Weight scales per output channel (depthwise convs need it)."),
    ] = True,
    exclude_op_types: Annotated[
        Optional[str],
        typer.Option("--exclude-op-types", help="Op types kept in float, comma-separated (e.g. Add,Gemm)."),
    ] = None,
    exclude_nodes: Annotated[
        Optional[str],
        typer.Option(
            "--exclude-nodes", help="Node names kept in float, comma-separated (export.json lists weighted_nodes)."
        ),
    ] = None,
    max_drop: Annotated[
        Optional[float],
        typer.Option(
            "--max-drop",
            help=(
                "Sensitivity search: keep the costliest layers in float until the val top-1 drop is at most PTS points."
            ),
        ),
    ] = None,
    speed_search: Annotated[
        bool,
        typer.Option(
            "--speed-search/--no-speed-search",
            help=(
                "CPU INT8: profile each layer and keep in float those INT8 makes slower (the faster whole model ships)."
            ),
        ),
    ] = True,
    latency: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Time CPU INT8 against FP32 at batch 1 and 32.")
    ] = True,
    threads: Annotated[
        Optional[int],
        typer.Option("--threads", help="ONNX Runtime intra-op threads for parity and timing (default: its own)."),
    ] = None,
    trt: Annotated[
        bool,
        typer.Option("--trt", help="Build TensorRT engines (needs tensorrt and a CUDA GPU; see Dockerfile.jetson)."),
    ] = False,
    batch: Annotated[
        str, typer.Option("--batch", help="TensorRT optimisation profile: min,opt,max batch sizes.")
    ] = "1,8,32",
    workspace_gb: Annotated[
        float, typer.Option("--workspace-gb", help="TensorRT builder workspace limit (GiB).")
    ] = 2.0,
    timing_cache: Annotated[
        Optional[Path],
        typer.Option(
            "--timing-cache", help="TensorRT timing cache file, loaded and saved (default: DIR/tensorrt.timing-cache)."
        ),
    ] = None,
    dla_core: Annotated[
        Optional[int],
        typer.Option(
            "--dla-core",
            help=(
                "Build for this DLA core of a Jetson Orin, with GPU fallback (FP16/INT8 ONNX; TensorRT 10.0–10.7, or "
                "11.4.1+ on AGX Orin: see docs/export.md)."
            ),
        ),
    ] = None,
    deepstream: Annotated[
        bool,
        typer.Option(
            "--deepstream", help="Also write labels.txt and an nvinfer classifier config next to each engine."
        ),
    ] = False,
    device: opt.Device = "cpu",
    bundle: Annotated[
        Optional[Path],
        typer.Option(
            "--bundle",
            help=(
                "Also write a self-checking device bundle here: FP32/FP16/INT8 ONNX, reference.npz, DeepStream "
                "config, build.sh (see docs/export.md)."
            ),
        ),
    ] = None,
    reference_samples: Annotated[
        int,
        typer.Option("--reference-samples", help="Val images in the bundle's reference.npz (inputs + PyTorch logits)."),
    ] = 256,
    deepstream_softmax: Annotated[
        bool,
        typer.Option(
            "--deepstream-softmax",
            help="The bundle's GPU ONNX end in a softmax, so nvinfer's confidences are probabilities.",
        ),
    ] = False,
    classifier_threshold: Annotated[
        Optional[float],
        typer.Option(
            "--classifier-threshold",
            help="nvinfer classifier-threshold (default: 0.5 with --deepstream-softmax, else below any logit).",
        ),
    ] = None,
) -> None:
    """Export a checkpoint to ONNX (parity-gated), FP16, INT8 and TensorRT; writes DIR/export.json."""
    config = ExportConfig(
        checkpoint=checkpoint,
        out=out_dir if out_dir is not None else (checkpoint if checkpoint.is_dir() else checkpoint.parent) / "export",
        data=data,
        data_dir=data_dir,
        name=name,
        opset=opset,
        exporter=exporter,
        simplify=simplify,
        bake_preprocess=bake_preprocess,
        parity_samples=parity_samples,
        fp16=fp16,
        int8=int8,
        calib=calib,
        int8_target=_csv(int8_target),
        calib_method=calib_method,
        per_channel=per_channel,
        exclude_op_types=_csv(exclude_op_types),
        exclude_nodes=_csv(exclude_nodes),
        max_drop=max_drop,
        speed_search=speed_search,
        latency=latency,
        threads=threads,
        trt=trt,
        batch=_batches(batch),
        workspace_gb=workspace_gb,
        timing_cache=timing_cache,
        dla_core=dla_core,
        deepstream=deepstream,
        device=device,
        bundle=bundle,
        reference_samples=reference_samples,
        deepstream_softmax=deepstream_softmax,
        classifier_threshold=classifier_threshold,
    )
    result = export_stage.run(config, RichProgress())
    print_result(result)


def _figures(record) -> str:
    if record.parity is not None:
        p = record.parity
        return f"agree {p.agreement:.2f} %, |Δ| ≤ {p.max_abs_diff:.0e}"
    if record.int8 is not None:
        split = "test" if "test" in record.int8.accuracy else "val"
        a = record.int8.accuracy.get(split)
        return f"{split} top-1 {a['int8_top1']:.2f} % ({-a['drop']:+.2f} pt)" if a else ""
    if record.kind == "tensorrt":
        d = record.details
        return f"TRT {d['build']['tensorrt']}, batch {d['profile']['min'][0]}–{d['profile']['max'][0]}"
    return ""


def print_result(result: ExportResult) -> None:
    """The Ultralytics-style table (one row per artefact), then each INT8 verdict in full."""
    table = Table(title=f"edgekd export → {result.out_dir}")
    table.add_column("artefact", no_wrap=True)
    table.add_column("precision", no_wrap=True)
    table.add_column("MB", justify="right")
    table.add_column("check")
    table.add_column("figures")
    for record in result.artefacts:
        if record.kind == "bundle":
            continue
        precision = record.precision + (f"/{record.target}" if record.target else "")
        check = "parity ✓" if record.parity is not None else ("→ " + record.int8.recommend if record.int8 else "")
        table.add_row(record.path.name, precision, f"{record.size_bytes / 1e6:.1f}", check, _figures(record))
    out.print(table)
    for record in result.artefacts:
        if record.int8 is not None:
            colour = "green" if record.int8.recommend == "int8" else "yellow"
            out.print(f"[{colour}]{record.path.name}:[/] {record.int8.verdict}", highlight=False)
    bundled = [r for r in result.artefacts if r.kind == "bundle"]
    if bundled:
        out.print(
            f"device bundle: {bundled[0].path.parent} ({len(bundled)} files); check it here with 'edgekd verify "
            f"{bundled[0].path.parent}', on the device with its build.sh",
            soft_wrap=True,
        )
    out.print(f"[bold green]export done[/] {result.summary_path}")
