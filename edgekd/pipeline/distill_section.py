"""`distill:` of the pipeline YAML: the student, `methods` × `seeds` runs, and each method's
keys derived from its declared options, so a new method needs no change here."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Field, create_model, field_validator, model_validator

from edgekd.distill.config import DEFAULT_TRAIN, DistillConfig
from edgekd.distill.methods import METHODS
from edgekd.distill.methods.base import all_options
from edgekd.engine import TrainConfig
from edgekd.models.quantized import RECIPES
from edgekd.pipeline.fields import config_fields, method_option_field, override_field
from edgekd.pipeline.section_base import RUN_NAME, Section, TrainSectionBase
from edgekd.teacher import TeacherConfig


class MethodRunBase(Section):
    """One entry of `distill.methods`: a method with its own settings (and an optional run name).

    The method's keys are derived from its declared options (`DistillMethod.options`), with
    their ranges; a key the method does not declare is refused like any unknown key.
    """

    method: str
    name: Optional[str] = None
    lr: Optional[float] = override_field(TrainConfig, "lr")
    epochs: Optional[int] = override_field(TrainConfig, "epochs")
    label_smoothing: Optional[float] = override_field(TeacherConfig, "label_smoothing")
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
        **{o.name: method_option_field([o]) for o in cls.options},
    )
    for name, cls in METHODS.items()
}
MethodRun = Annotated[Union[tuple(METHOD_RUNS.values())], Field(discriminator="method")]  # type: ignore[valid-type]


class DistillSectionBase(TrainSectionBase):
    """`distill:` — one student, trained once per (method, seed): `methods` × `seeds` runs.

    Every option a registered method declares is also a section key (derived, default: each
    method's own); it applies to the methods in `methods` that declare it, and an entry's own
    key overrides it.
    """

    stage_config: ClassVar[type] = DistillConfig
    student: str
    # MethodRun is built at import from the registry: a type to pydantic, a variable to mypy.
    methods: list[MethodRun] = Field(  # type: ignore[valid-type]
        default_factory=lambda: [METHOD_RUNS["kd"](method="kd")], min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    teacher_cache: bool = False
    drop_classes: list[str] = Field(default_factory=list)
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
        if len(self.seeds) != 1 or [m.method for m in self.methods] != ["kd"]:  # type: ignore[attr-defined]
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
    **config_fields(DEFAULT_TRAIN),  # distill's own recipe defaults (edgekd.distill.config)
    # A pipeline's one teacher is its own artefact, with its card: no bare-teacher or ensemble keys.
    **config_fields(DistillConfig, exclude=("ensemble", "teacher_arch", "teacher_img_size")),
    **{name: method_option_field([o for _, o in declarations]) for name, declarations in all_options().items()},
)
