"""Where `--dla-core` is allowed: NVIDIA's TensorRT × board matrix and the precision rule, without TensorRT."""

from __future__ import annotations

import pytest

from edgekd.export import ExportConfig, export
from edgekd.export.dla import board_name, dla_refusal, parse_version
from edgekd.export.tensorrt_build import TRT_DLA_APIS

AGX_ORIN = "NVIDIA Jetson AGX Orin Developer Kit"
ORIN_NANO = "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"
THOR = "NVIDIA Jetson AGX Thor Developer Kit"


@pytest.mark.parametrize(
    ("version", "board", "allowed"),
    [
        ("10.3.0.30", AGX_ORIN, True),  # JetPack 6
        ("10.3.0", ORIN_NANO, True),
        ("10.7.0", AGX_ORIN, True),  # the last 10.x with DLA
        ("10.8.0", AGX_ORIN, False),
        ("10.13.3", AGX_ORIN, False),  # JetPack 7.0/7.1 on Orin: no DLA
        ("11.0.0", AGX_ORIN, False),
        ("11.3.0", AGX_ORIN, False),
        ("11.4.0", AGX_ORIN, False),  # Windows on ARM only
        ("11.4.1", AGX_ORIN, True),  # AGX Orin with JetPack 7.2.2+
        ("11.5.0", AGX_ORIN, True),
        ("11.4.1", ORIN_NANO, False),  # 11.4.1 names AGX Orin only
        ("10.3.0", THOR, False),  # Thor has no DLA
        ("11.4.1", THOR, False),
        ("10.3.0", None, False),  # not a Jetson (a server GPU)
    ],
)
def test_dla_follows_nvidias_support_matrix(version, board, allowed):
    refusal = dla_refusal(version, board, "fp16", 0)
    assert (refusal is None) == allowed, refusal
    if refusal:
        assert refusal.startswith("--dla-core") and "\n" not in refusal


def test_fp32_onnx_is_refused_for_dla_in_one_line():
    refusal = dla_refusal("10.3.0", AGX_ORIN, "fp32", 0)
    assert "FP16 and INT8 only" in refusal and ".fp16.onnx" in refusal and "\n" not in refusal
    assert dla_refusal("10.3.0", AGX_ORIN, "int8", 1) is None
    assert "cores 0 and 1" in dla_refusal("10.3.0", AGX_ORIN, "int8", 2)


def test_versions_and_board_names_are_read_plainly(tmp_path):
    assert parse_version("10.3.0.30") == (10, 3, 0, 30) and parse_version("11.4.1") == (11, 4, 1)
    model = tmp_path / "model"
    model.write_bytes(AGX_ORIN.encode() + b"\x00")  # the device tree ends the string with NUL
    assert board_name(model) == AGX_ORIN and board_name(tmp_path / "absent") is None


def test_dla_with_only_an_fp32_model_is_refused_before_anything_is_written(student, tmp_path):
    with pytest.raises(Exception, match="FP16 and INT8 only") as error:
        export(ExportConfig(student, tmp_path / "out", trt=True, dla_core=0))
    assert getattr(error.value, "exit_code", None) == 2 and not (tmp_path / "out").exists()


def test_the_builder_uses_nvidias_dla_apis():
    from pathlib import Path

    from edgekd.export import tensorrt_build
    from edgekd.runtime import trt_backend

    build, run = Path(tensorrt_build.__file__).read_text(), Path(trt_backend.__file__).read_text()
    for api in TRT_DLA_APIS:
        assert api in build, api
    assert "self._runtime.DLA_core" in run
