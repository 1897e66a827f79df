"""Every shell command the README and docs show: each `edgekd` flag exists, the cheap ones run here,
and the device-only ones are named with the reason.

Training runs are too long for the test suite: for them the command line itself is checked
(subcommand and every flag, against the CLI's own definition); the commands that run in seconds
run for real. Device-only commands (TensorRT, CUDA, docker, Jetson tools) are listed by
`device_only_reason`. `python -m tests.test_documented_commands --list` prints every documented
command with what is done with it here: ran here, flag-checked only, or device-only and why.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
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
    "edgekd data info fashion-mnist --val-size 5000",
    "edgekd teacher list 'resnet*' --img-size 32",
    "edgekd distill --list-layers mobilenetv3_small_050 --img-size 32",
    "edgekd run pipelines/quickstart.yaml --dry-run",
)
NEEDS_FASHION_MNIST = {"edgekd data info fashion-mnist --val-size 5000"}
# Run as written from a folder where a test has just made runs/bundle (a digits student's bundle).
RUN_ON_A_BUNDLE = ("edgekd verify runs/bundle",)


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
        tokens = [
            "edgekd" if token == "$RUN" else token for token in tokens
        ]  # $RUN: the Jetson container's `docker run … edgekd:jp6`
        start = next(
            (i for i, token in enumerate(tokens) if token == "edgekd" or _is_image_running_a_command(tokens, i)), None
        )
        if start is not None:
            calls.append(tokens[start + 1 :])
    return calls


def _is_image_running_a_command(tokens: list[str], i: int) -> bool:
    """`docker run … edgekd:jp6 profile …`: the image (its entrypoint is edgekd) followed by an edgekd command."""
    commands = typer.main.get_command(app).commands
    return bool(re.fullmatch(r"edgekd:\w+", tokens[i])) and i + 1 < len(tokens) and tokens[i + 1] in commands


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


def coverage(command: str) -> str:
    """What this suite does with a documented command line, in words."""
    if command in RUN_HERE or command in RUN_ON_A_BUNDLE:
        return "ran here"
    reason = device_only_reason(command)
    if reason:
        return f"device-only ({reason})"
    if edgekd_invocations(command):
        return "flag-checked only (too long to run in the suite)"
    return "not an edgekd command (scripts and files it names are checked to exist)"


def test_the_documents_hold_commands():
    commands = documented_commands()
    assert len(commands) > 40 and any("edgekd verify" in c for _, c in commands)


@pytest.mark.parametrize(
    ("document", "command"), documented_commands(), ids=lambda v: v[:60] if isinstance(v, str) else v
)
def test_every_documented_edgekd_flag_exists(document, command):
    for args in edgekd_invocations(command):
        path, names = option_names(args)
        assert path, f"{document}: '{command}' names no edgekd command"
        used = {token.split("=", 1)[0] for token in args if token.startswith("-") and not re.fullmatch(r"-\d.*", token)}
        assert used <= names, f"{document}: 'edgekd {path}' has no {sorted(used - names)}"


def test_documented_scripts_and_files_exist():
    for document, command in documented_commands():
        for script in re.findall(
            r"(benchmarks/\S+\.py|pipelines/\S+\.yaml|calibration/\S+\.yaml|Dockerfile\.\w+)", command
        ):
            assert (ROOT / script).exists(), f"{document}: {script} does not exist"


def _fashion_mnist_available() -> bool:
    # Asked of edgekd itself: `from conftest import …` finds whichever test folder's conftest
    # was imported last when the whole suite is collected.
    from edgekd.data.dataset import find_fashion_mnist
    from edgekd.errors import DataError

    try:
        find_fashion_mnist(None)
    except DataError:
        return False
    return True


@pytest.mark.parametrize("command", RUN_HERE)
def test_quick_commands_run_as_written(command, run_cli, monkeypatch):
    documented = {c for _, c in documented_commands()}
    assert command in documented, f"'{command}' is no longer in the docs"
    if command in NEEDS_FASHION_MNIST and not _fashion_mnist_available():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist (make test does this)")
    monkeypatch.chdir(ROOT)
    result = run_cli(*shlex.split(command)[1:])
    assert result.code == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", RUN_ON_A_BUNDLE)
def test_bundle_commands_run_as_written(command, run_cli, monkeypatch, tmp_path):
    """`edgekd verify runs/bundle` on a bundle exported here from a 1-epoch digits student."""
    assert command in {c for _, c in documented_commands()}, f"'{command}' is no longer in the docs"
    sys.path.insert(0, str(ROOT / "tests" / "export"))
    from export_helpers import DIGITS_SPEC, train_student

    from edgekd.export import ExportConfig, export

    student = train_student(tmp_path / "student", "resnet10t", epochs=1)
    export(
        ExportConfig(
            student,
            tmp_path / "runs" / "export",
            int8=True,
            calib=DIGITS_SPEC,
            int8_target=("cpu",),
            speed_search=False,
            latency=False,
            bundle=tmp_path / "runs" / "bundle",
            reference_samples=50,
        )
    )
    monkeypatch.chdir(tmp_path)
    result = run_cli(*shlex.split(command)[1:])
    assert result.code == 0, result.stdout + result.stderr
    assert "student.fp16.onnx" in result.stdout and "student.int8-tensorrt.onnx" in result.stdout


def test_device_only_commands_say_why():
    device = [(d, c, device_only_reason(c)) for d, c in documented_commands() if device_only_reason(c)]
    assert any("build.sh" in c for _, c, _ in device) and all(reason for _, _, reason in device)
    # The Jetson path of README, docs/export.md and docs/evaluate-profile-report.md goes through a bundle: no FP16/INT8
    # conversion on the device.
    for document, command, _ in device:
        if document in ("README.md", "export.md", "evaluate-profile-report.md") and "--trt" in command:
            assert "--fp16" not in command and "--int8" not in command, (
                f"{document}: '{command}' converts on the device"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.test_documented_commands", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--list", action="store_true", help="print every documented command with what the suite does with it"
    )
    args = parser.parse_args(argv)
    if not args.list:
        parser.print_help()
        return 2
    rows = [(coverage(command), document, command) for document, command in documented_commands()]
    for status in sorted(
        {status for status, _, _ in rows}, key=lambda s: (not s.startswith("ran"), not s.startswith("flag"), s)
    ):
        chosen = [(document, command) for s, document, command in rows if s == status]
        print(f"## {status}: {len(chosen)}")
        for document, command in chosen:
            print(f"  {document}: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
