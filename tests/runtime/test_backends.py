"""The inference-backend layer: one interface over PyTorch and ONNX Runtime, clean failures."""

from __future__ import annotations

import onnx
import pytest
import torch

from edgekd.data import DataConfig, InputSpec, to_unit_float
from edgekd.errors import ConfigError, ModelError
from edgekd.models import ModelCard
from edgekd.runtime import INPUT_NHWC_UINT8, Backend, artefact_format, open_backend
from edgekd.runtime.ort_backend import read_onnx_file_metadata


def test_torch_and_onnx_runtime_compute_the_same_logits_on_real_images(artefacts):
    torch_backend, ort_backend = open_backend(artefacts["torch"]), open_backend(artefacts["onnx"], threads=2)
    assert (torch_backend.name, ort_backend.name) == ("torch", "ort")
    assert ort_backend.card.class_names == torch_backend.card.class_names and ort_backend.precision == "fp32"
    assert ort_backend.describe() == {
        "backend": "ort",
        "device": "cpu",
        "precision": "fp32",
        "input_format": "nchw_float32",
    }
    pixels = to_unit_float(DataConfig("digits").load().val.images[:50], (16, 16))
    reference, exported = torch_backend.run(torch_backend.prepare(pixels)), ort_backend.run(ort_backend.prepare(pixels))
    assert exported.dtype == torch.float32 and exported.shape == (50, 10)
    assert (reference - exported).abs().max() < 1e-3
    assert ort_backend.metadata["exporter"] == "torchscript" and ort_backend.metadata["parity"]["passed"]


def test_onnx_without_edgekd_metadata_is_refused(artefacts, tmp_path):
    bare = tmp_path / "bare.onnx"
    model = onnx.load(str(artefacts["onnx"]))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    with pytest.raises(ModelError, match="no edgekd metadata"):
        open_backend(bare)
    with pytest.raises(ModelError, match="no edgekd metadata"):
        read_onnx_file_metadata(bare)


def test_damaged_onnx_is_one_clear_error(artefacts, tmp_path):
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(artefacts["onnx"].read_bytes()[:2000])
    with pytest.raises(ModelError, match="ONNX Runtime cannot load .*damaged.onnx.*Protobuf parsing failed"):
        open_backend(damaged)
    with pytest.raises(ModelError, match="not a readable ONNX"):
        read_onnx_file_metadata(damaged)


def test_artefact_types_and_backend_choice(artefacts, tmp_path):
    assert artefact_format(artefacts["onnx"]) == "onnx" and artefact_format(artefacts["torch"]) == "torch"
    assert artefact_format(tmp_path / "m.engine") == "tensorrt" and artefact_format(tmp_path) == "torch"
    with pytest.raises(ModelError, match="unknown artefact type"):
        artefact_format(tmp_path / "m.tflite")
    with pytest.raises(ConfigError, match="use --backend ort"):
        open_backend(artefacts["onnx"], backend="torch")
    with pytest.raises(ModelError, match="not found"):
        open_backend(tmp_path / "missing.onnx")


def test_frames_for_baked_models_follow_the_model_channels():
    card = ModelCard("resnet10t", 2, ["a", "b"], InputSpec(8, 1, (0.5,), (0.25,)))
    frames = Backend(card, input_format=INPUT_NHWC_UINT8).prepare(torch.rand(4, 3, 16, 16))
    assert frames.dtype == torch.uint8 and frames.shape == (4, 8, 8, 1)
    rgb_card = ModelCard("resnet10t", 2, ["a", "b"], InputSpec(8, 3, (0.5,) * 3, (0.25,) * 3))
    grey = torch.rand(2, 1, 8, 8)
    frames = Backend(rgb_card, input_format=INPUT_NHWC_UINT8).prepare(grey)
    assert frames.shape == (2, 8, 8, 3) and torch.equal(frames[..., 0], frames[..., 2])
    assert torch.equal(frames[..., 0], grey[:, 0].mul(255).round().to(torch.uint8))
