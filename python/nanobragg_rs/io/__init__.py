"""Readers and writers of the image formats nanoBragg users read."""

from .images import int_image, noise_counts, pgm_bytes, read_float, roi_mask, write_float, write_pgm
from .smv import SMVImage, header_text, header_value, read_smv, write_smv

__all__ = [
    "SMVImage",
    "header_text",
    "header_value",
    "int_image",
    "noise_counts",
    "pgm_bytes",
    "read_float",
    "read_smv",
    "roi_mask",
    "write_float",
    "write_pgm",
    "write_smv",
]
