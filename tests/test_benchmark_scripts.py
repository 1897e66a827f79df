"""The scripts under benchmarks/ stay runnable: each Python one parses its options (`--help`,
which imports everything it uses), each shell one parses (`bash -n`). Their figures come from
runs on purpose-sized machines (README "Benchmarks"); this only catches them rotting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_python_benchmark_shows_its_help(script):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower()


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.sh")))
def test_shell_benchmark_parses(script):
    done = subprocess.run(["bash", "-n", str(BENCHMARKS / script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
