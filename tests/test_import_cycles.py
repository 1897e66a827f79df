"""The package's imports flow one way: `scripts/import_cycles.py` finds no cycle among edgekd's modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "import_cycles.py"


def cycles_in(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(package)], capture_output=True, text=True, timeout=60, check=False
    )


def test_edgekd_has_no_import_cycle():
    result = cycles_in(ROOT / "edgekd")
    assert result.returncode == 0 and result.stdout == "", f"import cycles:\n{result.stdout}{result.stderr}"


def test_the_check_finds_a_cycle_also_through_a_type_only_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import B\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\nB = 1\n"
    )
    (package / "c.py").write_text("from pkg import a\n")
    result = cycles_in(package)
    assert result.returncode == 1 and result.stdout.strip() == "pkg.a ↔ pkg.b"
