"""Rendering: the Simulator resolves a configuration once, then renders, adds noise, traces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .config import Config


@dataclass(frozen=True)
class Stats:
    """The statistics nanoBragg prints after rendering."""

    max_I: float
    #: Detector position (m, fast and slow) of the brightest pixel's last sub-pixel.
    max_I_x: float
    max_I_y: float
    mean: float
    rms: float
    rmsd: float
    count: int
    solid_angle_sr: float


@dataclass(frozen=True)
class Noise:
    """A Poisson noise image in photons (before any ADC offset) and its total."""

    photons: np.ndarray
    total: float


class Simulator:
    """A configuration resolved into geometry, lattice, sources and steps, ready to render.

    >>> from nanobragg_rs import Config, Simulator
    >>> cfg = Config()
    >>> cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    >>> cfg.crystal.default_F = 100
    >>> cfg.detector.detpixels_f = cfg.detector.detpixels_s = 32
    >>> image = Simulator(cfg).render()
    >>> image.shape
    (32, 32)
    """

    def __init__(self, config: Config) -> None:
        if config.detector.panels is not None:
            raise _core.ConfigError("detector.panels: a multi-panel detector renders with nanobragg_rs.panels.MultiSimulator")
        self.config = config
        sf = config.crystal.structure_factors
        table = sf.table(config.crystal.default_F) if sf is not None else None
        mask = config.detector.mask
        flat_mask = None
        if mask is not None:
            flat_mask = np.ascontiguousarray(np.asarray(mask).reshape(-1) != 0, dtype=np.uint16)
        self._sim = _core.Simulation(config.to_dict(), table, flat_mask)
        self._omega_sum: float | None = None
        #: The instruction-set path of the last render.
        self.isa: str | None = None

    @classmethod
    def _from_core(cls, sim: _core.Simulation, config: Config) -> Simulator:
        """Wrap an already resolved core simulation (one panel of a multi-panel detector)."""
        self = cls.__new__(cls)
        self.config = config
        self._sim = sim
        self._omega_sum = None
        self.isa = None
        return self

    @property
    def shape(self) -> tuple[int, int]:
        """(spixels, fpixels)."""
        return self._sim.shape

    @property
    def summary(self) -> dict[str, Any]:
        """Every derived quantity: geometry, lattice, sources, steps, header values."""
        return self._sim.summary

    def render(
        self,
        threads: int | None = None,
        progress: Callable[[int], object] | None = None,
        isa: str | None = None,
    ) -> np.ndarray:
        """The float image in photons per pixel, shape (spixels, fpixels), float32.

        ``threads`` sets the number of threads (default: every core, or RAYON_NUM_THREADS);
        the image is the same bit for bit whatever the number. ``isa`` forces an
        instruction-set path: "avx512", "avx2", "scalar" (any CPU), or "exact" (the
        reference's own arithmetic, bit-identical to nanoBragg.c); by default the fastest this
        CPU supports (or the one NANOBRAGG_ISA names). ``progress(rows_done)`` is called about
        every 50 ms. Ctrl-C stops the render with KeyboardInterrupt.
        """
        image, self._omega_sum, self.isa = self._sim.render(threads, progress, isa)
        return image

    def stats(self, image: np.ndarray) -> Stats:
        """Statistics of ``image`` as nanoBragg prints them (needs a render first for the
        solid angle)."""
        omega = self._omega_sum if self._omega_sum is not None else float("nan")
        return Stats(**self._sim.stats(np.ascontiguousarray(image, dtype=np.float32), omega))

    def max_pixel(self, image: np.ndarray) -> tuple[float, float, float]:
        """max_I and the detector position (m, fast and slow) of its pixel, as nanoBragg finds
        them; faster than ``stats`` (which it is part of)."""
        return self._sim.max_pixel(np.ascontiguousarray(image, dtype=np.float32))

    def noise(self, image: np.ndarray, seed: int) -> Noise:
        """Poisson noise for ``image`` drawn as nanoBragg draws it with ``-seed seed``."""
        photons, total = self._sim.noise(np.ascontiguousarray(image, dtype=np.float32), seed)
        return Noise(photons, total)

    def trace(self, fpixel: int, spixel: int, isa: str | None = None) -> tuple[float, list[str]]:
        """Value of one pixel and the TRACE lines of its intensity chain (docs/trace.md),
        computed on the same instruction-set path (and so the same bits) as ``render``."""
        return self._sim.trace(fpixel, spixel, isa)


def render(config: Config, *, threads: int | None = None) -> np.ndarray:
    """Render ``config``: the float image in photons per pixel, shape (spixels, fpixels)."""
    return Simulator(config).render(threads=threads)
