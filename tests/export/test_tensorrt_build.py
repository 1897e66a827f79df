"""TensorRT: API use checked against what TensorRT 10/11 removed, profiles, sidecar, DeepStream.

TensorRT cannot be installed on these machines: the build itself is tested only where it is
present (marked `tensorrt`); everything around it is tested here for real.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch
from export_helpers import DIGITS_SPEC

from edgekd.export import ExportConfig, export, tensorrt_build
from edgekd.export.deepstream import NvinferModel, write_deepstream
from edgekd.export.tensorrt_build import EngineOptions, profile_shapes, sidecar_payload, trtexec_command
from edgekd.runtime import open_backend, tensorrt_missing, trt_backend
from edgekd.runtime.ort_backend import read_onnx_file_metadata
from edgekd.runtime.trt_env import SIDECAR_SCHEMA, read_sidecar, sidecar_mismatch

# FACTS.md: gone in TensorRT 10.0, or deprecated in 10 and removed in 11.
REMOVED_ATTRIBUTES = {
    "max_workspace_size",
    "build_engine",
    "build_cuda_engine",
    "execute_async_v2",
    "execute_async",
    "get_binding_shape",
    "set_binding_shape",
    "get_binding_index",
    "get_binding_name",
    "get_binding_dtype",
    "binding_is_input",
    "num_bindings",
    "max_batch_size",
    "EXPLICIT_BATCH",
    "int8_calibrator",
    "IInt8Calibrator",
    "IInt8EntropyCalibrator",
    "IInt8EntropyCalibrator2",
    "IInt8MinMaxCalibrator",
    "IInt8LegacyCalibrator",
    "set_calibration_profile",
}
REMOVED_BUILDER_FLAGS = {"FP16", "BF16", "INT8", "FP8", "INT4"}  # precision now comes from the ONNX (strongly typed)
TRT_MODULES = [Path(tensorrt_build.__file__), Path(trt_backend.__file__)]

needs_tensorrt = pytest.mark.skipif(
    tensorrt_missing() is not None,
    reason=f"TensorRT cannot run here: {tensorrt_missing()} (build on the target, see Dockerfile.jetson)",
)


def removed_api_uses(source: str) -> list[str]:
    """Attribute uses in `source` that TensorRT 10 or 11 no longer has."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if node.attr in REMOVED_ATTRIBUTES:
                found.append(f"line {node.lineno}: .{node.attr}")
            if (
                node.attr in REMOVED_BUILDER_FLAGS
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "BuilderFlag"
            ):
                found.append(f"line {node.lineno}: BuilderFlag.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in REMOVED_ATTRIBUTES:
            found.append(f"line {node.lineno}: {node.id}")
    return found


def test_the_scan_catches_removed_apis():
    old_code = (
        "config.max_workspace_size = 1 << 30\nconfig.set_flag(trt.BuilderFlag.INT8)\nconfig.int8_calibrator = c\n"
        "engine = builder.build_engine(network, config)\ncontext.execute_async_v2(bindings, stream)\n"
        "flag = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)\nclass C(trt.IInt8EntropyCalibrator2): "
        "pass\n"
    )
    assert len(removed_api_uses(old_code)) == 7


@pytest.mark.parametrize("path", TRT_MODULES, ids=lambda p: p.name)
def test_tensorrt_code_uses_no_api_removed_in_10_or_11(path):
    assert removed_api_uses(path.read_text()) == []


def test_tensorrt_code_uses_the_10_and_11_api():
    build, run = (p.read_text() for p in TRT_MODULES)
    for api in (
        "build_serialized_network",
        "set_memory_pool_limit",
        "create_optimization_profile",
        "set_shape",
        "STRONGLY_TYPED",
        "parse_from_file",
        "get_error",
        "create_timing_cache",
        "set_timing_cache",
        "GPU_FALLBACK",
    ):
        assert api in build, api
    for api in (
        "set_input_shape",
        "set_tensor_address",
        "execute_async_v3",
        "data_ptr",
        "get_tensor_profile_shape",
        "num_io_tensors",
    ):
        assert api in run, api


def test_profile_shapes_from_batch_sizes():
    assert profile_shapes([-1, 3, 32, 32], (1, 8, 32)) == {
        "min": [1, 3, 32, 32],
        "opt": [8, 3, 32, 32],
        "max": [32, 3, 32, 32],
    }
    assert profile_shapes([-1, 32, 32, 3], (4,)) == {
        "min": [4, 32, 32, 3],
        "opt": [4, 32, 32, 3],
        "max": [4, 32, 32, 3],
    }
    assert profile_shapes([-1, 3, 16, 16], (1, 16))["opt"] == [16, 3, 16, 16]


def test_trtexec_command_matches_the_build():
    shapes = profile_shapes([-1, 3, 32, 32], (1, 8, 32))
    options = EngineOptions(workspace_gb=1.5, timing_cache=Path("out/tensorrt.timing-cache"), dla_core=0)
    on_10 = trtexec_command(Path("out/student.onnx"), Path("out/student.engine"), "input", shapes, options, major=10)
    assert on_10.startswith("trtexec --onnx=student.onnx --saveEngine=student.engine")
    for part in (
        "--minShapes=input:1x3x32x32",
        "--optShapes=input:8x3x32x32",
        "--maxShapes=input:32x3x32x32",
        "--memPoolSize=workspace:1536M",
        "--stronglyTyped",
        "--timingCacheFile=tensorrt.timing-cache",
        "--useDLACore=0",
        "--allowGPUFallback",
    ):
        assert part in on_10
    assert "--stronglyTyped" not in trtexec_command(
        Path("a.onnx"), Path("a.engine"), "input", shapes, EngineOptions(), major=11
    )


def _sidecar(onnx_path: Path, engine_path: Path, **build) -> dict:
    facts = {"tensorrt": "10.3.0", "gpu": "Orin", "compute_capability": "8.7", "cuda": "12.6"} | build
    shapes = profile_shapes([-1, 3, 16, 16], (1, 8, 32))
    return sidecar_payload(
        onnx_path,
        engine_path,
        read_onnx_file_metadata(onnx_path),
        shapes,
        "input",
        EngineOptions(),
        facts,
        10,
        True,
        False,
    )


def test_sidecar_records_build_facts_and_is_checked_before_loading(full_export, tmp_path):
    onnx_path = full_export.get("int8", target="tensorrt").path
    engine = tmp_path / "student.int8-tensorrt.engine"
    sidecar = _sidecar(onnx_path, engine)
    assert sidecar["schema"] == SIDECAR_SCHEMA and sidecar["precision"] == "int8" and sidecar["engine"] == engine.name
    assert sidecar["class_names"] == [str(i) for i in range(10)] and sidecar["input_size"] == [3, 16, 16]
    assert sidecar["source_onnx"]["name"] == onnx_path.name and len(sidecar["source_onnx"]["sha256"]) == 64
    assert sidecar["profile"] == {
        "input": "input",
        "min": [1, 3, 16, 16],
        "opt": [8, 3, 16, 16],
        "max": [32, 3, 16, 16],
    }
    assert sidecar["trtexec"].startswith("trtexec --onnx=student.int8-tensorrt.onnx") and len(sidecar["mean"]) == 3
    here = {"tensorrt": "11.0.0", "gpu": "NVIDIA H100", "compute_capability": "9.0"}
    problem = sidecar_mismatch(sidecar["build"], here)
    assert "TensorRT 10.3.0 vs 11.0.0" in problem and "Orin (sm 8.7) vs NVIDIA H100 (sm 9.0)" in problem
    assert (
        sidecar_mismatch(sidecar["build"], {k: sidecar["build"][k] for k in ("tensorrt", "gpu", "compute_capability")})
        is None
    )
    engine.write_bytes(b"plan")
    with pytest.raises(Exception, match="no sidecar"):
        read_sidecar(engine)
    engine.with_name(engine.name + ".json").write_text(json.dumps(sidecar))
    assert read_sidecar(engine)["card"]["num_classes"] == 10


def test_deepstream_files_for_a_classifier(full_export, tmp_path):
    engine = tmp_path / "student.int8-tensorrt.engine"
    sidecar = _sidecar(full_export.get("int8", target="tensorrt").path, engine)
    labels, config = write_deepstream(tmp_path, NvinferModel.from_sidecar(sidecar))
    assert labels.read_text() == "0;1;2;3;4;5;6;7;8;9\n"
    text = config.read_text()
    assert config.name == "config_infer_student_int8-tensorrt.txt"
    properties = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert properties["model-engine-file"] == engine.name and properties["labelfile-path"] == "labels.txt"
    assert (
        properties["onnx-file"] == "student.int8-tensorrt.onnx"
    )  # nvinfer rebuilds from it when the plan is missing or foreign
    assert float(properties["classifier-threshold"]) < -1e5  # logits: always the arg-max
    assert (
        properties["network-mode"] == "1"
        and properties["network-type"] == "1"
        and properties["infer-dims"] == "3;16;16"
    )
    assert properties["batch-size"] == "32" and properties["output-blob-names"] == "logits"
    mean, std = sidecar["mean"], sidecar["std"]
    assert float(properties["net-scale-factor"]) == pytest.approx(1 / (255 * std[0]), rel=1e-6)
    assert [float(v) for v in properties["offsets"].split(";")] == pytest.approx([255 * m for m in mean], abs=1e-3)


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT is present: the refusal path does not apply")
def test_without_tensorrt_trt_is_refused_before_anything_is_written(student, tmp_path, run_cli):
    result = run_cli("export", student, "--out", tmp_path / "out", "--trt", "--fp16")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "needs TensorRT and a CUDA GPU" in result.stderr and "Dockerfile.jetson" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3 and not (tmp_path / "out").exists()


@pytest.mark.tensorrt
@needs_tensorrt
def test_engines_build_and_match_onnx_runtime(student, tmp_path):
    config = ExportConfig(
        student,
        tmp_path,
        fp16=True,
        int8=True,
        calib=DIGITS_SPEC,
        trt=True,
        batch=(1, 8, 32),
        deepstream=True,
        latency=False,
        workspace_gb=1.0,
    )
    result = export(config)
    for precision, onnx_name in (("fp16", "student.fp16.onnx"), ("int8", "student.int8-tensorrt.onnx")):
        record = result.get(precision, kind="tensorrt")
        assert record.path.name == onnx_name.replace(".onnx", ".engine")
        engine, onnx_model = open_backend(record.path, device="cuda"), open_backend(tmp_path / onnx_name)
        pixels = torch.rand(40, 3, 16, 16)  # 40 > max batch 32: run in chunks
        agreement = (
            engine.run(engine.prepare(pixels))
            .argmax(1)
            .eq(onnx_model.run(onnx_model.prepare(pixels)).argmax(1))
            .float()
            .mean()
        )
        assert agreement >= 0.95
    assert (tmp_path / "tensorrt.timing-cache").stat().st_size > 0 and (tmp_path / "labels.txt").exists()
    # Every engine was verified against the PyTorch reference before it was written.
    engines = [r for r in result.artefacts if r.kind == "tensorrt"]
    assert {r.path.name for r in engines} == {
        "student.fp16.engine",
        "student.int8-tensorrt.engine",
        "student.int8-fp16.engine",
    }
    assert all(r.details["verify"]["passed"] for r in engines)


@pytest.mark.tensorrt
@needs_tensorrt
def test_a_bundle_builds_and_verifies_its_engines_like_build_sh(student, tmp_path, run_cli):
    """What build.sh does on the device, minus docker: engines from the bundle's ONNX, then verify --backend trt."""
    bundle = tmp_path / "bundle"
    export(
        ExportConfig(
            student,
            tmp_path / "export",
            int8=True,
            calib=DIGITS_SPEC,
            int8_target=("tensorrt",),
            latency=False,
            bundle=bundle,
            reference_samples=64,
        )
    )
    for name in ("student.fp16.onnx", "student.int8-fp16.onnx"):
        result = run_cli("export", bundle / name, "--trt", "--batch", "1,8,32", "--deepstream", "--out", bundle)
        assert result.code == 0, result.stderr
        assert json.loads((bundle / name.replace(".onnx", ".engine.json")).read_text())["verify"]["passed"]
    result = run_cli("verify", bundle, "--backend", "trt")
    assert result.code == 0 and "verify passed: 2 artefact(s)" in result.stdout, result.stderr


def test_building_from_a_shipped_onnx_needs_no_onnxruntime(full_export, tmp_path):
    """A Jetson may lack onnxruntime: `export MODEL.onnx --trt` must get to TensorRT without it."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "from pathlib import Path\n"
        "from edgekd.errors import EdgekdError\n"
        "from edgekd.export import ExportConfig, export\n"
        f"try:\n    export(ExportConfig(Path({str(full_export.get('fp32').path)!r}), "
        f"Path({str(tmp_path / 'out')!r}), trt=True))\n"
        "except EdgekdError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    if tensorrt_missing() is not None:
        assert run.stdout.startswith("TensorRTUnavailable --trt needs TensorRT and a CUDA GPU")
