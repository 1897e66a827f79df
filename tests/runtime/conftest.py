"""A real timm model saved as an edgekd artefact and exported by edgekd, for the backend tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from edgekd.data import InputSpec
from edgekd.export import ExportConfig, export
from edgekd.models import ModelCard, save_model


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory) -> dict[str, Path]:
    """`model.safetensors` (resnet10t, 10 digit classes, 16 px) and its FP32 ONNX from `edgekd export`."""
    root = tmp_path_factory.mktemp("runtime")
    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=10).eval()
    card = ModelCard(
        "resnet10t",
        10,
        [str(i) for i in range(10)],
        InputSpec(16, 3, (0.3,) * 3, (0.35,) * 3),
        role="student",
        dataset={"spec": "digits"},
    )
    weights = save_model(model, card, root / "model.safetensors")
    result = export(ExportConfig(weights, root / "export", exporter="torchscript"))
    return {"torch": weights, "onnx": result.get("fp32").path}
