"""Profile stage: latency and throughput of one artefact on this machine, per batch size.

Every artefact goes through the inference-backend layer and the same timing loop, so the
teacher, the student and each exported artefact are measured under one latency definition.
`edgekd profile` is a thin layer over `run`.

profile.json (schema `edgekd.profile/1`, typed by `edgekd.schemas.ProfileFile`, documented in
docs/evaluate-profile-report.md): `artefact`, `backend` (+ threads), `latency_definition`, `timing`,
`batches` (one `LatencyStats` per batch, plus `device` CUDA-event figures on a GPU and `power` on
a Jetson), `system` (machine facts), `machine` (fingerprint), `jetson`, `provenance`. It is built
as that model, so a file that could not be read back is never written.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from edgekd.artifacts import provenance, write_json
from edgekd.engine import Progress, SilentProgress
from edgekd.errors import ConfigError, ModelError
from edgekd.profile.jetson import PowerMonitor
from edgekd.profile.system import system_facts
from edgekd.profile.timing import DEVICE_LATENCY, HOST_LATENCY, TimingConfig, time_calls, time_cuda_calls
from edgekd.records import artefact_record, check_backend_name, open_artefact, resolve_artefact
from edgekd.runtime import Backend
from edgekd.schemas import ProfileFile

# Backends whose `run` accepts a tensor already on the GPU (for the device-time measurement).
DEVICE_INPUT_BACKENDS = ("torch", "trt")


@dataclass(frozen=True)
class ProfileConfig:
    """Options of the profile stage.

    Attributes:
        artefact: `.safetensors` (+ card), `.onnx`, `.engine`/`.plan`, or a run directory.
        out_dir: where profile.json goes; None → `<artefact dir>/profile/<name>-<backend>-<device>/`.
        backend: torch | ort | trt; None picks the artefact's own.
        device: cpu | cuda | cuda:N.
        batches: batch sizes to time.
        threads: intra-op CPU threads for PyTorch and ONNX Runtime alike (None: PyTorch's
            current setting, given to ONNX Runtime too, so both backends use the same count).
        timing: warm-up (ms), duration (s) and minimum iterations per batch size.
        seed: seeds the random input pixels (latency does not depend on their values).
    """

    artefact: Path
    out_dir: Path | None = None
    backend: str | None = None
    device: str = "cpu"
    batches: tuple[int, ...] = (1, 8, 32)
    threads: int | None = None
    timing: TimingConfig = field(default_factory=TimingConfig)
    seed: int = 0

    def validate(self) -> ProfileConfig:
        """Check every option once; returns self."""
        check_backend_name(self.backend)
        if not self.batches or any(b < 1 for b in self.batches):
            raise ConfigError(
                f"--batch needs positive sizes, e.g. 1,8,32; got {','.join(map(str, self.batches)) or 'none'}."
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}.")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA device is visible; use --device cpu.")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"unknown device '{self.device}': use cpu, cuda or cuda:N.")
        self.timing.validate()
        return self

    def describe(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["artefact"] = str(self.artefact)
        payload["batches"] = list(self.batches)
        payload["out_dir"] = None if self.out_dir is None else str(self.out_dir)
        return payload


@dataclass
class ProfileResult:
    """Where profile.json went and what it holds."""

    path: Path
    payload: dict[str, Any]

    def batch(self, size: int) -> dict[str, Any]:
        return next(entry for entry in self.payload["batches"] if entry["batch"] == size)


def default_out_dir(artefact: Path, backend: str, device: str) -> Path:
    return artefact.parent / "profile" / f"{artefact.name.replace('.', '-')}-{backend}-{device.replace(':', '')}"


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` PyTorch intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _first_call(backend: Backend, inputs: torch.Tensor, name: str) -> None:
    """Run once outside the timing loop so a model that refuses a batch size fails in one line."""
    try:
        backend.run(inputs)
    except Exception as exc:  # ORT/TensorRT raise their own types for shape errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{name} cannot run a batch of {inputs.shape[0]} on {backend.name}: {first[:300]}") from exc


def profile_batch(backend: Backend, batch: int, config: ProfileConfig, name: str) -> dict[str, Any]:
    """Time one batch size: host latency always, CUDA-event device time on a GPU, power on a Jetson."""
    card = backend.card
    generator = torch.Generator().manual_seed(config.seed + batch)
    pixels = torch.rand(batch, card.input.in_chans, card.input.size, card.input.size, generator=generator)
    inputs = backend.prepare(pixels)
    _first_call(backend, inputs, name)
    with PowerMonitor() as power:
        stats = time_calls(lambda: backend.run(inputs), batch, config.timing)
    entry = stats.model_dump()
    entry["power"] = power.summary(batch * stats.iterations, stats.total_s)
    entry["device"] = None
    if backend.device.startswith("cuda") and backend.name in DEVICE_INPUT_BACKENDS:
        on_device = inputs.to(backend.device)
        entry["device"] = time_cuda_calls(
            lambda: backend.run(on_device), batch, config.timing, backend.device
        ).model_dump()
    return entry


def run(config: ProfileConfig, progress: Progress | None = None) -> ProfileResult:
    """Time an artefact at each batch size and write `profile.json`.

    Returns:
        The path written and its payload; per batch: mean/median/p90/p95/p99/min/max latency
        (ms) and throughput (img/s = batch / mean latency).
    """
    config = config.validate()
    progress = progress or SilentProgress()
    artefact = resolve_artefact(config.artefact)
    threads = config.threads or torch.get_num_threads()
    backend = open_artefact(artefact, config.backend, config.device, threads)
    batches = []
    with torch_threads(threads):
        facts = system_facts()
        for batch in config.batches:
            progress.log(
                f"timing {artefact.name} on {backend.name}/{config.device}, batch {batch} (≥ "
                f"{config.timing.duration_s:g} s)"
            )
            entry = profile_batch(backend, batch, config, artefact.name)
            batches.append(entry)
            progress.finish(
                {
                    "batch": batch,
                    "mean_ms": entry["mean_ms"],
                    "p99_ms": entry["p99_ms"],
                    "img_s": entry["throughput_img_s"],
                }
            )
    run_facts = provenance(config.describe(), seed=config.seed)
    written = ProfileFile(
        created=run_facts["created"],
        artefact=artefact_record(artefact, backend),
        backend={**backend.describe(), "threads": threads if backend.name in ("torch", "ort") else None},
        latency_definition=HOST_LATENCY,
        device_latency_definition=DEVICE_LATENCY if any(b["device"] for b in batches) else None,
        timing=asdict(config.timing),
        batches=batches,
        machine=facts["fingerprint"],
        system=facts,
        jetson=facts["jetson"],
        provenance=run_facts,
    )
    payload = written.to_json_dict()
    out_dir = (
        Path(config.out_dir) if config.out_dir is not None else default_out_dir(artefact, backend.name, backend.device)
    )
    path = out_dir / "profile.json"
    write_json(path, payload)
    return ProfileResult(path, payload)


profile = run  # the former name, kept for the notebooks and tests that call it
