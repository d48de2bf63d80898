"""Readers and writers of the image formats nanoBragg users read.

Every name here is imported on first use, from its module: the command's all-or-nothing
outputs (:mod:`.atomic`) need none of the others, and ``write_nxmx`` (NeXus NXmx, see
:mod:`nanobragg_rs.io.nexus`) and ``lab_to_mcstas`` need h5py. Those two are left out of
``__all__`` so that ``from nanobragg_rs.io import *`` works without h5py.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from .images import (  # noqa: F401
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
    from .nexus import lab_to_mcstas, write_nxmx  # noqa: F401
    from .smv import SMVImage, header_text, header_value, read_smv, write_smv  # noqa: F401

_IMAGES = ("int_image", "int_rows", "noise_counts", "noise_rows", "pgm_bytes", "pgm_rows", "read_float", "roi_mask",
           "write_float", "write_pgm")
_SMV = ("SMVImage", "header_text", "header_value", "read_smv", "write_smv")
_NEXUS = ("write_nxmx", "lab_to_mcstas")
_MODULE_OF = {**dict.fromkeys(_IMAGES, "images"), **dict.fromkeys(_SMV, "smv"), **dict.fromkeys(_NEXUS, "nexus")}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


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
