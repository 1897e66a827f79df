"""The two trackers `--track` can write to, each one `TrackedRun` (`edgekd.engine.tracking`).

`MlflowRun` writes through `MlflowClient` to any tracking URI (a local SQLite store by
default, its artefacts beside it); `TensorBoardRun` writes event files, one folder per run.
Their libraries are optional extras, imported only when a run is opened.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from edgekd.errors import ConfigError

INSTALL_HINT = {
    "mlflow": "pip install 'edgekd[mlflow]' (or: pip install mlflow)",
    "tensorboard": "pip install 'edgekd[tensorboard]' (or: pip install tensorboard)",
}


class MlflowRun:
    """A run in an MLflow store, written through `MlflowClient` (no global active run, so
    nested runs and several stores in one process do not interfere)."""

    def __init__(self, client, run_id: str, experiment_id: str):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id

    @classmethod
    def open(cls, uri: str, experiment: str, name: str) -> "MlflowRun":
        mlflow = _import("mlflow")
        for noisy in ("alembic", "mlflow.store.db.utils"):  # schema migration chatter on a new store
            logging.getLogger(noisy).setLevel(logging.WARNING)
        client = mlflow.MlflowClient(tracking_uri=_local_uri(uri))
        found = client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id
            if found
            else client.create_experiment(experiment, artifact_location=_artifact_root(uri))
        )
        return cls._start(client, experiment_id, name, {})

    @classmethod
    def _start(cls, client, experiment_id: str, name: str, tags: dict[str, str]) -> "MlflowRun":
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        return cls(client, run.info.run_id, experiment_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def child(self, name: str) -> "MlflowRun":
        return self._start(self.client, self.experiment_id, name, {"mlflow.parentRunId": self.run_id})

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


class TensorBoardRun:
    """Event files under `DIR/<run name>/` (TensorBoard lists each folder as a run; a child's
    folder sits inside its parent's). Parameters, tags and cards are text entries, since
    TensorBoard has no artefact store; a weights file is recorded by path."""

    def __init__(self, log_dir: Path):
        _import("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = log_dir
        self.writer = SummaryWriter(log_dir=str(log_dir))

    @classmethod
    def open(cls, root: str, name: str) -> "TensorBoardRun":
        return cls(Path(root) / f"{_folder_name(name)}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.writer.add_text("params", _markdown_table(params))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.writer.add_text("tags", _markdown_table(tags))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def log_artifact(self, path: Path) -> None:
        if path.suffix in (".json", ".md") and path.stat().st_size < 1_000_000:
            self.writer.add_text(f"artefact/{path.name}", "    " + path.read_text().replace("\n", "\n    "))
        else:
            self.writer.add_text(f"artefact/{path.name}", f"`{path.resolve()}` ({path.stat().st_size} bytes)")

    def child(self, name: str) -> "TensorBoardRun":
        return TensorBoardRun(self.log_dir / _folder_name(name))

    def end(self, status: str = "FINISHED") -> None:
        self.writer.add_text("status", status)
        self.writer.close()


def _import(name: str):
    try:
        return __import__(name)
    except ImportError as exc:
        raise ConfigError(
            f"--track {name} needs the {name} package, which is not installed: {INSTALL_HINT[name]}."
        ) from exc


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def _local_uri(uri: str) -> str:
    """The URI with the SQLite file's folder created (SQLite creates the file, not its folder)."""
    db = _sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return uri


def _artifact_root(uri: str) -> str | None:
    """Artefacts beside a SQLite store (`runs/mlartifacts/`); a server decides its own."""
    db = _sqlite_path(uri)
    return (db.parent.resolve() / "mlartifacts").as_uri() if db is not None else None


def _folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def _markdown_table(values: Mapping[str, Any]) -> str:
    return "| key | value |\n|---|---|\n" + "\n".join(
        f"| {k} | {str(v).replace('|', '/')} |" for k, v in values.items()
    )
