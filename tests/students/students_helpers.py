"""Constants of the student-search tests (a module of its own: `conftest` is not importable by
name when several test folders with their own conftest.py are collected in one run)."""

from edgekd.data import DataConfig

IMG_SIZE = 16
DIGITS = DataConfig(spec="digits")
