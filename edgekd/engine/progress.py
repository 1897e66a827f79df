"""The progress interface stages report to; the CLI renders it with rich, tests ignore it."""

from __future__ import annotations

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
