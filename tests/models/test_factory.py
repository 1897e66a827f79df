"""The timm factory: names, local pretrained weights, safe loading."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file

from edgekd.errors import ModelError
from edgekd.models import create_model, list_architectures, model_cost, read_state_dict, resolve_arch


def test_unknown_model_lists_close_timm_names():
    with pytest.raises(ModelError, match="resnet18"):
        resolve_arch("resnet19")


def test_list_architectures_reports_cost_at_the_given_size():
    rows = list_architectures("resnet18", input_size=32)
    names = [r.name for r in rows]
    assert "resnet18" in names
    row = rows[names.index("resnet18")]
    assert row.params == 11_689_512 and 0.05 < row.gflops < 0.1
    assert row.local_weights is None


def test_pretrained_file_with_other_class_count_reinitialises_only_the_classifier(tmp_path):
    source = timm.create_model("resnet10t", num_classes=7)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    model = create_model("resnet10t", num_classes=3, pretrained=tmp_path / "w.safetensors")
    assert torch.equal(model.conv1[0].weight, source.conv1[0].weight)
    assert model.fc.weight.shape == (3, 512)


def test_pretrained_rgb_weights_adapt_to_one_channel(tmp_path):
    source = timm.create_model("resnet10t", num_classes=10)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    model = create_model("resnet10t", num_classes=10, in_chans=1, pretrained=tmp_path / "w.pth")
    assert model.conv1[0].weight.shape[1] == 1
    assert torch.allclose(model.conv1[0].weight, source.conv1[0].weight.sum(dim=1, keepdim=True))


def test_weights_of_another_architecture_are_refused(tmp_path):
    save_file(
        {k: v.contiguous() for k, v in timm.create_model("resnet18").state_dict().items()},
        str(tmp_path / "r18.safetensors"),
    )
    with pytest.raises(ModelError, match="do not fit"):
        create_model("mobilenetv3_small_050", num_classes=10, pretrained=tmp_path / "r18.safetensors")


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    torch.save({"state_dict": {"w": _Exploit()}}, tmp_path / "evil.pth")
    with pytest.raises(ModelError, match="cannot be loaded safely"):
        read_state_dict(tmp_path / "evil.pth")


def test_missing_hub_cache_weights_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="--pretrained FILE"):
        create_model("resnet10t", num_classes=10, pretrained="cache")


def test_model_cost_counts_a_built_model():
    params, gflops = model_cost(timm.create_model("mobilenetv3_small_050", num_classes=10), 32)
    assert params == sum(p.numel() for p in timm.create_model("mobilenetv3_small_050", num_classes=10).parameters())
    assert gflops is not None and gflops > 0
