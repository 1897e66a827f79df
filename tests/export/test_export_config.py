"""ExportConfig validation: every bad option combination is one line naming the flag to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekd.errors import ConfigError
from edgekd.export import ExportConfig

CKPT, OUT = Path("runs/x/student.safetensors"), Path("runs/x/export")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exporter": "onnxscript"}, "--exporter"),
        ({"opset": 17}, "--opset 17"),
        ({"exporter": "torchscript", "opset": 21}, "--opset 21"),
        ({"int8": True}, "--int8 needs --calib"),
        ({"calib": Path("c.yaml")}, "--calib applies to INT8"),
        ({"max_drop": 0.5}, "--max-drop applies to INT8"),
        ({"int8": True, "calib": Path("c.yaml"), "max_drop": -1.0}, "--max-drop must be >= 0"),
        ({"int8": True, "calib": Path("c.yaml"), "int8_target": ("gpu",)}, "unknown --int8-target 'gpu'"),
        ({"int8": True, "calib": Path("c.yaml"), "calib_method": "mse"}, "--calib-method"),
        ({"dla_core": 0}, "--dla-core applies to TensorRT"),
        ({"deepstream": True}, "--deepstream applies to TensorRT"),
        ({"trt": True, "batch": (8, 1)}, "--batch takes 1 to 3 ascending"),
        ({"trt": True, "batch": (1, 2, 4, 8)}, "--batch takes 1 to 3"),
        ({"trt": True, "workspace_gb": 0.0}, "--workspace-gb"),
        ({"trt": True, "int8": True, "calib": Path("c.yaml"), "int8_target": ("cpu",)}, "needs --int8-target tensorrt"),
        ({"trt": True, "deepstream": True, "bake_preprocess": True}, "drop --bake-preprocess"),
        ({"parity_samples": 0}, "--parity-samples"),
    ],
)
def test_bad_combinations_are_refused(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ExportConfig(CKPT, OUT, **options).validate()


def test_bake_preprocess_needs_a_checkpoint():
    with pytest.raises(ConfigError, match="already exported"):
        ExportConfig(Path("student.onnx"), OUT, bake_preprocess=True, fp16=True).validate()


def test_int8_target_defaults_follow_the_build_target():
    calib = Path("c.yaml")
    assert ExportConfig(CKPT, OUT, int8=True, calib=calib).int8_targets == ("cpu",)
    assert ExportConfig(CKPT, OUT, int8=True, calib=calib, trt=True).int8_targets == ("tensorrt",)
    assert ExportConfig(CKPT, OUT, int8=True, calib=calib, int8_target=("cpu", "tensorrt")).validate().int8_targets == (
        "cpu",
        "tensorrt",
    )
    assert ExportConfig(CKPT, OUT).int8_targets == ()
