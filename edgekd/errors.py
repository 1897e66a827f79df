"""The project's exception types.

Every error meant for a person is an `EdgekdError` carrying one readable line; the CLI prints
that line and exits with `exit_code` (2: bad input or a missing prerequisite, 1: a check that
ran and failed). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class EdgekdError(Exception):
    """Bad input or a missing prerequisite (exit code 2)."""

    exit_code = 2


class DataError(EdgekdError):
    """A dataset spec, path or file that cannot be used."""


class ModelError(EdgekdError):
    """An unknown architecture, an unusable checkpoint or a missing layer."""


class ConfigError(EdgekdError):
    """An invalid option or configuration value."""


class TrainingError(EdgekdError):
    """Training cannot go on (for example a non-finite loss); the last good checkpoint is kept."""


class FolderInUse(EdgekdError):
    """Another edgekd process is writing the same output folder (see `edgekd.locks`)."""


class DiskFull(EdgekdError):
    """A file did not fit on its disk; what was there before it is kept."""


class CheckFailed(EdgekdError):
    """A check that ran and failed (parity, gate): exit code 1."""

    exit_code = 1
