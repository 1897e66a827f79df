"""edgekd: distil a large timm image classifier into a small, fast one for edge devices."""

__version__ = "0.1.0"
