"""The pipeline YAML as typed models: every section optional, every unknown key refused.

Key names are the stage APIs' field names, which are the CLI flags with `_` for `-`
(`--limit-train` → `limit_train`), so a command line and a pipeline read alike. Validation
errors name the file, the line and the key (see `load_pipeline`).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from edgekd.data import AugmentRecipe, DataConfig
from edgekd.distill.config import DEFAULT_LR
from edgekd.distill.methods import METHODS
from edgekd.distill.methods.base import all_options
from edgekd.distill.methods.options import MethodOption
from edgekd.engine import OptimConfig, TrainConfig
from edgekd.engine.tracking import TrackTarget
from edgekd.errors import ConfigError
from edgekd.gate.config import GateThresholds
from edgekd.models.quantized import RECIPES
from edgekd.pipeline.yamlfile import KeyPath, line_of, load_with_lines


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(Section):
    """`data:` — the dataset every training stage uses (the `--data …` options)."""

    spec: str = "fashion-mnist"
    data_dir: Optional[str] = None
    val_size: float = Field(0.1, ge=0)
    limit_train: Optional[int] = Field(None, ge=1)
    split_seed: int = 0
    workers: int = Field(2, ge=0)

    def to_config(self) -> DataConfig:
        return DataConfig(**self.model_dump())


class TrainSection(Section):
    """The training recipe keys shared by `teacher:` and `distill:` (the engine's TrainConfig)."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2)
    opt: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(0.0, ge=0)
    ema_decay: Optional[float] = Field(None, gt=0, lt=1)
    grad_clip: Optional[float] = Field(None, gt=0)
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"
    compile: bool = False
    keep: Literal["last", "best"] = "last"
    seed: int = 0
    crop_padding: int = Field(4, ge=0)
    flip: bool = True
    img_size: int = Field(32, ge=8)
    pretrained: Optional[str] = None
    in_chans: Optional[Literal[1, 3]] = None
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    device: str = "auto"

    def train_config(self, seed: int | None = None) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optim=OptimConfig(
                name=self.opt,
                lr=self.lr,
                momentum=self.momentum,
                nesterov=self.nesterov,
                weight_decay=self.weight_decay,
                warmup_epochs=self.warmup_epochs,
            ),
            augment=AugmentRecipe(crop_padding=self.crop_padding, horizontal_flip=self.flip),
            ema_decay=self.ema_decay,
            grad_clip=self.grad_clip,
            amp=self.amp,
            channels_last=self.channels_last,
            compile=self.compile,
            keep=self.keep,
            seed=self.seed if seed is None else seed,
        )


class TeacherSection(TrainSection):
    """`teacher:` — train `arch`, or use an existing teacher artefact given as `path`."""

    arch: Optional[str] = None
    path: Optional[str] = None

    @model_validator(mode="after")
    def _arch_or_path(self) -> "TeacherSection":
        if (self.arch is None) == (self.path is None):
            raise ValueError(
                "give either 'arch' (train a teacher) or 'path' (use an existing teacher.safetensors), not both "
                "or neither"
            )
        return self


def _option_type(option: MethodOption) -> Any:
    return Literal[option.choices] if option.choices else option.type  # type: ignore[valid-type]


def _option_field(declarations: list[MethodOption]) -> tuple[Any, Any]:
    """An optional pydantic field for a method option; a bound is kept only where every
    method declaring the name has it (`alpha` is ≤ 1 for KD, not for DKD)."""
    first = declarations[0]
    bounds = {k: v for k, v in first.bounds().items() if all(d.bounds().get(k) == v for d in declarations)}
    return Optional[_option_type(first)], Field(None, **bounds)


class MethodRunBase(Section):
    """One entry of `distill.methods`: a method with its own settings (and an optional run name).

    The method's keys are derived from its declared options (`DistillMethod.options`), with
    their ranges; a key the method does not declare is refused like any unknown key.
    """

    method: str
    name: Optional[str] = None
    lr: Optional[float] = Field(None, gt=0)
    epochs: Optional[int] = Field(None, ge=1)
    label_smoothing: Optional[float] = Field(None, ge=0, lt=1)
    # Quantization-aware distillation (docs/distill.md): fine-tune another run of this pipeline,
    # fake-quantized; `from` names that run (`edgekd distill --quantize … --from RUN`).
    quantize: Optional[Literal[RECIPES]] = None  # type: ignore[valid-type]
    from_run: Optional[str] = Field(None, alias="from")
    calib: Optional[str] = None
    teacher: Optional[Literal["self"]] = None

    @model_validator(mode="after")
    def _quantize_keys(self) -> "MethodRunBase":
        if self.quantize is None:
            given = [
                key
                for key, value in (("from", self.from_run), ("calib", self.calib), ("teacher", self.teacher))
                if value is not None
            ]
            if given:
                raise ValueError(f"'{given[0]}' only applies to quantization-aware distillation: add 'quantize: int8'")
        elif self.from_run is None:
            raise ValueError("'quantize' fine-tunes another run of this pipeline: name it with 'from:' (e.g. from: kd)")
        return self

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not RUN_NAME.fullmatch(value):
            raise ValueError(f"run names use letters, digits, '.', '_' and '-' only, got '{value}'")
        return value

    def method_options(self) -> dict[str, Any]:
        """The method's options this entry sets."""
        return {
            o.name: getattr(self, o.name) for o in METHODS[self.method].options if getattr(self, o.name) is not None
        }


# One model per registered method (`kd` → MethodRun_kd), told apart by the `method` key.
METHOD_RUNS: dict[str, type[MethodRunBase]] = {
    name: create_model(  # type: ignore[call-overload]
        f"MethodRun_{name}",
        __base__=MethodRunBase,
        __doc__=f"`methods: [{{method: {name}, …}}]`",
        method=(Literal[name], ...),
        **{o.name: _option_field([o]) for o in cls.options},
    )
    for name, cls in METHODS.items()
}
MethodRun = Annotated[Union[tuple(METHOD_RUNS.values())], Field(discriminator="method")]  # type: ignore[valid-type]


class DistillSectionBase(TrainSection):
    """`distill:` — one student, trained once per (method, seed): `methods` × `seeds` runs.

    Every option a registered method declares is also a section key (derived, default: each
    method's own); it applies to the methods in `methods` that declare it, and an entry's own
    key overrides it.
    """

    student: str
    methods: list[MethodRun] = Field(default_factory=lambda: [METHOD_RUNS["kd"](method="kd")], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    lr: float = Field(DEFAULT_LR, gt=0)  # distill's own default (see edgekd.distill.config)
    teacher_cache: bool = False
    mix: Literal["none", "mixup", "cutmix"] = "none"
    mix_alpha: float = Field(1.0, gt=0)
    # Learning beyond labels (docs/distill.md): the keys of the same edgekd distill flags.
    transfer_data: Optional[str] = None
    transfer_ratio: Optional[float] = Field(None, gt=0, le=1)
    limit_transfer: Optional[int] = Field(None, ge=1)
    drop_classes: list[str] = Field(default_factory=list)
    bias_adjust: Optional[str] = None
    # `student: auto` (docs/students.md): the `edgekd students` search picks the student within
    # this latency budget on `target`; its fully distilled run is this stage's one run.
    budget_ms: Optional[float] = Field(None, gt=0)
    target: str = "ort-cpu"
    percentile: Literal["p99", "p95", "p90", "median", "mean"] = "p99"
    candidates: Optional[list[str]] = None

    @model_validator(mode="after")
    def _auto_student(self) -> "DistillSectionBase":
        """`student: auto` needs a budget and is one kd run (the search's shipped recipe)."""
        if self.student != "auto":
            if self.budget_ms is not None or self.candidates is not None:
                raise ValueError(
                    "budget_ms and candidates choose the student: set 'student: auto' with them, or drop them"
                )
            return self
        if self.budget_ms is None:
            raise ValueError(
                "'student: auto' searches under a latency budget: add 'budget_ms: MS' (per batch of 1, on 'target')"
            )
        if len(self.seeds) != 1 or [m.method for m in self.methods] != ["kd"]:
            raise ValueError(
                "'student: auto' distils with the search's recipe (kd, one seed): drop 'methods' and keep one seed"
            )
        return self

    @field_validator("methods", mode="before")
    @classmethod
    def _method_names(cls, value: Any) -> Any:
        """`methods: [kd, fitnet]` is short for `[{method: kd}, {method: fitnet}]`."""
        if isinstance(value, list):
            return [{"method": item} if isinstance(item, str) else item for item in value]
        return value

    def method_options(self, entry: MethodRunBase) -> dict[str, Any]:
        """The options of `entry`'s method in its run: the section's keys it declares, then the entry's own."""
        declared = [o.name for o in METHODS[entry.method].options]
        section = {name: getattr(self, name) for name in declared if getattr(self, name, None) is not None}
        return {**section, **entry.method_options()}


DistillSection = create_model(  # type: ignore[call-overload]
    "DistillSection",
    __base__=DistillSectionBase,
    __doc__=DistillSectionBase.__doc__,
    **{name: _option_field([o for _, o in declarations]) for name, declarations in all_options().items()},
)


class ExportSection(Section):
    """`export:` — the options of `edgekd export` for each student (ONNX always; FP16, INT8, TensorRT on demand).

    Keys left out keep `ExportConfig`'s defaults, so `edgekd export` and a pipeline agree.

    Attributes:
        students: distill run names to export (empty: all of them).
    """

    students: list[str] = Field(default_factory=list)
    opset: Optional[int] = None
    exporter: Optional[Literal["dynamo", "torchscript"]] = None
    simplify: Optional[bool] = None
    bake_preprocess: Optional[bool] = None
    parity_samples: Optional[int] = Field(None, ge=1)
    fp16: Optional[bool] = None
    int8: Optional[bool] = None
    calib: Optional[str] = None
    int8_target: Optional[list[Literal["cpu", "tensorrt"]]] = None
    calib_method: Optional[Literal["minmax", "entropy", "percentile"]] = None
    per_channel: Optional[bool] = None
    exclude_op_types: Optional[list[str]] = None
    exclude_nodes: Optional[list[str]] = None
    max_drop: Optional[float] = Field(None, ge=0)
    speed_search: Optional[bool] = None
    latency: Optional[bool] = None
    threads: Optional[int] = Field(None, ge=1)
    trt: Optional[bool] = None
    batch: Optional[list[int]] = None
    workspace_gb: Optional[float] = Field(None, gt=0)
    timing_cache: Optional[str] = None
    dla_core: Optional[int] = Field(None, ge=0)
    deepstream: Optional[bool] = None
    device: Optional[str] = None
    bundle: Optional[str] = None
    reference_samples: Optional[int] = Field(None, ge=1)
    deepstream_softmax: Optional[bool] = None
    classifier_threshold: Optional[float] = None

    def options(self) -> dict[str, Any]:
        """The keys that were set, as `ExportConfig` keyword arguments (lists as tuples)."""
        values = self.model_dump(exclude_none=True, exclude={"students"})
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        for key in ("calib", "timing_cache", "bundle"):
            if key in options:
                options[key] = Path(options[key])
        return options


class EvalSection(Section):
    """`eval:` — accuracy of the teacher, every student and every exported artefact."""

    split: Literal["train", "val", "test"] = "test"
    batch_size: int = Field(256, ge=1)
    device: str = "cpu"
    threads: Optional[int] = Field(None, ge=1)


class ProfileSection(Section):
    """`profile:` — latency of the same artefacts on this machine (one run per artefact)."""

    batches: list[int] = Field(default_factory=lambda: [1, 8, 32], min_length=1)
    device: str = "cpu"
    threads: Optional[int] = Field(None, ge=1)
    warmup_ms: float = Field(200.0, ge=0)
    duration_s: float = Field(3.0, gt=0)
    min_iterations: int = Field(10, ge=10)
    include_teacher: bool = True


class ReportSection(Section):
    """`report:` — report.json / report.md / report.html over every eval and profile."""

    title: Optional[str] = None


class GateSection(GateThresholds):
    """`gate:` — the thresholds of `edgekd gate` (same names as its flags), plus a baseline report."""

    baseline: Optional[str] = None


class TrackSection(Section):
    """`track:` — log the pipeline as a parent run with one child per stage run (`--track`).

    Attributes:
        mlflow: tracking URI, or `default` for sqlite:///runs/mlflow.db (artefacts beside it).
        tensorboard: event-file folder, or `default` for runs/tensorboard.
    """

    mlflow: Optional[str] = None
    tensorboard: Optional[str] = None

    def targets(self) -> list[TrackTarget]:
        given = {"mlflow": self.mlflow, "tensorboard": self.tensorboard}
        return [
            TrackTarget.parse(name if value == "default" else f"{name}:{value}")
            for name, value in given.items()
            if value
        ]


_SectionT = TypeVar("_SectionT", bound=BaseModel)
_STAGE = "pipeline stage"
# A `Pipeline` field typed `Stage[...]` is a stage's section; the fields' order is the run order.
# Each has one entry in the stage registry (`edgekd.pipeline.stages.STAGE_SPECS`), checked on import.
Stage = Annotated[Optional[_SectionT], _STAGE]

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Pipeline(Section):
    """A whole pipeline file.

    Attributes:
        name: outputs go to `<runs_dir>/<name>/<stage>/`.
        runs_dir: root of every pipeline's outputs (relative paths: from the current directory).
    """

    name: str
    description: Optional[str] = None
    runs_dir: str = "runs"
    data: DataSection = Field(default_factory=DataSection)
    teacher: Stage[TeacherSection] = None
    distill: Stage[DistillSection] = None
    export: Stage[ExportSection] = None
    eval: Stage[EvalSection] = None
    profile: Stage[ProfileSection] = None
    report: Stage[ReportSection] = None
    gate: Stage[GateSection] = None
    track: Optional[TrackSection] = None
    source: Optional[Path] = Field(None, exclude=True)
    _lines: dict = PrivateAttr(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not RUN_NAME.fullmatch(value):
            raise ValueError(f"the name becomes a folder: use letters, digits, '.', '_' and '-' only, got '{value}'")
        return value

    @model_validator(mode="after")
    def _upstream_sections(self) -> "Pipeline":
        needs = {"distill": "teacher", "export": "distill", "gate": "report"}
        for stage, upstream in needs.items():
            if getattr(self, stage) is not None and getattr(self, upstream) is None:
                raise ValueError(f"a '{stage}:' section needs a '{upstream}:' section")
        if self.report is not None and self.eval is None and self.profile is None:
            raise ValueError("a 'report:' section needs 'eval:' and/or 'profile:'")
        return self

    def where(self, *key: Any) -> str:
        """`FILE:LINE` of a key path (e.g. `where("export", "calib")`), for error messages."""
        line = line_of(self._lines, key)
        source = str(self.source or "pipeline")
        return f"{source}:{line}" if line else source

    @property
    def root(self) -> Path:
        return Path(self.runs_dir) / self.name

    def stages(self) -> list[str]:
        """The stages this pipeline has, in run order."""
        return [stage for stage in STAGES if getattr(self, stage) is not None]

    def gate_thresholds(self) -> GateThresholds:
        if self.gate is None:
            raise ConfigError(f"{self.source or 'the pipeline'} has no 'gate:' section to take thresholds from.")
        return GateThresholds.model_validate(self.gate.model_dump(exclude={"baseline"}))


STAGES = tuple(name for name, field in Pipeline.model_fields.items() if _STAGE in field.metadata)


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The model class that holds the key at `path` (to list its known keys)."""
    current: Any = Pipeline
    for index, part in enumerate(path[:-1]):
        if isinstance(part, int):
            continue
        if _is_method_tag(path, index):
            current = METHOD_RUNS[part]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside Optional[...], list[...] or Union[...] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _is_method_tag(loc: KeyPath, index: int) -> bool:
    """Whether `loc[index]` is the method name pydantic adds after `methods[i]` (its union tag)."""
    return index >= 2 and loc[index - 2] == "methods" and isinstance(loc[index - 1], int) and loc[index] in METHOD_RUNS


def _describe_error(error: dict, data: Any) -> tuple[KeyPath, str]:
    raw = tuple(error["loc"])
    loc = tuple(part for index, part in enumerate(raw) if not _is_method_tag(raw, index))
    key = ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[") or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(raw)
        # The keys a user writes: a field's alias where it has one (`from`, not `from_run`).
        known = sorted(field.alias or name for name, field in model.model_fields.items()) if model is not None else []
        known = [k for k in known if k != "source"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return loc, f"unknown key '{key}'.{hint} Known keys here: {', '.join(known)}."
    if kind == "missing":
        return loc, f"'{key}' is required."
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    shown = "" if isinstance(value, (dict, list)) or kind == "value_error" else f" (got {value!r})"
    return loc, f"'{key}': {message}{shown}." if loc else f"{message}."


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline YAML; nothing runs before this succeeds.

    Raises:
        ConfigError: one line, `FILE:LINE: what is wrong with which key`.
    """
    path = Path(path)
    data, lines = load_with_lines(path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a pipeline is a mapping of sections (name:, data:, teacher:, …), not a {type(data).__name__}."
        )
    try:
        pipeline = Pipeline.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        loc, message = _describe_error(errors[0], data)
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        line = line_of(lines, loc)
        raise ConfigError(f"{path}:{line}: {message}{more}" if line else f"{path}: {message}{more}") from exc
    pipeline.source = path
    pipeline._lines = lines
    return pipeline
