"""What every pipeline section shares: unknown keys refused, the training recipe keys of
`teacher:` and `distill:`, and the rule for run names."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from edgekd.engine import TrainConfig
from edgekd.options import declared_options, with_values
from edgekd.teacher import TeacherConfig

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # pipeline names and distill run names


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainSectionBase(Section):
    """The training recipe keys shared by `teacher:` and `distill:`: `TrainConfig`'s options and
    the stage config's own (derived with their defaults and ranges where each section is built:
    `config.TeacherSection`, `distill_section.DistillSection`)."""

    stage_config: ClassVar[type] = TeacherConfig

    def train_config(self, seed: int | None = None) -> TrainConfig:
        values = {key: getattr(self, key) for key in declared_options(TrainConfig)}
        return with_values(TrainConfig(), values if seed is None else {**values, "seed": seed})

    def model_options(self, **overrides: Any) -> dict[str, Any]:
        """The stage config's keys in this section (img_size, …) as keyword arguments; an override
        not None replaces one."""
        values = {
            key: getattr(self, key) for key in declared_options(self.stage_config) if key in type(self).model_fields
        }
        return {**values, **{key: value for key, value in overrides.items() if value is not None}}
