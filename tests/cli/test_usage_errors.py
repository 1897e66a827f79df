"""Command-line mistakes (an unknown flag, an extra argument, a value of the wrong type) are bad
input: click's usage message, exit 2, no traceback — in a real `edgekd` process."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("profile", "a.onnx", "b.onnx"), "Got unexpected extra argument(s) (b.onnx)"),
        (("export", "--no-such-flag", "x"), "No such option: --no-such-flag"),
        (("distill", "--epochs", "ten"), "Invalid value for '--epochs'"),
        (("teacher", "train"), "Missing argument"),
    ],
)
def test_a_usage_error_is_exit_2_without_a_traceback(args, message):
    result = subprocess.run(
        [sys.executable, "-m", "edgekd", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
