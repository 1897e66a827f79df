"""The `edgekd` command line: a thin Typer layer over the Python API.

`main()` turns the project's errors into one line on stderr and an exit code (2: bad input or
a missing prerequisite, 1: a check that ran and failed), so no traceback reaches a user for a
mistake they can fix. With `EDGEKD_DEBUG=1` the full traceback (with the errors it was raised
from) is printed above that line, the exit code stays the same, and edgekd's debug log lines
(`logging.getLogger(__name__)`: what normal runs pass over silently) go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback

import typer
from rich.markup import escape

from edgekd import __version__
from edgekd.artifacts import is_out_of_space
from edgekd.cli import bench as bench_cli
from edgekd.cli import data, teacher
from edgekd.cli import distill as distill_cli
from edgekd.cli import evaluate as evaluate_cli
from edgekd.cli import export as export_cli
from edgekd.cli import gate as gate_cli
from edgekd.cli import profile as profile_cli
from edgekd.cli import report as report_cli
from edgekd.cli import run as run_cli
from edgekd.cli import students as students_cli
from edgekd.cli import verify as verify_cli
from edgekd.cli.console import err
from edgekd.errors import EdgekdError

INTERRUPTED = 130  # the exit code of Ctrl-C (128 + SIGINT), as shells report it
DEBUG_VARIABLE = "EDGEKD_DEBUG"

app = typer.Typer(
    name="edgekd",
    help="Distil a big timm classifier into a small, fast one for edge devices, export it, prove it, gate the release.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: rich's option tables cut long option names ("--max-drop-vs-teac…") in an
    # 80-column terminal, and click's list wraps the help text instead.
    rich_markup_mode=None,
)
app.add_typer(teacher.app, name="teacher")
app.add_typer(data.app, name="data")
# Listed in the order of the path: distill → export → eval/profile → report → gate, then run.
app.command("distill")(distill_cli.distill_command)
app.command("export")(export_cli.export_command)
app.command("verify")(verify_cli.verify_command)
app.command("eval")(evaluate_cli.eval_command)
app.command("profile")(profile_cli.profile_command)
app.command("report")(report_cli.report_command)
app.command("gate")(gate_cli.gate_command)
app.command("run")(run_cli.run_command)
app.command("bench")(bench_cli.bench_command)
app.add_typer(students_cli.app, name="students")


def _version(value: bool) -> None:
    if value:
        print(f"edgekd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """edgekd: teacher → distill → export → eval/profile → report → gate."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `edgekd` script; exits with the command's code."""
    if _debugging():
        _log_to_stderr()
    try:
        result = app(args=argv, prog_name="edgekd", standalone_mode=False)
    except typer.TyperException as exc:
        # Typer's own (vendored) click: an unknown flag, a missing argument, a value of the wrong type.
        # All are bad input: click's one-line usage message, exit 2. (Typer no longer raises the
        # `click` package's exceptions, so catching those let every usage error out as a traceback.)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except EdgekdError as exc:
        _traceback_if_debugging(exc)
        # escape: a message's own brackets (`pip install 'edgekd[mlflow]'`) are text, not markup.
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        # Artefacts report a full disk themselves (DiskFull, naming the file); this catches the
        # writes that are not artefacts, such as work files in the system's temporary folder.
        if not is_out_of_space(exc):
            raise
        _traceback_if_debugging(exc)
        where = (
            f"writing {exc.filename}"
            if exc.filename
            else f"in the output folder or in the temporary folder {tempfile.gettempdir()}"
        )
        err.print(
            f"[bold red]error:[/] the disk is full {where}; free some space, or set TMPDIR to a folder on another "
            "disk.",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    if result == INTERRUPTED:  # Typer turns Ctrl-C inside a command into a returned 130
        _interrupted()
    sys.exit(result if isinstance(result, int) else 0)


def _debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def _log_to_stderr() -> None:
    """Show edgekd's own debug log (not third-party ones: PIL's or onnx's would bury it), once."""
    logger = logging.getLogger("edgekd")
    if not any(isinstance(h, _DebugHandler) for h in logger.handlers):
        handler = _DebugHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


class _DebugHandler(logging.StreamHandler):
    """The handler `EDGEKD_DEBUG` adds (a type of its own, so a second `main()` adds none)."""


def _traceback_if_debugging(exc: BaseException) -> None:
    if _debugging():
        traceback.print_exception(exc, file=sys.stderr)


def _interrupted() -> None:
    err.print(
        "[yellow]interrupted[/]: nothing half-written was kept. Run the same command again: training goes on "
        "from its last finished epoch with --resume (edgekd run resumes by itself and reuses its finished stages)."
    )
    sys.exit(INTERRUPTED)
