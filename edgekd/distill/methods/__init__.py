"""Distillation methods, one file each, registered by name in `METHODS`.

To add a method: write `methods/<name>.py` with a `DistillMethod` subclass decorated with
`@register("<name>")`, and import it below.
"""

from edgekd.distill.methods import dist, dkd, fitnet, kd, none  # noqa: F401  (imports register the methods)
from edgekd.distill.methods.base import METHODS, DistillMethod, register

__all__ = ["METHODS", "DistillMethod", "register"]
