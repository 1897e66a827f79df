"""Evaluate stage: accuracy of any artefact (PyTorch, ONNX, TensorRT) on a dataset split.

Every artefact is run through the inference-backend layer (`edgekd.runtime`) with its own
recorded preprocessing, on the split's images in file order, so two eval.json files of the
same dataset fingerprint and split line up sample by sample: the gate runs paired statistics
(McNemar, bootstrap) on their `predictions`. `edgekd eval` is a thin layer over `run`.

eval.json (schema `edgekd.eval/1`, typed by `edgekd.schemas.EvalFile`, documented in
docs/evaluate-profile-report.md): `artefact` (see `edgekd.records.artefact_record`), `backend`,
`data` (spec, split, fingerprint, count), `metrics` (top1, top5, per_class, confusion),
`teacher` (agreement), `predictions` (labels, predicted, teacher_predicted), `timing`,
`provenance`. It is built as that model, so a file that could not be read back is never written.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from edgekd.artifacts import provenance, write_json
from edgekd.data import BatchLoader, DataConfig, Dataset, to_unit_float
from edgekd.engine import Progress, SilentProgress
from edgekd.engine.metrics import Predictions
from edgekd.errors import ConfigError, DataError
from edgekd.models import ModelCard, resolve_model_path
from edgekd.records import artefact_record, check_backend_name, open_artefact, resolve_artefact
from edgekd.runtime import Backend
from edgekd.schemas import EvalData, EvalFile, EvalMetrics, EvalPredictions, load_eval

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DataOverrides:
    """Dataset options given by the user; None keeps what the artefact's card recorded.

    Attributes:
        spec: dataset spec (`fashion-mnist`, `digits`, `imagefolder:PATH`, …).
        data_dir: extra folder holding Fashion-MNIST.
        val_size: share or count of train held out as val.
        split_seed: seed of the val hold-out.
    """

    spec: str | None = None
    data_dir: str | None = None
    val_size: float | None = None
    split_seed: int | None = None


@dataclass(frozen=True)
class EvalConfig:
    """Options of the evaluate stage.

    Attributes:
        artefact: `.safetensors` (+ card), `.onnx`, `.engine`/`.plan`, or a run directory.
        out_dir: where eval.json goes; None → `<artefact dir>/eval/<artefact name>/`.
        data: dataset options (default: the data the artefact was trained on).
        split: train | val | test.
        teacher: a teacher artefact (run on the same images) or a teacher's eval.json of the
            same dataset fingerprint and split (its predictions are reused).
        backend: torch | ort | trt; None picks the artefact's own.
        device: cpu | cuda | cuda:N.
        threads: ONNX Runtime intra-op threads (None: its default).
        batch_size: images per inference call.
    """

    artefact: Path
    out_dir: Path | None = None
    data: DataOverrides = field(default_factory=DataOverrides)
    split: str = "test"
    teacher: Path | None = None
    backend: str | None = None
    device: str = "cpu"
    threads: int | None = None
    batch_size: int = 256

    def validate(self) -> EvalConfig:
        """Check every option once; returns self."""
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split '{self.split}': use train, val or test.")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}.")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}.")
        check_backend_name(self.backend)
        return self

    def describe(self) -> dict[str, Any]:
        payload = asdict(self)
        for key in ("artefact", "out_dir", "teacher"):
            payload[key] = None if payload[key] is None else str(payload[key])
        return payload


@dataclass
class EvalResult:
    """Where eval.json went and what it holds (the JSON payload)."""

    path: Path
    payload: dict[str, Any]

    @property
    def top1(self) -> float:
        return float(self.payload["metrics"]["top1"])


def default_out_dir(artefact: Path) -> Path:
    """`<artefact dir>/eval/<name with dots as dashes>` (student.onnx → eval/student-onnx)."""
    return artefact.parent / "eval" / artefact.name.replace(".", "-")


def data_config_for(card: ModelCard, overrides: DataOverrides) -> DataConfig:
    """The artefact's recorded dataset options, with the user's overrides applied."""
    recorded = card.dataset or {}
    options = recorded.get("options") or {}
    spec = overrides.spec or recorded.get("spec")
    if not spec:
        raise ConfigError("the artefact records no dataset; pass --data SPEC.")
    return DataConfig(
        spec=spec,
        data_dir=overrides.data_dir,
        val_size=overrides.val_size if overrides.val_size is not None else options.get("val_size", 0.1),
        limit_train=options.get("limit_train") if overrides.spec is None else None,
        split_seed=overrides.split_seed if overrides.split_seed is not None else options.get("split_seed", 0),
    )


def check_classes(card: ModelCard, dataset: Dataset, what: str) -> None:
    """Refuse to score a model on data whose classes are not the ones it predicts."""
    if list(card.class_names) != list(dataset.class_names):
        raise DataError(
            f"{what} predicts {card.num_classes} classes ({', '.join(card.class_names[:4])}…) but {dataset.spec} has "
            f"{dataset.num_classes} ({', '.join(dataset.class_names[:4])}…); pass the --data it was trained on."
        )


@torch.no_grad()
def run_split(
    backend: Backend, dataset: Dataset, split: str, batch_size: int, progress: Progress, label: str
) -> Predictions:
    """Logits of `backend` over a split, in file order.

    Pixels are brought to the model's input size exactly as training's `predict` does
    (`to_unit_float`, antialiased when shrinking); `backend.prepare` then applies the
    artefact's own channels/normalisation (or uint8 NHWC for baked-preprocess models).
    """
    loader = BatchLoader(dataset.split(split), batch_size, shuffle=False)
    size = (backend.card.input.size, backend.card.input.size)
    logits, labels = [], []
    progress.start(f"eval {label}", len(loader))
    for batch in loader.epoch(0):
        pixels = to_unit_float(batch.images, size)
        logits.append(backend.run(backend.prepare(pixels)))
        labels.append(batch.labels)
        progress.advance(1)
    if not logits:
        raise DataError(f"the {split} split of {dataset.spec} is empty; choose another --split.")
    return Predictions(torch.cat(logits), torch.cat(labels))


def confusion_matrix(predictions: Predictions, num_classes: int) -> list[list[int]]:
    """Counts [true class][predicted class]."""
    flat = predictions.labels * num_classes + predictions.predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes).tolist()


def _teacher_from_eval(path: Path, dataset: Dataset, split: str) -> tuple[torch.Tensor, dict[str, Any]]:
    teacher = load_eval(path, ConfigError)
    if teacher.data.fingerprint != dataset.fingerprint or teacher.data.split != split:
        raise ConfigError(
            f"--teacher {path} scored {teacher.data.split} of dataset {teacher.data.fingerprint}, not {split} of "
            f"{dataset.fingerprint}; "
            "evaluate the teacher on the same data (or pass the teacher artefact)."
        )
    predicted = torch.tensor(teacher.predictions.predicted, dtype=torch.int64)
    artefact = teacher.artefact
    return predicted, {
        "source": "eval.json",
        "eval_path": str(path.resolve()),
        "name": artefact.name,
        "path": artefact.path,
        "sha256": artefact.sha256,
        "top1": teacher.metrics.top1,
    }


def _teacher_predictions(
    config: EvalConfig, teacher: Path, dataset: Dataset, progress: Progress
) -> tuple[torch.Tensor, dict[str, Any]]:
    path = Path(teacher)
    if path.suffix == ".json" and path.exists():
        return _teacher_from_eval(path, dataset, config.split)
    path = resolve_model_path(path, ("teacher", "student")) if path.is_dir() else resolve_artefact(path)
    backend = open_artefact(path, None, config.device, config.threads)
    check_classes(backend.card, dataset, f"teacher {path.name}")
    predictions = run_split(backend, dataset, config.split, config.batch_size, progress, f"teacher {path.name}")
    record = artefact_record(path, backend)
    return predictions.predicted, {
        "source": "artefact",
        "name": record["name"],
        "path": record["path"],
        "sha256": record["sha256"],
        "top1": predictions.top1(),
    }


def run(config: EvalConfig, progress: Progress | None = None) -> EvalResult:
    """Score an artefact on a split and write `eval.json`.

    Returns:
        The path written and its payload: top-1/top-5 and per-class accuracy in percent,
        confusion counts, agreement with the teacher (percent) when one is given, per-sample
        labels and predictions in split order.
    """
    config = config.validate()
    progress = progress or SilentProgress()
    artefact = resolve_artefact(config.artefact)
    backend = open_artefact(artefact, config.backend, config.device, config.threads)
    card = backend.card
    dataset = data_config_for(card, config.data).load(card.input.size)
    check_classes(card, dataset, artefact.name)
    recorded_fingerprint = (card.dataset or {}).get("fingerprint")
    if recorded_fingerprint and recorded_fingerprint != dataset.fingerprint:
        progress.log(
            f"note: {artefact.name} was trained on dataset {recorded_fingerprint}; scoring it on {dataset.fingerprint}."
        )

    started = time.perf_counter()
    predictions = run_split(backend, dataset, config.split, config.batch_size, progress, artefact.name)
    wall_s = time.perf_counter() - started
    count = len(predictions.labels)

    teacher_block, teacher_predicted = None, None
    if config.teacher is not None:
        teacher_predicted, teacher_block = _teacher_predictions(config, config.teacher, dataset, progress)
        if len(teacher_predicted) != count:
            raise ConfigError(
                f"the teacher's predictions cover {len(teacher_predicted)} samples, the split has {count}."
            )
        teacher_block["agreement"] = 100.0 * predictions.predicted.eq(teacher_predicted).float().mean().item()

    run_facts = provenance(config.describe())
    written = EvalFile(
        created=run_facts["created"],
        artefact=artefact_record(artefact, backend),
        backend={**backend.describe(), "threads": config.threads},
        data=EvalData(
            spec=dataset.spec,
            split=config.split,
            fingerprint=dataset.fingerprint,
            trained_on_fingerprint=recorded_fingerprint,
            count=count,
            class_names=dataset.class_names,
            options=dataset.options,
        ),
        metrics=EvalMetrics(
            top1=predictions.top1(),
            top5=predictions.top5(),
            per_class=predictions.per_class(dataset.num_classes),
            confusion=confusion_matrix(predictions, dataset.num_classes),
            count=count,
            correct=int(predictions.predicted.eq(predictions.labels).sum()),
        ),
        teacher=teacher_block,
        predictions=EvalPredictions(
            labels=predictions.labels.tolist(),
            predicted=predictions.predicted.tolist(),
            teacher_predicted=None if teacher_predicted is None else teacher_predicted.tolist(),
        ),
        timing={
            "wall_s": wall_s,
            "img_per_s": count / wall_s if wall_s > 0 else None,
            "note": "whole pass incl. data preparation; not a latency figure (see edgekd profile)",
        },
        provenance=run_facts,
    )
    payload = written.to_json_dict()
    out_dir = Path(config.out_dir) if config.out_dir is not None else default_out_dir(artefact)
    path = out_dir / "eval.json"
    write_json(path, payload)
    progress.finish(
        {
            "top1": payload["metrics"]["top1"],
            "top5": payload["metrics"]["top5"],
            **({"agreement": teacher_block["agreement"]} if teacher_block else {}),
        }
    )
    return EvalResult(path, payload)


evaluate = run  # the former name, kept for the notebooks and tests that call it
