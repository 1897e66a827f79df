"""The pipeline YAML as typed models: every section optional, every unknown key refused.

Key names are the stage APIs' field names, which are the CLI flags with `_` for `-`
(`--limit-train` → `limit_train`), so a command line and a pipeline read alike: the data and
training keys are derived from the config dataclasses' declared options (`edgekd.options`).
Validation errors name the file, the line and the key (see `load_pipeline`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    create_model,
    field_validator,
    model_validator,
)

from edgekd.data import DataConfig
from edgekd.engine import TrainConfig
from edgekd.engine.tracking import TrackTarget
from edgekd.errors import ConfigError
from edgekd.gate.config import GateThresholds
from edgekd.options import with_values
from edgekd.pipeline.distill_section import METHOD_RUNS, DistillSection
from edgekd.pipeline.fields import config_fields
from edgekd.pipeline.section_base import RUN_NAME, Section, TrainSectionBase
from edgekd.pipeline.validation import validate_file
from edgekd.pipeline.yamlfile import line_of
from edgekd.teacher import TeacherConfig


class DataSectionBase(Section):
    """`data:` — the dataset every training stage uses (the `--data …` options; keys: `DataConfig`'s)."""

    def to_config(self) -> DataConfig:
        return with_values(DataConfig(), self.model_dump())


class TeacherSectionBase(TrainSectionBase):
    """`teacher:` — train `arch`, or use an existing teacher artefact given as `path`."""

    arch: Optional[str] = None
    path: Optional[str] = None

    @model_validator(mode="after")
    def _arch_or_path(self) -> "TeacherSectionBase":
        if (self.arch is None) == (self.path is None):
            raise ValueError(
                "give either 'arch' (train a teacher) or 'path' (use an existing teacher.safetensors), "
                "not both or neither"
            )
        return self


DataSection = create_model(  # type: ignore[call-overload]
    "DataSection", __base__=DataSectionBase, __doc__=DataSectionBase.__doc__, **config_fields(DataConfig())
)
TeacherSection = create_model(  # type: ignore[call-overload]
    "TeacherSection",
    __base__=TeacherSectionBase,
    __doc__=TeacherSectionBase.__doc__,
    **config_fields(TrainConfig()),
    **config_fields(TeacherConfig),
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


def load_pipeline(path: str | Path) -> Pipeline:
    """Read and validate a pipeline YAML; nothing runs before this succeeds.

    Raises:
        ConfigError: one line, `FILE:LINE: what is wrong with which key`.
    """
    path = Path(path)
    pipeline, lines = validate_file(path, Pipeline, METHOD_RUNS)
    pipeline.source = path
    pipeline._lines = lines
    return pipeline
