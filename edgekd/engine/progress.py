"""The progress interface stages report to; the CLI renders it with rich, tests ignore it."""

from __future__ import annotations

import math
from typing import Any, Protocol


class Progress(Protocol):
    """Receives progress from long-running work. Fields are plain numbers for display."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1, **fields: Any) -> None: ...

    def finish(self, summary: dict[str, Any]) -> None: ...

    def log(self, message: str) -> None: ...


class SilentProgress:
    """A progress sink that shows nothing (library use, tests, non-zero DDP ranks)."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1, **fields: Any) -> None:
        pass

    def finish(self, summary: dict[str, Any]) -> None:
        pass

    def log(self, message: str) -> None:
        pass


def scalar_fields(record: dict[str, Any]) -> dict[str, int | float | str]:
    """The fields of a progress record worth one column each: numbers and short words.

    Nested facts (the distillation's first epoch carries its whole training-set description)
    and missing values (None, NaN for an empty split) are left out, so that a console line, a
    tracker's metric list or a JSON line never shows `{…}` or `nan`.
    """
    kept: dict[str, int | float | str] = {}
    for name, value in record.items():
        if isinstance(value, bool):
            kept[name] = int(value)
        elif isinstance(value, (int, float)):
            if math.isfinite(value):
                kept[name] = value
        elif isinstance(value, str):
            kept[name] = value
    return kept
