"""Fake-quantized models with NVIDIA ModelOpt: insert quantizers, save/restore their state safely, QDQ ONNX.

Distillation (QAD training) and export (the QDQ ONNX of a QAD student) both need this, and
neither may import the other, so it lives in the core.

A quantized artefact is the plain student (`student.safetensors` + `student.json`: FP32 weights
any timm user can load) plus `student.quantizers.safetensors` (each enabled quantizer's amax)
and `student.quantizers.json` (the ModelOpt config that inserted them, the quantizer names,
versions). Restoring re-runs `mtq.quantize` with the same config and no calibration (the same
quantizers, uncalibrated), then loads the amax values.

Why not `modelopt.torch.opt.modelopt_state` as it is: it is a nested Python structure (the
config, then per quantizer a dict holding `torch.Size`, dtypes, `slice` objects, calibrator
settings) meant to be written with `torch.save`, i.e. a pickle. ModelOpt reads it back with
`torch.load`, which is only as safe as `weights_only` (it tells users to set
`TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1` when the safe load fails, i.e. to unpickle arbitrary code),
and its layout follows ModelOpt's version. What edgekd needs to rebuild the model is the
config (plain JSON) and the amax tensors (safetensors), so that is all it stores.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgekd.artifacts import atomic_path, sha256_file, write_json
from edgekd.errors import ConfigError, ModelError
from edgekd.models.checkpoint import ModelCard, load_model, save_model

INSTALL_HINT = "pip install 'edgekd[modelopt]'"
QUANTIZERS_SCHEMA = "edgekd.quantizers/1"
STATE_SUFFIX = ".quantizers"  # student.safetensors → student.quantizers.safetensors / .json
# The recipes `--quantize` takes. `int8`: ModelOpt's INT8_DEFAULT_CFG — symmetric signed 8-bit,
# per-channel weights (axis 0), per-tensor activations, max calibration: the S8S8 QDQ that
# TensorRT builds explicit-quantization engines from. `int8-per-tensor`: the same with one
# scale per weight tensor (where PTQ of depthwise students collapses).
RECIPES = ("int8", "int8-per-tensor")
QDQ_OPSET = 17  # the legacy exporter's opset at which ModelOpt's QDQ export is checked (FACTS.md)


def require_modelopt(what: str = "--quantize") -> Any:
    """`modelopt.torch.quantization`, or a one-line `ConfigError` saying how to install it."""
    try:
        with _quiet():
            import modelopt.torch.quantization as mtq
    except ImportError as exc:
        raise ConfigError(f"{what} needs NVIDIA ModelOpt, which is not installed: {INSTALL_HINT}") from exc
    return mtq


def recipe_config(recipe: str) -> dict[str, Any]:
    """The ModelOpt quantize config of a recipe name (a deep copy: ModelOpt's dicts are shared)."""
    mtq = require_modelopt()
    if recipe not in RECIPES:
        raise ConfigError(f"unknown --quantize '{recipe}': use {' or '.join(RECIPES)}.")
    config: dict[str, Any] = deepcopy(mtq.INT8_DEFAULT_CFG)
    if recipe == "int8-per-tensor":
        for entry in config["quant_cfg"]:
            if entry.get("quantizer_name") == "*weight_quantizer":
                entry["cfg"] = {**entry["cfg"], "axis": None}
    return config


def quantize_model(model: nn.Module, recipe: str, calibration: Iterable[torch.Tensor] | None) -> nn.Module:
    """Insert ModelOpt quantizers into `model` (in place) and calibrate them (max of |x|).

    Args:
        model: a float classifier taking normalised (N, C, H, W) input.
        recipe: one of `RECIPES`.
        calibration: batches of model inputs (normalised (N, C, H, W) float, on the model's
            device) for the activation ranges; None inserts the quantizers uncalibrated
            (restoring a saved state sets their amax afterwards).

    Returns:
        The same model with quantizers (weights stay float; fake quantization in forward).
    """
    return _insert_quantizers(model, recipe_config(recipe), calibration)


def _insert_quantizers(
    model: nn.Module, config: dict[str, Any], calibration: Iterable[torch.Tensor] | None
) -> nn.Module:
    """`mtq.quantize(model, config, forward_loop)` with a forward loop over `calibration` (None: none)."""
    mtq = require_modelopt()
    forward_loop = None
    if calibration is not None:
        batches = list(calibration)

        def forward_loop(network: nn.Module) -> None:
            with torch.no_grad():
                for batch in batches:
                    network(batch)

    was_training = model.training
    model.eval()  # calibration sees the model as it runs deployed (BN running statistics)
    with _quiet():
        model = mtq.quantize(model, config, forward_loop)
    return model.train(was_training)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ModelOpt prints ("Inserted N quantizers") and warns about plugins it cannot load
    (transformers, CUDA extensions; torch logs "No CUDA runtime is found" when it looks for
    them); a stage's output is its progress log."""
    extensions_log = logging.getLogger("torch.utils.cpp_extension")
    level = extensions_log.level
    extensions_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        extensions_log.setLevel(level)


def tensor_quantizers(model: nn.Module) -> dict[str, Any]:
    """Every ModelOpt TensorQuantizer of `model`, by module path (ModelOpt ships no types)."""
    from modelopt.torch.quantization.nn import TensorQuantizer

    return {name: module for name, module in model.named_modules() if isinstance(module, TensorQuantizer)}


def quantizer_amax(model: nn.Module) -> dict[str, torch.Tensor]:
    """The amax (calibrated range) of each enabled quantizer, by module path."""
    return {
        name: q.amax.detach().to("cpu").contiguous().clone()
        for name, q in tensor_quantizers(model).items()
        if q.is_enabled and q.amax is not None
    }


def quantization_counts(model: nn.Module) -> dict[str, int]:
    """How many quantizers ModelOpt inserted, how many are enabled, and of those on weights."""
    quantizers = tensor_quantizers(model)
    enabled = [n for n, q in quantizers.items() if q.is_enabled]
    return {
        "quantizers": len(quantizers),
        "enabled": len(enabled),
        "weight_quantizers": sum(n.endswith("weight_quantizer") for n in enabled),
    }


def float_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights without the quantizers' buffers: the plain timm state dict."""
    return {k: v for k, v in model.state_dict().items() if "_quantizer." not in k}


def state_paths(weights_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The quantizer state files beside a model artefact: (`.quantizers.safetensors`, `.quantizers.json`)."""
    stem = Path(weights_path).with_suffix("")
    return stem.with_name(stem.name + STATE_SUFFIX + ".safetensors"), stem.with_name(stem.name + STATE_SUFFIX + ".json")


def is_quantized_artefact(weights_path: str | os.PathLike[str]) -> bool:
    """Whether a model artefact carries a quantizer state (a QAD student)."""
    return state_paths(weights_path)[1].exists()


def save_quantized(model: nn.Module, card: ModelCard, weights_path: str | os.PathLike[str], recipe: str) -> Path:
    """Write a fake-quantized model: the plain FP32 artefact plus its quantizer state, atomically.

    Returns:
        The weights path; the card's `extra["quantizers"]` names the state files and their sha256.
    """
    from safetensors.torch import save_file

    amax_path, json_path = state_paths(weights_path)
    amax = quantizer_amax(model)
    with atomic_path(amax_path) as tmp:
        save_file(amax, str(tmp), metadata={"schema": QUANTIZERS_SCHEMA, "recipe": recipe})
        amax_sha = sha256_file(tmp)
    state = {
        "schema": QUANTIZERS_SCHEMA,
        "recipe": recipe,
        "modelopt_config": recipe_config(recipe),
        "quantizers": sorted(tensor_quantizers(model)),
        "calibrated": sorted(amax),
        "amax_file": amax_path.name,
        "amax_sha256": amax_sha,
        "versions": {"nvidia-modelopt": importlib.metadata.version("nvidia-modelopt"), "torch": torch.__version__},
    }
    write_json(json_path, state)
    card.extra["quantizers"] = {
        "recipe": recipe,
        "state": json_path.name,
        "amax": amax_path.name,
        "amax_sha256": amax_sha,
        **quantization_counts(model),
    }
    return save_model(_FloatView(model), card, weights_path)


class _FloatView(nn.Module):
    """`save_model` writes `state_dict()`; this view hands it the weights without quantizer buffers."""

    _model: nn.Module  # in __dict__, not registered as a submodule

    def __init__(self, model: nn.Module):
        super().__init__()
        self.__dict__["_model"] = model

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]  # one form of torch's overloaded state_dict
        return float_state_dict(self._model)


def read_quantizer_state(weights_path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The JSON state and the amax tensors beside a model artefact, checked against each other."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    amax_path, json_path = state_paths(weights_path)
    if not json_path.exists() or not amax_path.exists():
        raise ModelError(
            f"{Path(weights_path).name} has no quantizer state ({json_path.name} and {amax_path.name}); it is not "
            "a QAD student."
        )
    try:
        state = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{json_path} is not valid JSON: {exc}.") from exc
    if not isinstance(state, dict) or state.get("schema") != QUANTIZERS_SCHEMA:
        raise ModelError(f"{json_path} is not an edgekd quantizer state (schema {QUANTIZERS_SCHEMA}).")
    if sha256_file(amax_path) != state.get("amax_sha256"):
        raise ModelError(
            f"{amax_path.name} does not match {json_path.name} (sha256 differs): the pair was not written together."
        )
    try:
        amax = load_file(str(amax_path))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{amax_path} is not a readable safetensors file: {exc}.") from exc
    return state, amax


def load_quantized(
    path: str | os.PathLike[str], *, exportable: bool = False, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelCard, dict[str, Any]]:
    """Rebuild a fake-quantized artefact: FP32 weights, quantizers re-inserted by the same config, amax loaded.

    Returns:
        (model in eval mode, its card, the quantizer state JSON).
    """
    model, card = load_model(path, exportable=exportable)
    weights_path = Path(path) if Path(path).is_file() else Path(path) / "student.safetensors"
    require_modelopt(f"loading {weights_path.name} (a QAD student)")
    state, amax = read_quantizer_state(weights_path)
    recipe = state.get("recipe")
    if recipe not in RECIPES:
        raise ModelError(
            f"{weights_path.name}: quantizer recipe '{recipe}' is not one this edgekd knows ({', '.join(RECIPES)})."
        )
    # The config saved with the state, not today's recipe_config(recipe): a newer ModelOpt may
    # change its defaults, and the amax values belong to the quantizers the saved one inserted.
    try:
        model = _insert_quantizers(model, state["modelopt_config"], calibration=None)
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise ModelError(
            f"{weights_path.name}: ModelOpt refuses the saved quantizer config: {str(exc).splitlines()[0]}"
        ) from exc
    quantizers = tensor_quantizers(model)
    if sorted(quantizers) != state["quantizers"]:
        raise ModelError(
            f"{weights_path.name}: re-inserting '{recipe}' gives other quantizers than were saved (ModelOpt "
            f"version differs?): {len(quantizers)} vs {len(state['quantizers'])}."
        )
    missing = [n for n, q in quantizers.items() if q.is_enabled and n not in amax]
    if missing or set(amax) - set(quantizers):
        raise ModelError(
            f"{weights_path.name}: the saved amax values do not cover the enabled quantizers (missing {missing[:3]})."
        )
    for name, value in amax.items():
        quantizers[name].amax = value
    return model.to(device).eval(), card, state


def export_qdq_onnx(
    model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str], input_name: str, output_name: str
) -> None:
    """Write the QDQ ONNX of a fake-quantized model (QuantizeLinear/DequantizeLinear around each quantized op).

    The legacy TorchScript exporter (`dynamo=False`) at opset 17: ModelOpt's quantizers export
    through its symbolic functions, which the dynamo exporter does not take.

    Args:
        model: eval-mode fake-quantized model taking normalised (N, C, H, W) float32.
        example: an input of that shape (batch stays dynamic).
    """
    model.eval()
    with _quiet(), torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=QDQ_OPSET,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
        )


def calibration_batches(inputs: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split prepared model inputs (N, C, H, W) into calibration batches."""
    return [inputs[start : start + batch_size] for start in range(0, len(inputs), batch_size)]


def freeze_batchnorm(model: nn.Module) -> int:
    """Keep every BatchNorm in eval mode (running statistics, not updated) whatever `train()` says.

    ModelOpt's INT8 configs leave BatchNorm unquantized (TensorRT folds it into the preceding
    convolution at build); the activation ranges were calibrated with the running statistics,
    so QAD keeps them fixed (BN's affine weights still train).

    Returns:
        How many BatchNorm layers were frozen.
    """
    frozen = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            setattr(module, "train", _eval_only.__get__(module))  # nn.Module.train calls each child's train()
            module.eval()
            frozen += 1
    return frozen


def _eval_only(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)
