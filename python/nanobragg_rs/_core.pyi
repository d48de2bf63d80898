"""Type stubs of the compiled core, ``nanobragg_rs._core`` (checked by mypy stubtest)."""

from collections.abc import Callable
from os import PathLike
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ConfigError",
    "HklTable",
    "InputFileError",
    "NanoBraggError",
    "ResourceError",
    "Simulation",
    "__version__",
    "default_config",
    "int_pixels",
    "noise_pixels",
    "panel_simulations",
    "pgm_pixels",
    "read_hkl",
    "supported_isas",
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
class Simulation:
    """A configuration resolved into everything a render needs."""

    def __new__(
        cls, config: dict[str, Any], hkl: HklTable | None = None, mask: npt.NDArray[np.uint16] | None = None
    ) -> Simulation: ...
    def render(
        self, threads: int | None = None, progress: Callable[[int], object] | None = None, isa: str | None = None
    ) -> tuple[npt.NDArray[np.float32], float, str]: ...
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
