"""Options shared by several commands, declared once so that they read the same everywhere.

The training and data flags are derived from the config dataclasses' declared options
(`edgekd.options`) by `with_config_options`; a method's flags from its class by `with_method_options`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgekd.data import DataConfig
from edgekd.engine import TrainConfig
from edgekd.engine.tracking import TrackTarget
from edgekd.options import Option, defaults_of, options_of, with_values


def _flag(declared: Option, default: Any, kind: Any = inspect.Parameter.KEYWORD_ONLY) -> inspect.Parameter:
    """The command parameter of an option: `--name` (`--name/--no-name` for a bool), its help."""
    value = declared.type if default is not None else Optional[declared.type]
    flags: tuple[str, ...] = (
        (f"{declared.flag}/--no-{declared.flag[2:]}",) if declared.type is bool else (declared.flag,)
    )
    flags += (declared.short,) if declared.short else ()
    annotation = Annotated[value, typer.Option(*flags, help=declared.help)]  # type: ignore[valid-type]
    return inspect.Parameter(declared.name, kind, default=default, annotation=annotation)


def flag_type(config: type, key: str) -> Any:
    """`Annotated[type, typer.Option(flag, help)]` of an option `config` declares, for a
    command that takes it alone (`val_size: opt.ValSize = DataConfig.val_size`)."""
    [declared] = [o for o in options_of(config) if o.name == key]
    return _flag(declared, declared.default).annotation


DataSpec = flag_type(DataConfig, "spec")
DataDir = flag_type(DataConfig, "data_dir")
ValSize = flag_type(DataConfig, "val_size")
LimitTrain = flag_type(DataConfig, "limit_train")
SplitSeed = flag_type(DataConfig, "split_seed")
Workers = flag_type(DataConfig, "workers")
Seed = flag_type(TrainConfig, "seed")
OutDir = Annotated[Path, typer.Option("--out", help="Output directory.")]

Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from DIR/checkpoint.pt.")]
Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="For machines: one JSON object per epoch on stdout, then one with the result; messages go to stderr.",
    ),
]
Track = Annotated[
    Optional[list[str]],
    typer.Option(
        "--track",
        help="Log params, epoch metrics, card and weights: mlflow[:URI] (default sqlite:///runs/mlflow.db) "
        "or tensorboard[:DIR] (default runs/tensorboard); repeatable.",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output: only the result (and errors).")]


def track_targets(track: Optional[list[str]]) -> list[TrackTarget]:
    return [TrackTarget.parse(text) for text in track or ()]


def data_config(
    spec: str, data_dir: Optional[str], val_size: float, limit_train: Optional[int], split_seed: int, workers: int
) -> DataConfig:
    """The DataConfig of a command that takes the data flags one by one (`edgekd data info`)."""
    return DataConfig(
        spec=spec, data_dir=data_dir, val_size=val_size, limit_train=limit_train, split_seed=split_seed, workers=workers
    )


def with_config_options(**groups: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Replace the command's parameter of each group's name by one flag per option the group declares.

    The command declares each group as a keyword-only parameter (after `*`) of the type it receives.
    A group is a config instance (`train=TrainConfig()`): its values are the flags' defaults
    and the command receives that config with the given flags set (`edgekd.options.with_values`);
    or a config class (`model_options=TeacherConfig`): its own declared options, with their defaults,
    and the command receives them as a dict by key. Name, flag, default, help: all derived.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)  # Typer reads a set __signature__ as is
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            group = groups.get(parameter.name)
            if group is None:
                parameters.append(parameter)
                continue
            defaults = defaults_of(group)
            parameters += [_flag(o, defaults[o.name], parameter.kind) for o in options_of(group)]

        @functools.wraps(command)
        def run(**given: Any) -> Any:
            for name, group in groups.items():
                values = {key: given.pop(key) for key in defaults_of(group)}
                given[name] = values if isinstance(group, type) else with_values(group, values)
            return command(**given)

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return run

    return decorate


def _default_text(value) -> str:
    if value is None:
        return "automatic"
    return f"{value:g}" if isinstance(value, float) else str(value)


def method_option_help(declarations: list[tuple[str, Option]]) -> str:
    """One help text for a flag several methods declare: each method's meaning and default."""
    groups: dict[int, tuple[Option, list[str]]] = {}
    for method, option in declarations:  # methods inheriting a declaration share one entry
        groups.setdefault(id(option), (option, []))[1].append(method)
    if len(groups) == 1:
        [(option, methods)] = groups.values()
        return f"{', '.join(methods)}: {option.help} Default {_default_text(option.default)}."
    return "  ".join(
        f"{', '.join(methods)}: {option.help} Default {_default_text(option.default)}."
        for option, methods in groups.values()
    )


def with_method_options(command):
    """Give `command` one flag per option the registered methods declare, after `--method`.

    `command` takes `**method_options`; it receives every such flag by name (None: not
    given, so the method's own default applies). Flags, help and types come from the methods'
    declarations (`edgekd.distill.methods.options`): a new method's options appear here
    without touching the CLI.
    """
    from edgekd.distill.methods.base import all_options

    signature = inspect.signature(command, eval_str=True)  # Typer reads a set __signature__ as is
    plain = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    at = next((i + 1 for i, p in enumerate(plain) if p.name == "method"), len(plain))
    kind = plain[at - 1].kind
    added = [_flag(replace(ds[0][1], help=method_option_help(ds)), None, kind) for ds in all_options().values()]
    command.__signature__ = signature.replace(parameters=[*plain[:at], *added, *plain[at:]])
    return command
