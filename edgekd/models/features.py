"""Feature taps: forward hooks addressed by module path (torchdistill's `forward_hook` idea).

Any timm model can act as teacher or student of a feature-based method without rewriting it:
`FeatureTaps(model, ["layer2"])` records what `model.layer2` returns on every forward. Layers are
named by their path in `model.named_modules()`; `list_layers` shows which paths produce feature
maps, with channels and stride, and `auto_pair` picks a teacher/student pair through timm's
`feature_info` (same stride, a middle stage of the student).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn

from edgekd.errors import ModelError


@dataclass(frozen=True)
class LayerInfo:
    """One module that outputs a feature map.

    Attributes:
        name: module path, e.g. `layer2` or `blocks.1.0.conv_pw`.
        kind: the module's class name.
        channels: output channels C of the (B, C, H, W) map.
        height, width: output size (px) for the probed input size.
        stride: input size / output height (px of input per output row).
        stage: index in timm's `feature_info` when the module is one of its stages, else None.
    """

    name: str
    kind: str
    channels: int
    height: int
    width: int
    stride: float
    stage: int | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the output for one sample."""
        return (self.channels, self.height, self.width)


class _StopForward(Exception):
    """Raised from a hook to end a forward pass early; carries nothing (the taps hold the data)."""


class FeatureTaps:
    """Records the outputs of named modules on every forward of `model`.

    Args:
        model: the model to tap (hooks stay registered until `remove()`).
        names: module paths; an unknown path fails with the available layers listed.
        detach: store detached outputs (for a frozen teacher) or keep the graph (student).
    """

    def __init__(self, model: nn.Module, names: Iterable[str], *, detach: bool = False):
        self.names = list(names)
        self.outputs: dict[str, torch.Tensor] = {}
        self._stop_after: str | None = None
        self._handles = []
        for name in self.names:
            module = resolve_layer(model, name)
            self._handles.append(module.register_forward_hook(self._hook(name, detach)))

    def _hook(self, name: str, detach: bool) -> Callable[[nn.Module, Any, Any], None]:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                raise ModelError(
                    f"layer '{name}' returns {type(output).__name__}, not a feature tensor; pick another layer."
                )
            self.outputs[name] = output.detach() if detach else output
            if self._stop_after == name:
                raise _StopForward

        return record

    def run_until(self, model: nn.Module, inputs: torch.Tensor, name: str) -> torch.Tensor:
        """Run `model` only as far as layer `name` and return that layer's output.

        The rest of the network is skipped (no compute, no BatchNorm statistics updated), which
        is what training "the student up to the guided layer" means.
        """
        self._stop_after = name
        try:
            model(inputs)
        except _StopForward:
            pass
        finally:
            self._stop_after = None
        return self.outputs[name]

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.outputs[name]

    def clear(self) -> None:
        self.outputs.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def feature_stages(model: nn.Module) -> list[dict[str, Any]]:
    """timm's `feature_info` of `model` as a list of {module, num_chs, reduction} (empty if none)."""
    info = getattr(model, "feature_info", None)
    if info is None:
        return []
    entries = info.get_dicts() if hasattr(info, "get_dicts") else list(info)
    return [dict(e) for e in entries if isinstance(e, dict) and "module" in e]


@torch.no_grad()
def list_layers(model: nn.Module, input_size: int, in_chans: int = 3) -> list[LayerInfo]:
    """Every module of `model` that outputs a (B, C, H, W) feature map, in module order.

    Args:
        input_size: square input size (px) to probe with; strides and sizes refer to it.
        in_chans: input channels of the model.
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def probe(name: str) -> Callable[[nn.Module, Any, Any], None]:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor) and name not in shapes:
                shapes[name] = tuple(output.shape)

        return record

    handles = [m.register_forward_hook(probe(n)) for n, m in model.named_modules() if n]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, in_chans, input_size, input_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    stage_of = {entry["module"]: index for index, entry in enumerate(feature_stages(model))}
    layers = []
    for name, module in model.named_modules():
        shape = shapes.get(name)
        if shape is None or len(shape) != 4:
            continue
        layers.append(
            LayerInfo(
                name, type(module).__name__, shape[1], shape[2], shape[3], input_size / shape[2], stage_of.get(name)
            )
        )
    return layers


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule at path `name`; an unknown path fails listing the layers that exist."""
    try:
        return model.get_submodule(name) if name else model
    except AttributeError:
        pass
    names = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    # Shallow paths (stages, blocks) are what people pick; the deep ones are one command away.
    shallow = [n for n in names if n.count(".") <= 1 and not n.endswith((".drop", ".act"))]
    arch = getattr(model, "default_cfg", {}).get("architecture") or type(model).__name__
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ModelError(
        f"unknown layer '{name}' in {arch}.{hint} Available: {', '.join(shallow)} "
        f"(all of them with channels and stride: edgekd distill --list-layers {arch})."
    )


def middle_stage(model: nn.Module) -> dict[str, Any]:
    """The middle entry of timm's `feature_info` (e.g. `layer2` of a ResNet: stride 8)."""
    stages = feature_stages(model)
    if not stages:
        raise ModelError(
            f"{type(model).__name__} has no timm feature_info; name the layers with --hint-layer and --guided-layer."
        )
    return stages[len(stages) // 2]


def auto_pair(
    teacher: nn.Module,
    student: nn.Module,
    *,
    student_size: int,
    student_chans: int = 3,
    hint_layer: str | None = None,
    guided_layer: str | None = None,
) -> tuple[str, str]:
    """(hint layer of the teacher, guided layer of the student), filling in those not given.

    The guided layer defaults to the student's middle timm stage; the hint layer to the
    teacher's timm stage whose stride (reduction) is closest to the guided layer's measured
    stride at `student_size` px (the larger one on ties). Strides are relative to each model's
    own input, so teachers with a larger input pair by depth, and the adapter resizes.
    """
    if guided_layer is None:
        guided_layer = middle_stage(student)["module"]
    if hint_layer is None:
        stride = {layer.name: layer.stride for layer in list_layers(student, student_size, student_chans)}.get(
            guided_layer
        )
        if stride is None:
            resolve_layer(student, guided_layer)  # unknown names fail with the list of layers
            raise ModelError(
                f"guided layer '{guided_layer}' outputs no (B, C, H, W) feature map; pick a convolutional stage "
                "(edgekd distill --list-layers)."
            )
        stages = feature_stages(teacher)
        if not stages:
            raise ModelError(
                f"the teacher ({type(teacher).__name__}) has no timm feature_info; name its layer with --hint-layer."
            )
        hint_layer = min(stages, key=lambda s: (abs(s["reduction"] - stride), -s["reduction"]))["module"]
    return hint_layer, guided_layer


def layer_shape(model: nn.Module, name: str, input_size: int, in_chans: int = 3) -> tuple[int, int, int]:
    """(C, H, W) that layer `name` outputs for one `input_size` px input; fails clearly for
    unknown layers or layers without a (B, C, H, W) output."""
    resolve_layer(model, name)
    for layer in list_layers(model, input_size, in_chans):
        if layer.name == name:
            return layer.shape
    raise ModelError(
        f"layer '{name}' does not output a (B, C, H, W) feature map at {input_size} px; pick a convolutional "
        "stage (edgekd distill --list-layers)."
    )
