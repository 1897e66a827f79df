"""Which timm architectures the search considers, what each costs, and whether it exports.

A candidate is materialised once as a seeded random-init checkpoint (weights + card, the same
artefact format as a distilled student) and sent through `edgekd.export.export`: the ONNX it
times is what `edgekd export` would ship for that architecture (re-parameterised where timm
can, parity-gated against PyTorch). Latency does not depend on the weights' values, so no
candidate is trained before it is timed.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch

from edgekd import export as export_stage
from edgekd.artifacts import read_json, sha256_file
from edgekd.data import Dataset
from edgekd.engine import Progress, SilentProgress
from edgekd.errors import ConfigError, EdgekdError
from edgekd.export import ExportConfig
from edgekd.models import ModelCard, create_model, input_spec_for, model_cost, save_model

# Edge-friendly families at small inputs, with width variants: depthwise/inverted-residual nets
# (MobileNetV3/V4, EfficientNet-B0/-Lite0, GhostNet, LCNet, MnasNet), re-parameterisable nets
# (RepViT, FastViT) and plain convolutions (RegNetX, ResNet10t/18), whose INT8 gains differ.
DEFAULT_CANDIDATES = (
    "mobilenetv3_small_050",
    "mobilenetv3_small_075",
    "mobilenetv3_small_100",
    "mobilenetv3_large_075",
    "mobilenetv3_large_100",
    "mobilenetv4_conv_small_050",
    "mobilenetv4_conv_small",
    "efficientnet_b0",
    "efficientnet_lite0",
    "ghostnet_050",
    "ghostnet_100",
    "lcnet_035",
    "lcnet_050",
    "lcnet_075",
    "lcnet_100",
    "mnasnet_small",
    "mnasnet_050",
    "mnasnet_100",
    "repvit_m0_9",
    "fastvit_t8",
    "regnetx_002",
    "regnetx_004",
    "resnet10t",
    "resnet18",
)
CANDIDATE_STEM = "candidate"


@dataclass
class Candidate:
    """One architecture in the search and everything measured about it.

    Attributes:
        arch: timm name.
        params: parameter count (of the graph that ships, after re-parameterisation).
        mflops: MFLOPs per image (2 × MACs) at the search's input size.
        reparameterized: timm fused train-time branches before export.
        onnx: precision → exported ONNX file (`fp32`, and `int8` with the INT8 recipe).
        dropped: why the candidate left the search before distillation (None: it is in).
        latency: precision → profile figures at the budget's batch (`LatencyStats` fields, ms).
        latency_ms: the budget statistic of the faster precision (ms); precision: which one.
        rungs: one entry per distill run (rung, epochs, run dir, val/test top-1, wall time).
        decision: what the search did with it (a short sentence).
        int8: with `--int8`, why its INT8 model was not timed (None: it was, or no `--int8`).
    """

    arch: str
    params: int | None = None
    mflops: float | None = None
    reparameterized: bool = False
    onnx: dict[str, Path] = field(default_factory=dict)
    dropped: str | None = None
    latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency_ms: float | None = None
    precision: str | None = None
    rungs: list[dict[str, Any]] = field(default_factory=list)
    decision: str = ""
    int8: str | None = None

    @property
    def val_top1(self) -> float | None:
        """Val top-1 (%) of its longest run."""
        return self.rungs[-1]["val_top1"] if self.rungs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "params": self.params,
            "mflops": self.mflops,
            "reparameterized": self.reparameterized,
            "onnx": {k: str(v) for k, v in self.onnx.items()},
            "dropped": self.dropped,
            "latency": self.latency,
            "latency_ms": self.latency_ms,
            "precision": self.precision,
            "rungs": self.rungs,
            "decision": self.decision,
            "int8": self.int8,
        }


def resolve_candidates(patterns: tuple[str, ...] | None) -> list[str]:
    """timm names matching the patterns, in pattern order without repeats (None: the defaults).

    Raises:
        ConfigError: a pattern matches no timm architecture.
    """
    if not patterns:
        return list(DEFAULT_CANDIDATES)
    names: list[str] = []
    known = timm.list_models()
    for pattern in patterns:
        matched = [n for n in known if fnmatch.fnmatch(n, pattern)]
        if not matched:
            raise ConfigError(
                f"--candidates '{pattern}' matches no timm architecture; see 'edgekd teacher list PATTERN'."
            )
        names += [n for n in matched if n not in names]
    return names


def has_reparameterization(model: torch.nn.Module) -> bool:
    """Whether timm's `reparameterize_model` changes this model (it has fusable branches)."""
    return any(hasattr(m, name) for m in model.modules() for name in ("fuse", "reparameterize", "switch_to_deploy"))


def materialise(
    arch: str, dataset: Dataset, img_size: int, folder: Path, seed: int
) -> tuple[Path, int, float | None, bool]:
    """Write the seeded random-init checkpoint of `arch` (kept when already there).

    Returns:
        (weights path, params, MFLOPs per image or None, re-parameterisable).
    """
    from timm.utils.model import reparameterize_model

    spec = input_spec_for(arch, dataset, img_size, None, None)
    torch.manual_seed(seed)  # the same weights on every rerun, so export.json's sha256 check reuses the export
    model = create_model(arch, dataset.num_classes, spec.in_chans).eval()
    fusable = has_reparameterization(model)
    shipped = reparameterize_model(copy.deepcopy(model)) if fusable else model
    params, gflops = model_cost(shipped, img_size, spec.in_chans)
    weights = folder / f"{CANDIDATE_STEM}.safetensors"
    if not weights.exists():
        card = ModelCard(
            arch=arch,
            num_classes=dataset.num_classes,
            class_names=list(dataset.class_names),
            input=spec,
            role="student",
            dataset=dataset.describe(),
            extra={"purpose": "edgekd students: random-init candidate, for export and latency only"},
        )
        save_model(model, card, weights)
    return weights, params, None if gflops is None else gflops * 1000.0, fusable


def export_candidate(
    weights: Path,
    folder: Path,
    *,
    int8_calib: Path | None,
    exporter: str,
    threads: int,
    progress: Progress,
    dataset: Dataset | None = None,
) -> dict[str, Path]:
    """`edgekd.export.export` of a candidate checkpoint (reused while export.json matches it).

    Args:
        dataset: the data the checkpoint's card records, already loaded (its val split gives the
            parity images): the search loads it once instead of once per candidate.

    Returns:
        precision → ONNX path (`fp32`, plus `int8` when `int8_calib` is given).

    Raises:
        EdgekdError: the architecture does not export, or its ONNX fails the parity gate.
    """
    summary_path = folder / "export.json"
    if summary_path.exists():
        summary = read_json(summary_path)
        done = {a["precision"]: Path(a["path"]) for a in summary["artefacts"] if a["kind"] == "onnx"}
        if summary["source"]["sha256"] == sha256_file(weights) and ("int8" in done or int8_calib is None):
            return done
    # 256 val images suffice to show the graph computes what PyTorch does; the student that ships
    # is exported again after distillation, with the full parity gate.
    config = ExportConfig(
        weights,
        folder,
        exporter=exporter,
        threads=threads,
        parity_samples=256,
        int8=int8_calib is not None,
        calib=int8_calib,
        int8_target=("cpu",) if int8_calib else (),
        latency=False,
    )
    result = export_stage.run(config, progress, dataset=dataset)
    return {a.precision: a.path for a in result.artefacts if a.kind == "onnx"}


def export_int8(fp32_onnx: Path, folder: Path, *, calib: Path, threads: int, dataset: Dataset) -> Path:
    """The CPU INT8 recipe of a candidate's FP32 ONNX, gated against it (reused while export.json
    matches that ONNX); returns the INT8 ONNX.

    Raises:
        EdgekdError: quantization fails or the INT8 model fails its gate.
    """
    summary_path = folder / "export.json"
    if summary_path.exists():
        summary = read_json(summary_path)
        done = [Path(a["path"]) for a in summary["artefacts"] if a["kind"] == "onnx" and a["precision"] == "int8"]
        if summary["source"]["sha256"] == sha256_file(fp32_onnx) and done:
            return done[0]
    config = ExportConfig(
        fp32_onnx,
        folder,
        threads=threads,
        parity_samples=256,
        int8=True,
        calib=calib,
        int8_target=("cpu",),
        latency=False,
    )
    result = export_stage.run(config, SilentProgress(), dataset=dataset)
    return next(a.path for a in result.artefacts if a.kind == "onnx" and a.precision == "int8")


def prepare(
    arch: str,
    dataset: Dataset,
    img_size: int,
    root: Path,
    *,
    seed: int,
    int8_calib: Path | None,
    exporter: str,
    threads: int,
    progress: Progress,
) -> Candidate:
    """Cost and export one candidate; a candidate that cannot be built or exported is returned dropped."""
    candidate = Candidate(arch)
    folder = root / arch
    try:
        weights, candidate.params, candidate.mflops, candidate.reparameterized = materialise(
            arch, dataset, img_size, folder, seed
        )
        candidate.onnx = export_candidate(
            weights,
            folder / "export",
            int8_calib=int8_calib,
            exporter=exporter,
            threads=threads,
            progress=progress,
            dataset=dataset,
        )
    except EdgekdError as exc:
        candidate.dropped = f"does not export cleanly: {exc}"
    except (RuntimeError, ValueError, AssertionError) as exc:  # timm/torch refuse some architectures at small inputs
        candidate.dropped = (
            f"does not run at {img_size} px: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
        )
    return candidate
