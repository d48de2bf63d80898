"""``nanobragg nonbragg``: nonBragg.c's amorphous-background simulator, flag for flag.

nonBragg.c (upstream bl831/nanoBragg) renders the diffuse scattering of an amorphous sample
(water, air, ice …) from a table of F against sin(θ)/λ. This command takes its flags with its
units and defaults and writes the same float, integer, noise and PGM images and the same
``-stolout`` table; ``-fix_quirks`` corrects the quirks listed in docs/nonbragg.md.

Unlike the reference, flags are matched exactly (with the aliases in :data:`FLAGS`), a flag
consumes its values, and an unknown flag, a missing or non-numeric value or an unreadable file
is a one-line error naming it (exit status 2, nothing written).

The flag table :data:`FLAGS` is declarative: each entry names its flags, the number of values,
the unit they are given in, the setting they change and what it means.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from .errors import UsageError
from .values import integer as _integer
from .values import number as _number
from .background import MATERIALS, TABLE_DIR
from .io import atomic
from .io.smv import header_value, read_smv
from .outputs import closing_lines

RTD = 180.0 / math.pi

#: The banner names this program (and credits the one it follows); the other printed lines
#: keep the reference's output format, compared line by line in tests/test_nonbragg_golden.py.
BANNER = "nanobragg nonbragg - amorphous background (nonBragg.c by James Holton and Ken Frankel)"

#: Conversions from a flag's unit to the SI value the core holds, in the reference's arithmetic.
UNITS: dict[str, Callable[[float], float]] = {
    "": lambda v: v,
    "mm": lambda v: v / 1000.0,
    "mrad": lambda v: v / 1000.0,
    "deg": lambda v: v / RTD,
    "A": lambda v: v / 1.0e10,
    "eV": lambda v: (12398.42 / v) / 1.0e10,
    "%": lambda v: v / 100.0,
    "g/cm3": lambda v: v * 1e6,
}


@dataclass(frozen=True)
class Flag:
    """One entry of the flag table.

    ``kind`` is how values are read: ``float``, ``int``, ``vec`` (three floats), ``path``,
    ``word``, ``none`` (a switch), ``ints`` (``arity`` integers). ``target`` is the setting
    (a :class:`NonBraggInput` field, dotted for the sample, or an output/run setting);
    ``value`` is what a switch stores; ``pivot`` the detector pivot the flag selects."""

    names: tuple[str, ...]
    kind: str
    target: str
    unit: str = ""
    arity: int = 1
    value: Any = None
    pivot: str | None = None
    doc: str = ""


def _f(names: str, target: str, unit: str = "", pivot: str | None = None, doc: str = "") -> Flag:
    return Flag(tuple(names.split()), "float", target, unit, 1, None, pivot, doc)


def _i(names: str, target: str, doc: str = "") -> Flag:
    return Flag(tuple(names.split()), "int", target, "", 1, None, None, doc)


def _v(names: str, target: str, doc: str = "") -> Flag:
    return Flag(tuple(names.split()), "vec", target, "", 3, None, None, doc)


def _s(names: str, target: str, value: Any = True, doc: str = "") -> Flag:
    return Flag(tuple(names.split()), "none", target, "", 0, value, None, doc)


def _p(names: str, target: str, doc: str = "") -> Flag:
    return Flag(tuple(names.split()), "path", target, "", 1, None, None, doc)


#: Every flag of ``nanobragg nonbragg``.
FLAGS: tuple[Flag, ...] = (
    # table
    Flag(("-stol",), "path", "table", value="stol", doc="F table file, first column sin(θ)/λ (Å⁻¹)"),
    Flag(("-4stol",), "path", "table", value="4stol", doc="F table file, first column 4·sin(θ)/λ (Å⁻¹)"),
    Flag(("-Q",), "path", "table", value="q", doc="F table file, first column q = 4π·sin(θ)/λ (Å⁻¹)"),
    Flag(("-material",), "word", "material", doc="a shipped table by name: water, air, ice, nanoice (with its density and molecular weight)"),
    # sample
    Flag(("-samplesize", "-sample_size"), "float", "sample.size", "mm", doc="sample thickness, width and height (mm)"),
    _f("-sample_thick -sample_thickness -sample_x -thick -thickness", "sample.thickness_m", "mm", doc="sample thickness along the beam (mm)"),
    _f("-sample_width -sample_y -width", "sample.y_m", "mm", doc="sample width (mm; printed as 'high', as the reference does)"),
    _f("-sample_height -sample_z -height", "sample.z_m", "mm", doc="sample height (mm; printed as 'wide')"),
    _f("-density -sample_density", "sample.density_g_per_m3", "g/cm3", doc="sample density (g/cm³)"),
    _f("-molecules -sample_molecules", "sample.molecules", doc="number of molecules (overrides -density)"),
    _f("-MW -molecular_weight", "sample.molecular_weight", doc="molecular weight (g/mol)"),
    # beam
    _f("-lambda -wavelength -wave", "lambda0_m", "A", doc="wavelength (Å)"),
    _f("-energy", "lambda0_m", "eV", doc="photon energy (eV)"),
    _f("-fluence", "fluence", doc="fluence (photons/m²)"),
    _f("-flux", "flux", doc="flux (photons/s); fluence = flux·exposure/beamsize²"),
    _f("-exposure", "exposure_s", doc="exposure (s)"),
    _f("-beamsize", "beamsize_m", "mm", doc="beam size (mm); also clips the sample's width and height"),
    _f("-dispersion", "dispersion", "%", doc="spectral dispersion, full width (%)"),
    _i("-dispsteps", "dispsteps", doc="wavelengths across the dispersion"),
    Flag(("-divergence",), "float", "divergence", "mrad", doc="horizontal and vertical divergence range (mrad)"),
    _f("-hdivrange", "hdivrange", "mrad", doc="horizontal divergence range (mrad)"),
    _f("-vdivrange", "vdivrange", "mrad", doc="vertical divergence range (mrad)"),
    _f("-hdivstep", "hdivstep", "mrad", doc="horizontal divergence step (mrad)"),
    _f("-vdivstep", "vdivstep", "mrad", doc="vertical divergence step (mrad)"),
    _i("-hdivsteps", "hdivsteps", doc="horizontal divergence steps"),
    _i("-vdivsteps", "vdivsteps", doc="vertical divergence steps"),
    Flag(("-divsteps",), "int", "divsteps", doc="horizontal and vertical divergence steps"),
    _s("-round_div", "round_div", True, doc="elliptical cut of the divergence grid (default)"),
    _s("-square_div", "round_div", False, doc="the whole divergence grid"),
    _p("-sourcefile", "sourcefile", doc="sources, one a line: X Y Z weight wavelength(m)"),
    _f("-source_distance", "source_distance_m", "mm", doc="distance of generated sources (mm; only their direction matters)"),
    _v("-beam_vector", "beam_vector", doc="incident beam direction"),
    _v("-polar_vector", "polar_vector", doc="E-vector axis of the polarization"),
    Flag(("-polar",), "float", "polar", doc="Kahn polarization factor (also undoes -nopolar)"),
    _s("-nopolar", "nopolar", True, doc="polarization factor 1"),
    # detector
    _f("-distance", "distance_m", "mm", pivot="beam", doc="sample to detector distance along the beam (mm)"),
    _f("-close_distance", "close_distance_m", "mm", pivot="sample", doc="distance of closest approach (mm); beats -distance"),
    _f("-Xbeam", "xbeam_m", "mm", pivot="beam", doc="direct-beam position, fast axis (mm)"),
    _f("-Ybeam", "ybeam_m", "mm", pivot="beam", doc="direct-beam position, slow axis (mm)"),
    _f("-Xclose", "xclose_m", "mm", pivot="sample", doc="closest point, fast axis (mm)"),
    _f("-Yclose", "yclose_m", "mm", pivot="sample", doc="closest point, slow axis (mm)"),
    _f("-ORGX", "orgx", pivot="sample", doc="closest point, fast axis (pixels; no half-pixel shift, quirk Q12)"),
    _f("-ORGY", "orgy", pivot="sample", doc="closest point, slow axis (pixels)"),
    Flag(("-pivot",), "word", "pivot", doc="sample or beam"),
    _v("-fdet_vector", "fdet_vector", doc="fast pixel axis"),
    _v("-sdet_vector", "sdet_vector", doc="slow pixel axis"),
    _v("-odet_vector", "ignored", doc="accepted, no effect: the normal is always fast × slow (quirk Q11)"),
    Flag(("-twotheta_axis",), "vec", "twotheta_axis", arity=3, doc="two-theta rotation axis (also sets -twotheta to its first number, quirk Q11)"),
    _v("-pix0_vector", "ignored", doc="accepted, no effect (quirk Q11)"),
    _v("-spindle_axis", "ignored", doc="accepted, no effect (no crystal)"),
    _f("-twotheta", "twotheta", "deg", pivot="sample", doc="detector two-theta (deg)"),
    _f("-detector_rotx", "rotx", "deg", doc="detector rotation about x (deg)"),
    _f("-detector_roty", "roty", "deg", doc="detector rotation about y (deg)"),
    _f("-detector_rotz", "rotz", "deg", doc="detector rotation about z (deg)"),
    Flag(("-detsize",), "float", "detsize", "mm", doc="detector size, both axes (mm)"),
    _f("-detsize_x -detsize_f", "detsize_x_m", "mm", doc="detector size, fast axis (mm)"),
    _f("-detsize_y -detsize_s", "detsize_y_m", "mm", doc="detector size, slow axis (mm)"),
    Flag(("-detpixels",), "int", "detpixels", doc="pixels, both axes"),
    _i("-detpixels_f -detpixels_x", "fpixels", doc="pixels, fast axis"),
    _i("-detpixels_s -detpixels_y", "spixels", doc="pixels, slow axis"),
    _f("-pixel", "pixel_m", "mm", doc="pixel size (mm)"),
    Flag(("-curved_det",), "optional", "curved", doc="curved detector (the reference needs some token after it)"),
    _s("-point_pixel", "point_pixel", True, doc="solid angle 1/R² (no pixel area, no obliquity)"),
    _i("-oversample", "oversample", doc="sub-pixels per pixel edge (≤ 0: 1)"),
    Flag(("-roi",), "ints", "roi", arity=4, doc="xmin xmax ymin ymax (pixel indices, inclusive)"),
    # outputs
    _p("-floatfile -floatimage", "floatfile", doc="float image (default floatimage.bin)"),
    _p("-intfile -intimage", "intfile", doc="scaled SMV image (default intimage.img)"),
    _p("-pgmfile -pgmimage", "pgmfile", doc="8-bit PGM preview (default image.pgm)"),
    _p("-noisefile -noiseimage", "noisefile", doc="Poisson-noise SMV image (default noiseimage.img); also turns noise on"),
    _s("-nonoise", "write_noise", False, doc="no noise image"),
    _s("-nopgm", "nopgm", True, doc="no effect (the reference always writes the PGM); honoured with -fix_quirks"),
    _f("-scale", "scale", doc="integer-image scale (≤ 0: 55000/max_I)"),
    _f("-pgmscale", "pgmscale", doc="PGM scale (≤ 0: 250/(5·rmsd))"),
    _f("-adc", "adc", doc="ADC offset of the integer and noise images"),
    _f("-gain", "gain", doc="detector gain, used only by the -img inversion"),
    Flag(("-seed",), "int", "seed", doc="noise seed (default: the clock)"),
    _s("-Fmap", "fmap", True, doc="write the interpolated F instead of the intensity"),
    _p("-img", "img", doc="SMV image: geometry from its header and F(stol) extracted from its pixels"),
    _p("-stolout", "stolout", doc="where -img writes the extracted F(stol) (default output.stol)"),
    Flag(("-ignore",), "float", "ignore", doc="pixel value to leave out of the extraction (repeatable)"),
    _s("-noreject", "ignored", None, doc="no effect (nothing is rejected)"),
    _s("-coherent", "ignored", None, doc="no effect"),
    _s("-printout", "printout", True, doc="per-pixel printout"),
    Flag(("-printout_pixel",), "ints", "printout_pixel", arity=2, doc="print one pixel (fast slow)"),
    _s("-noprogress", "ignored", None, doc="accepted (no progress meter is printed)"),
    _s("-progress", "ignored", None, doc="accepted (no progress meter is printed)"),
    _f("-phi", "phi0", "deg", doc="header PHI (deg)"),
    _f("-osc", "osc", "deg", doc="header OSC_RANGE (deg)"),
    _f("-phistep", "phistep", "deg", doc="phi step (deg; header only)"),
    _i("-phisteps", "phisteps", doc="phi steps (header only)"),
    _s("-fix_quirks", "fixed", True, doc="correct the reference's quirks (docs/nonbragg.md)"),
)

_BY_NAME: dict[str, Flag] = {name: f for f in FLAGS for name in f.names}

def material_path(name: str) -> str:
    """The shipped table file of a material."""
    if name not in MATERIALS:
        raise UsageError(f"-material: unknown material '{name}' (shipped: {', '.join(MATERIALS)})")
    return os.path.join(TABLE_DIR, MATERIALS[name][0])


@dataclass
class Run:
    """A parsed nonbragg command line."""

    settings: dict[str, Any] = field(default_factory=dict)
    table: str | None = None
    abscissa: str = "stol"
    sourcefile: str | None = None
    img: str | None = None
    stolout: str = "output.stol"
    ignore: list[float] = field(default_factory=list)
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    write_noise: bool = True
    nopgm: bool = False
    scale: float = 0.0
    pgmscale: float = 0.0
    adc: float = 40.0
    gain: float = 1.0
    seed: int | None = None
    printout: bool = False
    printout_pixel: tuple[int, int] | None = None
    fixed: bool = False


def _readable(flag: str, path: str) -> str:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise UsageError(f"{flag}: cannot read file '{path}'")
    return path


def _header_settings(path: str, s: dict[str, Any]) -> None:
    """Geometry from an ``-img`` SMV header, read before the flags so that they override it."""
    try:
        img = read_smv(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"-img: {e}") from None
    h = img.header
    spixels, fpixels = img.data.shape
    s["fpixels"], s["spixels"] = fpixels, spixels
    px = s.get("pixel_m", 1e-4)
    if not math.isnan(v := header_value(h, "PIXEL_SIZE")):
        px = s["pixel_m"] = v / 1000.0
    detsize_y = px * spixels
    s["detsize_x_m"], s["detsize_y_m"] = px * fpixels, detsize_y
    for key, name, conv in (
        ("DISTANCE", "distance_m", lambda v: v / 1000.0),
        ("CLOSE_DISTANCE", "close_distance_m", lambda v: v / 1000.0),
        ("WAVELENGTH", "lambda0_m", lambda v: v / 1e10),
        ("BEAM_CENTER_X", "xbeam_m", lambda v: v / 1000.0),
        ("BEAM_CENTER_Y", "ybeam_m", lambda v: detsize_y - v / 1000.0),
        ("ORGX", "orgx", lambda v: v),
        ("ORGY", "orgy", lambda v: v),
        ("PHI", "phi0", lambda v: v / RTD),
        ("OSC_RANGE", "osc", lambda v: v / RTD),
    ):
        if not math.isnan(v := header_value(h, key)):
            s[name] = conv(v)
    s["_img_pixels"] = img.data


def parse(tokens: Sequence[str]) -> Run:
    """Translate a nonbragg command line into a :class:`Run`."""
    run = Run()
    s = run.settings
    tokens = list(tokens)
    # Pass 1, as the reference: the -img header first, so that flags override it.
    for i, t in enumerate(tokens):
        if t == "-img" and i + 1 < len(tokens):
            run.img = _readable("-img", tokens[i + 1])
    if run.img:
        _header_settings(run.img, s)
    fixed = "-fix_quirks" in tokens
    i = 0
    while i < len(tokens):
        name = tokens[i]
        flag = _BY_NAME.get(name)
        if flag is None:
            if name.startswith("-"):
                raise UsageError(f"{name}: unknown flag (see docs/nonbragg.md)")
            raise UsageError(f"'{name}': a value without a flag")
        if flag.kind == "optional":
            # The reference's -curved_det works only when some token follows it; that token
            # is not consumed by it (and is ignored when it is not a flag).
            if i + 1 < len(tokens) or fixed:
                s["curved"] = True
            elif not fixed:
                print("nonbragg: -curved_det as the last argument has no effect, as in nonBragg.c", file=sys.stderr)
            if i + 1 < len(tokens) and tokens[i + 1] not in _BY_NAME and not tokens[i + 1].startswith("-"):
                i += 1
            i += 1
            continue
        values = tokens[i + 1 : i + 1 + flag.arity]
        if len(values) < flag.arity:
            raise UsageError(f"{name}: needs {flag.arity} value{'s' if flag.arity > 1 else ''}")
        i += 1 + flag.arity
        _apply(run, flag, name, values, fixed)
    if run.table is None:
        raise UsageError("-stol: no F(stol) table: give -stol, -4stol, -Q FILE or -material NAME")
    return run


def _apply(run: Run, flag: Flag, name: str, values: list[str], fixed: bool) -> None:
    s = run.settings
    sample = s.setdefault("sample", {})
    t = flag.target
    if flag.pivot:
        s["pivot"] = flag.pivot
    if flag.kind == "none":
        if t == "ignored":
            return
        if t in ("write_noise", "nopgm", "printout", "fixed"):
            setattr(run, t, flag.value)
            if t == "fixed":
                s["fixed"] = True
        else:
            s[t] = flag.value
        return
    if flag.kind == "path":
        path = values[0]
        if t == "table":
            run.table, run.abscissa = _readable(name, path), flag.value
        elif t == "sourcefile":
            run.sourcefile = _readable(name, path)
        elif t == "img":
            run.img = path
        elif t == "stolout":
            run.stolout = path
        else:
            setattr(run, t, path)
            if t == "noisefile":
                run.write_noise = True
        return
    if flag.kind == "word":
        word = values[0]
        if t == "pivot":
            if word not in ("sample", "beam"):
                raise UsageError(f"-pivot: '{word}' is not sample or beam")
            s["pivot"] = word
        else:
            path = material_path(word)
            run.table, run.abscissa = path, "stol"
            _, density, mw = MATERIALS[word]
            sample.setdefault("density_g_per_m3", density * 1e6)
            sample.setdefault("molecular_weight", mw)
        return
    if flag.kind in ("int", "ints"):
        ints = [_integer(name, v) for v in values]
        if t == "roi":
            s["roi"] = ints
        elif t == "printout_pixel":
            run.printout, run.printout_pixel = True, (ints[0], ints[1])
        elif t == "seed":
            run.seed = -ints[0]
        elif t == "detpixels":
            s["fpixels"] = s["spixels"] = ints[0]
        elif t == "divsteps":
            s["hdivsteps"] = s["vdivsteps"] = ints[0]
        else:
            s[t] = ints[0]
        return
    nums = [_number(name, v) for v in values]
    if flag.kind == "vec":
        if t == "ignored":
            return
        s[t] = nums
        if t == "twotheta_axis" and not fixed:
            # The reference's substring test makes -twotheta_axis also a -twotheta (Q11).
            s["twotheta"] = UNITS["deg"](nums[0])
            s["pivot"] = "sample"
        return
    x = UNITS[flag.unit](nums[0])
    if t.startswith("sample."):
        key = t.split(".", 1)[1]
        if key == "size":
            sample["thickness_m"] = sample["y_m"] = sample["z_m"] = x
        else:
            sample[key] = x
    elif t == "divergence":
        s["hdivrange"] = s["vdivrange"] = x
    elif t == "detsize":
        s["detsize_x_m"] = s["detsize_y_m"] = x
    elif t == "polar":
        s["kahn"], s["nopolar"] = x, False
    elif t == "ignore":
        run.ignore.append(x)
    elif t in ("scale", "pgmscale", "adc", "gain"):
        setattr(run, t, x)
    else:
        s[t] = x


def _read_bytes(flag: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"{flag}: cannot read '{path}': {e.strerror}") from None


def _ushort(v: float) -> int:
    """C's conversion of a double to unsigned short through a 32-bit integer (x86)."""
    if math.isnan(v) or not -2147483649.0 < v < 2147483648.0:
        return 0
    return int(v) & 0xFFFF


def prepare(run: Run) -> tuple[Any, Any, str]:
    """Read the files a run names and resolve it: (NonBragg, StolTable, printed table name)."""
    fixed = run.fixed
    assert run.table is not None
    text = _read_bytes("-stol", run.table)
    try:
        table = _core.StolTable(text, run.abscissa, fixed)
    except _core.NanoBraggError as e:
        raise UsageError(f"-stol: {run.table}: {e}") from None
    settings = {k: v for k, v in run.settings.items() if not k.startswith("_")}
    if run.sourcefile:
        rows = _core.read_columns(_read_bytes("-sourcefile", run.sourcefile), 5)
        if not rows:
            raise UsageError(f"-sourcefile: '{run.sourcefile}' lists no sources")
        settings["source_rows"] = rows
    try:
        nb = _core.NonBragg(settings, table, run.table)
        nb.check_memory(run.img is not None)
    except _core.NanoBraggError as e:
        raise UsageError(_field_message(str(e))) from None
    return nb, table, run.table


_FIELD_FLAGS = {"pixel_m": "-pixel", "detpixels": "-detpixels"}


def _field_message(message: str) -> str:
    field_, sep, rest = message.partition(": ")
    if sep and field_ in _FIELD_FLAGS:
        return f"{_FIELD_FLAGS[field_]}: {rest}"
    return message


def execute(run: Run, nb: Any, table: Any) -> None:
    """Render, print what the reference prints, and write every output (all or nothing)."""
    fixed = run.fixed
    if run.img is not None:
        print(f"reading {run.img}")
    print(BANNER)
    for line in nb.setup_lines:
        print(line)
    seed = run.seed if run.seed is not None else -int(time.time())
    if run.write_noise:
        print("\n  noise image paramters:")
        print(f"  seed: {seed}")
    extract = None
    if run.img is not None:
        pixels = run.settings["_img_pixels"]
        if pixels.shape != nb.shape:
            raise UsageError(f"-img: {run.img} is {pixels.shape[1]}x{pixels.shape[0]} pixels, the detector {nb.shape[1]}x{nb.shape[0]}")
        extract = (pixels.astype(np.float32), [_ushort(v) for v in run.ignore], run.adc, run.gain)
    printout: Any = None
    if run.printout:
        printout = run.printout_pixel if run.printout_pixel is not None else "all"
    rendered = nb.render(extract=extract, printout=printout)
    image = rendered.image()
    for line in rendered.printout_lines():
        print(line)
    print()
    files: list[tuple[str, bytes]] = []
    stol_lines: list[str] = []
    n = rendered.count
    if run.img is not None:
        text, warnings, last_n = rendered.stolout()
        stol_lines = [*warnings, f"wrote {run.stolout} as {text.count(chr(10))} lines of text"]
        files.append((run.stolout, text.encode("ascii")))
        if not fixed:
            n = last_n  # quirk Q6
    st = rendered.stats(n)
    files.append((run.floatfile, np.ascontiguousarray(image, dtype="<f4").tobytes()))
    scale = run.scale
    if scale <= 0.0:
        scale = 55000.0 / st.max_i if st.max_i > 0.0 else 1.0
    header = nb.header()
    files.append((run.intfile, header + nb.int_image(image, scale, run.adc).astype("<u2").tobytes()))
    pgm_scale = run.pgmscale
    if pgm_scale <= 0.0:
        pgm_scale = 250.0 / (5.0 * st.rmsd) if st.rmsd > 0.0 else scale
    pgmfile = None if fixed and run.nopgm else run.pgmfile
    if pgmfile is not None:
        head = f"P5\n{nb.shape[1]} {nb.shape[0]}\n# pixels scaled by {pgm_scale:g}\n255\n".encode("ascii")
        body = nb.pgm_image(image, pgm_scale).tobytes()
        # The reference writes two bytes per pixel, the second half undefined (quirk Q7): zeros here.
        files.append((pgmfile, head + body + (b"" if fixed else bytes(len(body)))))
    noise = None
    if run.write_noise:
        pixels, photons, overloads = nb.noise_image(image, seed, run.adc)
        noise = (photons, overloads, run.noisefile)
        files.append((run.noisefile, header + pixels.astype("<u2").tobytes()))
    lines = closing_lines(
        solid_angle_sr=rendered.omega_sum, between=stol_lines, floatfile=run.floatfile, pixels=image.size,
        max_i=(st.max_i, st.max_i_x_m, st.max_i_y_m), moments=(st.mean, st.rms, st.rmsd), int_scale=scale,
        intfile=run.intfile, pgm=(pgm_scale, pgmfile), noise=noise, fmt=_g,
    )
    print("\n".join(lines))
    atomic.write_all(files)


def _g(x: float, spec: str = "g") -> str:
    """C's printf of a double: NaN prints as -nan/nan as glibc prints it."""
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return format(x, spec)


USAGE = """usage: nanobragg nonbragg -stol water.stol [flags]   (nonBragg.c's flags and units)
       nanobragg nonbragg -material water -thick 0.1 [flags]
Flags: docs/nonbragg.md."""


def main(argv: Sequence[str]) -> int:
    """``nanobragg nonbragg``; returns the exit status."""
    from .cli import run_reporting

    tokens = list(argv)
    if not tokens or tokens[0] in ("-h", "-help", "--help"):
        print(USAGE)
        return 0 if tokens else 2

    def body() -> None:
        run = parse(tokens)
        nb, table, _ = prepare(run)
        execute(run, nb, table)

    return run_reporting("nanobragg nonbragg", body)
