"""Real, tiny artefacts for the eval/profile/report tests: timm models trained on digits.

A teacher (resnet10t) and a student (timm test_resnet, 13x fewer parameters; the same artefact format with
role "student") are trained once per test session with `train_teacher`, then exported to
ONNX (FP32) and to an INT8 QDQ ONNX with ONNX Runtime's static quantization, carrying the
`edgekd` metadata the ORT backend reads, independent of the export stage's own code (the
acceptance run in benchmarks/eval_profile_report.sh goes through `edgekd export` itself).
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgekd.data import DataConfig, ModelInput, to_unit_float
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.models import load_model, save_model
from edgekd.teacher import TeacherConfig, train_teacher

IMG_SIZE = 16


@dataclass
class Artefacts:
    root: Path
    teacher: Path
    student: Path
    student_onnx: Path
    student_int8: Path


_CACHE: dict[str, Artefacts] = {}


DIGITS = DataConfig(spec="digits")


def train_tiny(
    out_dir: Path, arch: str, role: str, epochs: int = 2, lr: float = 0.05, data: DataConfig = DIGITS
) -> Path:
    """Train `arch` at 16 px (on digits unless `data` says otherwise); returns `<role>.safetensors` (with its card)."""
    config = TeacherConfig(
        arch=arch,
        out_dir=out_dir,
        data=data,
        train=TrainConfig(epochs=epochs, batch_size=64, optim=OptimConfig(lr=lr)),
        img_size=IMG_SIZE,
        device="cpu",
    )
    result = train_teacher(config)
    if role == "teacher":
        return result.weights_path
    model, card = load_model(result.weights_path)
    card.role = role
    path = save_model(model, card, out_dir / f"{role}.safetensors")
    result.weights_path.unlink()
    result.weights_path.with_suffix(".json").unlink()
    return path


def _add_metadata(path: Path, card_dict: dict, precision: str) -> None:
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key != "edgekd"]  # quantize_static copies the FP32 model's entry
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key = "edgekd"
    entry.value = json.dumps({"card": card_dict, "precision": precision, "input_format": "nchw_float32"})
    onnx.save(model, str(path))


def export_onnx(weights: Path, out_path: Path) -> Path:
    """FP32 ONNX (dynamic batch) with the edgekd metadata the ORT backend reads."""
    model, card = load_model(weights, exportable=True)
    example = torch.randn(2, card.input.in_chans, card.input.size, card.input.size)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, but quick and enough for test files
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(out_path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
            opset_version=17,
        )
    _add_metadata(out_path, card.to_dict(), "fp32")
    return out_path


def quantize_int8(weights: Path, fp32_onnx: Path, out_path: Path, data: DataConfig = DIGITS) -> Path:
    """INT8 QDQ ONNX (U8S8, per-channel weights) calibrated on 128 val images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    _, card = load_model(weights)
    dataset = data.load(IMG_SIZE)
    pixels = to_unit_float(dataset.val.images[:128], (IMG_SIZE, IMG_SIZE))
    calibration = ModelInput(card.input)(pixels).numpy().astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": calibration[i : i + 32]} for i in range(0, len(calibration), 32)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        str(fp32_onnx),
        str(out_path),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    _add_metadata(out_path, card.to_dict(), "int8")
    return out_path


def build_artefacts(root: Path, data: DataConfig = DIGITS, epochs: int = 2) -> Artefacts:
    """Teacher, student, student ONNX and INT8 ONNX under `root` (built once per session and dataset)."""
    key = f"{data}|{epochs}"
    if key in _CACHE and _CACHE[key].teacher.exists():
        return _CACHE[key]
    root.mkdir(parents=True, exist_ok=True)
    teacher = train_tiny(root / "teacher", "resnet10t", "teacher", epochs=epochs, data=data)
    student = train_tiny(root / "student", "test_resnet", "student", epochs=epochs + 1, lr=0.05, data=data)
    onnx_dir = root / "export"
    onnx_dir.mkdir(exist_ok=True)
    student_onnx = export_onnx(student, onnx_dir / "student.onnx")
    student_int8 = quantize_int8(student, student_onnx, onnx_dir / "student.int8.onnx", data)
    for leftover in onnx_dir.glob("*-inferred.onnx"):
        leftover.unlink()
    for checkpoint in root.rglob("checkpoint.pt"):
        checkpoint.unlink()
    _CACHE[key] = Artefacts(root, teacher, student, student_onnx, student_int8)
    return _CACHE[key]


def copy_artefacts(source: Artefacts, dest: Path) -> Artefacts:
    """A private copy, for tests that write next to the artefacts."""
    shutil.copytree(source.root, dest)
    return Artefacts(
        dest,
        *(
            dest / p.relative_to(source.root)
            for p in (source.teacher, source.student, source.student_onnx, source.student_int8)
        ),
    )
