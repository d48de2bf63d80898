"""Type stubs of the compiled core, ``nanobragg_rs._core`` (checked by mypy stubtest)."""

from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ConfigError",
    "FileOutputs",
    "HklEntries",
    "HklTable",
    "InputFileError",
    "NanoBraggError",
    "Outputs",
    "PsfPass",
    "ResponseOutcome",
    "NonBragg",
    "NonBraggImage",
    "ResourceError",
    "Simulation",
    "__version__",
    "add_background",
    "default_config",
    "int_pixels",
    "noise_pixels",
    "panel_simulations",
    "pgm_pixels",
    "read_columns",
    "read_hkl",
    "respond",
    "StolTable",
    "supported_isas",
    "temporary_name",
    "temporary_of",
    "validate_config",
]

__version__: str

class NanoBraggError(ValueError):
    """Base class of nanobragg_rs errors."""

class ConfigError(NanoBraggError):
    """A configuration value is missing, malformed or impossible."""

class InputFileError(NanoBraggError):
    """An input file could be read but not understood."""

class ResourceError(ConfigError):
    """What the configuration asks for would not fit in the memory available."""

@final
class HklTable:
    """Structure factors on a dense h, k, l grid."""

    @staticmethod
    def from_arrays(
        indices: npt.NDArray[np.int32], amplitudes: npt.NDArray[np.float64], default_F: float = 0.0
    ) -> HklTable: ...
    @staticmethod
    def read_fdump(path: str | PathLike[str]) -> HklTable: ...
    def write_fdump(self, path: str | PathLike[str]) -> None: ...
    @property
    def count(self) -> int: ...
    @property
    def bounds(self) -> tuple[int, int, int, int, int, int]: ...
    def get(self, h: int, k: int, l: int) -> float | None: ...

@final
class HklEntries:
    """Entries of an h k l F text file, kept in Rust until their arrays are asked for."""

    @staticmethod
    def read(path: str | PathLike[str]) -> HklEntries: ...
    def arrays(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]: ...
    def table(self, default_F: float) -> HklTable: ...
    def __len__(self) -> int: ...

@final
class FileOutputs:
    """The files a run writes, and how its integer images are scaled."""

    def __new__(
        cls,
        floatfile: str | PathLike[str] | None = None,
        intfile: str | PathLike[str] | None = None,
        pgmfile: str | PathLike[str] | None = None,
        noisefile: str | PathLike[str] | None = None,
        seed: int = 0,
        scale: float = 0.0,
        pgmscale: float = 0.0,
        adc: float = 40.0,
    ) -> FileOutputs: ...

@final
class Simulation:
    """A configuration resolved into everything a render needs."""

    def __new__(
        cls, config: dict[str, Any], hkl: HklTable | None = None, mask: npt.NDArray[np.uint16] | None = None
    ) -> Simulation: ...
    def render(
        self, threads: int | None = None, progress: Callable[[int], object] | None = None, isa: str | None = None
    ) -> tuple[npt.NDArray[np.float32], float, str]: ...
    def render_to_files(
        self,
        files: FileOutputs,
        threads: int | None = None,
        progress: Callable[[int], object] | None = None,
        isa: str | None = None,
        outputs: Outputs | None = None,
    ) -> tuple[dict[str, Any], float, str]: ...
    def write_files(
        self, image: npt.NDArray[np.float32], omega_sum: float, files: FileOutputs, outputs: Outputs | None = None
    ) -> dict[str, Any]: ...
    def stats(self, image: npt.NDArray[np.float32], omega_sum: float) -> dict[str, Any]: ...
    def max_pixel(self, image: npt.NDArray[np.float32]) -> tuple[float, float, float]: ...
    def noise(self, image: npt.NDArray[np.float32], seed: int) -> tuple[npt.NDArray[np.float32], float]: ...
    def trace(self, fpixel: int, spixel: int, isa: str | None = None) -> tuple[float, list[str]]: ...
    @property
    def summary(self) -> dict[str, Any]: ...
    @property
    def shape(self) -> tuple[int, int]: ...

def read_hkl(path: str | PathLike[str]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]: ...
def validate_config(config: dict[str, Any]) -> None: ...
def default_config() -> dict[str, Any]: ...
def supported_isas() -> list[str]: ...
def int_pixels(
    block: npt.NDArray[np.float32], row0: int, roi: tuple[int, int, int, int] | list[int], scale: float, adc: float
) -> npt.NDArray[np.uint16]: ...
def noise_pixels(
    block: npt.NDArray[np.float32], row0: int, roi: tuple[int, int, int, int] | list[int], adc: float
) -> tuple[npt.NDArray[np.uint16], int]: ...
def pgm_pixels(
    block: npt.NDArray[np.float32], row0: int, roi: tuple[int, int, int, int] | list[int], scale: float
) -> npt.NDArray[np.uint8]: ...
def panel_simulations(
    config: dict[str, Any],
    panels: list[dict[str, Any]],
    hkl: HklTable | None = None,
    masks: list[npt.NDArray[np.uint16] | None] | None = None,
) -> list[tuple[Simulation, bool]]: ...

@final
class PsfPass:
    """What a PSF pass reports."""

    @property
    def max_input(self) -> float | None: ...
    @property
    def auto_radius(self) -> int | None: ...
    @property
    def no_photons(self) -> bool: ...
    @property
    def lost_photons(self) -> float: ...
    @property
    def kernel_radius(self) -> int: ...

@final
class ResponseOutcome:
    """One run of the detector response."""

    @property
    def max_input(self) -> float: ...
    @property
    def max_photons(self) -> float: ...
    @property
    def ideal16(self) -> npt.NDArray[np.uint16]: ...
    @property
    def ideal32(self) -> npt.NDArray[np.uint32]: ...
    @property
    def pgm(self) -> npt.NDArray[np.uint8]: ...
    @property
    def ideal_psf(self) -> PsfPass | None: ...
    @property
    def noise16(self) -> npt.NDArray[np.uint16] | None: ...
    @property
    def noise32(self) -> npt.NDArray[np.uint32] | None: ...
    @property
    def photons_before_psf(self) -> float: ...
    @property
    def photons(self) -> float: ...
    @property
    def overloads(self) -> int: ...
    @property
    def noise_psf(self) -> PsfPass | None: ...

def respond(
    values: npt.NDArray[np.float32],
    *,
    seed_state: int,
    calib_state: int,
    fluence: float,
    scale: float,
    psf: str | None,
    psf_fwhm_px: float,
    psf_radius_px: int,
    gain: float,
    adc: float,
    readout: float,
    flicker: float,
    calibration: float,
    noise: bool,
    bits: int,
    fix_quirks: bool,
    threads: int | None = None,
) -> ResponseOutcome: ...

# Amorphous background and the nonBragg program (rust/python/src/nonbragg.rs).

@final
class StolTable:
    """An F(sin θ/λ) table of an amorphous material, padded as nonBragg pads it."""

    def __new__(cls, text: bytes, abscissa: str = "stol", fixed: bool = False) -> StolTable: ...
    @staticmethod
    def from_rows(x: list[float], f: list[float], abscissa: str = "stol", fixed: bool = False) -> StolTable: ...
    def __len__(self) -> int: ...
    def interpolate(self, stol_per_m: list[float]) -> npt.NDArray[np.float64]: ...

@final
class NonBraggImage:
    """A rendered background image with the loop's sums."""

    def image(self) -> npt.NDArray[np.float32]: ...
    @property
    def omega_sum(self) -> float: ...
    @property
    def count(self) -> int: ...
    def stats(self, n: int) -> dict[str, float]: ...
    def stolout(self) -> tuple[str, list[str], int] | None: ...
    def printout(self) -> list[tuple[int, int, float, float, float, float, float]]: ...

@final
class NonBragg:
    """A resolved nonBragg run (detector, sources, sample), ready to render."""

    def __new__(cls, input: dict[str, Any], table: StolTable, table_name: str) -> NonBragg: ...
    def render(
        self,
        extract: tuple[npt.NDArray[np.float32], list[int], float, float] | None = None,
        printout: str | tuple[int, int] | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> NonBraggImage: ...
    def header(self) -> bytes: ...
    def int_image(self, image: npt.NDArray[np.float32], scale: float, adc: float) -> npt.NDArray[np.uint16]: ...
    def pgm_image(self, image: npt.NDArray[np.float32], scale: float) -> npt.NDArray[np.uint8]: ...
    def noise_image(self, image: npt.NDArray[np.float32], seed: int, adc: float) -> tuple[npt.NDArray[np.uint16], float, int]: ...
    @property
    def summary(self) -> dict[str, Any]: ...
    @property
    def shape(self) -> tuple[int, int]: ...

def read_columns(text: bytes, ncols: int) -> list[list[float]]: ...
def add_background(
    simulation: Simulation, image: npt.NDArray[np.float32], tables: list[StolTable], molecules: list[float]
) -> None: ...
@final
class Outputs:
    """The outputs of one command, written all or nothing (nanobragg_core::io::Outputs)."""

    def __init__(self) -> None: ...
    def stage(self, target: str | PathLike[str]) -> Path: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...
    def __len__(self) -> int: ...

def temporary_name(name: str, tag: str) -> str: ...
def temporary_of(entry: str) -> str | None: ...
