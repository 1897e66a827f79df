"""The training engine shared by teacher training and distillation."""

from edgekd.engine.device import DistributedContext, Precision, init_distributed, resolve_device, resolve_precision
from edgekd.engine.metrics import Predictions, predict, topk_correct
from edgekd.engine.optim import OptimConfig, build_optimizer, build_scheduler
from edgekd.engine.progress import Progress, SilentProgress
from edgekd.engine.task import ClassificationTask, TrainingTask
from edgekd.engine.trainer import FitResult, TrainConfig, Trainer

__all__ = [
    "ClassificationTask",
    "DistributedContext",
    "FitResult",
    "OptimConfig",
    "Precision",
    "Predictions",
    "Progress",
    "SilentProgress",
    "TrainConfig",
    "Trainer",
    "TrainingTask",
    "build_optimizer",
    "build_scheduler",
    "init_distributed",
    "predict",
    "resolve_device",
    "resolve_precision",
    "topk_correct",
]
