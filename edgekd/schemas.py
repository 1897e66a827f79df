"""Schemas of the JSON files stages hand each other: model cards (`edgekd.model/1`: teacher.json,
student.json, and the card inside an ONNX or beside a plan), `eval.json` (`edgekd.eval/1`) and
`profile.json` (`edgekd.profile/1`).

Typed with pydantic like `report.json` (`edgekd.report.schema`): writers build or validate the
model before a byte is written, and every reader validates on load, so a file edited by hand
into a wrong shape is refused in one line naming the file and the field
(`runs/x/eval.json: field 'metrics.top1': expected a number, got 'abc'`), never a KeyError.
Blocks that only record how something was made (provenance, training facts, timing) stay free
dictionaries; what another stage reads is typed.

Versioning, as for report.json: new optional fields keep `/1`; renaming or removing a field,
or changing a unit, bumps the number.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgekd.errors import EdgekdError

CARD_SCHEMA: Final = "edgekd.model/1"
EVAL_SCHEMA: Final = "edgekd.eval/1"
PROFILE_SCHEMA: Final = "edgekd.profile/1"

Schema = TypeVar("Schema", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    """A block whose named fields are typed and whose other keys are kept as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# What a person reads for pydantic's error types (its own wording names internal classes).
EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "string_type": "expected a string",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "model_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
}


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _where(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def field_error(source: str, exc: ValidationError) -> str:
    """The first problem of a validation error as one line naming the file and the field."""
    first = exc.errors()[0]
    where = _where(first["loc"])
    if first["type"] == "missing":
        return f"{source}: field '{where}' is missing."
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown field '{where}' (a typo, or a file from a newer edgekd?)."
    message = EXPECTED.get(first["type"]) or first["msg"].removeprefix("Value error, ")
    message = message.replace("Input should be", "expected")
    if not where:
        got = "" if first["type"] == "value_error" else f", got {_got(first.get('input'))}"
        return f"{source}: {message}{got}."
    return f"{source}: field '{where}': {message}, got {_got(first.get('input'))}."


def validated(model: type[Schema], payload: Any, source: str | os.PathLike[str], error: type[EdgekdError]) -> Schema:
    """`payload` as `model`, or `error` with the bad field named (see `field_error`)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise error(field_error(str(source), exc)) from exc


# --- model cards --------------------------------------------------------------------------------


class InputFacts(_Strict):
    """What a model expects: `input_size` [channels, height, width] px, mean/std in [0, 1] units."""

    input_size: tuple[int, int, int]
    mean: list[float]
    std: list[float]


class DatasetFacts(_Open):
    """`Dataset.describe()` of the data a model was trained on (the fields other stages read)."""

    spec: Optional[str] = None
    fingerprint: Optional[str] = None
    class_names: Optional[list[str]] = None
    options: dict[str, Any] = Field(default_factory=dict)


class SplitFigures(_Open):
    """Accuracy on one split, percent."""

    top1: Optional[float] = None
    top5: Optional[float] = None
    count: Optional[int] = None


class CardMetrics(_Open):
    """Final figures: `val` and `test` (and, for a student, its teachers' and more)."""

    val: Optional[SplitFigures] = None
    test: Optional[SplitFigures] = None
    teacher: Optional[SplitFigures] = None


class CardFile(_Strict):
    """A model card (teacher.json / student.json, `edgekd.model/1`)."""

    schema_: Literal["edgekd.model/1"] = Field(CARD_SCHEMA, alias="schema")
    arch: str
    num_classes: int = Field(ge=1)
    class_names: list[str]
    input: InputFacts
    role: Literal["teacher", "student"] = "teacher"
    dataset: DatasetFacts = Field(default_factory=DatasetFacts)
    metrics: CardMetrics = Field(default_factory=CardMetrics)
    training: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_name_per_class(self) -> "CardFile":
        if len(self.class_names) != self.num_classes:
            names = len(self.class_names)
            plural = "" if names == 1 else "s"
            raise ValueError(f"num_classes is {self.num_classes} but class_names lists {names} name{plural}")
        return self


# --- eval.json ----------------------------------------------------------------------------------


class ArtefactFacts(_Strict):
    """The artefact an evaluation measured (`edgekd.records.artefact_record`)."""

    name: str
    path: str
    format: Literal["torch", "onnx", "tensorrt"]
    sha256: str
    size_bytes: int
    role: str
    arch: Optional[str] = None
    num_classes: int
    class_names: list[str]
    input: InputFacts
    precision: str
    input_format: Optional[str] = None
    dataset_fingerprint: Optional[str] = None
    export: Optional[dict[str, Any]] = None


class BackendFacts(_Open):
    """The inference backend that ran it."""

    backend: str
    device: str
    threads: Optional[int] = None


class EvalData(_Strict):
    """The images scored: `count` samples of one split of a dataset."""

    spec: str
    split: Literal["train", "val", "test"]
    fingerprint: str
    trained_on_fingerprint: Optional[str] = None
    count: int = Field(ge=0)
    class_names: list[str]
    options: dict[str, Any] = Field(default_factory=dict)


class EvalMetrics(_Strict):
    """Top-1/top-5 and per-class accuracy in percent; confusion counts [true][predicted]."""

    top1: float
    top5: Optional[float] = None
    per_class: list[Optional[float]] = Field(default_factory=list)
    confusion: list[list[int]] = Field(default_factory=list)
    count: int = Field(ge=0)
    correct: int = Field(ge=0)


class EvalTeacher(_Strict):
    """The teacher the artefact was compared with; `agreement` in percent."""

    source: Literal["eval.json", "artefact"]
    eval_path: Optional[str] = None
    name: Optional[str] = None
    path: Optional[str] = None
    sha256: Optional[str] = None
    top1: float
    agreement: float


class EvalPredictions(_Strict):
    """Per-sample class indices in the split's order (what the gate's paired tests read)."""

    labels: list[int]
    predicted: list[int]
    teacher_predicted: Optional[list[int]] = None


class EvalFile(_Strict):
    """A whole eval.json."""

    schema_: Literal["edgekd.eval/1"] = Field(EVAL_SCHEMA, alias="schema")
    created: str
    artefact: ArtefactFacts
    backend: BackendFacts
    data: EvalData
    metrics: EvalMetrics
    teacher: Optional[EvalTeacher] = None
    predictions: EvalPredictions
    timing: dict[str, Any] = Field(default_factory=dict)
    provenance: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _predictions_cover_the_split(self) -> "EvalFile":
        counts = {
            "predictions.labels": len(self.predictions.labels),
            "predictions.predicted": len(self.predictions.predicted),
        }
        if self.predictions.teacher_predicted is not None:
            counts["predictions.teacher_predicted"] = len(self.predictions.teacher_predicted)
        wrong = {name: n for name, n in counts.items() if n != self.data.count}
        if wrong:
            name, n = next(iter(wrong.items()))
            raise ValueError(f"{name} holds {n} samples but data.count is {self.data.count}")
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def load_eval(path: str | Path, error: type[EdgekdError]) -> EvalFile:
    """Read and validate an eval.json.

    Raises:
        `error`: a missing file, invalid JSON, another schema, or a field of the wrong shape.
    """
    return _load(path, EvalFile, EVAL_SCHEMA, "eval", error)


def _load(path: str | Path, model: type[Schema], schema: str, stage: str, error: type[EdgekdError]) -> Schema:
    """Read the JSON file `edgekd STAGE` writes, check its schema name, validate it as `model`."""
    import json

    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{stage} file not found: {path}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid JSON: {exc}.") from exc
    found = payload.get("schema") if isinstance(payload, dict) else None
    if found != schema:
        article = "an" if stage[0] in "aeiou" else "a"
        raise error(
            f"{path} has schema {found!r}, not {schema}: it is not {article} {stage}.json from 'edgekd {stage}'."
        )
    return validated(model, payload, path, error)


# --- profile.json -------------------------------------------------------------------------------


class LatencyStats(_Strict):
    """Latency of one batch size, in ms, and throughput in img/s (`edgekd.profile.summarise` builds it).

    Declared here once, beside the file it is written to: the timing loop returns it and
    profile.json holds it field for field. `throughput_img_s` is batch / mean latency;
    `wall_throughput_img_s` is images / wall time of the whole timed loop (the two agree when
    nothing but the calls runs in the loop); `total_s` is that wall time (s).
    """

    batch: int = Field(ge=1)
    iterations: int = Field(ge=1)
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    total_s: float
    throughput_img_s: float
    wall_throughput_img_s: float
    stopped: Optional[str] = None  # duration | settled (TimingConfig.settle); absent in older files


class ProfileBatch(LatencyStats):
    """One batch size: host-to-host figures, CUDA-event `device` figures on a GPU, `power` on a Jetson."""

    power: Optional[dict[str, Any]] = None
    device: Optional[LatencyStats] = None


class ProfileFile(_Strict):
    """A whole profile.json (what `report` joins on sha256 and `students --latency-from` reads)."""

    schema_: Literal["edgekd.profile/1"] = Field(PROFILE_SCHEMA, alias="schema")
    created: str
    artefact: ArtefactFacts
    backend: BackendFacts
    latency_definition: str
    device_latency_definition: Optional[str] = None
    timing: dict[str, Any] = Field(default_factory=dict)
    batches: list[ProfileBatch] = Field(min_length=1)
    machine: str
    system: dict[str, Any] = Field(default_factory=dict)
    jetson: Optional[dict[str, Any]] = None
    provenance: dict[str, Any] = Field(default_factory=dict)

    def batch(self, size: int) -> ProfileBatch | None:
        """The figures at batch `size` (None: not profiled at it)."""
        return next((entry for entry in self.batches if entry.batch == size), None)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def load_profile(path: str | Path, error: type[EdgekdError]) -> ProfileFile:
    """Read and validate a profile.json.

    Raises:
        `error`: a missing file, invalid JSON, another schema, or a field of the wrong shape.
    """
    return _load(path, ProfileFile, PROFILE_SCHEMA, "profile", error)
