"""Feature taps by module path, layer listing with channels/stride, automatic FitNet pairing."""

from __future__ import annotations

import pytest
import torch

from edgekd.errors import ModelError
from edgekd.models import create_model
from edgekd.models.features import FeatureTaps, auto_pair, layer_shape, list_layers, resolve_layer


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return create_model("resnet10t", 10).eval()


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    return create_model("mobilenetv3_small_050", 10).eval()


def test_list_layers_reports_channels_stride_and_timm_stages(resnet):
    layers = {layer.name: layer for layer in list_layers(resnet, 32)}
    assert layers["layer2"].shape == (128, 4, 4) and layers["layer2"].stride == 8
    assert layers["layer3"].channels == 256 and layers["layer3"].stride == 16
    assert [layers[n].stage for n in ("act1", "layer1", "layer2", "layer3", "layer4")] == [0, 1, 2, 3, 4]
    assert layers["layer2.0.conv1"].stage is None
    assert "fc" not in layers  # (B, classes) is not a feature map
    assert not resnet.training  # probing leaves the mode alone


def test_taps_record_the_named_layers_output(resnet):
    taps = FeatureTaps(resnet, ["layer2", "layer3.0.conv1"], detach=True)
    with torch.no_grad():
        resnet(torch.rand(2, 3, 32, 32))
    assert taps["layer2"].shape == (2, 128, 4, 4)
    assert taps["layer3.0.conv1"].shape[:2] == (2, 256)
    taps.remove()
    taps.clear()
    with torch.no_grad():
        resnet(torch.rand(2, 3, 32, 32))
    assert not taps.outputs  # removed hooks record nothing


def test_run_until_stops_after_the_layer_and_keeps_its_graph(mobilenet):
    mobilenet.train()
    taps = FeatureTaps(mobilenet, ["blocks.1"])
    head_stats = mobilenet.conv_head.weight.clone(), mobilenet.blocks[5][0].bn1.running_mean.clone()
    features = taps.run_until(mobilenet, torch.rand(4, 3, 32, 32), "blocks.1")
    assert features.shape == (4, 16, 4, 4) and features.requires_grad
    features.pow(2).mean().backward()
    assert mobilenet.blocks[0][0].conv_dw.weight.grad is not None
    assert mobilenet.conv_head.weight.grad is None  # never reached
    assert torch.equal(mobilenet.blocks[5][0].bn1.running_mean, head_stats[1])  # later BN untouched
    taps.remove()
    mobilenet.zero_grad(set_to_none=True)
    assert mobilenet(torch.rand(2, 3, 32, 32)).shape == (2, 10)  # the model still runs fully
    mobilenet.eval()


def test_unknown_layer_lists_available_ones(resnet):
    with pytest.raises(ModelError) as info:
        resolve_layer(resnet, "layer5")
    message = str(info.value)
    assert "unknown layer 'layer5'" in message and "layer1, " in message and "layer4" in message
    assert "--list-layers" in message and "\n" not in message


def test_auto_pair_uses_the_student_middle_stage_and_the_teacher_stage_of_equal_stride(resnet, mobilenet):
    assert auto_pair(resnet, mobilenet, student_size=32) == ("layer2", "blocks.1")
    # A guided layer given by name gets the teacher stage of its stride (blocks.3: stride 16).
    assert auto_pair(resnet, mobilenet, student_size=32, guided_layer="blocks.3") == ("layer3", "blocks.3")
    assert auto_pair(resnet, mobilenet, student_size=32, hint_layer="layer1", guided_layer="blocks.0") == (
        "layer1",
        "blocks.0",
    )


def test_layer_shape_refuses_layers_without_a_feature_map(resnet):
    assert layer_shape(resnet, "layer1", 16) == (64, 4, 4)
    with pytest.raises(ModelError, match="feature map"):
        layer_shape(resnet, "fc", 16)
