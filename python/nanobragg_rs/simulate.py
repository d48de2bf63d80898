"""Rendering: the Simulator resolves a configuration once, then renders, adds noise, traces."""

from __future__ import annotations

from . import _core
from ._core import FileOutputs
from ._records import record
from .config import Config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    import numpy as np

    from .background import Background


@record(frozen=True)
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

    @classmethod
    def _from(cls, s: _core.ImageStats) -> Stats:
        return cls(s.max_i, s.max_i_x_m, s.max_i_y_m, s.mean, s.rms, s.rmsd, s.count, s.solid_angle_sr)


@record(frozen=True)
class Written:
    """What writing a run's files found: the statistics and the scales the reference prints."""

    stats: Stats
    #: Integer-image scale used (the automatic 55000/max_I unless one was given).
    int_scale: float
    #: PGM scale used, or None when no PGM was written.
    pgm_scale: float | None
    #: Photons on the noise image and pixels over 65535, or None and 0 without one.
    noise_total: float | None
    overloads: int

    @classmethod
    def _from(cls, w: _core.WrittenFiles) -> Written:
        return cls(Stats._from(w.stats), w.int_scale, w.pgm_scale, w.noise_total, w.overloads)


@record(frozen=True)
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
        plain = config.to_dict()
        mask = config.detector.mask
        flat_mask = None
        if mask is not None:
            import numpy as np

            mask = np.asarray(mask)
            if mask.ndim != 2:
                raise _core.ConfigError(f"detector.mask: a mask has the image's shape (slow, fast), not {mask.shape}")
            flat_mask = np.ascontiguousarray(mask.reshape(-1) != 0, dtype=np.uint16)
        try:
            self._sim = _core.Simulation(plain, table, flat_mask)
        except _core.NanoBraggError:
            if mask is None:
                raise
            # The core refuses a mask of the wrong size; say which shape it needs.
            _mask_fits(mask, _core.Simulation(plain, table, None).shape)
            raise
        if mask is not None:
            _mask_fits(mask, self._sim.shape)
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
    def setup(self) -> _core.Setup:
        """Everything derived from the configuration, one typed, frozen part per stage:
        ``beam``, ``crystal``, ``detector`` (its ``panels``), ``sampling``, and the SMV
        ``header``."""
        return self._sim.setup

    @property
    def panel(self) -> _core.Panel:
        """The detector's panel (a detector today has one): geometry and rendered window."""
        return self._sim.setup.detector.panels[0]

    def render(
        self,
        threads: int | None = None,
        progress: Callable[[int], object] | None = None,
        isa: str | None = None,
        backgrounds: Sequence[Background] = (),
    ) -> np.ndarray:
        """The float image in photons per pixel, shape (spixels, fpixels), float32.

        ``backgrounds`` (:class:`Background`, e.g. water and air) add amorphous scattering
        with the same geometry, sources, polarization, oversampling and window
        (docs/nonbragg.md, "Backgrounds in a render").

        ``threads`` sets the number of threads (default: every core, or RAYON_NUM_THREADS);
        the image is the same bit for bit whatever the number. ``isa`` forces an
        instruction-set path: "avx512", "avx2", "scalar" (any CPU), or "exact" (the
        reference's own arithmetic, bit-identical to nanoBragg.c); by default the fastest this
        CPU supports (or the one NANOBRAGG_ISA names). ``progress(rows_done)`` is called about
        every 50 ms. Ctrl-C stops the render with KeyboardInterrupt.
        """
        image, self._omega_sum, self.isa = self._sim.render(threads, progress, isa)
        if backgrounds:
            from .background import add_backgrounds

            add_backgrounds(self, image, backgrounds)
        return image

    def render_to_files(
        self,
        files: FileOutputs,
        *,
        threads: int | None = None,
        progress: Callable[[int], object] | None = None,
        isa: str | None = None,
    ) -> Written:
        """Render and write nanoBragg's files straight from the image, which stays in the
        compiled core (no numpy is needed): the raw float image, the SMV integer image, the
        PGM preview and the SMV noise image that ``files`` names, all or nothing (inside
        :func:`nanobragg_rs.io.atomic.outputs`, staged in that block's set)."""
        from .io.atomic import active

        d, self._omega_sum, self.isa = self._sim.render_to_files(files, threads, progress, isa, active())
        return Written._from(d)

    def write_files(self, image: np.ndarray, files: FileOutputs) -> Written:
        """The files of ``render_to_files`` for an image this simulator rendered."""
        import numpy as np

        omega = self._omega_sum if self._omega_sum is not None else float("nan")
        from .io.atomic import active

        return Written._from(self._sim.write_files(np.ascontiguousarray(image, dtype=np.float32), omega, files, active()))

    def stats(self, image: np.ndarray) -> Stats:
        """Statistics of ``image`` as nanoBragg prints them (needs a render first for the
        solid angle)."""
        import numpy as np

        omega = self._omega_sum if self._omega_sum is not None else float("nan")
        return Stats._from(self._sim.stats(np.ascontiguousarray(image, dtype=np.float32), omega))

    def max_pixel(self, image: np.ndarray) -> tuple[float, float, float]:
        """max_I and the detector position (m, fast and slow) of its pixel, as nanoBragg finds
        them; faster than ``stats`` (which it is part of)."""
        import numpy as np

        return self._sim.max_pixel(np.ascontiguousarray(image, dtype=np.float32))

    def noise(self, image: np.ndarray, seed: int) -> Noise:
        """Poisson noise for ``image`` drawn as nanoBragg draws it with ``-seed seed``."""
        import numpy as np

        photons, total = self._sim.noise(np.ascontiguousarray(image, dtype=np.float32), seed)
        return Noise(photons, total)

    def trace(self, fpixel: int, spixel: int, isa: str | None = None) -> tuple[float, list[str]]:
        """Value of one pixel and the TRACE lines of its intensity chain (docs/trace.md),
        computed on the same instruction-set path (and so the same bits) as ``render``."""
        return self._sim.trace(fpixel, spixel, isa)


def _mask_fits(mask: np.ndarray, shape: tuple[int, int]) -> None:
    if mask.shape != shape:
        raise _core.ConfigError(
            f"detector.mask: shape {mask.shape[0]} x {mask.shape[1]} is not the detector's "
            f"(slow, fast) = {shape[0]} x {shape[1]}"
        )


def render(config: Config, *, threads: int | None = None) -> np.ndarray:
    """Render ``config``: the float image in photons per pixel, shape (spixels, fpixels)."""
    return Simulator(config).render(threads=threads)
