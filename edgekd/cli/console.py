"""Terminal output: one console for results (stdout), one for messages and progress (stderr)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# soft_wrap: long lines (paths above all) are never broken by inserted newlines, so a printed
# path can be copied and a log grepped whatever the terminal's width; tables still fit it.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


class RichProgress:
    """Renders engine progress (`edgekd.engine.Progress`) as a rich bar plus one line per epoch."""

    def __init__(self, console: Console = err):
        self.console = console
        self._bar: Progress | None = None
        self._task = None

    def start(self, description: str, total: int) -> None:
        self._close()
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, status="")

    def advance(self, steps: int = 1, **fields: Any) -> None:
        if self._bar is not None:
            status = "  ".join(f"{k}={_format(v)}" for k, v in fields.items())
            self._bar.update(self._task, advance=steps, status=status)

    def finish(self, summary: dict[str, Any]) -> None:
        self._close()
        self.console.print("  ".join(f"{k}={_format(v)}" for k, v in summary.items()))

    def log(self, message: str) -> None:
        self.console.print(message)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
