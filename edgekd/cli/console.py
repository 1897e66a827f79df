"""Terminal output: one console for results (stdout), one for messages and progress (stderr).

Three progress modes, one per audience: `RichProgress` for a person (a live bar in a terminal;
one plain line per epoch in a CI log or a file), `JsonProgress` for a machine (`--json`: one
JSON object per line on stdout and nothing else there) and `SilentProgress` (`--quiet`).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from edgekd.engine.progress import Progress as ProgressSink
from edgekd.engine.progress import SilentProgress, scalar_fields

# soft_wrap: long lines (paths above all) are never broken by inserted newlines, so a printed
# path can be copied and a log grepped whatever the terminal's width; tables still fit it.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _line(fields: dict[str, Any]) -> str:
    return "  ".join(f"{k}={_format(v)}" for k, v in scalar_fields(fields).items())


class RichProgress:
    """Renders engine progress (`edgekd.engine.Progress`) for a person.

    In a terminal: a rich bar per epoch, replaced by the epoch's line when it ends. Elsewhere
    (CI logs, `> file`) no bar at all — a live display that is not live leaves a blank line
    behind each epoch — just one line per epoch.
    """

    def __init__(self, console: Console = err):
        self.console = console
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        self._close()
        if not self.console.is_terminal:
            return
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
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=steps, status=_line(fields))

    def finish(self, summary: dict[str, Any]) -> None:
        self._close()
        self.console.print(_line(summary), highlight=False)

    def log(self, message: str) -> None:
        self.console.print(message)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _json_safe(value: Any) -> Any:
    """`value` with NaN/inf as null: JSON has no NaN, and a parser would refuse the line."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def print_json_line(payload: dict[str, Any]) -> None:
    """One JSON object on one line of stdout, flushed so a follower sees it at once."""
    sys.stdout.write(json.dumps(_json_safe(payload), default=str) + "\n")
    sys.stdout.flush()


class JsonProgress:
    """`--json`: `{"event": "epoch", …}` per epoch on stdout; messages as text on stderr."""

    def __init__(self) -> None:
        self._task = ""

    def start(self, description: str, total: int) -> None:
        self._task = description

    def advance(self, steps: int = 1, **fields: Any) -> None:
        pass  # per-step lines would drown the epochs a follower wants

    def finish(self, summary: dict[str, Any]) -> None:
        event = {"event": "epoch"} if "epoch" in summary else {"event": "done", "task": self._task}
        print_json_line({**event, **summary})

    def log(self, message: str) -> None:
        err.print(message, highlight=False)


def make_progress(*, as_json: bool = False, quiet: bool = False) -> ProgressSink:
    """The progress sink for the `--json` / `--quiet` flags (a person's console otherwise).

    Both flags: no progress, and the result still as one JSON line.
    """
    if quiet:
        return SilentProgress()
    return JsonProgress() if as_json else RichProgress()


def print_result(text: str, payload: dict[str, Any], *, as_json: bool = False) -> None:
    """A command's result: `text` for a person, or `{"event": "result", **payload}` under --json."""
    if as_json:
        print_json_line({"event": "result", **payload})
    else:
        out.print(text)


def model_result(weights_path, card) -> dict[str, Any]:
    """The `--json` result of a training command: where the model is and its figures (the
    card's metric blocks without per-class lists; the card itself has everything)."""
    metrics = {
        name: {k: v for k, v in block.items() if k != "per_class"}
        for name, block in card.metrics.items()
        if isinstance(block, dict)
    }
    return {
        "weights": str(weights_path),
        "card": str(weights_path.with_suffix(".json")),
        "metrics": metrics,
        "training": card.training,
    }
