"""Readers and writers of the image formats nanoBragg users read.

``write_nxmx`` (NeXus NXmx, see :mod:`nanobragg_rs.io.nexus`) and ``lab_to_mcstas`` are
available here too; they import h5py on first use, so the package itself does not need it.
They are left out of ``__all__`` so that ``from nanobragg_rs.io import *`` works without h5py.
"""

from __future__ import annotations

from .images import (
    int_image,
    int_rows,
    noise_counts,
    noise_rows,
    pgm_bytes,
    pgm_rows,
    read_float,
    roi_mask,
    write_float,
    write_pgm,
)
from .smv import SMVImage, header_text, header_value, read_smv, write_smv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from .nexus import lab_to_mcstas, write_nxmx  # noqa: F401

_NEXUS = ("write_nxmx", "lab_to_mcstas")


def __getattr__(name: str) -> Any:
    if name in _NEXUS:
        from . import nexus

        return getattr(nexus, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_NEXUS])


__all__ = [
    "SMVImage",
    "header_text",
    "header_value",
    "int_image",
    "int_rows",
    "noise_counts",
    "noise_rows",
    "pgm_bytes",
    "pgm_rows",
    "read_float",
    "read_smv",
    "roi_mask",
    "write_float",
    "write_pgm",
    "write_smv",
]
