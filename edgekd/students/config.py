"""`StudentsConfig`: the options of the student search (`edgekd students`), typed and checked once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edgekd.data import DataConfig
from edgekd.errors import ConfigError
from edgekd.profile import TimingConfig

# The search times every candidate once per precision: at most 1 s of timed calls after the
# profiler's warm-up (instead of its 3 s), and less once the median and p99 have settled within
# 5 % (from 1,000 calls on: a 0.2 ms candidate is done in about 0.2 s); `edgekd profile` of the
# chosen student gives the full measurement.
SEARCH_TIMING = TimingConfig(duration_s=1.0, settle=0.05)

# The TorchScript exporter: the search exports every candidate, and torch.export's symbolic
# batch dimension made the dynamo exporter ~12 s a candidate against ~0.7 s (4 default candidates
# at 32 px, 2 threads, this machine). After ONNX Runtime's graph optimisations both graphs hold
# the same nodes except the head's global pool (ReduceMean + Reshape vs GlobalAveragePool +
# Flatten); each is parity-gated against PyTorch either way.
SEARCH_EXPORTER = "torchscript"

# Targets timed on this machine: backend and device of the profiler. Any other device is timed
# there (`export-candidates`, then `edgekd profile` on the device) and read back (`latency_from`).
LOCAL_TARGETS = {"ort-cpu": ("ort", "cpu")}
PERCENTILES = {"p99": "p99_ms", "p95": "p95_ms", "p90": "p90_ms", "median": "median_ms", "mean": "mean_ms"}


@dataclass(frozen=True)
class StudentsConfig:
    """What `edgekd students` does.

    Attributes:
        teacher: the teacher's run directory (or edgekd `.safetensors` with its card).
        out_dir: the search folder: candidates/, runs/ (one distill run per candidate and rung),
            teacher-cache/, students.json, students.md, students.svg.
        budget_ms: latency budget per batch (ms) at `batch` on `target`, read at `percentile`.
        budget_vs_teacher: instead of `budget_ms`: this fraction of the teacher's own latency,
            measured in the same run under the same definition (e.g. 0.1: ten times faster).
        target: `ort-cpu` (measured here) or a device's name when `latency_from` is given.
        data: the data every candidate is distilled on (and whose val split ranks them).
        candidates: glob patterns over timm names (None: the curated `DEFAULT_CANDIDATES`).
        epochs: the full schedule (the finalist's); rungs train fractions of it.
        batch: batch size of the latency budget.
        percentile: which latency statistic the budget bounds: p99, p95, p90, median or mean.
        img_size: input size (px) of every candidate (None: the teacher's).
        latency_from: a folder of profile.json files measured on the target (see `bundle.py`).
        int8: also export each candidate's CPU INT8 recipe and time it; a candidate is
            feasible at the faster of its FP32 and INT8 latency.
        first_rung_epochs: the shortest run (rung 0) is at least this many epochs.
        rung_budget: the short rungs train at most this × `epochs` candidate-epochs in all (the
            finalist's full run is 1 ×), so the search costs a bounded multiple of one full run;
            every feasible candidate still gets `first_rung_epochs` (see `halving.rung_epochs`).
        baseline: also fully distil this architecture with the same recipe, for comparison.
        seed: training seed (it also seeds the views, so all candidates share one teacher cache).
        threads: CPU threads for timing and training.
        timing: warm-up, duration, minimum iterations and settle fraction of each latency
            measurement (`SEARCH_TIMING`: the profiler's warm-up and minimum, at most 1 s timed).
        exporter: the ONNX exporter (`edgekd export`'s `--exporter`); `SEARCH_EXPORTER` unless
            given, with the dynamo exporter to time exactly the graph `edgekd export`'s default writes.
        device: where distillation runs (auto | cpu | cuda).
    """

    teacher: Path
    out_dir: Path
    budget_ms: float | None = None
    target: str = "ort-cpu"
    data: DataConfig = field(default_factory=DataConfig)
    candidates: tuple[str, ...] | None = None
    epochs: int = 10
    batch: int = 1
    percentile: str = "p99"
    img_size: int | None = None
    latency_from: Path | None = None
    int8: bool = False
    first_rung_epochs: int = 1
    rung_budget: float = 1.0
    baseline: str | None = None
    budget_vs_teacher: float | None = None
    seed: int = 0
    threads: int = 2
    timing: TimingConfig = field(default_factory=lambda: replace(SEARCH_TIMING))
    exporter: str = SEARCH_EXPORTER
    device: str = "auto"

    @property
    def statistic(self) -> str:
        """The profile.json field the budget bounds (e.g. `p99_ms`)."""
        return PERCENTILES[self.percentile]

    def validate(self) -> "StudentsConfig":
        """Refuse impossible settings in one line that says how to fix them."""
        if (self.budget_ms is None) == (self.budget_vs_teacher is None):
            raise ConfigError(
                "give the budget once: --budget-ms MS, or --budget-vs-teacher FRACTION (of the teacher's latency "
                "measured in this run)."
            )
        if self.budget_ms is not None and self.budget_ms <= 0:
            raise ConfigError(f"--budget-ms must be > 0, got {self.budget_ms:g}.")
        if self.budget_vs_teacher is not None and not 0 < self.budget_vs_teacher <= 1:
            raise ConfigError(
                f"--budget-vs-teacher is a fraction of the teacher's latency in (0, 1], got {self.budget_vs_teacher:g}."
            )
        if self.percentile not in PERCENTILES:
            raise ConfigError(f"unknown --percentile '{self.percentile}': use {', '.join(PERCENTILES)}.")
        if self.batch < 1:
            raise ConfigError(f"--batch must be >= 1, got {self.batch}.")
        if self.epochs < 1 or self.first_rung_epochs < 1:
            raise ConfigError(
                f"--epochs and --first-rung-epochs must be >= 1, got {self.epochs} and {self.first_rung_epochs}."
            )
        if self.first_rung_epochs > self.epochs:
            raise ConfigError(f"--first-rung-epochs ({self.first_rung_epochs}) cannot exceed --epochs ({self.epochs}).")
        if self.rung_budget <= 0:
            raise ConfigError(
                f"--rung-budget is a multiple of the full schedule's epochs and must be > 0, got {self.rung_budget:g}."
            )
        if self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}.")
        if self.latency_from is None and self.target not in LOCAL_TARGETS:
            raise ConfigError(
                f"--target {self.target} is not this machine ({', '.join(LOCAL_TARGETS)} is): write the "
                "candidates with "
                "'edgekd students export-candidates --out BUNDLE', run 'edgekd profile BUNDLE/*.onnx' on the "
                "device, then pass --latency-from DIR."
            )
        if self.latency_from is not None and not Path(self.latency_from).is_dir():
            raise ConfigError(
                f"--latency-from {self.latency_from}: no such folder (it holds the profile.json files measured on "
                "the target)."
            )
        if self.latency_from is not None and self.budget_vs_teacher is not None:
            raise ConfigError(
                "--budget-vs-teacher times the teacher here; with --latency-from give the budget in ms of the "
                "target (--budget-ms)."
            )
        if self.latency_from is not None and self.int8:
            raise ConfigError(
                "--int8 times the CPU INT8 recipe here; with --latency-from the latencies come from the target's "
                "own profile.json files."
            )
        if self.data.val_size == 0:
            raise ConfigError(
                "the search ranks candidates on the val split, but --val-size 0 leaves none: use e.g. --val-size 0.1."
            )
        self.timing.validate()
        return self

    def describe(self) -> dict:
        payload = asdict(self)
        for key in ("teacher", "out_dir", "latency_from"):
            payload[key] = None if payload[key] is None else str(payload[key])
        payload["candidates"] = list(self.candidates) if self.candidates else None
        return payload
