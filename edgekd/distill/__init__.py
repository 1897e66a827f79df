"""Distillation: train a small student from frozen teachers (KD, FitNet, DKD, DIST) or alone (`none`).

Python API (the CLI's `edgekd distill` is a thin layer over it):

    from edgekd.distill import DistillConfig, run
    result = run(DistillConfig(student="mobilenetv3_small_050", teacher=("runs/teacher",),
                                   out_dir=Path("runs/kd")), progress=None)
"""

from edgekd.distill.cache import CacheKey, TeacherCache
from edgekd.distill.config import DistillConfig
from edgekd.distill.losses import ensemble_logits, hint_loss, kd_loss, soft_targets
from edgekd.distill.methods import METHODS, DistillMethod, register
from edgekd.distill.stage import DistillResult, distill, run
from edgekd.distill.targets import TeacherTargets
from edgekd.distill.teachers import Teacher, TeacherBank, check_class_names, load_teacher

__all__ = [
    "METHODS",
    "CacheKey",
    "DistillConfig",
    "DistillMethod",
    "DistillResult",
    "Teacher",
    "TeacherBank",
    "TeacherCache",
    "TeacherTargets",
    "check_class_names",
    "distill",
    "ensemble_logits",
    "hint_loss",
    "kd_loss",
    "load_teacher",
    "register",
    "run",
    "soft_targets",
]
