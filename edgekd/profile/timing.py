"""A trtexec-like timing loop: warm up for a while, then time calls for a duration.

The same loop times every backend, so a teacher and a student are always measured under one
latency definition (`HOST_LATENCY`). Percentiles use numpy's linear interpolation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgekd.errors import ConfigError
from edgekd.schemas import LatencyStats

HOST_LATENCY = (
    "host to host: from a batch already preprocessed by the artefact's own preprocessing and held in host "
    "(CPU) memory to float32 logits in host memory; includes host-to-device and device-to-host copies on "
    "a GPU, excludes image decoding and preprocessing; one call at a time (no overlap between calls)"
)
DEVICE_LATENCY = (
    "device: CUDA events around one call whose input is already on the GPU; includes the copy of the logits "
    "back to the host, excludes the input upload"
)


# `settle` judges the percentiles from this many calls on: p99 then rests on at least 10 calls.
SETTLE_MIN_CALLS = 1000


@dataclass(frozen=True)
class TimingConfig:
    """How long to measure (trtexec's defaults).

    Attributes:
        warmup_ms: untimed calls for at least this long first (ms).
        duration_s: then timed calls for at least this long (s)…
        min_iterations: …and at least this many calls.
        settle: stop before `duration_s` once the median and the p99 of all timed calls both
            moved by at most this fraction since the count was half as large (judged at
            `SETTLE_MIN_CALLS`, twice that, four times…; e.g. 0.05). The latency definition is
            unchanged: it only says when there are enough calls. None: time the full duration.
    """

    warmup_ms: float = 200.0
    duration_s: float = 3.0
    min_iterations: int = 10
    settle: float | None = None

    def validate(self) -> None:
        if self.warmup_ms < 0:
            raise ConfigError(f"--warmup-ms must be >= 0, got {self.warmup_ms}.")
        if self.duration_s <= 0:
            raise ConfigError(f"--duration must be > 0 s, got {self.duration_s}.")
        if self.min_iterations < 10:
            raise ConfigError(f"--min-iterations must be >= 10 (trtexec's floor), got {self.min_iterations}.")
        if self.settle is not None and not 0 < self.settle < 1:
            raise ConfigError(f"--settle is a fraction in (0, 1), e.g. 0.05; got {self.settle}.")


def settled(samples_ms: list[float], tolerance: float) -> bool:
    """Whether the median and p99 of all samples are each within `tolerance` (a fraction) of
    those of the first half of them."""
    values = np.asarray(samples_ms, dtype=np.float64)
    now = np.percentile(values, [50, 99])
    before = np.percentile(values[: values.size // 2], [50, 99])
    return bool(np.all(np.abs(now - before) <= tolerance * before))


def summarise(samples_ms: list[float] | np.ndarray, batch: int, total_s: float) -> LatencyStats:
    """Statistics of per-call latencies (ms) measured over `total_s` seconds of wall time."""
    values = np.asarray(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no latency samples")
    mean = float(values.mean())
    p50, p90, p95, p99 = (float(v) for v in np.percentile(values, [50, 90, 95, 99]))
    return LatencyStats(
        batch=batch,
        iterations=int(values.size),
        mean_ms=mean,
        median_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        min_ms=float(values.min()),
        max_ms=float(values.max()),
        std_ms=float(values.std()),
        total_s=total_s,
        throughput_img_s=batch * 1000.0 / mean,
        wall_throughput_img_s=batch * values.size / total_s if total_s > 0 else float("nan"),
    )


def time_calls(call: Callable[[], Any], batch: int, config: TimingConfig) -> LatencyStats:
    """Warm up, then time `call()` (which must return only when its result is on the host).

    Args:
        call: runs one batch and returns when its output is ready on the host.
        batch: images per call (for the throughput).
    """
    config.validate()
    warm_until = time.perf_counter() + config.warmup_ms / 1000.0
    call()  # at least one warm-up call: first calls allocate and pick kernels
    while time.perf_counter() < warm_until:
        call()
    samples: list[float] = []
    started = time.perf_counter()
    stop_at = started + config.duration_s
    now = started
    judge_at, stopped = SETTLE_MIN_CALLS, "duration"
    while now < stop_at or len(samples) < config.min_iterations:
        before = time.perf_counter()
        call()
        now = time.perf_counter()
        samples.append((now - before) * 1000.0)
        if config.settle is not None and len(samples) == judge_at:
            if len(samples) >= config.min_iterations and settled(samples, config.settle):
                stopped = "settled"
                break
            judge_at *= 2
    return summarise(samples, batch, now - started).model_copy(update={"stopped": stopped})


def time_cuda_calls(call: Callable[[], Any], batch: int, config: TimingConfig, device: str) -> LatencyStats:
    """Like `time_calls`, but each call is timed by CUDA events recorded on the current stream.

    Args:
        call: runs one batch whose input already lives on `device`.
        device: the CUDA device (cuda or cuda:N).
    """
    import torch

    config.validate()
    with torch.cuda.device(torch.device(device)):
        warm_until = time.perf_counter() + config.warmup_ms / 1000.0
        call()
        while time.perf_counter() < warm_until:
            call()
        torch.cuda.synchronize()
        events: list[tuple[Any, Any]] = []
        started = time.perf_counter()
        stop_at = started + config.duration_s
        while time.perf_counter() < stop_at or len(events) < config.min_iterations:
            # torch.cuda.Event's __init__ is unannotated in torch's own types.
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            call()
            end.record()
            events.append((start, end))
        torch.cuda.synchronize()
        total_s = time.perf_counter() - started
    return summarise([start.elapsed_time(end) for start, end in events], batch, total_s)
