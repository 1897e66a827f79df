"""`edgekd export` on the command line: the table it prints, ONNX inputs, and bad input → exit 2."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
import torch
from export_helpers import CALIBRATION, DIGITS_SPEC

from edgekd.data.dataset import FASHION_MNIST_DIRS

needs_fashion_mnist = pytest.mark.skipif(
    not any((d / "train-images-idx3-ubyte.gz").exists() for d in FASHION_MNIST_DIRS),
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist",
)


def test_help_lists_export(run_cli):
    result = run_cli("--help")
    assert result.code == 0 and "export" in result.stdout
    result = run_cli("export", "--help")
    for flag in (
        "--bake-preprocess",
        "--int8-target",
        "--max-drop",
        "--trt",
        "--dla-core",
        "--deepstream",
        "--timing-cache",
    ):
        assert flag in result.stdout


def test_export_prints_parity_and_int8_figures(student, tmp_path, run_cli):
    out = tmp_path / "out"
    result = run_cli(
        "export",
        student.parent,
        "--out",
        out,
        "--exporter",
        "torchscript",
        "--int8",
        "--calib",
        DIGITS_SPEC,
        "--threads",
        "2",
    )
    assert result.code == 0, result.stderr
    for text in ("student.onnx", "parity ✓", "student.int8-cpu.onnx", "test top-1", "export done"):
        assert text in result.stdout
    assert "FP32" in result.stdout  # the verdict always names the FP32 alternative or the comparison
    summary = json.loads((out / "export.json").read_text())
    assert [a["name"] for a in summary["artefacts"]] == ["student.onnx", "student.int8-cpu.onnx"]
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "student.int8-cpu.onnx", "student.onnx"]


def test_an_exported_onnx_is_an_input_too(full_export, tmp_path, run_cli):
    fp32 = full_export.get("fp32").path
    result = run_cli("export", fp32, "--out", tmp_path, "--fp16")
    assert result.code == 0, result.stderr
    half = tmp_path / "student.fp16.onnx"
    meta = json.loads({p.key: p.value for p in onnx.load(str(half)).metadata_props}["edgekd"])
    assert meta["precision"] == "fp16" and meta["derived_from"]["name"] == "student.onnx"
    assert meta["parity"]["reference"] == "onnx fp32" and meta["parity"]["passed"]
    assert meta["source"]["kind"] == "checkpoint"  # the checkpoint's facts travel along
    nothing_to_do = run_cli("export", fp32, "--out", tmp_path / "x")
    assert nothing_to_do.code == 2 and "already an ONNX" in nothing_to_do.stderr


def _copy_student(student, folder):
    folder.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(student.with_suffix(suffix), folder / f"student{suffix}")
    return folder / "student.safetensors"


def _truncate(path):
    path.write_bytes(path.read_bytes()[:4096])


def _pickle(path):
    torch.save({"model": torch.nn.Linear(2, 2)}, path)


def _strip_metadata(path):
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "model file not found"),
        ("truncated", "may be truncated"),
        ("pickle", "PyTorch pickle"),
        ("no card", "has no model card"),
        ("calib dataset missing", "dataset path not found"),
        ("int8 without calib", "--int8 needs --calib"),
        ("onnx without metadata", "has no edgekd metadata"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, message, student, full_export, tmp_path, run_cli):
    weights = _copy_student(student, tmp_path / "in")
    args = [weights]
    if case == "missing":
        args = [tmp_path / "nope" / "student.safetensors"]
    elif case == "truncated":
        _truncate(weights)
    elif case == "pickle":
        _pickle(weights)
    elif case == "no card":
        weights.with_suffix(".json").unlink()
    elif case == "calib dataset missing":
        spec = tmp_path / "calib.yaml"
        spec.write_text(f"dataset: imagefolder:{tmp_path}/no-such-folder\nsamples: 64\n")
        args += ["--int8", "--calib", spec]
    elif case == "int8 without calib":
        args += ["--int8"]
    elif case == "onnx without metadata":
        bare = tmp_path / "in" / "bare.onnx"
        shutil.copy(full_export.get("fp32").path, bare)
        _strip_metadata(bare)
        args = [bare, "--trt"]
    out = tmp_path / "out"
    result = run_cli("export", *args, "--out", out)
    assert result.code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) <= 3  # one message (rich may wrap it)
    assert not out.exists()


@pytest.mark.slow
@needs_fashion_mnist
def test_fashion_mnist_student_exports_with_the_shipped_calibration_spec(tmp_path, run_cli):
    """The acceptance path: a Fashion-MNIST student → `--int8 --calib calibration/fmnist-val-512.yaml`."""
    trained = run_cli(
        "teacher",
        "train",
        "resnet10t",
        "--data",
        "fashion-mnist",
        "--limit-train",
        "3000",
        "--epochs",
        "1",
        "--img-size",
        "16",
        "--out",
        tmp_path / "run",
    )
    assert trained.code == 0, trained.stderr
    result = run_cli(
        "export",
        tmp_path / "run" / "teacher.safetensors",
        "--out",
        tmp_path / "export",
        "--int8",
        "--calib",
        CALIBRATION / "fmnist-val-512.yaml",
        "--parity-samples",
        "2000",
    )
    assert result.code == 0, result.stderr
    assert "parity ✓" in result.stdout and "test top-1" in result.stdout and "FP32" in result.stdout
    summary = json.loads((tmp_path / "export" / "export.json").read_text())
    int8 = summary["artefacts"][1]["int8"]
    assert (
        int8["accuracy"]["test"]["samples"] == 10000
        and summary["artefacts"][1]["details"]["quantization"]["calibration"]["images"] == 512
    )
