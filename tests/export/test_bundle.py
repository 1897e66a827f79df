"""The device bundle, checked here with ONNX Runtime on the same files the device would use.

`edgekd verify BUNDLE` must pass on a fresh bundle and fail (exit 1) when the reference is
tampered with or an artefact is wrong; bad input exits 2. The TensorRT side of the bundle
(`build.sh`, `--backend trt`) runs only on the device.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from export_helpers import DIGITS_SPEC
from onnx import numpy_helper

from edgekd.export import ExportConfig, export
from edgekd.export.bundle import derived_threshold
from edgekd.export.deepstream import PROBS_NAME
from edgekd.verify import REFERENCE_NAME, Reference, verify

BUNDLE_ONNX = ["student.fp16.onnx", "student.int8-fp16.onnx", "student.int8-tensorrt.onnx", "student.onnx"]


@pytest.fixture(scope="module")
def bundle(student, tmp_path_factory):
    """An export with CPU INT8 in --out and a device bundle beside it (as pipelines/quickstart.yaml does)."""
    root = tmp_path_factory.mktemp("bundled")
    config = ExportConfig(
        student,
        root / "export",
        int8=True,
        calib=DIGITS_SPEC,
        int8_target=("cpu",),
        speed_search=False,
        latency=False,
        bundle=root / "bundle",
        reference_samples=100,
    )
    return export(config)


@pytest.fixture
def bundle_copy(bundle, tmp_path):
    """A private copy of the bundle that a test may damage."""
    return shutil.copytree(bundle.artefacts[-1].path.parent, tmp_path / "bundle")


def test_bundle_holds_everything_the_device_needs(bundle):
    directory = bundle.artefacts[-1].path.parent
    names = sorted(p.name for p in directory.iterdir())
    for name in (
        *BUNDLE_ONNX,
        REFERENCE_NAME,
        "labels.txt",
        "card.json",
        "build.sh",
        "bundle.json",
        "config_infer_student_fp16.txt",
        "config_infer_student_int8-fp16.txt",
    ):
        assert name in names, name
    # The export's own --out keeps only what was asked for: the bundle's conversions live in the bundle.
    assert sorted(p.name for p in bundle.out_dir.iterdir()) == ["export.json", "student.int8-cpu.onnx", "student.onnx"]
    manifest = json.loads((directory / "bundle.json").read_text())
    assert manifest["schema"] == "edgekd.bundle/1" and set(manifest["files"]) >= set(BUNDLE_ONNX)
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())
    summary = json.loads((bundle.out_dir / "export.json").read_text())
    assert {a["name"] for a in summary["artefacts"] if a["kind"] == "bundle"} >= set(BUNDLE_ONNX)
    # nvinfer's one scale factor, scored on all of val with ONNX Runtime (the figure, not asserted: it depends on
    # the model)
    score = summary["deepstream_preprocess"]
    assert score == manifest["deepstream_preprocess"] and score["samples"] == 144 and score["split"] == "val"
    assert (
        score["drop"] == pytest.approx(score["exact_top1"] - score["nvinfer_top1"]) and 0 <= score["agreement"] <= 100
    )


def test_reference_holds_real_inputs_and_pytorch_logits(bundle):
    reference = Reference.load(bundle.artefacts[-1].path.parent / REFERENCE_NAME)
    assert reference.inputs.shape == (100, 3, 16, 16) and reference.inputs.dtype == np.float32
    assert reference.logits.shape == (100, 10) and sorted(set(reference.labels.tolist())) == list(range(10))
    assert reference.info["reference"] == "torch fp32" and reference.info["split"] == "val"
    assert (
        reference.thresholds["student"].min_agreement == 99.9 and reference.thresholds["student"].max_abs_diff == 1e-3
    )
    assert set(reference.thresholds) >= {"student.fp16", "student.int8-tensorrt", "student.int8-fp16", "fp16", "int8"}


def test_build_script_builds_and_verifies_from_the_bundle(bundle):
    script = bundle.artefacts[-1].path.parent / "build.sh"
    text = script.read_text()
    assert script.stat().st_mode & 0o111 and text.startswith("#!/usr/bin/env bash")
    for name in ("student.fp16.onnx", "student.int8-tensorrt.onnx", "student.int8-fp16.onnx"):
        assert f"run export {name} --trt" in text
    assert "run verify . --backend trt" in text and "--runtime nvidia" in text
    assert "run export student.onnx " not in text  # FP32 is the parity reference, not a device engine
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_deepstream_config_in_the_bundle_names_engine_and_onnx(bundle):
    text = (bundle.artefacts[-1].path.parent / "config_infer_student_fp16.txt").read_text()
    properties = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert properties["model-engine-file"] == "student.fp16.engine" and properties["onnx-file"] == "student.fp16.onnx"
    assert properties["network-mode"] == "2" and properties["output-blob-names"] in ("logits", PROBS_NAME)


def test_verify_passes_on_a_fresh_bundle(bundle, run_cli):
    directory = bundle.artefacts[-1].path.parent
    result = run_cli("verify", directory)
    assert result.code == 0, result.stderr
    for name in BUNDLE_ONNX:
        assert name in result.stdout
    assert "verify passed: 4 artefact(s)" in result.stdout and "FAIL" not in result.stdout


def test_tampered_reference_fails_with_exit_1(bundle_copy, run_cli):
    reference = Reference.load(bundle_copy / REFERENCE_NAME)
    reference.logits = np.roll(reference.logits, 1, axis=1)  # every reference class moved by one
    reference.save(bundle_copy / REFERENCE_NAME)
    result = run_cli("verify", bundle_copy)
    assert result.code == 1 and "verify failed" in result.stderr and "Traceback" not in result.stderr


def test_a_wrong_artefact_fails_with_exit_1(bundle_copy, run_cli):
    model = onnx.load(str(bundle_copy / "student.onnx"))
    conv_weight = next(t for t in model.graph.initializer if t.dims and len(t.dims) == 4)
    conv_weight.CopyFrom(
        numpy_helper.from_array(numpy_helper.to_array(conv_weight) * 1.5, conv_weight.name)
    )  # a "slightly different" model
    onnx.save(model, str(bundle_copy / "student.onnx"))
    result = run_cli("verify", bundle_copy / "student.onnx")
    assert result.code == 1 and "student.onnx" in result.stderr
    # The other artefacts still agree: only the wrong one is named.
    assert run_cli("verify", bundle_copy / "student.fp16.onnx").code == 0


def test_bad_input_exits_2_in_one_line(bundle, bundle_copy, tmp_path, run_cli):
    directory = bundle.artefacts[-1].path.parent
    for args, text in (
        (("verify", tmp_path / "missing"), "does not exist"),
        (("verify", directory, "--backend", "trt"), "holds no .engine/.plan artefact"),
        (("verify", directory, "--backend", "onnx"), "unknown --backend"),
        (("verify", directory / "student.onnx", "--backend", "torch"), "use --backend ort"),
    ):
        result = run_cli(*args)
        assert result.code == 2 and text in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    (bundle_copy / REFERENCE_NAME).write_bytes(b"not an npz")
    result = run_cli("verify", bundle_copy)
    assert result.code == 2 and "is not an edgekd reference" in result.stderr


def test_a_checkpoint_verifies_with_the_torch_backend(bundle, student):
    result = verify(student, "torch", reference=bundle.artefacts[-1].path.parent / REFERENCE_NAME)
    assert result.passed and result.rows[0].max_abs_diff < 1e-4


def test_device_thresholds_follow_onnx_runtime_with_a_margin():
    assert derived_threshold("fp32", 100.0, 0.0).max_abs_diff == 1e-3
    fp16 = derived_threshold("fp16", 100.0, 0.01)
    assert fp16.min_agreement == 99.5 and fp16.max_abs_diff == pytest.approx(0.07)
    int8 = derived_threshold("int8", 97.0, 0.4)
    assert int8.min_agreement == 95.0 and int8.max_abs_diff == pytest.approx(1.3)


def test_softmax_bundle_gives_nvinfer_probabilities(student, tmp_path, run_cli):
    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    (bundle_dir / "student.int8-fp16.onnx").write_bytes(b"from an older bundle")  # must not survive the new one
    result = run_cli(
        "export",
        student,
        "--out",
        tmp_path / "export",
        "--bundle",
        bundle_dir,
        "--deepstream-softmax",
        "--classifier-threshold",
        "0.6",
        "--reference-samples",
        "64",
    )
    assert result.code == 0, result.stderr
    assert f"device bundle: {bundle_dir}" in result.stdout and "edgekd verify" in result.stdout
    assert not (bundle_dir / "student.int8-fp16.onnx").exists() and not [
        p for p in tmp_path.iterdir() if p.name.startswith(".")
    ]
    fp16, fp32 = onnx.load(str(bundle_dir / "student.fp16.onnx")), onnx.load(str(bundle_dir / "student.onnx"))
    assert [o.name for o in fp16.graph.output] == [PROBS_NAME] and [o.name for o in fp32.graph.output] == ["logits"]
    import torch

    from edgekd.runtime import open_backend

    backend = open_backend(bundle_dir / "student.fp16.onnx")
    probs = backend.run(backend.prepare(torch.rand(5, 3, 16, 16)))
    assert torch.allclose(probs.sum(dim=1), torch.ones(5), atol=1e-2) and (probs >= 0).all()
    text = (bundle_dir / "config_infer_student_fp16.txt").read_text()
    properties = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert properties["output-blob-names"] == PROBS_NAME and float(properties["classifier-threshold"]) == 0.6
    assert "--classifier-threshold 0.6" in (bundle_dir / "build.sh").read_text()
    # verify compares probabilities with the softmax of the PyTorch logits
    result = run_cli("verify", bundle_dir)
    assert result.code == 0, result.stderr


def test_deepstream_refuses_a_baked_preprocessing_onnx(student, tmp_path):
    baked = (
        export(ExportConfig(student, tmp_path / "baked", bake_preprocess=True, exporter="torchscript", opset=17))
        .get("fp32")
        .path
    )
    with pytest.raises(Exception, match="nvinfer feeds normalised NCHW float") as error:
        export(ExportConfig(baked, tmp_path / "out", trt=True, deepstream=True))
    assert getattr(error.value, "exit_code", None) == 2 and not (tmp_path / "out").exists()
