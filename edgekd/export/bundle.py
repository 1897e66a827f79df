"""The device bundle: everything a Jetson needs to build engines and prove them, in one folder.

`edgekd export … --bundle DIR` writes, with every precision conversion done here where the data
is (the device has no dataset):

- `student.onnx` (FP32), `student.fp16.onnx` (FP16, float32 I/O), and with `--int8`
  `student.int8-tensorrt.onnx` (QDQ S8S8, FP32 rest) and `student.int8-fp16.onnx` (QDQ, FP16
  rest): each gated or judged here exactly like `--fp16`/`--int8` artefacts;
- `reference.npz`: a few hundred real val images as the model's input tensor, their PyTorch
  logits and the thresholds per artefact (see `edgekd.verify`);
- `labels.txt`, one nvinfer config per GPU artefact (`model-engine-file` + `onnx-file`), the
  model card (`card.json`), `bundle.json` (files, sha256, figures) and `build.sh`, which runs
  the documented container commands on the device: build each engine with `edgekd export
  X.onnx --trt` (itself verified against the reference), then `edgekd verify . --backend trt`.

Thresholds: FP32 artefacts are held to the export's FP32 gate. FP16 and INT8 ones are held to
what ONNX Runtime measured here on the same inputs, with a margin (TensorRT picks other kernels
and fusions than ONNX Runtime, so its logits differ a little), never tighter than the gates.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgekd.artifacts import atomic_path, atomic_write_text, sha256_file, write_json
from edgekd.errors import ModelError
from edgekd.export.calibration import prepared_inputs
from edgekd.export.deepstream import PROBS_NAME, NvinferModel, labels_text, with_softmax, write_deepstream
from edgekd.export.onnx_export import OUTPUT_NAME
from edgekd.export.parity import FP16_GATE, FP32_GATE
from edgekd.export.records import ArtefactRecord, record_file
from edgekd.export.samples import ImageSet
from edgekd.runtime.base import INPUT_NCHW_FLOAT
from edgekd.verify import REFERENCE_NAME, Reference, Threshold, check

if TYPE_CHECKING:
    from edgekd.export.artefacts import ExportRun
    from edgekd.export.preprocess_drop import PreprocessScore

BUNDLE_SCHEMA = "edgekd.bundle/1"
# Points of agreement below the ONNX Runtime figure, and how far past ORT's max |Δlogit| a
# device artefact may go: (factor, absolute floor in logit units).
AGREEMENT_MARGIN = {"fp16": 0.5, "int8": 2.0}
DIFF_MARGIN = {"fp16": (2.0, 0.05), "int8": (2.0, 0.5)}
PERMISSIVE = Threshold(0.0, float("inf"))  # for measuring before the thresholds exist


def reference_images(val: ImageSet, samples: int) -> ImageSet:
    """A seeded stratified subset of val (all of it when it is small)."""
    if len(val) <= samples:
        return val
    import torch

    from edgekd.data.splits import stratified_subset

    index = torch.as_tensor(stratified_subset(val.labels.numpy(), samples, 0))
    return ImageSet(val.split, val.spec, val.images[index], val.labels[index])


def derived_threshold(precision: str, agreement: float, max_abs_diff: float) -> Threshold:
    """The threshold a device artefact of `precision` must meet, from the ONNX Runtime figures."""
    if precision == "fp32":
        assert FP32_GATE.max_abs_diff is not None  # the FP32 gate bounds the logit difference
        return Threshold(FP32_GATE.min_agreement, FP32_GATE.max_abs_diff)
    min_agreement = agreement - AGREEMENT_MARGIN[precision]
    if precision == "fp16":
        min_agreement = min(FP16_GATE.min_agreement, min_agreement)
    factor, absolute = DIFF_MARGIN[precision]
    return Threshold(round(max(0.0, min_agreement), 3), round(factor * max_abs_diff + absolute, 4))


def build_script(onnx_names: list[str], max_batch: int, batch: str, extra: str = "") -> str:
    """`build.sh`: the container commands of docs/export.md, run from the bundle directory."""
    builds = "\n".join(f'run export {name} --trt --batch "$BATCH" --deepstream{extra} --out .' for name in onnx_names)
    return f"""#!/usr/bin/env bash
# Build TensorRT engines from this bundle's ONNX on the Jetson (or a CUDA server) and check each one
# against the PyTorch reference (reference.npz). Written by edgekd export --bundle; see docs/export.md.
#   ./build.sh                    # JetPack 6 image edgekd:jp6 (docker build -f Dockerfile.jetson -t edgekd:jp6 .)
#   EDGEKD_IMAGE=edgekd:jp7 ./build.sh
#   EDGEKD_LOCAL=1 ./build.sh     # edgekd installed on this machine, no container
# Every 'export … --trt' verifies the engine it built and keeps it only if it agrees with PyTorch;
# the last step checks all engines together (exit 1 if one disagrees).
set -euo pipefail
cd "$(dirname "$0")"
IMAGE="${{EDGEKD_IMAGE:-edgekd:jp6}}"
BATCH="${{BATCH:-{batch}}}"   # engine profile min,opt,max (DeepStream batch-size is the max, {max_batch})
run() {{
    if [ -n "${{EDGEKD_LOCAL:-}}" ]; then
        edgekd "$@"
    else
        docker run --rm --runtime nvidia -v /run/jtop.sock:/run/jtop.sock -v "$PWD:/work/bundle" -w /work/bundle \\
            "$IMAGE" "$@"
    fi
}}
{builds}
run verify . --backend trt
"""


def write_bundle(
    run: "ExportRun", fp32_path: Path, records: list[ArtefactRecord], preprocess: "PreprocessScore | None" = None
) -> list[ArtefactRecord]:
    """Write the device bundle into `run.config.bundle`; returns one record per file written.

    Args:
        run: the export in progress (its val images, reference model and conversions).
        fp32_path: the gated FP32 ONNX.
        records: the artefacts the export wrote to `--out` (reused when the bundle needs them).
        preprocess: what nvinfer's single scale factor costs on val (recorded in bundle.json).
    """
    assert run.config.bundle is not None  # called only for --bundle
    final = Path(run.config.bundle)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Built in a staging folder and swapped in whole: an interrupted export leaves the previous
    # bundle as it was, and no file of an older bundle (an engine, an INT8 model this export did
    # not make) survives next to a reference it was not checked against. The staging (and the
    # old bundle while it is removed) sits in the export's work folder, which the next run on
    # --out removes if this one is killed; only across file systems (no rename) beside the bundle.
    scratch = run.work if os.stat(run.work).st_dev == os.stat(final.parent).st_dev else final.parent
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=scratch))
    try:
        names = _write_into(staging, run, fp32_path, records, preprocess)
        _replace_directory(staging, final, scratch)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    precisions = Reference.load(final / REFERENCE_NAME).info.get("precisions", {})
    return [record_file("bundle", precisions.get(name, ""), final / name) for name in names]


def _replace_directory(new: Path, target: Path, scratch: Path) -> None:
    """Move `new` to `target`, replacing what was there (two renames on one filesystem); the
    previous `target` is moved into `scratch` and removed there."""
    old = None
    if target.exists():
        old = scratch / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_into(
    bundle: Path, run: "ExportRun", fp32_path: Path, records: list[ArtefactRecord], preprocess: "PreprocessScore | None"
) -> list[str]:
    """Write every bundle file into `bundle` (the staging folder); returns their names."""
    config, progress = run.config, run.progress
    progress.log(f"device bundle → {config.bundle}")
    onnx_files: list[Path] = []
    with atomic_path(bundle / fp32_path.name) as tmp:
        shutil.copyfile(fp32_path, tmp)
    onnx_files.append(bundle / fp32_path.name)
    figures: dict[str, dict] = {}

    def bring(suffix: str, make) -> ArtefactRecord:
        """The `--out` artefact named `<name><suffix>` copied in, else `make()` it into the bundle."""
        existing = next((r for r in records if r.kind == "onnx" and r.path.name == f"{run.name}{suffix}"), None)
        if existing is not None:
            with atomic_path(bundle / existing.path.name) as tmp:
                shutil.copyfile(existing.path, tmp)
            onnx_files.append(bundle / existing.path.name)
            return existing
        with run.publishing_to(bundle):
            made = make()
        onnx_files.append(made.path)
        return made

    fp16 = bring(".fp16.onnx", lambda: run.fp16_onnx(fp32_path))
    figures[fp16.path.name] = {"parity": fp16.parity.to_dict() if fp16.parity else None}
    exported_int8 = any(
        r.kind == "onnx" and r.path.name == f"{run.name}.int8-tensorrt.onnx" for r in records
    )  # PTQ or QAD
    if exported_int8 or (config.int8 and run.calib_images is not None):
        int8 = bring(".int8-tensorrt.onnx", lambda: run.int8_onnx(fp32_path, "tensorrt"))
        try:
            mixed = bring(".int8-fp16.onnx", lambda: run.int8_fp16_onnx(fp32_path, int8))
        except (
            ModelError
        ) as exc:  # a graph the FP16 pass cannot take (e.g. a ModelOpt QDQ export): ship INT8 with FP32 rest
            progress.log(f"bundle: no INT8 + FP16 model: {exc}")
            mixed = None
        for record in (r for r in (int8, mixed) if r is not None):
            figures[record.path.name] = {
                "int8": record.int8.to_dict() if record.int8 else None,
                **(
                    {"mixed_precision": record.details["mixed_precision"]}
                    if "mixed_precision" in record.details
                    else {}
                ),
            }
    else:
        progress.log("bundle: no INT8 model (add --int8 --calib SPEC.yaml to ship one).")

    if config.deepstream_softmax:  # the FP32 file (first) stays on logits: it is the parity reference
        for path in onnx_files[1:]:
            append_softmax(path)
        progress.log(
            f"bundle: {', '.join(p.name for p in onnx_files[1:])} end in a softmax (output '{PROBS_NAME}') for "
            "DeepStream"
        )
    reference = make_reference(run, fp32_path, onnx_files)
    reference.save(bundle / REFERENCE_NAME)
    written = [*onnx_files, bundle / REFERENCE_NAME]
    written += device_files(run, bundle, onnx_files, reference)
    manifest = {
        "schema": BUNDLE_SCHEMA,
        "model": run.card.arch,
        "source": run.source.describe() | {"path": run.source.path.name},
        "reference": {
            "samples": len(reference.logits),
            **{k: v for k, v in reference.info.items() if k != "class_names"},
        },
        "thresholds": {k: vars(v) for k, v in reference.thresholds.items()},
        "files": {p.name: {"sha256": sha256_file(p), "size_bytes": p.stat().st_size} for p in written},
        "figures": figures,
        "deepstream_preprocess": preprocess.to_dict() if preprocess else None,
        "device_steps": "./build.sh (see docs/export.md: the device bundle)",
        "provenance": run.provenance,
    }
    write_json(bundle / "bundle.json", manifest)
    return [p.name for p in written] + ["bundle.json"]


def append_softmax(path: Path) -> None:
    """Rewrite an ONNX in place (atomically) with `probs = Softmax(logits)` as its output."""
    import onnx

    proto = with_softmax(onnx.load(str(path)))
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))


def make_reference(run: "ExportRun", fp32_path: Path, onnx_files: list[Path]) -> Reference:
    """Reference inputs and PyTorch logits, and a threshold per bundle ONNX from what ORT measures."""
    fp32 = run.ort(fp32_path)
    as_frames = fp32.input_format != INPUT_NCHW_FLOAT
    assert run.val is not None  # a bundle's reference comes from val
    images = reference_images(run.val, run.config.reference_samples)
    reference_name, reference = run.reference(images, as_frames)
    provisional = Reference(
        prepared_inputs(fp32, images),
        reference.logits.numpy(),
        images.labels.numpy(),
        {"fp32": PERMISSIVE, "fp16": PERMISSIVE, "int8": PERMISSIVE},
        {"input_format": fp32.input_format},
    )
    thresholds = {"fp32": derived_threshold("fp32", 100.0, 0.0)}
    precisions, measured = {}, {}
    for path in onnx_files:
        row = check(run.ort(path), path.name, provisional)
        precisions[path.name] = row.precision
        measured[path.stem] = {"agreement": row.agreement, "max_abs_diff": row.max_abs_diff}
        threshold = derived_threshold(row.precision, row.agreement, row.max_abs_diff)
        thresholds[path.stem] = threshold
        run.progress.log(
            f"reference: {path.name} in ONNX Runtime agrees on {row.agreement:.2f} % (max |Δlogit| "
            f"{row.max_abs_diff:.2e}) → device threshold ≥ {threshold.min_agreement:g} %, ≤ "
            f"{threshold.max_abs_diff:g}"
        )
    for precision in (
        "fp16",
        "int8",
    ):  # artefacts named otherwise (a renamed file) fall back to the loosest of their precision
        same = [thresholds[Path(n).stem] for n, p in precisions.items() if p == precision]
        if same:
            thresholds[precision] = Threshold(min(t.min_agreement for t in same), max(t.max_abs_diff for t in same))
    info = {
        "input_format": fp32.input_format,
        "reference": reference_name,
        "dataset": images.spec,
        "split": images.split,
        "class_names": run.card.class_names,
        "source_sha256": run.source.sha256,
        "measured_here": measured,
        "precisions": precisions,
    }
    return Reference(provisional.inputs, provisional.logits, provisional.labels, thresholds, info)


def device_files(run: "ExportRun", bundle: Path, onnx_files: list[Path], reference: Reference) -> list[Path]:
    """labels.txt, one nvinfer config per GPU artefact, card.json and build.sh."""
    from edgekd.runtime.ort_backend import read_onnx_file_metadata

    config = run.config
    written = []
    gpu_onnx = [p for p in onnx_files if reference.info["precisions"].get(p.name) != "fp32"] or onnx_files[:1]
    if reference.input_format == INPUT_NCHW_FLOAT:
        for path in gpu_onnx:
            output = PROBS_NAME if config.deepstream_softmax else OUTPUT_NAME
            model = NvinferModel.from_onnx_metadata(path.name, read_onnx_file_metadata(path), max(config.batch), output)
            written += [p for p in write_deepstream(bundle, model, config.classifier_threshold) if p not in written]
    else:  # nvinfer feeds normalised NCHW float; a baked-preprocessing model cannot take it
        atomic_write_text(bundle / "labels.txt", labels_text(run.card.class_names))
        written.append(bundle / "labels.txt")
        run.progress.log(
            "bundle: no DeepStream config (the model takes uint8 NHWC frames; nvinfer feeds normalised NCHW float)."
        )
    write_json(bundle / "card.json", run.card.to_dict())
    written.append(bundle / "card.json")
    script = bundle / "build.sh"
    extra = (
        f" --classifier-threshold {config.classifier_threshold:g}" if config.classifier_threshold is not None else ""
    )
    atomic_write_text(
        script, build_script([p.name for p in gpu_onnx], max(config.batch), ",".join(map(str, config.batch)), extra)
    )
    script.chmod(0o755)
    written.append(script)
    return written
