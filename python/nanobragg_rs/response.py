"""The detector response: photons to recorded counts, as noisify.c computes them.

>>> from nanobragg_rs import Response
>>> r = Response(psf="fiber", psf_fwhm_um=46, gain=1, readout_adu=3)
>>> counts = r.apply(image, seed=12345)      # uint16 (or uint32 with bits=32)

The same seeds give the same pixels as ``noisify`` (upstream noisify.c): one random-number
generator shared by the noise and calibration seeds, the PSF's edge behaviour and truncation,
x86's wrap of negative values. ``fix_quirks=True`` corrects these (docs/noisify.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from . import _core

#: noisify.c's default fluence (ph/m²): fluence·r_e² is exactly 1.
DEFAULT_FLUENCE = 125932015286227086360700780544.0
#: noisify.c's default calibration-seed state (stored positive: its first draw starts as 1).
DEFAULT_CALIB_STATE = 123456789

PsfName = Literal["gauss", "fiber"]


def seed_state(seed: int) -> int:
    """The generator state the reference stores for ``-seed n``: −n, negated as a C ``int``."""
    if not -(2**31) <= seed < 2**31:
        raise ValueError(f"seed {seed} is outside the 32-bit integer range")
    return -seed if seed != -(2**31) else seed


@dataclass(frozen=True)
class PsfPass:
    """What one PSF pass reported."""

    max_input: float | None
    auto_radius: int | None
    no_photons: bool
    lost_photons: float
    kernel_radius: int


@dataclass(frozen=True)
class ResponseResult:
    """One run: ideal (noiseless) counts, the 8-bit preview, and with noise the noisy counts
    and the numbers noisify prints."""

    max_input: float
    max_photons: float
    ideal: npt.NDArray[np.uint16] | npt.NDArray[np.uint32]
    pgm: npt.NDArray[np.uint8]
    ideal_psf: PsfPass | None
    noise: npt.NDArray[np.uint16] | npt.NDArray[np.uint32] | None
    photons_before_psf: float
    photons: float
    overloads: int
    noise_psf: PsfPass | None


def _pass(p: _core.PsfPass | None) -> PsfPass | None:
    if p is None:
        return None
    return PsfPass(p.max_input, p.auto_radius, p.no_photons, p.lost_photons, p.kernel_radius)


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Response.{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"Response.{name} must be finite, not {value}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Response:
    """A detector response (noisify.c's settings; units in the names)."""

    #: Point-spread function: "gauss", "fiber" or None.
    psf: PsfName | None = None
    #: PSF full width at half maximum (µm); the reference keeps it in single precision.
    psf_fwhm_um: float = 46.0
    #: PSF rendering radius (pixels); 0 chooses it from the image.
    psf_radius_px: int = 0
    #: Pixel size (mm): sets the PSF width in pixels.
    pixel_size_mm: float = 0.1
    #: ADU per photon.
    gain: float = 1.0
    #: Offset added to every pixel (ADU).
    adc_offset_adu: float = 40.0
    #: Gaussian read-out noise (ADU rms).
    readout_adu: float = 0.0
    #: Fractional per-pixel source (flicker) noise.
    flicker: float = 0.0
    #: Fractional per-pixel calibration (gain) error.
    calibration: float = 0.03
    #: Calibration seed; None is the reference's default.
    calib_seed: int | None = None
    #: Factor applied to the input before anything else.
    scale: float = 1.0
    #: Fluence (ph/m²); photons = fluence·r_e²·scale·value.
    fluence_ph_per_m2: float = DEFAULT_FLUENCE
    #: 16 or 32-bit counts (noisify.c also accepts other values and writes no pixels).
    bits: int = 16
    #: Draw noise; without it only the ideal image is made (and the PSF blurs it).
    noise: bool = True
    #: Correct the reference's quirks instead of reproducing them.
    fix_quirks: bool = False

    def __post_init__(self) -> None:
        if self.psf not in (None, "gauss", "fiber"):
            raise ValueError(f"Response.psf must be 'gauss', 'fiber' or None, not {self.psf!r}")
        for name in ("psf_fwhm_um", "pixel_size_mm", "gain", "adc_offset_adu", "readout_adu", "flicker",
                     "calibration", "scale", "fluence_ph_per_m2"):
            _finite(name, getattr(self, name))
        for name in ("psf_radius_px", "bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not -(2**31) <= v < 2**31:
                raise ValueError(f"Response.{name} must be a 32-bit integer, not {v!r}")
        if self.calib_seed is not None:
            seed_state(self.calib_seed)
        if self.fix_quirks:
            if self.bits not in (16, 32):
                raise ValueError(f"Response.bits must be 16 or 32, not {self.bits}")
            if self.psf is not None and (self.psf_radius_px < 0 or self.psf_fwhm_um <= 0 or self.pixel_size_mm <= 0):
                raise ValueError("Response: a PSF needs psf_fwhm_um > 0, pixel_size_mm > 0 and psf_radius_px >= 0")

    @property
    def psf_fwhm_m(self) -> float:
        """The FWHM as the reference stores it (single precision), or exactly when fixed."""
        fwhm = self.psf_fwhm_um / 1e6
        return fwhm if self.fix_quirks else float(np.float32(fwhm))

    @property
    def psf_fwhm_px(self) -> float:
        """The PSF's FWHM in pixels."""
        return self.psf_fwhm_m / (self.pixel_size_mm / 1000.0)

    @property
    def applies_psf(self) -> bool:
        """Whether a PSF pass runs (the reference skips it when the FWHM is not positive)."""
        return self.psf is not None and self.psf_fwhm_m > 0.0

    def run(self, image: npt.ArrayLike, seed: int, threads: int | None = None) -> ResponseResult:
        """The whole response for ``image`` (slow, fast), photons per pixel before scale and
        fluence, with noise seed ``seed`` (noisify's ``-seed``)."""
        values = np.ascontiguousarray(image, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"image must be 2-D (slow, fast), not {values.ndim}-D")
        calib = DEFAULT_CALIB_STATE if self.calib_seed is None else seed_state(self.calib_seed)
        out = _core.respond(
            values,
            seed_state=seed_state(seed),
            calib_state=calib,
            fluence=self.fluence_ph_per_m2,
            scale=self.scale,
            psf=self.psf if self.applies_psf else None,
            psf_fwhm_px=self.psf_fwhm_px,
            psf_radius_px=self.psf_radius_px,
            gain=self.gain,
            adc=self.adc_offset_adu,
            readout=self.readout_adu if self.noise else 0.0,
            flicker=self.flicker if self.noise else 0.0,
            calibration=self.calibration if self.noise else 0.0,
            noise=self.noise,
            bits=self.bits,
            fix_quirks=self.fix_quirks,
            threads=threads,
        )
        wide = self.bits == 32
        return ResponseResult(
            max_input=out.max_input,
            max_photons=out.max_photons,
            ideal=out.ideal32 if wide else out.ideal16,
            pgm=out.pgm,
            ideal_psf=_pass(out.ideal_psf),
            noise=(out.noise32 if wide else out.noise16) if self.noise else None,
            photons_before_psf=out.photons_before_psf,
            photons=out.photons,
            overloads=out.overloads,
            noise_psf=_pass(out.noise_psf),
        )

    def apply(self, image: npt.ArrayLike, seed: int) -> npt.NDArray[np.uint16] | npt.NDArray[np.uint32]:
        """The recorded counts for ``image``: the noise image, or the ideal one without noise."""
        result = self.run(image, seed)
        return result.noise if result.noise is not None else result.ideal
