"""What a person reads: logs captured to a file stay one clean line per epoch, and every
`--help` fits an 80-column terminal without cutting an option's name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from edgekd.cli import app

TINY = ("--data", "digits", "--img-size", "16", "--batch-size", "64", "--epochs", "2")


def _run_to_file(tmp_path, name: str, *args: str) -> str:
    """Run `edgekd ARGS…` in a real process with stdout and stderr going to one file, as CI does."""
    log = tmp_path / f"{name}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    with log.open("w") as sink:
        code = subprocess.call(
            [sys.executable, "-m", "edgekd", *args], stdout=sink, stderr=subprocess.STDOUT, env=env, timeout=300
        )
    text = log.read_text()
    assert code == 0, text
    return text


def _assert_clean(text: str, epochs: int) -> None:
    lines = text.splitlines()
    assert lines and all(line.strip() for line in lines), f"blank line in:\n{text}"
    assert "{" not in text and "nan" not in text.lower(), text
    assert sum(line.startswith("epoch=") for line in lines) == epochs, text
    assert "\x1b[" not in text  # no terminal escape codes in a file


@pytest.mark.slow
def test_teacher_and_distill_logs_in_a_file_are_one_clean_line_per_epoch(tmp_path):
    # --val-size 0: no val split, which used to print "val top-1 nan %" for the teacher.
    teacher_log = _run_to_file(
        tmp_path, "teacher", "teacher", "train", "resnet10t", *TINY, "--val-size", "0", "--out", str(tmp_path / "t")
    )
    _assert_clean(teacher_log, epochs=2)
    assert "teacher saved" in teacher_log and "train / 0 val" in teacher_log

    # The distillation's first epoch record carries the training set's description (a dict):
    # the log says what the run learns from in words, once, and never prints the dict.
    distill_log = _run_to_file(
        tmp_path,
        "distill",
        "distill",
        "--teacher",
        str(tmp_path / "t"),
        "--student",
        "mobilenetv3_small_050",
        *TINY,
        "--val-size",
        "0",
        "--out",
        str(tmp_path / "s"),
    )
    _assert_clean(distill_log, epochs=2)
    assert "student saved" in distill_log
    assert sum("on digits:" in line and "train" in line for line in distill_log.splitlines()) == 1


def _commands(command, path: tuple[str, ...] = ()):
    # Duck-typed: Typer builds its commands with its own copy of click, not `click`'s classes.
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_help_shows_every_option_name_whole_at_80_columns(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        result = run_cli(*path, "--help")
        assert result.code == 0, (path, result.stderr)
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, path
        for param in command.params:
            if param.param_type_name == "option":
                for name in [*param.opts, *param.secondary_opts]:
                    assert name in result.stdout, (path, name)
        checked += 1
    assert checked >= 10  # the root, `teacher`, `data` and their commands


def _render(is_terminal: bool) -> str:
    import io

    from rich.console import Console

    from edgekd.cli.console import RichProgress

    sink = io.StringIO()
    progress = RichProgress(Console(file=sink, force_terminal=is_terminal, width=80, soft_wrap=True))
    for epoch in (1, 2):
        progress.start(f"epoch {epoch}/2", 20)
        progress.advance(10, loss=0.5, img_s=100.0)
        progress.finish(
            {
                "epoch": epoch,
                "train_loss": 0.5,
                "val_top1": float("nan"),
                "stage": "kd",
                "train_data": {"size": 60000, "sets": [{"name": "train"}]},
            }
        )
    return sink.getvalue()


def test_an_epoch_line_holds_numbers_and_words_only_in_a_terminal_or_not():
    plain = _render(is_terminal=False)
    assert plain.splitlines() == ["epoch=1  train_loss=0.5  stage=kd", "epoch=2  train_loss=0.5  stage=kd"]
    live = _render(is_terminal=True)  # the bar draws with escape codes, then leaves the same lines
    assert "epoch=2  train_loss=0.5  stage=kd" in live and "{" not in live and "nan" not in live
