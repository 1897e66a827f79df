"""Adaptation layers: map a student's guided features onto a teacher's hint features.

Shapes are (C, H, W) per sample. The adapter is trained with the student and thrown away
afterwards (it is never part of the saved student).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Resize(nn.Module):
    """Bilinear resize to a fixed (H, W): for spatial ratios that no strided conv matches."""

    def __init__(self, size: tuple[int, int]):
        super().__init__()
        self.size = size

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.interpolate(features, size=self.size, mode="bilinear", align_corners=False)


def build_adapter(student_shape: tuple[int, int, int], teacher_shape: tuple[int, int, int]) -> nn.Module:
    """The layer that takes guided features of `student_shape` to `teacher_shape`.

    - same size: 1×1 conv + BN (channels only);
    - student larger by an integer factor k: k×k conv with stride k + BN;
    - student smaller by an integer factor k: k×k transposed conv with stride k + BN;
    - any other ratio: bilinear resize, then 1×1 conv + BN.
    """
    student_channels, student_h, student_w = student_shape
    teacher_channels, teacher_h, teacher_w = teacher_shape
    bn = nn.BatchNorm2d(teacher_channels)
    if (student_h, student_w) == (teacher_h, teacher_w):
        return nn.Sequential(nn.Conv2d(student_channels, teacher_channels, 1, bias=False), bn)
    if student_h % teacher_h == 0 and student_w % teacher_w == 0 and student_h // teacher_h == student_w // teacher_w:
        k = student_h // teacher_h
        return nn.Sequential(nn.Conv2d(student_channels, teacher_channels, k, stride=k, bias=False), bn)
    if teacher_h % student_h == 0 and teacher_w % student_w == 0 and teacher_h // student_h == teacher_w // student_w:
        k = teacher_h // student_h
        return nn.Sequential(nn.ConvTranspose2d(student_channels, teacher_channels, k, stride=k, bias=False), bn)
    return nn.Sequential(
        Resize((teacher_h, teacher_w)), nn.Conv2d(student_channels, teacher_channels, 1, bias=False), bn
    )
