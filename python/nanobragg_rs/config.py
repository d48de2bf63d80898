"""Configuration objects: plain data in the units users think in, the unit in each name.

A field left at ``None`` means "not given": nanoBragg's own rules then decide, exactly as
nanoBragg.c does for a flag that is absent. The same schema is used by the Rust core
(``Config.to_dict()`` is what it receives) and by ``config_from_args``, so the command line
and the Python API share one path.
"""

from __future__ import annotations

import sys

from . import _core
from ._records import field, field_names, field_types, record
from ._records import replace as _replace
from .structure_factors import StructureFactors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    import numpy as np

    from .panels.model import Panel

Vec3 = tuple[float, float, float]
if TYPE_CHECKING:
    Convention = Literal["mosflm", "xds", "adxv", "denzo", "dials", "custom"]
    Pivot = Literal["beam", "sample"]
    Shape = Literal["square", "round", "gauss", "tophat"]

#: Fields that carry data arrays rather than settings; they are not sent as configuration.
DATA_FIELDS = {"structure_factors", "mask", "panels"}

#: Integers the core takes are 64-bit.
_INT_RANGE = (-(2**63), 2**63 - 1)


class Strict:
    """Refuses attributes that are not fields, so that a misspelt setting is an error, not
    silently ignored (``cfg.detector.distance = 300`` raises, naming ``distance_mm``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        known = type(self).__record_types__  # type: ignore[attr-defined]
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; its fields: {', '.join(known)}"
            raise AttributeError(f"{type(self).__name__} has no field '{name}'{hint}")
        object.__setattr__(self, name, value)


def _is_integral(x: Any) -> bool:
    """An integer of another kind (numpy's, say): numbers.Integral, imported only then."""
    import numbers

    return isinstance(x, numbers.Integral)


def _check_integers(path: str, annotation: str, value: Any) -> None:
    """Integer fields hold integers that fit the core's 64 bits (named in the error)."""
    if value is None or "int" not in annotation or "float" in annotation or "bool" in annotation:
        return
    items = value if isinstance(value, (tuple, list)) else (value,)
    for x in items:
        if isinstance(x, bool) or not isinstance(x, int) and not _is_integral(x):
            raise _core.ConfigError(f"{path}: {value!r} is not an integer")
        if not _INT_RANGE[0] <= int(x) <= _INT_RANGE[1]:
            raise _core.ConfigError(f"{path}: {int(x)} is out of range")


@record
class Crystal(Strict):
    """The crystal: cell or orientation matrix, size, shape, structure factors, mosaicity."""

    #: a, b, c (Å), alpha, beta, gamma (degrees).
    cell: tuple[float, float, float, float, float, float] | None = None
    #: MOSFLM A matrix (wavelength-scaled reciprocal vectors), nine numbers in file order.
    mosflm_matrix: tuple[float, ...] | None = None
    #: Rotations about x, then y, then z (degrees) applied to the reciprocal vectors.
    misset_deg: Vec3 | None = None
    misset_random: bool = False
    misset_seed: int | None = None
    #: Unit cells along a, b, c.
    n_cells: tuple[int, int, int] = (1, 1, 1)
    #: Crystal size along x, y, z (mm); where given it sets the number of cells.
    size_mm: tuple[float | None, float | None, float | None] = (None, None, None)
    shape: Shape = "square"
    fudge: float = 1.0
    #: Amplitude of every reflection missing from ``structure_factors``.
    default_F: float = 0.0
    #: Tricubic interpolation of F; ``None`` chooses it when any N <= 2.
    interpolate: bool | None = None
    mosaic_spread_deg: float | None = None
    mosaic_domains: int | None = None
    mosaic_seed: int = 12345678
    #: Water around the crystal (µm), for a flat background.
    water_um: float = 0.0
    #: Structure factors (h k l F); ``None`` uses ``default_F`` everywhere.
    structure_factors: StructureFactors | None = None


@record
class Beam(Strict):
    """The incident beam: wavelength, fluence, spectrum, divergence, polarization."""

    wavelength_A: float = 1.0
    #: When given, sets the wavelength to 12398.42/E Å.
    energy_eV: float | None = None
    #: Photons per m²; the default makes r_e² x fluence = 1.
    fluence_ph_per_m2: float | None = None
    #: When nonzero, fluence = flux x exposure / beamsize².
    flux_ph_per_s: float = 0.0
    exposure_s: float = 1.0
    beamsize_mm: float = 0.1
    #: Full width of the spectrum, delta-lambda/lambda (percent).
    dispersion_pct: float = 0.0
    dispsteps: int | None = None
    hdivrange_mrad: float | None = None
    vdivrange_mrad: float | None = None
    hdivstep_mrad: float | None = None
    vdivstep_mrad: float | None = None
    hdivsteps: int | None = None
    vdivsteps: int | None = None
    round_div: bool = True
    #: Explicit sources: rows of X Y Z weight wavelength_m (trailing columns may be missing).
    sources: list[list[float]] | None = None
    #: Kahn polarization factor (0 = unpolarized).
    polarization: float = 0.0
    nopolar: bool = False
    #: Custom convention only.
    beam_vector: Vec3 | None = None
    polar_vector: Vec3 | None = None


@record
class Detector(Strict):
    """The detector: convention, distance, pixels, beam centre, orientation, sensor."""

    convention: Convention = "mosflm"
    #: Honoured in the custom convention; the others set their own pivot.
    pivot: Pivot = "beam"
    distance_mm: float = 100.0
    close_distance_mm: float | None = None
    pixel_size_mm: float = 0.1
    detpixels_f: int | None = None
    detpixels_s: int | None = None
    detsize_f_mm: float = 102.4
    detsize_s_mm: float = 102.4
    xbeam_mm: float | None = None
    ybeam_mm: float | None = None
    xclose_mm: float | None = None
    yclose_mm: float | None = None
    orgx_px: float | None = None
    orgy_px: float | None = None
    fdet_vector: Vec3 | None = None
    sdet_vector: Vec3 | None = None
    odet_vector: Vec3 | None = None
    twotheta_axis: Vec3 | None = None
    #: Origin of pixel (0, 0) in metres; honoured only with ``fix_quirks`` (notes Q16).
    pix0_vector_m: Vec3 | None = None
    twotheta_deg: float = 0.0
    rotx_deg: float = 0.0
    roty_deg: float = 0.0
    rotz_deg: float = 0.0
    curved: bool = False
    point_pixel: bool = False
    thickness_um: float = 0.0
    #: Attenuation depth (µm); ``inf`` or 0 mean no absorption model.
    attenuation_depth_um: float | None = None
    thicksteps: int | None = None
    #: fast min, fast max, slow min, slow max (inclusive pixel indices).
    roi: tuple[int, int, int, int] | None = None
    #: One value per pixel, shape (spixels, fpixels); 0 skips the pixel.
    mask: np.ndarray | None = None
    #: A multi-panel detector (``nanobragg_rs.panels.Panel``, frozen); when given, it is the
    #: whole detector and the single-detector geometry fields above are not used.
    panels: tuple[Panel, ...] | None = None


@record
class Sampling(Strict):
    """Sub-pixels, spindle rotation and the resolution cut."""

    #: Sub-pixels per pixel edge; ``None`` chooses from crystal size and geometry.
    oversample: int | None = None
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    phi_deg: float = 0.0
    osc_deg: float | None = None
    phistep_deg: float | None = None
    phisteps: int | None = None
    #: Custom convention only.
    spindle_axis: Vec3 | None = None
    dmin_A: float = 0.0


@record
class Config(Strict):
    """Everything that determines a rendered image."""

    crystal: Crystal = field(default_factory=Crystal)
    beam: Beam = field(default_factory=Beam)
    detector: Detector = field(default_factory=Detector)
    sampling: Sampling = field(default_factory=Sampling)
    #: Correct the reference's known defects instead of reproducing them (docs/quirks.md).
    fix_quirks: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (without structure factors and mask)."""
        out: dict[str, Any] = {}
        for section in field_names(self):
            value = getattr(self, section)
            if isinstance(value, Strict):
                out[section] = {}
                for name, annotation in field_types(value).items():
                    if name not in DATA_FIELDS:
                        item = getattr(value, name)
                        _check_integers(f"{section}.{name}", annotation, item)
                        out[section][name] = _plain(item)
            else:
                out[section] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from ``to_dict()`` output (unknown keys raise ``ConfigError``)."""
        sections = {"crystal": Crystal, "beam": Beam, "detector": Detector, "sampling": Sampling}
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            if name in sections:
                known = set(field_names(sections[name]))
                unknown = set(value) - known
                if unknown:
                    raise _core.ConfigError(f"{name}.{sorted(unknown)[0]}: unknown field")
                kwargs[name] = sections[name](**{k: _from_plain(v) for k, v in value.items()})
            elif name == "fix_quirks":
                kwargs[name] = bool(value)
            else:
                raise _core.ConfigError(f"{name}: unknown section")
        return cls(**kwargs)

    def to_json(self) -> str:
        """JSON text of ``to_dict()``."""
        import json  # here, not at the top: the command line never needs it

        return json.dumps(self.to_dict())

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first impossible or missing value."""
        _core.validate_config(self.to_dict())
        if self.crystal.structure_factors is None and self.crystal.default_F == 0.0:
            raise _core.ConfigError(
                "crystal.default_F: no structure factors: give an HKL table or a nonzero default_F"
            )

    def replace(self, **changes: Any) -> Config:
        """A copy with dotted fields changed, e.g. ``replace(**{"sampling.phi_deg": 3.0})``."""
        new = Config(
            crystal=_replace(self.crystal),
            beam=_replace(self.beam),
            detector=_replace(self.detector),
            sampling=_replace(self.sampling),
            fix_quirks=self.fix_quirks,
        )
        for dotted, value in changes.items():
            section, _, name = dotted.partition(".")
            if not name:
                setattr(new, section, value)
                continue
            target = getattr(new, section)
            if not hasattr(target, name):
                raise _core.ConfigError(f"{dotted}: unknown field")
            setattr(target, name, value)
        return new


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    # A numpy scalar can only exist once numpy is imported; a plain run never imports it.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return value.item()
    return value


def _from_plain(value: Any) -> Any:
    if isinstance(value, list) and value and not isinstance(value[0], list):
        return tuple(value)
    return value
