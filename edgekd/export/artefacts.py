"""One export run: its checked inputs, cached predictions, and a builder per artefact.

`ExportRun` reads every input once (source, parity and test images, calibration images) and
builds each artefact in the private work folder, gated before it is published: the FP32 ONNX,
FP16, INT8 per target (with the sensitivity and speed searches) and INT8 with FP16 in its other
layers. The stage (`stage.py`) decides which to build; the device bundle and the engine check
take the run to build and judge their own files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import onnx

from edgekd import __version__
from edgekd.artifacts import atomic_path, full_disk_named, provenance
from edgekd.data import Dataset
from edgekd.engine.metrics import Predictions
from edgekd.engine.progress import Progress
from edgekd.errors import ConfigError
from edgekd.export import calibration as calib
from edgekd.export.config import ExportConfig
from edgekd.export.int8_report import (
    DEFAULT_DROP_BUDGET,
    LATENCY_BATCHES,
    Int8Report,
    accuracy_block,
    judge,
    measure_speed,
)
from edgekd.export.onnx_export import convert_to_fp16, export_onnx, save_with_metadata
from edgekd.export.parity import FP16_GATE, FP32_GATE, ParityReport, compare, enforce
from edgekd.export.quantize import QuantRecipe, preprocess, quantize, weighted_nodes
from edgekd.export.records import ArtefactRecord, record_file
from edgekd.export.samples import ImageSet, check_classes, data_config_for, load_for_card, predict_backend, take
from edgekd.export.sensitivity import search
from edgekd.export.source import ExportSource, is_qad_checkpoint
from edgekd.export.speed_search import SpeedSearch, slow_int8_nodes
from edgekd.runtime.base import INPUT_NHWC_UINT8, Backend
from edgekd.runtime.ort_backend import OrtBackend
from edgekd.runtime.timing import compare_latency
from edgekd.runtime.torch_backend import TorchBackend

PROBE_SAMPLES = 512  # val images for ranking layers in the sensitivity search


class ExportRun:
    """One export run: shared inputs, cached predictions, and one method per artefact."""

    def __init__(
        self, config: ExportConfig, source: ExportSource, work: Path, progress: Progress, dataset: Dataset | None = None
    ):
        self.config, self.source, self.work, self.progress = config, source, work, progress
        self.card = source.card
        self.out = Path(config.out)
        self.name = config.name or source.path.stem
        self.provenance = provenance(config.describe())
        self._predictions: dict[tuple, Predictions] = {}
        self.val = self.test = None
        self.qad = source.kind == "checkpoint" and is_qad_checkpoint(
            source.path
        )  # its INT8 comes from edgekd.export.qdq
        needs_data = source.kind == "checkpoint" or config.fp16 or config.int8 or config.bundle is not None
        if needs_data:
            if dataset is None:
                dataset = load_for_card(data_config_for(self.card, config.data, config.data_dir, progress), self.card)
            else:
                check_classes(dataset, self.card)
            self.val = take(dataset.val, dataset.spec, config.parity_samples)
            self.test = take(dataset.test, dataset.spec, None) if config.int8 or self.qad else None
            progress.log(f"parity images: {len(self.val)} from the val split of {dataset.spec}")
        self.calib_spec = self.calib_images = None
        if config.int8:
            self.calib_spec = calib.load_calibration_spec(config.calib)
            self.calib_images = calib.calibration_images(self.calib_spec, self.card, config.data_dir, progress)

    # -- shared helpers ------------------------------------------------------------------
    def ort(self, path: Path) -> OrtBackend:
        return OrtBackend(path, self.config.device, self.config.threads)

    def predict(self, key: tuple, backend_factory, images: ImageSet, as_frames: bool) -> Predictions:
        cache_key = (*key, images.split, len(images), as_frames)
        if cache_key not in self._predictions:
            self._predictions[cache_key] = predict_backend(backend_factory(), images, as_frames=as_frames)
        return self._predictions[cache_key]

    def reference(self, images: ImageSet, as_frames: bool) -> tuple[str, Predictions]:
        """The parity reference: the PyTorch model, or the input ONNX when exporting from one."""
        if self.source.kind == "checkpoint":
            return "torch fp32", self.predict(
                ("torch",), lambda: TorchBackend(self.source.path, self.config.device), images, as_frames
            )
        return f"onnx {self.source.precision}", self.predict(
            ("source",), lambda: self.ort(self.source.path), images, as_frames
        )

    def payload(self, precision: str, input_format: str, facts: dict[str, Any]) -> dict[str, Any]:
        """The `edgekd` metadata of an ONNX artefact."""
        if self.source.kind == "onnx":  # keep the checkpoint's facts; note the ONNX it came from
            inherited = {
                k: v
                for k, v in self.source.metadata.items()
                if k in ("source", "exporter", "opset", "simplified", "bake_preprocess")
            }
            inherited["derived_from"] = {"name": self.source.path.name, "sha256": self.source.sha256}
        else:
            inherited = {"source": self.source.describe() | {"path": self.source.path.name}}
        return {
            "card": self.card.to_dict(),
            "input_format": input_format,
            "precision": precision,
            "edgekd_version": __version__,
            **inherited,
            **facts,
            "provenance": self.provenance,
        }

    def gate(self, proto, payload: dict, work_path: Path, gate, label: str) -> tuple[Backend, ParityReport]:
        with full_disk_named(self.out / work_path.name):  # the work folder is inside `out`
            save_with_metadata(proto, work_path, payload)
        candidate = self.ort(work_path)
        as_frames = candidate.input_format == INPUT_NHWC_UINT8
        reference_name, reference = self.reference(self.val, as_frames)
        predictions = self.predict(("work", work_path.name), lambda: candidate, self.val, as_frames)
        report = compare(reference, predictions, gate, names=(reference_name, label), split="val")
        self.progress.log(("✓ " if report.passed else "✗ ") + report.line())
        return candidate, enforce(report)

    @contextlib.contextmanager
    def publishing_to(self, directory: Path):
        """Publish into `directory` meanwhile: the device bundle's own conversions go there only."""
        kept, self.out = self.out, Path(directory)
        try:
            yield
        finally:
            self.out = kept

    def publish(self, proto, payload: dict, name: str) -> Path:
        target = self.out / name
        with atomic_path(target) as tmp:
            save_with_metadata(proto, tmp, payload)
        return target

    # -- artefacts -----------------------------------------------------------------------
    def fp32_onnx(self) -> tuple[Path, ArtefactRecord | None]:
        """Export and gate the FP32 ONNX (checkpoint input); an ONNX input is used as it is."""
        if self.source.kind == "onnx":
            return self.source.path, None
        config = self.config
        self.progress.log(
            f"exporting {self.card.arch} ({config.exporter}, opset {config.opset}"
            f"{', preprocessing baked in' if config.bake_preprocess else ''})"
        )
        proto, facts = export_onnx(
            self.source.model,
            self.card.input,
            exporter=config.exporter,
            opset=config.opset,
            simplify=config.simplify,
            bake_preprocess=config.bake_preprocess,
        )
        payload = self.payload(
            "fp32", facts.input_format, {**facts.to_dict(), "bake_preprocess": config.bake_preprocess}
        )
        _, report = self.gate(proto, payload, self.work / f"{self.name}.onnx", FP32_GATE, "onnx fp32")
        path = self.publish(proto, {**payload, "parity": report.to_dict()}, f"{self.name}.onnx")
        return path, record_file("onnx", "fp32", path, parity=report, details=facts.to_dict())

    def fp16_onnx(self, fp32_path: Path) -> ArtefactRecord:
        if self.source.kind == "onnx" and self.source.precision != "fp32":
            raise ConfigError(f"--fp16 converts an FP32 ONNX; {self.source.path.name} is {self.source.precision}.")
        metadata = self.ort(fp32_path).metadata
        half = convert_to_fp16(onnx.load(str(fp32_path)))
        facts = {k: metadata.get(k) for k in ("exporter", "opset", "simplified", "bake_preprocess")} | {
            "fp16": "onnxruntime float16 converter, float32 input/output"
        }
        payload = self.payload("fp16", metadata.get("input_format"), facts)
        _, report = self.gate(half, payload, self.work / f"{self.name}.fp16.onnx", FP16_GATE, "onnx fp16")
        path = self.publish(half, {**payload, "parity": report.to_dict()}, f"{self.name}.fp16.onnx")
        return record_file("onnx", "fp16", path, parity=report, details=facts)

    def int8_onnx(self, fp32_path: Path, target: str) -> ArtefactRecord:
        config, progress = self.config, self.progress
        if self.source.kind == "onnx" and self.source.precision != "fp32":
            raise ConfigError(f"--int8 quantizes an FP32 ONNX; {self.source.path.name} is {self.source.precision}.")
        fp32 = self.ort(fp32_path)
        pre = self.work / f"{self.name}.pre.onnx"
        if not pre.exists():
            progress.log("quant_pre_process (shape inference, graph optimisation)")
            preprocess(fp32_path, pre)
        inputs = calib.prepared_inputs(fp32, self.calib_images)
        reader = lambda: calib.CalibrationReader(inputs, fp32.input_name, self.calib_spec.batch_size)  # noqa: E731
        recipe = QuantRecipe(
            target, config.calib_method, config.per_channel, tuple(config.exclude_op_types), tuple(config.exclude_nodes)
        )
        cache = self.work / f"ranges-{target}-{config.calib_method}.json"
        trials = iter(range(10**6))

        def quantize_with(extra: tuple[str, ...]) -> Path:
            path = self.work / f"{self.name}.int8-{target}.{next(trials)}.onnx"
            quantize(pre, path, recipe.with_excluded(extra), reader, cache)
            return path

        as_frames = fp32.input_format == INPUT_NHWC_UINT8
        fp32_val = self.predict(("fp32", fp32_path.name), lambda: fp32, self.val, as_frames)
        sensitivity = None
        progress.log(
            f"INT8 for {target}: {recipe.describe()['types']}, "
            f"{'per-channel' if recipe.per_channel else 'per-tensor'}, {config.calib_method} on "
            f"{len(self.calib_images)} {self.calib_spec.split} images of {self.calib_spec.dataset}"
        )
        speed, path = None, None
        if target == "cpu" and config.speed_search:
            speed, path = self.speed_search(pre, quantize_with, fp32, as_frames)
            if speed.chosen == "mixed":  # the sensitivity search starts from the faster model
                recipe = recipe.with_excluded(tuple(speed.slow_nodes))
        if config.max_drop is None:
            path = path or quantize_with(())
        else:
            probe = take_probe(self.val)
            candidates = [
                (n, op)
                for n, op in weighted_nodes(pre)
                if n not in recipe.exclude_nodes and op not in recipe.exclude_op_types
            ]
            sensitivity = search(
                candidates,
                quantize_with,
                lambda p: predict_backend(self.ort(p), self.val, as_frames=as_frames),
                lambda p: predict_backend(self.ort(p), probe, as_frames=as_frames),
                fp32_val,
                self.predict(("fp32", fp32_path.name), lambda: fp32, probe, as_frames),
                config.max_drop,
                progress,
            )
            path = sensitivity.path
            if not sensitivity.met:
                progress.log(
                    f"--max-drop {config.max_drop:g}: even with {len(sensitivity.kept_in_float)} layers in float "
                    f"the val drop is {sensitivity.drop:.2f} pt."
                )
        kept = recipe.with_excluded(tuple(sensitivity.kept_in_float) if sensitivity else ())
        quant_facts = quantize_counts(path, pre, kept)
        report = self.judge_int8(target, fp32, fp32_path, path, as_frames)
        facts = {
            "quantization": {
                **kept.describe(),
                **quant_facts,
                "calibration": self.calib_spec.model_dump()
                | {"path": str(config.calib), "images": len(self.calib_images)},
            },
            "weighted_nodes": [n for n, _ in weighted_nodes(pre)],
            "sensitivity": sensitivity.to_dict() if sensitivity else None,
            "speed_search": speed.to_dict() if speed else None,
        }
        inherited = {k: fp32.metadata.get(k) for k in ("exporter", "opset", "simplified", "bake_preprocess")}
        payload = self.payload("int8", fp32.input_format, inherited | facts | {"int8": report.to_dict()})
        published = self.publish(onnx.load(str(path)), payload, f"{self.name}.int8-{target}.onnx")
        return record_file("onnx", "int8", published, target=target, int8=report, details=facts)

    def int8_fp16_onnx(self, fp32_path: Path, int8: ArtefactRecord) -> ArtefactRecord:
        """The TensorRT-recipe INT8 model with FP16 in its other layers, judged like the INT8 one."""
        from edgekd.export.mixed_precision import int8_with_fp16, precision_counts

        proto = onnx.load(str(int8.path))
        half, counts = int8_with_fp16(proto)
        work_path = self.work / f"{self.name}.int8-fp16.onnx"
        onnx.save(half, str(work_path))
        fp32 = self.ort(fp32_path)
        report = self.judge_int8("tensorrt", fp32, fp32_path, work_path, fp32.input_format == INPUT_NHWC_UINT8)
        versus = {
            split: block["int8_top1"] - int8.int8.accuracy[split]["int8_top1"]
            for split, block in report.accuracy.items()
            if split in int8.int8.accuracy
        }
        facts = {
            "mixed_precision": {
                "int8_fp32_rest": precision_counts(proto).to_dict(),
                "int8_fp16_rest": counts.to_dict(),
                "top1_vs_int8_fp32_rest": versus,
                "converter": "onnxruntime.transformers.float16 at opset 19, weight DequantizeLinear kept FP32",
            }
        }
        self.progress.log(
            f"INT8 + FP16 rest: {counts.fp16_ops} FP16 ops, {counts.quantize_linear} Q / "
            f"{counts.dequantize_linear} DQ; top-1 vs INT8 FP32-rest "
            + ", ".join(f"{k} {v:+.2f} pt" for k, v in versus.items())
        )
        metadata = self.ort(int8.path).metadata
        payload = {
            **{k: v for k, v in metadata.items() if k not in ("schema", "int8")},
            **facts,
            "int8": report.to_dict(),
        }
        published = self.publish(half, payload, f"{self.name}.int8-fp16.onnx")
        return record_file("onnx", "int8", published, target="tensorrt", int8=report, details={**int8.details, **facts})

    def speed_search(self, pre: Path, quantize_with, fp32: OrtBackend, as_frames: bool) -> tuple[SpeedSearch, Path]:
        """Quantize everything, find the layers INT8 makes slower, quantize again without them,
        and keep whichever whole model is faster at the largest latency batch."""
        batch = max(LATENCY_BATCHES)
        frames = self.val.pixels(self.card.input.size, 0, batch, as_frames)
        frames = frames.repeat(-(-batch // len(frames)), *([1] * (frames.dim() - 1)))[:batch]
        inputs = fp32.prepare(frames)
        all_path = quantize_with(())
        self.progress.log(f"speed search: profiling FP32 and INT8 per layer at batch {batch} …")
        search = slow_int8_nodes(pre, all_path, inputs.numpy(), self.config.threads)
        if not search.slow_nodes:
            self.progress.log("speed search: INT8 is faster than float in every weighted layer")
            return search, all_path
        mixed_path = quantize_with(tuple(search.slow_nodes))
        everything, mixed = self.ort(all_path), self.ort(mixed_path)
        timed = compare_latency(
            {"all": lambda: everything.run(inputs), "mixed": lambda: mixed.run(inputs)}, batch, min_time_s=1.0
        )
        search.all_int8_ms, search.mixed_ms = timed["all"].median_ms, timed["mixed"].median_ms
        search.chosen = "mixed" if search.mixed_ms < search.all_int8_ms else "all"
        self.progress.log(
            f"speed search: {len(search.slow_nodes)} layers run slower in INT8 than in float "
            f"({', '.join(search.slow_nodes[:4])}{', …' if len(search.slow_nodes) > 4 else ''}); "
            f"all INT8 {search.all_int8_ms:.3f} ms vs those in float {search.mixed_ms:.3f} ms at batch {batch} "
            f"→ ships {'the mixed model' if search.chosen == 'mixed' else 'all INT8'}"
        )
        return search, mixed_path if search.chosen == "mixed" else all_path

    def score_int8(self, target: str, fp32: OrtBackend, fp32_path: Path, int8: Backend, as_frames: bool) -> Int8Report:
        """Top-1 of an INT8 model vs the FP32 ONNX of the same weights on val and test (not yet judged)."""
        report = Int8Report(
            target, budget=self.config.max_drop if self.config.max_drop is not None else DEFAULT_DROP_BUDGET
        )
        for images in (self.val, self.test):
            if images is None or len(images) == 0:
                continue
            reference = self.predict(("fp32", fp32_path.name), lambda: fp32, images, as_frames)
            report.accuracy[images.split] = accuracy_block(
                reference, predict_backend(int8, images, as_frames=as_frames)
            )
        return report

    def judge_int8(
        self, target: str, fp32: OrtBackend, fp32_path: Path, int8_path: Path, as_frames: bool
    ) -> Int8Report:
        int8 = self.ort(int8_path)
        report = self.score_int8(target, fp32, fp32_path, int8, as_frames)
        # A TensorRT-target model is not timed here: CPU figures say nothing about it on the GPU.
        if self.config.latency and target == "cpu":
            self.progress.log(f"timing FP32 vs INT8 ({target}) on this CPU, batch 1 and 32 …")
            frames = self.val.pixels(self.card.input.size, 0, 32, as_frames)
            report.latency = measure_speed(fp32, int8, frames)
            threads = self.config.threads or "default"
            report.latency_device = f"{self.config.device}, onnxruntime, {threads} threads"
        return judge(report)


def take_probe(val: ImageSet) -> ImageSet:
    """A seeded stratified subset of val for ranking layers (all of val when it is small)."""
    if len(val) <= PROBE_SAMPLES:
        return val
    import torch

    from edgekd.data.splits import stratified_subset

    index = torch.as_tensor(stratified_subset(val.labels.numpy(), PROBE_SAMPLES, 0))
    return ImageSet(val.split, val.spec, val.images[index], val.labels[index])


def quantize_counts(path: Path, pre: Path, recipe: QuantRecipe) -> dict:
    from edgekd.export.quantize import count_qdq

    return count_qdq(path, dict(weighted_nodes(pre)), recipe)
