"""The FMNIST-32 benchmark harness behind `edgekd bench` (see `protocol.py`)."""

from edgekd.bench.protocol import HEADLINE, SWEEP, BenchConfig, StudentRun
from edgekd.bench.runner import run_bench

__all__ = ["HEADLINE", "SWEEP", "BenchConfig", "StudentRun", "run_bench"]
