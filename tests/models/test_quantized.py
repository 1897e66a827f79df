"""The ModelOpt wrapper: quantizers inserted and calibrated, their state saved as safetensors + JSON and restored
exactly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from edgekd.data import DataConfig, ModelInput, to_unit_float
from edgekd.errors import ConfigError, ModelError
from edgekd.models import ModelCard, create_model, input_spec_for, load_model, quantized

pytest.importorskip(
    "modelopt.torch.quantization",
    reason="NVIDIA ModelOpt not installed: pip install 'edgekd[modelopt]' (make setup does this)",
)

IMG_SIZE = 16


@pytest.fixture(scope="module")
def digits_inputs():
    """Real digits val images as test_resnet's normalised input, and the input spec."""
    dataset = DataConfig(spec="digits").load(IMG_SIZE)
    spec = input_spec_for("test_resnet", dataset, IMG_SIZE, None, None)
    with torch.no_grad():
        inputs = ModelInput(spec)(to_unit_float(dataset.val.images, (IMG_SIZE, IMG_SIZE)))
    return inputs, spec, dataset


def _quantized(digits_inputs, recipe="int8"):
    inputs, spec, dataset = digits_inputs
    torch.manual_seed(0)
    model = create_model("test_resnet", dataset.num_classes, spec.in_chans)
    model = quantized.quantize_model(model, recipe, quantized.calibration_batches(inputs, 32))
    card = ModelCard(
        arch="test_resnet",
        num_classes=dataset.num_classes,
        class_names=dataset.class_names,
        input=spec,
        role="student",
        dataset=dataset.describe(),
    )
    return model.eval(), card


def test_calibration_sets_a_range_on_every_enabled_quantizer(digits_inputs):
    model, _ = _quantized(digits_inputs)
    counts = quantized.quantization_counts(model)
    amax = quantized.quantizer_amax(model)
    assert counts["enabled"] == len(amax) > 0
    assert counts["weight_quantizers"] > 0
    assert all(bool((value > 0).all()) for value in amax.values())
    # Per-channel weights: one range per output channel of the first convolution.
    first_conv = model.conv1[0]
    assert amax["conv1.0.weight_quantizer"].numel() == first_conv.out_channels


def test_per_tensor_recipe_has_one_weight_range_per_layer(digits_inputs):
    model, _ = _quantized(digits_inputs, "int8-per-tensor")
    amax = quantized.quantizer_amax(model)
    assert amax["conv1.0.weight_quantizer"].numel() == 1


def test_saved_state_restores_the_same_outputs(digits_inputs, tmp_path):
    model, card = _quantized(digits_inputs)
    inputs = digits_inputs[0]
    path = quantized.save_quantized(model, card, tmp_path / "student.safetensors", "int8")
    restored, restored_card, state = quantized.load_quantized(path)
    with torch.no_grad():
        assert torch.equal(model(inputs), restored(inputs))
    assert state["recipe"] == "int8" and restored_card.extra["quantizers"]["recipe"] == "int8"
    # Fake quantization changes the outputs: the restored model really runs its quantizers.
    plain, _ = load_model(path)
    with torch.no_grad():
        assert not torch.equal(plain(inputs), restored(inputs))


def test_the_artefact_is_a_plain_student_plus_json_and_safetensors(digits_inputs, tmp_path):
    model, card = _quantized(digits_inputs)
    path = quantized.save_quantized(model, card, tmp_path / "student.safetensors", "int8")
    weights = load_file(str(path))
    assert not any("_quantizer" in key for key in weights)
    timm_model = create_model("test_resnet", card.num_classes, card.input.in_chans)
    timm_model.load_state_dict(weights)  # what any timm user does with student.safetensors
    amax_path, json_path = quantized.state_paths(path)
    state = json.loads(json_path.read_text())
    assert state["schema"] == quantized.QUANTIZERS_SCHEMA
    assert set(load_file(str(amax_path))) == set(state["calibrated"])
    assert state["modelopt_config"]["quant_cfg"]  # the config that re-inserts the same quantizers


def test_a_tampered_range_file_is_refused(digits_inputs, tmp_path):
    model, card = _quantized(digits_inputs)
    path = quantized.save_quantized(model, card, tmp_path / "student.safetensors", "int8")
    amax_path, _ = quantized.state_paths(path)
    ranges = load_file(str(amax_path))
    save_file({k: v * 2 for k, v in ranges.items()}, str(amax_path))
    with pytest.raises(ModelError, match="sha256"):
        quantized.load_quantized(path)


def test_a_plain_student_has_no_quantizer_state(digits_inputs, tmp_path):
    from edgekd.models import save_model

    _, card = _quantized(digits_inputs)
    plain = create_model("test_resnet", card.num_classes, card.input.in_chans)
    path = save_model(plain, card, tmp_path / "student.safetensors")
    assert not quantized.is_quantized_artefact(path)
    with pytest.raises(ModelError, match="not a QAD student"):
        quantized.load_quantized(path)


def test_unknown_recipe_is_a_config_error():
    with pytest.raises(ConfigError, match="int8"):
        quantized.recipe_config("int4")


def test_freezing_batchnorm_survives_train_mode(digits_inputs):
    model, _ = _quantized(digits_inputs)
    frozen = quantized.freeze_batchnorm(model)
    model.train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert frozen == len(norms) > 0
    assert not any(m.training for m in norms)
    before = norms[0].running_mean.clone()
    model(digits_inputs[0][:32]).sum().backward()
    assert torch.equal(before, norms[0].running_mean)


def test_restoring_uses_the_saved_config(digits_inputs, tmp_path):
    """The quantizers come back from the config written beside the weights, whatever the recipe name says."""
    model, card = _quantized(digits_inputs, "int8-per-tensor")
    path = quantized.save_quantized(model, card, tmp_path / "student.safetensors", "int8-per-tensor")
    _, json_path = quantized.state_paths(path)
    state = json.loads(json_path.read_text())
    state["modelopt_config"] = {"quant_cfg": "not a list"}
    json_path.write_text(json.dumps(state))
    with pytest.raises(ModelError, match="refuses the saved quantizer config"):
        quantized.load_quantized(path)
