"""Every setting of the command line, declared once.

Each :class:`Setting` names its flag spellings, the values it takes (with units), its default,
a one-line doc, where it lands (a configuration field such as ``detector.distance_mm``, an
output setting ``output.floatfile``, a run setting ``run.hkl_file`` or a data-set option
``dataset.frames``), the SMV header key that also sets it, and which commands take it. The
parser (:mod:`.args`), the field-to-flag map used in error messages (:data:`FIELD_FLAGS`),
the SMV-header map (:data:`HEADER_FIELDS`), ``nanobragg -h`` and docs/flags.md are derived
from this list.

Adding a flag is one declaration in the right group below; for a plain value that is

    Setting("-gain", "ADU/photon", "detector gain", "1", to="detector.gain_adu", conv=v.number)

(a new configuration field also needs its dataclass field in config.py and its Rust twin).
Something a single target cannot say gets ``action=`` (a function of the parser state,
the flag and its value tokens); a whole new subcommand declares its own settings with
``commands=("name",)`` and parses with ``args.parse_args(tokens, command="name")``.
"""

from __future__ import annotations

import math
import os

from . import values as v
from ._records import record
from .errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterable
    from typing import Any

    from .args import State

    Conv = Callable[[str, str], Any]
    Action = Callable[["State", str, list[str]], None]

#: The commands that parse nanoBragg-style flags.
COMMANDS = ("nanobragg", "dataset", "hkl")
BOTH = ("nanobragg", "dataset")
#: The structure-factor flags, which ``nanobragg hkl`` shares.
SF = ("nanobragg", "dataset", "hkl")
SINGLE = ("nanobragg",)
DATASET = ("dataset",)


@record(frozen=True)
class Setting:
    """One setting: its flags, values and units, default, doc, and where it lands."""

    #: Flag spellings; the first is the one messages and docs use.
    flags: tuple[str, ...]
    #: The values it takes, with units (``mm``, ``x y z``, ``file``); empty for a switch.
    values: str
    #: One line: what it means.
    doc: str
    #: The default as shown to users; empty when there is none to show.
    default: str = ""
    #: Where the value lands: dotted paths, ``section.field`` or ``section.field[i]``.
    to: tuple[str, ...] = ()
    #: Converts one value token (given the flag as typed, for messages).
    conv: Conv | None = None
    #: Number of value tokens; -k means "up to k numbers" (at least one).
    arity: int = 1
    #: For a switch (arity 0): the value stored in ``to``.
    const: Any = True
    #: Constant assignments made with it: ((path, value), ...).
    also: tuple[tuple[str, Any], ...] = ()
    #: SMV header key that sets the same field when an ``-img`` or ``-mask`` is read.
    header: str | None = None
    #: Custom behaviour instead of the assignment to ``to``.
    action: Action | None = None
    #: How many of the following tokens are its values, when that depends on them.
    take: Callable[[list[str]], int] | None = None
    #: The commands that accept it.
    commands: tuple[str, ...] = BOTH
    #: Section heading in help and docs.
    group: str = ""
    #: Accepted but shown only in a footnote (compatibility flags without effect).
    hidden: bool = False

    @property
    def name(self) -> str:
        return self.flags[0]


def _s(flags: str, values: str, doc: str, default: str = "", to: str | tuple[str, ...] = (), **kw: Any) -> Setting:
    """A Setting from space-separated flag spellings and target paths."""
    targets = tuple(to.split()) if isinstance(to, str) else to
    if "arity" not in kw and not values:
        kw["arity"] = 0
    return Setting(tuple(flags.split()), values, doc, default, targets, **kw)


# --- value converters -------------------------------------------------------------------
def existing_file(flag: str, path: str) -> str:
    if not os.path.isfile(path):
        raise UsageError(f"{flag}: cannot read file '{path}'")
    return path


def text(flag: str, token: str) -> str:
    return token


def choice(*options: str) -> Conv:
    def conv(flag: str, token: str) -> str:
        if token not in options:
            if len(options) == 2:
                raise UsageError(f"{flag}: expected '{options[0]}' or '{options[1]}', not '{token}'")
            raise UsageError(f"{flag}: one of {', '.join(options)}, not '{token}'")
        return token

    return conv


def at_least(minimum: int) -> Conv:
    def conv(flag: str, token: str) -> int:
        return v.integer(flag, token, minimum)

    return conv


#: The most rendering threads a run may ask for.
MAX_THREADS = 1024


def thread_count(flag: str, token: str) -> int:
    n = v.integer(flag, token)
    if not 1 <= n <= MAX_THREADS:
        raise UsageError(f"{flag}: give 1 to {MAX_THREADS} threads, not {n}")
    return n


def non_negative(flag: str, token: str) -> float:
    x = v.number(flag, token)
    if not (math.isfinite(x) and x >= 0):
        raise UsageError(f"{flag}: '{token}' must be a finite number >= 0")
    return x


def _oversample(flag: str, token: str) -> int | None:
    n = v.integer(flag, token)
    return n if n > 0 else None


# --- actions that a single assignment cannot say ----------------------------------------
def _cell(st: State, flag: str, vals: list[str]) -> None:
    nums = [v.number(flag, t) for t in vals]
    a = nums[0]
    b = nums[1] if len(nums) > 1 else a
    c = nums[2] if len(nums) > 2 else a
    angles = [nums[i] if len(nums) > i else 90.0 for i in (3, 4, 5)]
    st.assign("crystal.cell", (a, b, c, angles[0], angles[1], angles[2]), flag)


def _misset(st: State, flag: str, vals: list[str]) -> None:
    if "rand" in vals[0]:
        st.assign("crystal.misset_random", True, flag)
        st.assign("crystal.misset_deg", None, flag)
        return
    if len(vals) != 3:
        raise UsageError(f"{flag}: needs three angles (degrees) or 'random'")
    st.assign("crystal.misset_random", False, flag)
    st.assign("crystal.misset_deg", tuple(v.number(flag, t) for t in vals), flag)


def _misset_tokens(tokens: list[str]) -> int:
    """-misset takes 'random' or three angles."""
    return 1 if tokens and "rand" in tokens[0] else min(3, len(tokens))


def _detector_abs(st: State, flag: str, vals: list[str]) -> None:
    if "inf" in vals[0] or v.number(flag, vals[0]) == 0.0:
        # The reference also zeroes the thickness here, so a later -detector_thick renders
        # nothing (notes Q31).
        st.assign("detector.thickness_um", 0.0, flag)
        st.assign("detector.attenuation_depth_um", math.inf, flag)
    else:
        st.assign("detector.attenuation_depth_um", v.number(flag, vals[0]), flag)


def _pix0(unit_mm: bool) -> Action:
    def action(st: State, flag: str, vals: list[str]) -> None:
        st.assign("detector.pix0_vector_m", tuple(v.number(flag, t) for t in vals), flag)
        st.assign("detector.convention", "custom", flag)
        st.pix0_in_mm = unit_mm

    return action


def _detector_file(st: State, flag: str, vals: list[str]) -> None:
    existing_file(flag, vals[0])  # read before the flags (panels.inputs)


def _trace_pixel_tokens(tokens: list[str]) -> int:
    """-trace_pixel F S, or -trace_pixel PANEL F S on a multi-panel detector."""
    if tokens and not v.is_number(tokens[0]):
        if len(tokens) < 3:
            raise UsageError("-trace_pixel: needs a panel name and two pixel indices")
        return 3
    return 2 if len(tokens) >= 2 else 0


def _trace_pixel(st: State, flag: str, vals: list[str]) -> None:
    if len(vals) == 3:
        st.run.trace_panel = vals[0]
        vals = vals[1:]
    st.run.trace_pixel = (v.integer(flag, vals[0]), v.integer(flag, vals[1]))


def _response_flag(st: State, flag: str, vals: list[str]) -> None:
    # Read by noisify's own parser (noisify.render_stage), which checks the values.
    st.run.response_args += [flag, *vals]


def _background(st: State, flag: str, vals: list[str]) -> None:
    from .background import Background

    try:
        bg = Background.parse(vals[0])
        bg.table()  # read now: a bad table is a usage error before anything is rendered
    except (ValueError, OSError) as e:
        raise UsageError(f"{flag}: {e}") from None
    st.run.backgrounds.append(bg)


def _ignored(check: Conv | None) -> Action:
    def action(st: State, flag: str, vals: list[str]) -> None:
        if check is not None:
            check(flag, vals[0])
        st.run.ignored.append(flag)

    return action


def _custom_vector(flag: str, doc: str, field: str, default: str) -> Setting:
    return _s(flag, "x y z", doc + " (custom convention)", default, field, conv=v.number, arity=3,
              also=(("detector.convention", "custom"),))


# --- the settings -----------------------------------------------------------------------
def _group(name: str, settings: list[Setting]) -> list[Setting]:
    # The settings were made just now and are not yet seen anywhere else: their group is set
    # in place rather than by making each again (a frozen record keeps its fields in __dict__).
    for s in settings:
        s.__dict__["group"] = name
    return settings


CRYSTAL = _group("Crystal", [
    _s("-cell", "a b c α β γ", "unit cell, Å and degrees (missing b, c = a; missing angles 90)",
       to="crystal.cell", arity=-6, action=_cell),
    _s("-mat -matrix", "file", "MOSFLM orientation matrix: the first nine numbers, λ-scaled reciprocal vectors",
       to="run.mat_file", conv=existing_file),
    _s("-misset", "rx ry rz | random", "rotations about x, y, z (degrees) of the reciprocal vectors, or a random orientation",
       to=("crystal.misset_deg", "crystal.misset_random"), arity=3, action=_misset, take=_misset_tokens),
    _s("-misset_seed", "n", "seed of -misset random", "the clock", "crystal.misset_seed", conv=v.seed),
    _s("-N", "n", "unit cells along a, b and c", "1", "crystal.n_cells[0] crystal.n_cells[1] crystal.n_cells[2]",
       conv=v.integer),
    _s("-Na", "n", "unit cells along a", "1", "crystal.n_cells[0]", conv=v.integer),
    _s("-Nb", "n", "unit cells along b", "1", "crystal.n_cells[1]", conv=v.integer),
    _s("-Nc", "n", "unit cells along c", "1", "crystal.n_cells[2]", conv=v.integer),
    _s("-xtalsize -xtal_size -samplesize -sample_size", "mm", "crystal size on all axes (sets N)", "",
       "crystal.size_mm[0] crystal.size_mm[1] crystal.size_mm[2]", conv=v.number),
    _s("-xtal_thick -xtal_x -sample_thick -sample_x", "mm", "crystal size along x", "", "crystal.size_mm[0]",
       conv=v.number),
    _s("-xtal_width -xtal_y -sample_width -sample_y -width", "mm", "crystal size along y", "", "crystal.size_mm[1]",
       conv=v.number),
    _s("-xtal_height -xtal_z -sample_height -sample_z -height", "mm", "crystal size along z", "",
       "crystal.size_mm[2]", conv=v.number),
    _s("-square_xtal", "", "parallelepiped crystal, sinc lattice transform", "on", "crystal.shape", const="square"),
    _s("-round_xtal", "", "ellipsoidal crystal", "", "crystal.shape", const="round"),
    _s("-gauss_xtal", "", "Gaussian spots: no inter-Bragg maxima", "", "crystal.shape", const="gauss"),
    _s("-tophat_spots -binary_spots", "", "lattice transform clipped at its FWHM", "", "crystal.shape",
       const="tophat"),
    _s("-fudge", "f", "spot-radius scale for round, gauss, tophat", "1", "crystal.fudge", conv=v.number),
    _s("-hkl", "file", "structure factors: an h k l F text table, an MTZ or an SF-mmCIF file (told apart by "
       "content; expanded to P1); writes the dump file", "", "run.hkl_file", conv=existing_file),
    _s("-mtz_column", "label", "the amplitude column of an MTZ/mmCIF file (F, or one of an F(+)/F(-) pair), "
       "or an intensity column to convert (F = √I); needed when the file has several", "", "run.mtz_column",
       conv=text, commands=SF),
    _s("-pdb", "file", "amplitudes computed from a model (PDB or mmCIF coordinates) to -dmin", "", "run.pdb_file",
       conv=existing_file),
    _s("-ksol", "e/Å³", "with -pdb: bulk-solvent level k of k exp(-B s²/4) F_mask", "none", "run.ksol",
       conv=non_negative, commands=SF),
    _s("-bsol", "Å²", "with -pdb: bulk-solvent B", "none", "run.bsol", conv=non_negative, commands=SF),
    _s("-anomalous", "", "with -pdb: f′ and f″ of every element at the beam's wavelength", "off", "run.anomalous",
       const=True, commands=SF),
    _s("-dump", "file", "the structure-factor cache, read when -hkl is absent", "Fdump.bin", "run.dump_file",
       conv=text),
    _s("-default_F", "F", "amplitude of every reflection not listed", "0", "crystal.default_F", conv=v.number),
    _s("-interpolate", "", "tricubic interpolation of F", "on if any N <= 2", "crystal.interpolate", const=True),
    _s("-nointerpolate", "", "no interpolation of F", "", "crystal.interpolate", const=False),
    _s("-mosaic -mosaicity -mosaic_spread", "degrees", "isotropic mosaic spread", "0",
       "crystal.mosaic_spread_deg", conv=v.number),
    _s("-mosaic_dom -mosaic_domains", "n", "mosaic domains", "10 with a spread", "crystal.mosaic_domains",
       conv=v.integer),
    _s("-mosaic_seed", "n", "seed of the mosaic domains", "12345678", "crystal.mosaic_seed", conv=v.seed),
    _s("-water", "µm", "water around the crystal, a flat background", "0", "crystal.water_um", conv=v.number),
])

ROTATION = _group("Rotation", [
    _s("-phi", "degrees", "spindle start", "0", "sampling.phi_deg", conv=v.number, header="PHI"),
    _s("-osc", "degrees", "rotation range", "0", "sampling.osc_deg", conv=v.number, header="OSC_RANGE"),
    _s("-phistep", "degrees", "step size", "", "sampling.phistep_deg", conv=v.number),
    _s("-phisteps", "n", "number of steps", "", "sampling.phisteps", conv=v.integer),
    _custom_vector("-spindle_axis", "spindle axis", "sampling.spindle_axis", "0 0 1 (mosflm)"),
])

BEAM = _group("Beam", [
    _s("-lambda -wave -wavelength", "Å", "wavelength", "1", "beam.wavelength_A", conv=v.number,
       also=(("beam.energy_eV", None),), header="WAVELENGTH", commands=SF),
    _s("-energy", "eV", "photon energy (sets the wavelength)", "", "beam.energy_eV", conv=v.number, commands=SF),
    _s("-fluence", "photons/m²", "integrated fluence", "1/r_e²", "beam.fluence_ph_per_m2", conv=v.number),
    _s("-flux", "photons/s", "with -exposure and -beamsize, sets the fluence", "0", "beam.flux_ph_per_s",
       conv=v.number),
    _s("-exposure", "s", "exposure time (with -flux)", "1", "beam.exposure_s", conv=v.number),
    _s("-beamsize", "mm", "square beam side (with -flux); also clips the crystal", "0.1", "beam.beamsize_mm",
       conv=v.number),
    _s("-dispersion", "%", "spectral width Δλ/λ", "0", "beam.dispersion_pct", conv=v.number),
    _s("-dispsteps", "n", "wavelengths in the spread", "", "beam.dispsteps", conv=v.integer),
    _s("-divergence", "mrad", "horizontal and vertical divergence range", "0",
       "beam.hdivrange_mrad beam.vdivrange_mrad", conv=v.number),
    _s("-hdivrange", "mrad", "horizontal divergence range", "0", "beam.hdivrange_mrad", conv=v.number),
    _s("-vdivrange", "mrad", "vertical divergence range", "0", "beam.vdivrange_mrad", conv=v.number),
    _s("-hdivstep", "mrad", "horizontal divergence step", "", "beam.hdivstep_mrad", conv=v.number),
    _s("-vdivstep", "mrad", "vertical divergence step", "", "beam.vdivstep_mrad", conv=v.number),
    _s("-divsteps", "n", "divergence steps on both axes", "", "beam.hdivsteps beam.vdivsteps", conv=v.integer),
    _s("-hdivsteps", "n", "horizontal divergence steps", "", "beam.hdivsteps", conv=v.integer),
    _s("-vdivsteps", "n", "vertical divergence steps", "", "beam.vdivsteps", conv=v.integer),
    _s("-round_div", "", "elliptical divergence grid", "on", "beam.round_div", const=True),
    _s("-square_div", "", "rectangular divergence grid", "", "beam.round_div", const=False),
    _s("-sourcefile", "file", "sources, one per line: X Y Z weight wavelength(m)", "", "run.source_file",
       conv=existing_file),
    _custom_vector("-beam_vector", "beam direction", "beam.beam_vector", "1 0 0 (mosflm)"),
    _custom_vector("-polar_vector", "E-vector of the polarization", "beam.polar_vector", "0 0 1 (mosflm)"),
    _s("-polar", "K", "Kahn polarization factor", "0 (unpolarized)", "beam.polarization", conv=v.number,
       also=(("beam.nopolar", False),)),
    _s("-nopolar", "", "no polarization factor", "", "beam.nopolar", const=True),
    _s("-dmin", "Å", "skip scattering beyond this resolution; with -pdb, the resolution of the computed "
       "amplitudes", "0: none", "sampling.dmin_A", conv=v.number, commands=SF),
])

_BEAM_PIVOT = (("detector.pivot", "beam"),)
_SAMPLE_PIVOT = (("detector.pivot", "sample"),)

DETECTOR = _group("Detector", [
    *(
        _s(f"-{name}", "", f"{name.upper() if name != 'dials' else 'DIALS'} beam-centre convention and axes",
           "on" if name == "mosflm" else "", "detector.convention", const=name,
           also=(("detector.pivot", pivot),))
        for name, pivot in (("mosflm", "beam"), ("xds", "sample"), ("adxv", "beam"), ("denzo", "beam"),
                            ("dials", "beam"))
    ),
    _custom_vector("-fdet_vector", "fast detector axis", "detector.fdet_vector", "0 0 1 (mosflm)"),
    _custom_vector("-sdet_vector", "slow detector axis", "detector.sdet_vector", "0 -1 0 (mosflm)"),
    _custom_vector("-odet_vector", "detector normal", "detector.odet_vector", "1 0 0 (mosflm)"),
    _custom_vector("-twotheta_axis", "twotheta axis", "detector.twotheta_axis", "0 0 -1 (mosflm)"),
    _s("-pix0_vector", "x y z (m)", "origin of pixel (0,0); switches to custom, used only with -fix_quirks", "",
       "detector.pix0_vector_m", arity=3, action=_pix0(False)),
    _s("-pix0_vector_mm", "x y z (mm)",
       "as -pix0_vector (read in metres, as nanoBragg.c does); with -fix_quirks in mm", "",
       "detector.pix0_vector_m", arity=3, action=_pix0(True)),
    _s("-distance", "mm", "sample to beam spot; pivot beam", "100", "detector.distance_mm", conv=v.number,
       also=_BEAM_PIVOT, header="DISTANCE"),
    _s("-close_distance", "mm", "sample to detector plane; pivot sample", "", "detector.close_distance_mm",
       conv=v.number, also=_SAMPLE_PIVOT, header="CLOSE_DISTANCE"),
    _s("-Xbeam", "mm", "beam centre in the convention's X; pivot beam", "centre", "detector.xbeam_mm",
       conv=v.number, also=_BEAM_PIVOT, header="BEAM_CENTER_X"),
    _s("-Ybeam", "mm", "beam centre in the convention's Y; pivot beam", "centre", "detector.ybeam_mm",
       conv=v.number, also=_BEAM_PIVOT, header="BEAM_CENTER_Y"),
    _s("-Xclose", "mm", "point of closest approach, X; pivot sample", "", "detector.xclose_mm", conv=v.number,
       also=_SAMPLE_PIVOT),
    _s("-Yclose", "mm", "point of closest approach, Y; pivot sample", "", "detector.yclose_mm", conv=v.number,
       also=_SAMPLE_PIVOT),
    _s("-ORGX", "pixels", "XDS origin, fast; pivot sample", "", "detector.orgx_px", conv=v.number,
       also=_SAMPLE_PIVOT, header="ORGX"),
    _s("-ORGY", "pixels", "XDS origin, slow; pivot sample", "", "detector.orgy_px", conv=v.number,
       also=_SAMPLE_PIVOT, header="ORGY"),
    _s("-pivot", "beam | sample", "rotation pivot (custom convention)", "beam", "detector.pivot",
       conv=choice("sample", "beam")),
    _s("-twotheta", "degrees", "detector swing about the twotheta axis; pivot sample", "0",
       "detector.twotheta_deg", conv=v.number, also=_SAMPLE_PIVOT),
    _s("-detector_rotx", "degrees", "detector rotation about x", "0", "detector.rotx_deg", conv=v.number),
    _s("-detector_roty", "degrees", "detector rotation about y", "0", "detector.roty_deg", conv=v.number),
    _s("-detector_rotz", "degrees", "detector rotation about z", "0", "detector.rotz_deg", conv=v.number),
    _s("-pixel", "mm", "pixel size", "0.1", "detector.pixel_size_mm", conv=v.number, header="PIXEL_SIZE"),
    _s("-detpixels", "n", "pixels on both axes", "1024", "detector.detpixels_f detector.detpixels_s",
       conv=v.integer),
    _s("-detpixels_f -detpixels_x", "n", "pixels on the fast axis", "1024", "detector.detpixels_f",
       conv=v.integer),
    _s("-detpixels_s -detpixels_y", "n", "pixels on the slow axis", "1024", "detector.detpixels_s",
       conv=v.integer),
    _s("-detsize", "mm", "detector size on both axes (pixel counts win)", "102.4",
       "detector.detsize_f_mm detector.detsize_s_mm", conv=v.number),
    _s("-detsize_f", "mm", "detector size, fast axis", "102.4", "detector.detsize_f_mm", conv=v.number),
    _s("-detsize_s", "mm", "detector size, slow axis", "102.4", "detector.detsize_s_mm", conv=v.number),
    _s("-curved_det", "", "every pixel at the same distance", "", "detector.curved", const=True),
    _s("-point_pixel", "", "solid angle 1/R²", "", "detector.point_pixel", const=True),
    _s("-detector_thick", "µm", "sensor thickness", "0", "detector.thickness_um", conv=v.number),
    _s("-detector_abs -detector_absorb", "µm | inf | 0", "attenuation depth (inf, 0: none, and no thickness)",
       "inf", "detector.attenuation_depth_um", action=_detector_abs),
    _s("-detector_thicksteps -thicksteps", "n", "sensor layers", "1", "detector.thicksteps", conv=v.integer),
    _s("-oversample", "n", "sub-pixels per pixel edge", "0: automatic", "sampling.oversample", conv=_oversample),
    _s("-oversample_thick", "", "sensor absorption per sub-pixel", "", "sampling.oversample_thick", const=True),
    _s("-oversample_polar", "", "polarization per sub-pixel", "", "sampling.oversample_polar", const=True),
    _s("-oversample_omega", "", "solid angle per sub-pixel", "", "sampling.oversample_omega", const=True),
    _s("-roi", "xmin xmax ymin ymax", "rendered window, inclusive pixel indices", "all", "detector.roi",
       conv=v.integer, arity=4),
    _s("-mask", "file", "SMV mask, 0 = skip pixel (its header is read too)", "", "run.mask_file",
       conv=existing_file),
    _s("-img", "file", "SMV image whose header sets the geometry", "", "run.img_file", conv=existing_file),
    _s("-panels", "file", "multi-panel detector, a JSON panel list", "", "detector.panels", action=_detector_file),
    _s("-expt", "file", "multi-panel detector, beam, spindle and crystal of a DIALS experiment list", "",
       "detector.panels", action=_detector_file),
    _s("-geom", "file", "multi-panel detector of a CrystFEL geometry file (bad regions masked, photon energy)",
       "", "detector.panels", action=_detector_file),
])

OUTPUT = _group("Output", [
    _s("-floatfile -floatimage", "file", "float image, 4-byte floats", "floatimage.bin", "output.floatfile",
       conv=text, commands=SINGLE),
    _s("-intfile -intimage", "file", "SMV integer image", "intimage.img", "output.intfile", conv=text,
       commands=SINGLE),
    _s("-pgmfile -pgmimage", "file", "8-bit preview", "image.pgm", "output.pgmfile", conv=text,
       also=(("output.write_pgm", True),), commands=SINGLE),
    _s("-noisefile -noiseimage", "file", "SMV Poisson-noise image", "noiseimage.img", "output.noisefile",
       conv=text, also=(("output.write_noise", True),), commands=SINGLE),
    _s("-h5file", "file", "NeXus NXmx HDF5 file; one module per panel", "none", "output.h5file", conv=text,
       commands=SINGLE),
    _s("-cxi", "file", "with -geom: HDF5 image laid out as the .geom places the panels", "", "output.cxi",
       conv=text, commands=SINGLE),
    _s("-nonoise", "", "no noise image", "", "output.write_noise", const=False),
    _s("-nopgm", "", "no PGM", "", "output.write_pgm", const=False),
    _s("-scale", "s", "integer-image scale", "55000/max_I", "output.scale", conv=v.number, commands=SINGLE),
    _s("-pgmscale", "s", "PGM scale", "250/(5·rmsd)", "output.pgmscale", conv=v.number,
       also=(("output.write_pgm", True),), commands=SINGLE),
    _s("-adc", "counts", "offset added to integer images", "40", "output.adc", conv=v.number),
    _s("-background", "MATERIAL:mm[:g/cm3[:g/mol]]", "amorphous background added in the render (repeatable)", "",
       "run.backgrounds", action=_background),
    _s("-seed", "n", "noise seed", "the clock", "output.seed", conv=v.seed),
    _s("-printout", "", "the reference's per-pixel printout, every pixel", "", "run.printout", const=True,
       commands=SINGLE),
    _s("-printout_pixel", "f s", "the printout for one pixel", "", "run.printout_pixel", conv=v.integer, arity=2,
       also=(("run.printout", True),), commands=SINGLE),
    _s("-trace_pixel", "[panel] f s", "every factor of one pixel's intensity; names the panel on a multi-panel "
       "detector", "", "run.trace_pixel", arity=2, action=_trace_pixel, take=_trace_pixel_tokens, commands=SINGLE),
    _s("-noprogress", "", "no progress bar", "", "run.progress", const=False),
    _s("-progress", "", "progress bar on stderr for renders over a second", "on", "run.progress", const=True),
    _s("-threads", "n", "rendering threads", "all cores, or RAYON_NUM_THREADS", "run.threads", conv=thread_count),
    _s("-fix_quirks", "", "the corrected mode: the reference's known defects fixed", "", "fix_quirks", const=True),
])

# The detector response in a render: noisify.c's flags, with noisify's meaning (nanobragg noisify -h).
RESPONSE = _group("Detector response", [
    _s(name, "value", "as nanobragg noisify's " + name, "", "run.response_args", action=_response_flag)
    for name in ("-psf", "-psf_fwhm", "-psf_radius", "-gain", "-readout", "-flicker", "-calibration", "-calib_seed",
                 "-bits")
])

# Accepted by nanoBragg.c but without effect on any output (notes Q26).
COMPATIBILITY = _group("Compatibility", [
    _s("-density", "g/cm³", "no effect", action=_ignored(v.number), hidden=True),
    _s("-MW", "g/mol", "no effect", action=_ignored(v.number), hidden=True),
    _s("-molecules", "n", "no effect", action=_ignored(v.number), hidden=True),
    _s("-coherent", "", "no effect", action=_ignored(None), hidden=True),
    _s("-stol", "file", "no effect", action=_ignored(existing_file), hidden=True),
    _s("-4stol", "file", "no effect", action=_ignored(existing_file), hidden=True),
    _s("-Q", "file", "no effect", action=_ignored(existing_file), hidden=True),
    _s("-stolout", "file", "no effect", action=_ignored(None), hidden=True),
])

DATASET_OPTIONS = _group("Data set", [
    _s("-frames", "N", "number of frames (required)", "", "dataset.frames", conv=at_least(1), commands=DATASET),
    _s("-out", "NAME", "dataset: prefix of every file, may include a folder; hkl: the P1 table written (required)",
       "", "dataset.out", conv=text, commands=("dataset", "hkl")),
    _s("-random_orientations", "SEED", "frames at orientations drawn uniformly from (SEED, i)",
       "a rotation series", "dataset.random_orientations", conv=v.integer, commands=DATASET),
    _s("-N_range", "MIN MAX", "random sets: cells per axis drawn per frame (integers)", "",
       "dataset.n_cells_range", conv=at_least(1), arity=2, commands=DATASET),
    _s("-mosaic_range", "MIN MAX", "random sets: mosaic spread drawn per frame (degrees)", "",
       "dataset.mosaic_range_deg", conv=v.finite, arity=2, commands=DATASET),
    _s("-lambda_range", "MIN MAX", "random sets: wavelength drawn per frame (Å)", "",
       "dataset.wavelength_range_A", conv=v.finite, arity=2, commands=DATASET),
    _s("-format", "nxmx|smv|cbf", "NAME_master.h5 + NAME_data_NNNNNN.h5, NAME_NNNNN.img or NAME_NNNNN.cbf",
       "nxmx", "dataset.format", conv=choice("nxmx", "smv", "cbf"), commands=DATASET),
    _s("-chunk", "K", "frames per task and per NXmx data file", "10", "dataset.chunk", conv=at_least(1),
       commands=DATASET),
    _s("-float_images", "", "nxmx: also store the noiseless float images", "", "dataset.float_images",
       const=True, commands=DATASET),
    _s("-labels", "csv|parquet", "format of the label table NAME_labels.*", "csv", "dataset.labels",
       conv=choice("csv", "parquet"), commands=DATASET),
    _s("-saturation", "COUNTS", "nxmx/cbf: counts are clipped here", "2147483647", "dataset.saturation",
       conv=at_least(1), commands=DATASET),
    _s("-engine", "local|dask", "local: this process; dask: a Dask cluster",
       "local, or dask with -scheduler or -workers", "dataset.engine", conv=choice("local", "dask"),
       commands=DATASET),
    _s("-scheduler", "ADDRESS", "use the Dask cluster at ADDRESS (e.g. tcp://host:8786)", "",
       "dataset.scheduler", conv=text, commands=DATASET),
    _s("-workers", "N", "dask without -scheduler: a LocalCluster of N workers", "one per core",
       "dataset.workers", conv=at_least(1), commands=DATASET),
    _s("-overwrite", "", "replace an existing data set of the same NAME", "", "dataset.overwrite", const=True,
       commands=DATASET),
])

#: Every setting, in the order help and docs show them.
SETTINGS: tuple[Setting, ...] = (
    *CRYSTAL, *ROTATION, *BEAM, *DETECTOR, *OUTPUT, *RESPONSE, *COMPATIBILITY, *DATASET_OPTIONS
)

#: Groups in display order.
GROUPS = ("Crystal", "Rotation", "Beam", "Detector", "Output", "Detector response", "Compatibility", "Data set")


def _index(settings: Iterable[Setting]) -> dict[str, Setting]:
    table: dict[str, Setting] = {}
    for s in settings:
        for flag in s.flags:
            if flag in table:
                raise ValueError(f"{flag} declared twice")
            table[flag] = s
    return table


#: Flag spelling -> its setting.
BY_FLAG: dict[str, Setting] = _index(SETTINGS)


def flags_of(command: str) -> frozenset[str]:
    """Every flag spelling ``command`` accepts."""
    return frozenset(f for f, s in BY_FLAG.items() if command in s.commands)


def _field(path: str) -> str:
    return path.split("[", 1)[0]


def _field_flags() -> dict[str, str]:
    out: dict[str, str] = {}
    for s in SETTINGS:
        for path in s.to:
            out.setdefault(_field(path), s.name)
    return out


#: Configuration (and run) field -> the flag that sets it, for messages about fields the
#: user did not set by a flag of their own.
FIELD_FLAGS: dict[str, str] = _field_flags()
#: Messages about the whole beam (divergence) name -divergence.
FIELD_FLAGS["beam"] = "-divergence"
#: Structure factors, sources and orientation matrices come from files.
FIELD_FLAGS.update({
    "crystal.mosflm_matrix": "-mat",
    "crystal.structure_factors": "-hkl",
    "beam.sources": "-sourcefile",
    "detector.mask": "-mask",
})

#: SMV header key -> (setting, target path), in declaration order.
HEADER_FIELDS: dict[str, tuple[Setting, str]] = {s.header: (s, s.to[0]) for s in SETTINGS if s.header}


# --- help and docs ----------------------------------------------------------------------
def _flag_names(s: Setting, fmt: Callable[[str], str]) -> str:
    return " / ".join(fmt(f) for f in s.flags)


def help_text(command: str) -> str:
    """The flag list of ``command``, grouped, with values, units and defaults."""
    lines: list[str] = []
    own = [g for g in GROUPS if all(command in s.commands and "nanobragg" not in s.commands
                                    for s in SETTINGS if s.group == g)]
    for group in own + [g for g in GROUPS if g not in own]:
        rows = [s for s in SETTINGS if s.group == group and command in s.commands and not s.hidden]
        if not rows:
            continue
        lines.append(f"{group}:")
        for s in rows:
            left = f"  {' '.join(s.flags[:3])}{' ...' if len(s.flags) > 3 else ''} {s.values}".rstrip()
            import textwrap

            doc = textwrap.wrap(s.doc + (f" (default: {s.default})" if s.default else ""), 100 - 36)
            if len(left) > 34:
                lines.append(left)
            else:
                lines.append(f"{left:<36}{doc.pop(0)}")
            lines.extend(" " * 36 + d for d in doc)
        lines.append("")
    hidden = [s.name for s in SETTINGS if s.hidden and command in s.commands]
    if hidden:
        lines.append("Accepted for compatibility, without effect: " + " ".join(hidden))
    return "\n".join(lines).rstrip()


def flags_markdown() -> str:
    """docs/flags.md, generated (``python docs/gen_flags.py``)."""
    out = [
        "# Command-line flags",
        "",
        "<!-- generated from python/nanobragg_rs/schema.py by docs/gen_flags.py; do not edit -->",
        "",
        "`nanobragg` takes nanoBragg.c's flags with the same meaning, units and defaults. Later flags",
        "override earlier ones. Aliases are listed after a slash. Differences from the reference's parser",
        "are in [parity.md](parity.md); the corrected mode in [quirks.md](quirks.md); the trace in",
        "[trace.md](trace.md). `nanobragg -h` prints the same list. The last column is where the value",
        "lands: a field of the Python `Config` (`detector.distance_mm` is `cfg.detector.distance_mm`), or",
        "of the command's own settings (`run.`, `output.`, `dataset.`).",
    ]
    for group in GROUPS:
        rows = [s for s in SETTINGS if s.group == group and not s.hidden]
        if not rows:
            continue
        out += ["", f"## {group}"]
        if group == "Data set":
            out += ["", "`nanobragg dataset` only ([datasets.md](datasets.md)); the flags above marked ✗ are "
                    "refused there, every other flag means what it means for a single image. "
                    "`nanobragg hkl IN -out P1.hkl` takes `-out` and the structure-factor flags "
                    f"({', '.join(f'`{f}`' for f in sorted(flags_of('hkl') - {'-out'}))})."]
        out += ["", "| flag | values | meaning | default | sets |", "|---|---|---|---|---|"]
        for s in rows:
            names = _flag_names(s, lambda f: f"`{f}`")
            if group != "Data set" and "dataset" not in s.commands:
                names += " ✗"
            vals = s.values.replace("|", "\\|")
            fields = ", ".join(f"`{_field(t)}`" for t in dict.fromkeys(_field(t) for t in s.to))
            out.append(f"| {names} | {vals} | {s.doc} | {s.default.replace('|', chr(92) + '|')} | {fields} |")
    hidden = [f"`{s.name}`" for s in SETTINGS if s.hidden]
    out += ["", f"Accepted for compatibility, without effect on any output: {', '.join(hidden)}.", ""]
    headers = ", ".join(f"`{k}` ({s.name})" for k, (s, _) in HEADER_FIELDS.items())
    out += [f"SMV header keys read from `-img` and `-mask` files (before the flags, which win): {headers}; "
            "the image's size sets the pixel counts.", ""]
    out += ["Environment: `NANOBRAGG_ISA=avx512|avx2|scalar|exact` forces an instruction-set path",
            "(default: the fastest this CPU supports; `exact` is the reference's own arithmetic).", ""]
    return "\n".join(out)
