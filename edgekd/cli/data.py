"""`edgekd data info`: what a dataset spec resolves to."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from edgekd.cli import options as opt
from edgekd.cli.console import out

app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)


@app.command("info")
def info_command(
    spec: Annotated[
        str, typer.Argument(help="Dataset spec: fashion-mnist, digits, imagefolder:PATH, cifar10:PATH, cifar100:PATH.")
    ],
    img_size: Annotated[int, typer.Option("--img-size", help="Storage size for ImageFolder sets (px).")] = 32,
    val_size: opt.ValSize = 0.1,
    limit_train: opt.LimitTrain = None,
    split_seed: opt.SplitSeed = 0,
    data_dir: opt.DataDir = None,
    workers: opt.Workers = 2,
) -> None:
    """Show splits, class counts, mean/std and the fingerprint of a dataset spec."""
    dataset = opt.data_config(spec, data_dir, val_size, limit_train, split_seed, workers).load(img_size)
    facts = dataset.describe()
    out.print(
        f"[bold]{facts['spec']}[/]  fingerprint {facts['fingerprint']}  channels {facts['channels']}  stored "
        f"{facts['stored_size']} px  mean {facts['mean']}  std {facts['std']}"
    )
    table = Table()
    table.add_column("class")
    for split in ("train", "val", "test"):
        table.add_column(split, justify="right")
    counts = {s: dataset.split(s).class_counts(dataset.num_classes) for s in ("train", "val", "test")}
    for index, name in enumerate(dataset.class_names):
        table.add_row(name, *(str(counts[s][index]) for s in ("train", "val", "test")))
    table.add_row("[bold]total", *(str(facts["counts"][s]) for s in ("train", "val", "test")))
    out.print(table)
