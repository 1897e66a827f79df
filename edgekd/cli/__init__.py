"""The `edgekd` command line: a thin Typer layer over the Python API.

`main()` turns the project's errors into one line on stderr and an exit code (2: bad input or
a missing prerequisite, 1: a check that ran and failed), so no traceback reaches a user for a
mistake they can fix.
"""

from __future__ import annotations

import sys

import click
import typer
from rich.markup import escape

from edgekd import __version__
from edgekd.cli import data, teacher
from edgekd.cli import bench as bench_cli
from edgekd.cli import distill as distill_cli
from edgekd.cli import evaluate as evaluate_cli
from edgekd.cli import export as export_cli
from edgekd.cli import gate as gate_cli
from edgekd.cli import profile as profile_cli
from edgekd.cli import report as report_cli
from edgekd.cli import run as run_cli
from edgekd.cli.console import err
from edgekd.errors import EdgekdError

app = typer.Typer(
    name="edgekd",
    help="Distil a big timm classifier into a small, fast one for edge devices, export it, prove it, gate the release.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(teacher.app, name="teacher")
app.add_typer(data.app, name="data")
# Listed in the order of the path: distill → export → eval/profile → report → gate, then run.
app.command("distill")(distill_cli.distill_command)
app.command("export")(export_cli.export_command)
app.command("eval")(evaluate_cli.eval_command)
app.command("profile")(profile_cli.profile_command)
app.command("report")(report_cli.report_command)
app.command("gate")(gate_cli.gate_command)
app.command("run")(run_cli.run_command)
app.command("bench")(bench_cli.bench_command)


def _version(value: bool) -> None:
    if value:
        print(f"edgekd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """edgekd: teacher → distill → export → eval/profile → report → gate."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `edgekd` script; exits with the command's code."""
    try:
        result = app(args=argv, prog_name="edgekd", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else 2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print(
            "[yellow]interrupted[/]: nothing half-written was kept; training keeps its finished epochs "
            "(rerun with --resume), a pipeline its finished stages (rerun it)."
        )
        sys.exit(130)
    except EdgekdError as exc:
        # Escaped: a message may hold brackets that are not markup (pip install 'edgekd[modelopt]').
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)
