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
from .background import Background
from .config import Beam, Config, Crystal, Detector, Sampling
from .response import Response, ResponseResult
from .simulate import FileOutputs, Noise, Simulator, Stats, Written, render
from .structure_factors import StructureFactors


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
