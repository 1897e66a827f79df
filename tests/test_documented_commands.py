"""Every shell command the README and docs show: each `edgekd` flag exists, the cheap ones run here,
and the device-only ones are named with the reason.

Training runs are too long for the test suite: for them the command line itself is checked
(subcommand and every flag, against the CLI's own definition); the commands that run in seconds
run for real. Device-only commands (TensorRT, CUDA, docker, Jetson tools) are listed by
`device_only_reason`, which the report of issue 17 prints.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from edgekd.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)
# What marks a command that needs the device: (pattern, reason).
DEVICE_ONLY = (
    (r"\bdocker\b|\$RUN\b", "runs the Jetson container (docker with the NVIDIA runtime)"),
    (r"build\.sh", "the bundle's build script: TensorRT and a GPU"),
    (r"nvpmodel|jetson_clocks|xdg-open|\bopen runs/", "a Jetson or desktop tool, not a check"),
    (r"--trt\b|--backend trt|\.engine\b", "TensorRT and a CUDA GPU"),
    (r"--device cuda|onnxruntime-gpu|torchrun", "a CUDA GPU"),
)
# Commands that finish in seconds here, so they run for real.
RUN_HERE = (
    "edgekd teacher list 'resnet*' --img-size 32",
    "edgekd distill --list-layers mobilenetv3_small_050 --img-size 32",
    "edgekd run pipelines/quickstart.yaml --dry-run",
)


def documented_commands() -> list[tuple[str, str]]:
    """(document name, command line) for every command line in a fenced shell block."""
    found = []
    for path in DOCUMENTS:
        for block in FENCE.findall(path.read_text(encoding="utf-8")):
            for line in re.sub(r"\\\n\s*", " ", block).splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line and not line.startswith("#"):
                    found.append((path.name, line))
    return found


def device_only_reason(command: str) -> str | None:
    return next((reason for pattern, reason in DEVICE_ONLY if re.search(pattern, command)), None)


def edgekd_invocations(command: str) -> list[list[str]]:
    """The argument lists of each `edgekd …` in a command line (after `&&`, `;`, `|`, `for … do`)."""
    calls = []
    for part in re.split(r"&&|\|\||;|\|", command):  # and pipes: `edgekd … --json | jq …`
        part = part.replace('"$A"', "ARTEFACT").replace('"$T"', "TEACHER").replace("$T", "TEACHER")
        try:
            tokens = shlex.split(part)
        except ValueError:  # a quote opened in one '&&' part and closed in another (`bash -c "… && …"`)
            tokens = part.replace('"', " ").split()
        if "edgekd" in tokens:
            calls.append(tokens[tokens.index("edgekd") + 1 :])
    return calls


def option_names(args: list[str]) -> tuple[str, set[str]]:
    """The subcommand path of `args` and every option name it accepts."""
    command = typer.main.get_command(app)
    path = []
    for token in args:
        if token in getattr(command, "commands", {}):
            command = command.commands[token]
            path.append(token)
        elif not token.startswith("-"):
            continue
        else:
            break
    names = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    return " ".join(path), names


def test_the_documents_hold_commands():
    commands = documented_commands()
    assert len(commands) > 40 and any("edgekd verify" in c for _, c in commands)


@pytest.mark.parametrize(("document", "command"), documented_commands(), ids=lambda v: v[:60] if isinstance(v, str) else v)
def test_every_documented_edgekd_flag_exists(document, command):
    for args in edgekd_invocations(command):
        path, names = option_names(args)
        assert path, f"{document}: '{command}' names no edgekd command"
        used = {token.split("=", 1)[0] for token in args if token.startswith("-") and not re.fullmatch(r"-\d.*", token)}
        assert used <= names, f"{document}: 'edgekd {path}' has no {sorted(used - names)}"


def test_documented_scripts_and_files_exist():
    for document, command in documented_commands():
        for script in re.findall(r"(benchmarks/\S+\.py|pipelines/\S+\.yaml|calibration/\S+\.yaml|Dockerfile\.\w+)", command):
            assert (ROOT / script).exists(), f"{document}: {script} does not exist"


@pytest.mark.parametrize("command", RUN_HERE)
def test_quick_commands_run_as_written(command, run_cli, monkeypatch):
    documented = {c for _, c in documented_commands()}
    assert command in documented, f"'{command}' is no longer in the docs"
    monkeypatch.chdir(ROOT)
    result = run_cli(*shlex.split(command)[1:])
    assert result.code == 0, result.stderr


def test_device_only_commands_say_why():
    device = [(d, c, device_only_reason(c)) for d, c in documented_commands() if device_only_reason(c)]
    assert any("build.sh" in c for _, c, _ in device) and all(reason for _, _, reason in device)
    # The Jetson path of README, docs/export.md and docs/evaluate-profile-report.md goes through a bundle: no FP16/INT8 conversion on the device.
    for document, command, _ in device:
        if document in ("README.md", "export.md", "evaluate-profile-report.md") and "--trt" in command:
            assert "--fp16" not in command and "--int8" not in command, f"{document}: '{command}' converts on the device"
