"""Amorphous background: the diffuse scattering of water, air, ice … as a Python object.

>>> from nanobragg_rs import Background
>>> water = Background("water", thickness_mm=0.1)
>>> image = water.render(distance_mm=100, detpixels=256, pixel_mm=0.4, fluence_ph_per_m2=1e24)

The physics is nonBragg.c's (docs/nonbragg.md): F(sin θ/λ) from a table, squared, times the
polarization factor, the solid angle, r_e², the fluence and the number of molecules in the
illuminated sample (thickness × the beam's cross-section).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _core

if TYPE_CHECKING:
    from .simulate import Simulator

AVOGADRO = 6.02214179e23

#: Shipped materials: table file, density (g/cm³), molecular weight (g/mol); see
#: data/stol/README.md for where the numbers come from.
MATERIALS: dict[str, tuple[str, float, float]] = {
    "water": ("water.stol", 1.0, 18.0),
    "ice": ("ice.stol", 0.92, 18.0),
    "nanoice": ("nanoice.stol", 0.92, 18.0),
    "air": ("air.stol", 1.2e-3, 28.97),
}

TABLE_DIR = os.path.join(os.path.dirname(__file__), "data", "stol")


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a positive number, not {value!r}")


@dataclass(frozen=True, slots=True)
class Background:
    """An amorphous sample in the beam.

    ``material`` is a shipped table (``water``, ``air``, ``ice``, ``nanoice``) or the path of a
    two-column table file (abscissa, F in electrons per molecule); ``abscissa`` says what its
    first column is (``stol`` = sin θ/λ, ``4stol``, or ``q`` = 4π sin θ/λ, all in Å⁻¹).
    ``density_g_cm3`` and ``molecular_weight`` default to the shipped material's values (a table
    file needs both). The illuminated cross-section is ``width_mm`` × ``height_mm``, each at
    most the beam size (default: the beam size)."""

    material: str = "water"
    thickness_mm: float = 0.1
    density_g_cm3: float | None = None
    molecular_weight: float | None = None
    abscissa: Literal["stol", "4stol", "q"] = "stol"
    width_mm: float | None = None
    height_mm: float | None = None

    def __post_init__(self) -> None:
        if self.material not in MATERIALS:
            if not os.path.isfile(self.material):
                raise ValueError(f"material: '{self.material}' is neither a shipped material ({', '.join(MATERIALS)}) nor a table file")
            if self.density_g_cm3 is None or self.molecular_weight is None:
                raise ValueError("material: a table file needs density_g_cm3 and molecular_weight")
        if self.abscissa not in ("stol", "4stol", "q"):
            raise ValueError(f"abscissa: must be 'stol', '4stol' or 'q', not {self.abscissa!r}")
        for name in ("thickness_mm", "density_g_cm3", "molecular_weight", "width_mm", "height_mm"):
            _positive(name, getattr(self, name))

    @property
    def table_path(self) -> str:
        """The table file."""
        if self.material in MATERIALS:
            return os.path.join(TABLE_DIR, MATERIALS[self.material][0])
        return self.material

    def table(self, fix_quirks: bool = False) -> _core.StolTable:
        """The padded F(stol) table (read as nonBragg.c reads it, or corrected)."""
        with open(self.table_path, "rb") as f:
            return _core.StolTable(f.read(), self.abscissa, fix_quirks)

    def sample_settings(self, beamsize_mm: float) -> dict[str, float]:
        """The sample as the core's ``Sample`` (SI units)."""
        density, mw = self.density_g_cm3, self.molecular_weight
        if self.material in MATERIALS:
            _, d0, m0 = MATERIALS[self.material]
            density = d0 if density is None else density
            mw = m0 if mw is None else mw
        assert density is not None and mw is not None
        width = beamsize_mm if self.width_mm is None else self.width_mm
        height = beamsize_mm if self.height_mm is None else self.height_mm
        return {
            "thickness_m": self.thickness_mm / 1000,
            "y_m": width / 1000,
            "z_m": height / 1000,
            "density_g_per_m3": density * 1e6,
            "molecular_weight": mw,
            "molecules": 0.0,
        }

    def molecules(self, beamsize_mm: float) -> float:
        """Molecules in the illuminated volume, as nonBragg counts them (the cross-section
        clipped to the beam; beamsize < 0: not clipped)."""
        s = self.sample_settings(beamsize_mm)
        y, z = s["y_m"], s["z_m"]
        beam = beamsize_mm / 1000.0
        if beam >= 0:
            y, z = min(y, beam), min(z, beam)
        volume = s["thickness_m"] * y * z
        return volume * s["density_g_per_m3"] * AVOGADRO / s["molecular_weight"]

    @classmethod
    def parse(cls, spec: str) -> Background:
        """``MATERIAL:THICKNESS_MM[:DENSITY_G_CM3[:MOLECULAR_WEIGHT]]`` (the ``-background``
        flag's value); MATERIAL is a shipped name or a table file (sin θ/λ, F)."""
        parts = spec.rsplit(":", 3) if spec.count(":") else [spec]
        # A file name may itself hold colons: take the numbers from the right.
        nums: list[float] = []
        while len(parts) > 1:
            try:
                nums.insert(0, float(parts[-1]))
            except ValueError:
                break
            parts.pop()
        material = ":".join(parts)
        if not nums or len(nums) > 3:
            raise ValueError(f"'{spec}' is not MATERIAL:THICKNESS_MM[:DENSITY_G_CM3[:MOLECULAR_WEIGHT]]")
        density = nums[1] if len(nums) > 1 else None
        mw = nums[2] if len(nums) > 2 else None
        return cls(material, thickness_mm=nums[0], density_g_cm3=density, molecular_weight=mw)

    def render(
        self,
        *,
        distance_mm: float = 100.0,
        detpixels: int | tuple[int, int] = 1024,
        pixel_mm: float = 0.1,
        wavelength_A: float = 1.0,
        fluence_ph_per_m2: float = 125932015286227086360700780544.0,
        beamsize_mm: float = 0.1,
        xbeam_mm: float | None = None,
        ybeam_mm: float | None = None,
        polarization: float = 0.0,
        oversample: int = 1,
        fix_quirks: bool = False,
    ) -> np.ndarray:
        """The background image in photons per pixel, shape (slow, fast), on a flat detector
        with nonBragg's conventions (beam along x, fast axis z, slow axis −y; default beam centre
        as nonBragg puts it, or the detector's centre with ``fix_quirks``)."""
        fpix, spix = (detpixels, detpixels) if isinstance(detpixels, int) else detpixels
        settings: dict[str, Any] = {
            "fixed": fix_quirks,
            "sample": self.sample_settings(beamsize_mm),
            "distance_m": distance_mm / 1000.0,
            "fpixels": fpix,
            "spixels": spix,
            "pixel_m": pixel_mm / 1000.0,
            "lambda0_m": wavelength_A / 1e10,
            "fluence": fluence_ph_per_m2,
            "beamsize_m": beamsize_mm / 1000.0,
            "kahn": polarization,
            "oversample": oversample,
        }
        if xbeam_mm is not None:
            settings["xbeam_m"] = xbeam_mm / 1000.0
        if ybeam_mm is not None:
            settings["ybeam_m"] = ybeam_mm / 1000.0
        table = self.table(fix_quirks)
        nb = _core.NonBragg(settings, table, self.table_path)
        return nb.render().image()


def add_backgrounds(sim: Simulator, image: np.ndarray, backgrounds: Sequence[Background]) -> None:
    """Add ``backgrounds`` to ``image`` (rendered by ``sim``) in place: each material's
    scattering on the same detector, sub-pixels, sources, polarization and window, computed
    as nonBragg computes it, the molecules counted in the beam's cross-section."""
    cfg = sim.config
    beamsize = cfg.beam.beamsize_mm
    fixed = bool(getattr(cfg, "fix_quirks", False))
    tables = [b.table(fixed) for b in backgrounds]
    _core.add_background(sim._sim, image, tables, [b.molecules(beamsize) for b in backgrounds])
