"""nanobragg-rs: absolute-scale X-ray diffraction images of small crystals.

A Rust reimplementation of James Holton's nanoBragg with a Python front: the same images as
nanoBragg.c from the same command line, faster, with NeXus output and data sets on Dask.

>>> from nanobragg_rs import Config, render
>>> cfg = Config()
>>> cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
>>> cfg.crystal.default_F = 100
>>> cfg.detector.detpixels_f = cfg.detector.detpixels_s = 64
>>> render(cfg).shape
(64, 64)
"""

from ._core import ConfigError, InputFileError, NanoBraggError, ResourceError, __version__
from .args import Output, Run, parse_args
from .errors import UsageError
from .config import Beam, Config, Crystal, Detector, Sampling
from .simulate import FileOutputs, Noise, Simulator, Stats, Written, render
from .structure_factors import StructureFactors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .background import Background
    from .response import Response, ResponseResult

#: Names imported on first use: their modules need numpy, which a plain command does not.
_LAZY = {"Background": ".background", "Response": ".response", "ResponseResult": ".response"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'nanobragg_rs' has no attribute {name!r}")


def config_from_args(tokens: list[str]) -> Config:
    """The configuration a nanoBragg command line describes, with its input files loaded."""
    from .inputs import load_inputs

    run = parse_args(tokens)
    load_inputs(run)
    return run.config


__all__ = [
    "Background",
    "Beam",
    "Config",
    "ConfigError",
    "Crystal",
    "Detector",
    "FileOutputs",
    "InputFileError",
    "NanoBraggError",
    "Noise",
    "Output",
    "ResourceError",
    "Response",
    "ResponseResult",
    "Run",
    "Sampling",
    "Simulator",
    "Stats",
    "StructureFactors",
    "UsageError",
    "Written",
    "__version__",
    "config_from_args",
    "parse_args",
    "render",
]
