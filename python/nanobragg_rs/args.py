"""nanoBragg command lines translated into a :class:`Config` and output settings.

Flags mean what they mean to nanoBragg.c (same units and defaults; later flags override
earlier ones). Unlike the reference, flags are matched exactly (with its documented aliases),
values are consumed by the flag that takes them, and an unknown flag, a missing or non-numeric
value, or an impossible value is an error naming the flag. See docs/parity.md for where this
differs from the reference's substring matching.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .io.smv import header_value, read_smv


class UsageError(Exception):
    """A command line that cannot be run; the message names the flag."""


@dataclass
class Output:
    """What to write, and how the integer images are scaled."""

    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    h5file: str | None = None
    #: CXI (HDF5) image laid out as the -geom file places its panels.
    cxi: str | None = None
    write_pgm: bool = True
    write_noise: bool = True
    #: Integer-image scale; 0 chooses 55000/max_I.
    scale: float = 0.0
    #: PGM scale; 0 chooses 250/(5·rmsd).
    pgmscale: float = 0.0
    adc: float = 40.0
    #: Noise seed; ``None`` takes the clock, as the reference does.
    seed: int | None = None


@dataclass
class Run:
    """A parsed command line: the configuration, outputs, and the files it names."""

    config: Config = field(default_factory=Config)
    output: Output = field(default_factory=Output)
    hkl_file: str | None = None
    dump_file: str = "Fdump.bin"
    #: Reading structure factors from MTZ/mmCIF files and models (nanobragg_rs.reflections).
    mtz_column: str | None = None
    pdb_file: str | None = None
    ksol: float | None = None
    bsol: float | None = None
    anomalous: bool = False
    mat_file: str | None = None
    source_file: str | None = None
    mask_file: str | None = None
    img_file: str | None = None
    printout: bool = False
    printout_pixel: tuple[int, int] | None = None
    trace_pixel: tuple[int, int] | None = None
    #: Panel of -trace_pixel on a multi-panel detector.
    trace_panel: str | None = None
    #: The CrystFEL geometry read by -geom (for -cxi).
    geom: Any = None
    #: The detector file's flag and path (-panels, -expt or -geom), for messages.
    detector_file: tuple[str, str] | None = None
    progress: bool = True
    threads: int | None = None
    #: The flag the user typed that set each configuration field ("beam.hdivsteps": "-divsteps"),
    #: so that an error on a field names that flag.
    set_by: dict[str, str] = field(default_factory=dict)
    #: Flags accepted for compatibility that change nothing in the image.
    ignored: list[str] = field(default_factory=list)


def _number(flag: str, token: str) -> float:
    try:
        x = float(token)
    except ValueError:
        raise UsageError(f"{flag}: '{token}' is not a number") from None
    if math.isnan(x):
        raise UsageError(f"{flag}: '{token}' is not a number")
    return x


def _integer(flag: str, token: str) -> int:
    x = _number(flag, token)
    if not math.isfinite(x) or x != int(x):
        raise UsageError(f"{flag}: '{token}' is not an integer")
    return int(x)


def _existing(flag: str, path: str) -> str:
    if not os.path.isfile(path):
        raise UsageError(f"{flag}: cannot read file '{path}'")
    return path


class _State:
    """Order-dependent choices, resolved when the whole line has been read."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.convention = "mosflm"
        self.pivot = "beam"
        self.vectors: dict[str, tuple[float, float, float]] = {}
        self.pix0: tuple[float, float, float] | None = None


Handler = Callable[[_State, str, list[str]], None]
_FLAGS: dict[str, tuple[int, Handler]] = {}


def _flag(names: str, arity: int = 1) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names.split():
            _FLAGS[name] = (arity, fn)
        return fn

    return register


def _setter(names: str, section: str, attrs: str, conv: Callable[[str, str], Any], arity: int = 1) -> None:
    """Register flags (space-separated aliases) that set each of ``attrs`` to the converted value."""

    def handler(st: _State, flag: str, vals: list[str]) -> None:
        value = conv(flag, vals[0]) if arity == 1 else tuple(conv(flag, v) for v in vals)
        target = getattr(st.run.config, section)
        for attr in attrs.split():
            setattr(target, attr, value)
            st.run.set_by[f"{section}.{attr}"] = flag

    for name in names.split():
        _FLAGS[name] = (arity, handler)


# --- crystal ---------------------------------------------------------------------------
@_flag("-cell", -6)
def _cell(st: _State, flag: str, vals: list[str]) -> None:
    nums = [_number(flag, v) for v in vals]
    a = nums[0]
    b = nums[1] if len(nums) > 1 else a
    c = nums[2] if len(nums) > 2 else a
    angles = [nums[i] if len(nums) > i else 90.0 for i in (3, 4, 5)]
    st.run.config.crystal.cell = (a, b, c, angles[0], angles[1], angles[2])


@_flag("-mat -matrix")
def _mat(st: _State, flag: str, vals: list[str]) -> None:
    st.run.mat_file = _existing(flag, vals[0])


@_flag("-misset", -3)
def _misset(st: _State, flag: str, vals: list[str]) -> None:
    cr = st.run.config.crystal
    if "rand" in vals[0]:
        cr.misset_random = True
        cr.misset_deg = None
        return
    if len(vals) != 3:
        raise UsageError(f"{flag}: needs three angles (degrees) or 'random'")
    cr.misset_random = False
    cr.misset_deg = (_number(flag, vals[0]), _number(flag, vals[1]), _number(flag, vals[2]))


_setter("-misset_seed", "crystal", "misset_seed", _integer)
_setter("-mosaic_seed", "crystal", "mosaic_seed", _integer)


@_flag("-N")
def _n(st: _State, flag: str, vals: list[str]) -> None:
    n = _integer(flag, vals[0])
    st.run.config.crystal.n_cells = (n, n, n)


def _n_axis(axis: int) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        n = list(st.run.config.crystal.n_cells)
        n[axis] = _integer(flag, vals[0])
        st.run.config.crystal.n_cells = (n[0], n[1], n[2])

    return handler


for _i, _name in enumerate(("-Na", "-Nb", "-Nc")):
    _FLAGS[_name] = (1, _n_axis(_i))


def _size_axes(axes: tuple[int, ...]) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        mm = _number(flag, vals[0])
        size = list(st.run.config.crystal.size_mm)
        for a in axes:
            size[a] = mm
        st.run.config.crystal.size_mm = (size[0], size[1], size[2])

    return handler


for _names, _axes in (
    ("-xtalsize -xtal_size -samplesize -sample_size", (0, 1, 2)),
    ("-xtal_thick -xtal_x -sample_thick -sample_x", (0,)),
    ("-xtal_width -xtal_y -sample_width -sample_y -width", (1,)),
    ("-xtal_height -xtal_z -sample_height -sample_z -height", (2,)),
):
    for _name in _names.split():
        _FLAGS[_name] = (1, _size_axes(_axes))

_setter("-default_F", "crystal", "default_F", _number)
_setter("-fudge", "crystal", "fudge", _number)
_setter("-mosaic -mosaicity -mosaic_spread", "crystal", "mosaic_spread_deg", _number)
_setter("-mosaic_dom -mosaic_domains", "crystal", "mosaic_domains", _integer)
_setter("-water", "crystal", "water_um", _number)


def _const(section: str, attr: str, value: Any) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        setattr(getattr(st.run.config, section), attr, value)

    return handler


for _name, _shape in (
    ("-round_xtal", "round"),
    ("-square_xtal", "square"),
    ("-gauss_xtal", "gauss"),
    ("-tophat_spots", "tophat"),
    ("-binary_spots", "tophat"),
):
    _FLAGS[_name] = (0, _const("crystal", "shape", _shape))
_FLAGS["-interpolate"] = (0, _const("crystal", "interpolate", True))
_FLAGS["-nointerpolate"] = (0, _const("crystal", "interpolate", False))


@_flag("-hkl")
def _hkl(st: _State, flag: str, vals: list[str]) -> None:
    st.run.hkl_file = _existing(flag, vals[0])
    st.run.set_by["crystal.structure_factors"] = flag


@_flag("-mtz_column")
def _mtz_column(st: _State, flag: str, vals: list[str]) -> None:
    st.run.mtz_column = vals[0]


@_flag("-pdb")
def _pdb(st: _State, flag: str, vals: list[str]) -> None:
    st.run.pdb_file = _existing(flag, vals[0])
    st.run.set_by["crystal.structure_factors"] = flag


@_flag("-ksol -bsol")
def _bulk_solvent(st: _State, flag: str, vals: list[str]) -> None:
    value = _number(flag, vals[0])
    if not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{flag}: '{vals[0]}' must be a finite number >= 0")
    setattr(st.run, flag[1:], value)


@_flag("-anomalous", 0)
def _anomalous(st: _State, flag: str, vals: list[str]) -> None:
    st.run.anomalous = True


@_flag("-dump")
def _dump(st: _State, flag: str, vals: list[str]) -> None:
    st.run.dump_file = vals[0]


# --- rotation --------------------------------------------------------------------------
_setter("-phi", "sampling", "phi_deg", _number)
_setter("-osc", "sampling", "osc_deg", _number)
_setter("-phistep", "sampling", "phistep_deg", _number)
_setter("-phisteps", "sampling", "phisteps", _integer)


def _custom_vector(key: str) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        st.vectors[key] = (_number(flag, vals[0]), _number(flag, vals[1]), _number(flag, vals[2]))
        st.convention = "custom"

    return handler


for _name, _key in (
    ("-spindle_axis", "spindle_axis"),
    ("-beam_vector", "beam_vector"),
    ("-polar_vector", "polar_vector"),
    ("-fdet_vector", "fdet_vector"),
    ("-sdet_vector", "sdet_vector"),
    ("-odet_vector", "odet_vector"),
    ("-twotheta_axis", "twotheta_axis"),
    ("-pix0_vector", "pix0_vector_m"),
):
    _FLAGS[_name] = (3, _custom_vector(_key))

# --- beam ------------------------------------------------------------------------------


@_flag("-lambda -wave -wavelength")
def _lambda(st: _State, flag: str, vals: list[str]) -> None:
    st.run.config.beam.wavelength_A = _number(flag, vals[0])
    st.run.config.beam.energy_eV = None


@_flag("-energy")
def _energy(st: _State, flag: str, vals: list[str]) -> None:
    st.run.config.beam.energy_eV = _number(flag, vals[0])


_setter("-fluence", "beam", "fluence_ph_per_m2", _number)
_setter("-flux", "beam", "flux_ph_per_s", _number)
_setter("-exposure", "beam", "exposure_s", _number)
_setter("-beamsize", "beam", "beamsize_mm", _number)
_setter("-dispersion", "beam", "dispersion_pct", _number)
_setter("-dispsteps", "beam", "dispsteps", _integer)
_setter("-hdivrange", "beam", "hdivrange_mrad", _number)
_setter("-vdivrange", "beam", "vdivrange_mrad", _number)
_setter("-hdivstep", "beam", "hdivstep_mrad", _number)
_setter("-vdivstep", "beam", "vdivstep_mrad", _number)
_setter("-hdivsteps", "beam", "hdivsteps", _integer)
_setter("-vdivsteps", "beam", "vdivsteps", _integer)
_setter("-divergence", "beam", "hdivrange_mrad vdivrange_mrad", _number)
_setter("-divsteps", "beam", "hdivsteps vdivsteps", _integer)
_setter("-dmin", "sampling", "dmin_A", _number)
_FLAGS["-round_div"] = (0, _const("beam", "round_div", True))
_FLAGS["-square_div"] = (0, _const("beam", "round_div", False))


@_flag("-sourcefile")
def _sourcefile(st: _State, flag: str, vals: list[str]) -> None:
    st.run.source_file = _existing(flag, vals[0])


@_flag("-polar")
def _polar(st: _State, flag: str, vals: list[str]) -> None:
    st.run.config.beam.polarization = _number(flag, vals[0])
    st.run.config.beam.nopolar = False


_FLAGS["-nopolar"] = (0, _const("beam", "nopolar", True))

# --- detector --------------------------------------------------------------------------


def _pivoting(section: str, attr: str, pivot: str, conv: Callable[[str, str], Any] = _number) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        setattr(getattr(st.run.config, section), attr, conv(flag, vals[0]))
        st.pivot = pivot

    return handler


for _name, _attr, _pv in (
    ("-distance", "distance_mm", "beam"),
    ("-close_distance", "close_distance_mm", "sample"),
    ("-Xbeam", "xbeam_mm", "beam"),
    ("-Ybeam", "ybeam_mm", "beam"),
    ("-Xclose", "xclose_mm", "sample"),
    ("-Yclose", "yclose_mm", "sample"),
    ("-ORGX", "orgx_px", "sample"),
    ("-ORGY", "orgy_px", "sample"),
    ("-twotheta", "twotheta_deg", "sample"),
):
    _FLAGS[_name] = (1, _pivoting("detector", _attr, _pv))


@_flag("-pivot")
def _pivot(st: _State, flag: str, vals: list[str]) -> None:
    if vals[0] not in ("sample", "beam"):
        raise UsageError(f"{flag}: expected 'sample' or 'beam', not '{vals[0]}'")
    st.pivot = vals[0]


def _convention(name: str, pivot: str) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        st.convention = name
        st.pivot = pivot

    return handler


for _name, _pv in (("mosflm", "beam"), ("xds", "sample"), ("adxv", "beam"), ("denzo", "beam"), ("dials", "beam")):
    _FLAGS["-" + _name] = (0, _convention(_name, _pv))

_setter("-detector_rotx", "detector", "rotx_deg", _number)
_setter("-detector_roty", "detector", "roty_deg", _number)
_setter("-detector_rotz", "detector", "rotz_deg", _number)
_setter("-pixel", "detector", "pixel_size_mm", _number)
_setter("-detsize_f", "detector", "detsize_f_mm", _number)
_setter("-detsize_s", "detector", "detsize_s_mm", _number)
_setter("-detsize", "detector", "detsize_f_mm detsize_s_mm", _number)
_setter("-detpixels_f -detpixels_x", "detector", "detpixels_f", _integer)
_setter("-detpixels_s -detpixels_y", "detector", "detpixels_s", _integer)
_setter("-detpixels", "detector", "detpixels_f detpixels_s", _integer)
_setter("-detector_thick", "detector", "thickness_um", _number)
_setter("-detector_thicksteps -thicksteps", "detector", "thicksteps", _integer)
_FLAGS["-curved_det"] = (0, _const("detector", "curved", True))
_FLAGS["-point_pixel"] = (0, _const("detector", "point_pixel", True))


@_flag("-detector_abs -detector_absorb")
def _detector_abs(st: _State, flag: str, vals: list[str]) -> None:
    d = st.run.config.detector
    if "inf" in vals[0] or _number(flag, vals[0]) == 0.0:
        # The reference also zeroes the thickness here, so a later -detector_thick renders
        # nothing (notes Q31).
        d.thickness_um = 0.0
        d.attenuation_depth_um = math.inf
    else:
        d.attenuation_depth_um = _number(flag, vals[0])


@_flag("-roi", 4)
def _roi(st: _State, flag: str, vals: list[str]) -> None:
    x0, x1, y0, y1 = (_integer(flag, v) for v in vals)
    st.run.config.detector.roi = (x0, x1, y0, y1)


@_flag("-oversample")
def _oversample(st: _State, flag: str, vals: list[str]) -> None:
    n = _integer(flag, vals[0])
    st.run.config.sampling.oversample = n if n > 0 else None


for _name in ("thick", "polar", "omega"):
    _FLAGS["-oversample_" + _name] = (0, _const("sampling", "oversample_" + _name, True))


@_flag("-mask")
def _mask(st: _State, flag: str, vals: list[str]) -> None:
    st.run.mask_file = _existing(flag, vals[0])


@_flag("-img")
def _img(st: _State, flag: str, vals: list[str]) -> None:
    st.run.img_file = _existing(flag, vals[0])


# --- output ----------------------------------------------------------------------------
def _out(attr: str, enable: str | None = None) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        setattr(st.run.output, attr, vals[0])
        if enable:
            setattr(st.run.output, enable, True)

    return handler


_FLAGS["-floatfile"] = _FLAGS["-floatimage"] = (1, _out("floatfile"))
_FLAGS["-intfile"] = _FLAGS["-intimage"] = (1, _out("intfile"))
_FLAGS["-pgmfile"] = _FLAGS["-pgmimage"] = (1, _out("pgmfile", "write_pgm"))
_FLAGS["-noisefile"] = _FLAGS["-noiseimage"] = (1, _out("noisefile", "write_noise"))
_FLAGS["-h5file"] = (1, _out("h5file"))
_FLAGS["-cxi"] = (1, _out("cxi"))


@_flag("-panels -expt -geom")
def _detector_file(st: _State, flag: str, vals: list[str]) -> None:
    _existing(flag, vals[0])  # read before the flags (panels.inputs)


def _output_const(attr: str, value: Any) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        setattr(st.run.output, attr, value)

    return handler


_FLAGS["-nonoise"] = (0, _output_const("write_noise", False))
_FLAGS["-nopgm"] = (0, _output_const("write_pgm", False))


@_flag("-scale")
def _scale(st: _State, flag: str, vals: list[str]) -> None:
    st.run.output.scale = _number(flag, vals[0])


@_flag("-pgmscale")
def _pgmscale(st: _State, flag: str, vals: list[str]) -> None:
    st.run.output.pgmscale = _number(flag, vals[0])
    st.run.output.write_pgm = True


@_flag("-adc")
def _adc(st: _State, flag: str, vals: list[str]) -> None:
    st.run.output.adc = _number(flag, vals[0])


@_flag("-seed")
def _seed(st: _State, flag: str, vals: list[str]) -> None:
    st.run.output.seed = _integer(flag, vals[0])


@_flag("-printout", 0)
def _printout(st: _State, flag: str, vals: list[str]) -> None:
    st.run.printout = True


@_flag("-printout_pixel", 2)
def _printout_pixel(st: _State, flag: str, vals: list[str]) -> None:
    st.run.printout = True
    st.run.printout_pixel = (_integer(flag, vals[0]), _integer(flag, vals[1]))


@_flag("-trace_pixel", 2)
def _trace_pixel(st: _State, flag: str, vals: list[str]) -> None:
    if len(vals) == 3:  # -trace_pixel PANEL F S on a multi-panel detector
        st.run.trace_panel = vals[0]
        vals = vals[1:]
    st.run.trace_pixel = (_integer(flag, vals[0]), _integer(flag, vals[1]))


@_flag("-noprogress", 0)
def _noprogress(st: _State, flag: str, vals: list[str]) -> None:
    st.run.progress = False


@_flag("-progress", 0)
def _progress(st: _State, flag: str, vals: list[str]) -> None:
    st.run.progress = True


#: The most render threads a run may ask for (the bindings refuse more, too).
MAX_THREADS = 1024


@_flag("-threads")
def _threads(st: _State, flag: str, vals: list[str]) -> None:
    n = _integer(flag, vals[0])
    if not 1 <= n <= MAX_THREADS:
        raise UsageError(f"{flag}: give 1 to {MAX_THREADS} threads, not {n}")
    st.run.threads = n


@_flag("-fix_quirks", 0)
def _fix(st: _State, flag: str, vals: list[str]) -> None:
    st.run.config.fix_quirks = True


def _ignored(arity: int, check_file: bool = False) -> Handler:
    def handler(st: _State, flag: str, vals: list[str]) -> None:
        if check_file:
            _existing(flag, vals[0])
        elif arity:
            _number(flag, vals[0])
        st.run.ignored.append(flag)

    return handler


# Accepted by nanoBragg.c but without effect on any output (notes Q26).
for _name in ("-density", "-MW", "-molecules"):
    _FLAGS[_name] = (1, _ignored(1))
for _name in ("-stol", "-4stol", "-Q"):
    _FLAGS[_name] = (1, _ignored(1, check_file=True))
_FLAGS["-stolout"] = (1, lambda st, flag, vals: st.run.ignored.append(flag))
_FLAGS["-coherent"] = (0, _ignored(0))

#: Every flag the command line accepts.
FLAGS = frozenset(_FLAGS)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _load_header(run: Run, flag: str, path: str, is_mask: bool) -> None:
    """nanoBragg's reading of an SMV header into the geometry (before the flags)."""
    try:
        img = read_smv(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"{flag}: {e}") from None
    d, s, b = run.config.detector, run.config.sampling, run.config.beam
    height, width = img.data.shape
    d.detpixels_f, d.detpixels_s = width, height
    # An error on a value from the header names the file and the key, not a flag not given.
    set_by = run.set_by
    set_by["detector.detpixels_f"] = set_by["detector.detpixels_s"] = f"{flag} {path} (SIZE1, SIZE2)"
    h = img.header
    px = header_value(h, "PIXEL_SIZE")
    if not math.isnan(px):
        d.pixel_size_mm = px
        set_by["detector.pixel_size_mm"] = f"{flag} {path} (PIXEL_SIZE)"
    for key, attr in (("DISTANCE", "distance_mm"), ("CLOSE_DISTANCE", "close_distance_mm")):
        v = header_value(h, key)
        if not math.isnan(v):
            setattr(d, attr, v)
            set_by[f"detector.{attr}"] = f"{flag} {path} ({key})"
    v = header_value(h, "WAVELENGTH")
    if not math.isnan(v):
        b.wavelength_A, b.energy_eV = v, None
        set_by["beam.wavelength_A"] = f"{flag} {path} (WAVELENGTH)"
    v = header_value(h, "BEAM_CENTER_X")
    if not math.isnan(v):
        d.xbeam_mm = v
        set_by["detector.xbeam_mm"] = f"{flag} {path} (BEAM_CENTER_X)"
    v = header_value(h, "BEAM_CENTER_Y")
    if not math.isnan(v):
        # A mask's header flips Y about the detector's slow size; an image's does not (Q28).
        d.ybeam_mm = (d.pixel_size_mm / 1000.0 * height - v / 1000.0) * 1000.0 if is_mask else v
        set_by["detector.ybeam_mm"] = f"{flag} {path} (BEAM_CENTER_Y)"
    for key, attr in (("ORGX", "orgx_px"), ("ORGY", "orgy_px")):
        v = header_value(h, key)
        if not math.isnan(v):
            setattr(d, attr, v)
            set_by[f"detector.{attr}"] = f"{flag} {path} ({key})"
    v = header_value(h, "PHI")
    if not math.isnan(v):
        s.phi_deg = v
        set_by["sampling.phi_deg"] = f"{flag} {path} (PHI)"
    v = header_value(h, "OSC_RANGE")
    if not math.isnan(v):
        s.osc_deg = v
        set_by["sampling.osc_deg"] = f"{flag} {path} (OSC_RANGE)"


def parse_args(tokens: Sequence[str]) -> Run:
    """Translate nanoBragg command-line tokens (without the program name) into a Run."""
    tokens = list(tokens)
    run = Run()
    st = _State(run)
    # Header files first, as the reference does: the mask's, then the image's; flags override.
    for want, is_mask in (("-mask", True), ("-img", False)):
        for i, tok in enumerate(tokens[:-1]):
            if tok == want:
                _load_header(run, want, _existing(want, tokens[i + 1]), is_mask)
    from .panels.inputs import load_detector_files

    load_detector_files(st, tokens, UsageError)
    i = 0
    while i < len(tokens):
        flag = tokens[i]
        if flag not in _FLAGS:
            if flag.startswith("-") and not _is_number(flag):
                raise UsageError(f"{flag}: unknown flag")
            raise UsageError(f"'{flag}': a value without a flag")
        arity, handler = _FLAGS[flag]
        if flag == "-trace_pixel" and i + 1 < len(tokens) and not _is_number(tokens[i + 1]):
            vals = tokens[i + 1 : i + 4]
            if len(vals) < 3:
                raise UsageError(f"{flag}: needs a panel name and two pixel indices")
        elif arity >= 0:
            vals = tokens[i + 1 : i + 1 + arity]
            if len(vals) < arity:
                raise UsageError(f"{flag}: needs {arity} value{'s' if arity > 1 else ''}")
        elif flag == "-misset" and i + 1 < len(tokens) and "rand" in tokens[i + 1]:
            vals = [tokens[i + 1]]
        elif flag == "-misset":
            vals = tokens[i + 1 : i + 4]
        else:
            # -cell: up to six numbers.
            vals = []
            for tok in tokens[i + 1 : i + 1 - arity]:
                if not _is_number(tok):
                    break
                vals.append(tok)
            if not vals:
                raise UsageError(f"{flag}: needs at least one number")
        handler(st, flag, vals)
        i += 1 + len(vals)
    _finish(st)
    return run


def _finish(st: _State) -> None:
    cfg = st.run.config
    cfg.detector.convention = st.convention  # type: ignore[assignment]
    cfg.detector.pivot = st.pivot  # type: ignore[assignment]
    if st.convention == "custom":
        for key, vec in st.vectors.items():
            section = {"spindle_axis": cfg.sampling, "beam_vector": cfg.beam, "polar_vector": cfg.beam}.get(
                key, cfg.detector
            )
            setattr(section, key, vec)
