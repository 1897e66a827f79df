"""Model artefacts are plain timm state dicts plus a card; damaged files fail cleanly."""

from __future__ import annotations

import pytest
import timm
import torch

from edgekd.data import InputSpec
from edgekd.errors import ModelError
from edgekd.models import ModelCard, load_model, read_state_dict, save_model


def _card():
    return ModelCard("resnet10t", 4, ["a", "b", "c", "d"], InputSpec(16, 3, (0.5,) * 3, (0.25,) * 3))


def test_saved_model_loads_with_plain_timm(tmp_path):
    model = timm.create_model("resnet10t", num_classes=4)
    path = save_model(model, _card(), tmp_path / "teacher.safetensors")
    plain = timm.create_model("resnet10t", num_classes=4)
    plain.load_state_dict(read_state_dict(path))
    x = torch.randn(2, 3, 16, 16)
    model.eval(), plain.eval()
    assert torch.equal(model(x), plain(x))
    loaded, card = load_model(tmp_path)
    assert card.class_names == ["a", "b", "c", "d"] and card.input.size == 16
    assert len(card.extra["weights_sha256"]) == 64


def test_truncated_weights_fail_with_a_clear_message(tmp_path):
    path = save_model(timm.create_model("resnet10t", num_classes=4), _card(), tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="truncated"):
        load_model(path)


def test_missing_card_asks_for_the_architecture(tmp_path):
    path = save_model(timm.create_model("resnet10t", num_classes=4), _card(), tmp_path / "m.safetensors")
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="--teacher-arch"):
        load_model(path)
