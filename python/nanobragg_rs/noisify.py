"""``nanobragg noisify``: noisify.c's command line, outputs and printed statistics.

Reads a raw float32 image in photons per pixel and writes the ideal (noiseless) SMV image, the
noisy SMV image and an 8-bit PGM, byte for byte as noisify.c writes them for the same seeds.
Unlike the reference, flags are matched exactly (with its aliases), values must be numbers, and
a bad command line or input is a one-line error (exit 2) that writes nothing.
See docs/noisify.md.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .io import atomic
from .response import PsfPass, Response, ResponseResult, seed_state

PROG = "nanobragg noisify"


class UsageError(ValueError):
    """A command line or input that cannot be run; the message names the flag or file (a
    ValueError, so that the render's error reporting shows it as one line too)."""


@dataclass
class NoisifyArgs:
    """A parsed ``nanobragg noisify`` command line (noisify.c's units: mm, µm, Å, degrees)."""

    floatfile: str | None = None
    header: str | None = None
    intfile: str = "intimage.img"
    noisefile: str = "noiseimage.img"
    pgmfile: str = "image.pgm"
    nonoise: bool = False
    nopgm: bool = False
    bits: int = 16
    scale: float = 1.0
    fluence: float = 125932015286227086360700780544.0
    gain: float = 1.0
    adc: float = 40.0
    readout: float = 0.0
    flicker: float = 0.0
    calibration: float = 0.03
    seed: int | None = None
    calib_seed: int | None = None
    badpix_seed: int | None = None
    hotpix_seed: int | None = None
    psf: str | None = None
    psf_radius: int = 0
    psf_fwhm: float = 46.0
    pixel: float = 0.1
    detpixels_x: int = 0
    detpixels_y: int = 0
    detsize_x: float = 102.4
    detsize_y: float = 102.4
    distance: float = 100.0
    wavelength: float = 1.0
    xbeam: float | None = None
    ybeam: float | None = None
    phi: float = 0.0
    osc: float = 1.0
    fix_quirks: bool = False
    #: Flags given that change nothing (noisify.c parses them and ignores them).
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Flag:
    """One flag: its spellings, the fields it sets, its value type, unit and meaning."""

    names: tuple[str, ...]
    fields: tuple[str, ...]
    kind: str  # "number", "integer", "radius", "file", "psf", "switch"
    unit: str
    doc: str


def _f(names: str, fields_: str, kind: str, unit: str, doc: str) -> Flag:
    return Flag(tuple(names.split()), tuple(fields_.split()), kind, unit, doc)


#: Every flag of ``nanobragg noisify``, declared once: the parser and docs/noisify.md follow it.
FLAGS: tuple[Flag, ...] = (
    _f("-floatfile -floatimage -bin", "floatfile", "file", "", "input: raw float32 image, photons/pixel"),
    _f("-header", "header", "file", "", "SMV file whose size and header are copied into both outputs"),
    _f("-intfile -intimage", "intfile", "out", "", "noiseless SMV output (default intimage.img)"),
    _f("-noisefile -noiseimage", "noisefile", "out", "", "noisy SMV output (default noiseimage.img)"),
    _f("-pgmfile -pgmimage", "pgmfile", "out", "", "8-bit PGM output (default image.pgm)"),
    _f("-nonoise", "nonoise", "switch", "", "no noise image; no calibration, flicker or read-out noise"),
    _f("-nopgm", "nopgm", "switch", "", "no PGM"),
    _f("-bits", "bits", "integer", "", "16 (default) or 32-bit pixels"),
    _f("-scale", "scale", "number", "", "factor applied to the input"),
    _f("-fluence", "fluence", "number", "ph/m^2", "photons = fluence * r_e^2 * scale * value"),
    _f("-gain", "gain", "number", "ADU/photon", "quantum gain (default 1)"),
    _f("-adc -adc_offset", "adc", "number", "ADU", "offset added after gain and noise (default 40)"),
    _f("-readout -readout_noise -readnoise", "readout", "number", "ADU", "Gaussian read-out noise (rms)"),
    _f("-flicker -flicker_noise", "flicker", "number", "fraction", "per-pixel source noise"),
    _f("-calibration -calibration_noise", "calibration", "number", "fraction", "per-pixel gain error (default 0.03)"),
    _f("-seed", "seed", "integer", "", "noise seed (default: the clock)"),
    _f("-calib_seed", "calib_seed", "integer", "", "calibration-error seed"),
    _f("-badpix_seed", "badpix_seed", "integer", "", "accepted, unused (as in noisify.c)"),
    _f("-hotpix_seed", "hotpix_seed", "integer", "", "accepted, unused (as in noisify.c)"),
    _f("-psf", "psf", "psf", "", "point-spread function: gauss or fiber"),
    _f("-psf_radius -psf_rad", "psf_radius", "radius", "pixels", "PSF rendering radius (0: automatic)"),
    _f("-psf_fwhm -psf_size -psf_width", "psf_fwhm", "number", "um", "PSF full width at half maximum (default 46)"),
    _f("-pixel", "pixel", "number", "mm", "pixel size (default 0.1)"),
    _f("-detpixels", "detpixels_x detpixels_y", "integer", "", "pixels per side"),
    _f("-detpixels_x -detpixels_f", "detpixels_x", "integer", "", "fast pixel count"),
    _f("-detpixels_y -detpixels_s", "detpixels_y", "integer", "", "slow pixel count"),
    _f("-detsize", "detsize_x detsize_y", "number", "mm", "accepted, no effect (as in noisify.c)"),
    _f("-detsize_x", "detsize_x", "number", "mm", "accepted, no effect (as in noisify.c)"),
    _f("-detsize_y", "detsize_y", "number", "mm", "accepted, no effect (as in noisify.c)"),
    _f("-distance", "distance", "number", "mm", "header DISTANCE"),
    _f("-lambda -wavelength", "wavelength", "number", "A", "header WAVELENGTH"),
    _f("-Xbeam", "xbeam", "number", "mm", "header BEAM_CENTER_X"),
    _f("-Ybeam", "ybeam", "number", "mm", "header BEAM_CENTER_Y (from the bottom edge)"),
    _f("-phi", "phi", "number", "deg", "header PHI and OSC_START"),
    _f("-osc", "osc", "number", "deg", "header OSC_RANGE (default 1)"),
    _f("-fix_quirks", "fix_quirks", "switch", "", "correct noisify.c's quirks (docs/noisify.md)"),
)

_BY_NAME = {name: flag for flag in FLAGS for name in flag.names}
_UNUSED = {"badpix_seed", "hotpix_seed", "detsize_x", "detsize_y"}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

USAGE = """usage: nanobragg noisify -floatfile floatimage.bin [flags]   (noisify.c's flags and units)
flags: """ + " ".join(f.names[0] for f in FLAGS) + """
See docs/noisify.md."""


def _number(flag: str, token: str) -> float:
    if not _NUMBER.fullmatch(token):
        raise UsageError(f"{flag}: '{token}' is not a number")
    x = float(token)
    if not math.isfinite(x):
        raise UsageError(f"{flag}: '{token}' is out of range")
    return x


def _int32(flag: str, token: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", token):
        raise UsageError(f"{flag}: '{token}' is not an integer")
    n = int(token)
    if not -(2**31) <= n < 2**31:
        raise UsageError(f"{flag}: {token} is outside the 32-bit integer range")
    return n


def parse(tokens: Sequence[str]) -> NoisifyArgs:
    """Translate a command line into :class:`NoisifyArgs`; later flags override earlier ones."""
    a = NoisifyArgs()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if not tok.startswith("-") or tok == "-":
            if a.floatfile is not None and tok != a.floatfile:
                raise UsageError(f"{tok}: a second input file (the input is {a.floatfile})")
            a.floatfile = tok
            continue
        flag = _BY_NAME.get(tok)
        if flag is None:
            raise UsageError(f"{tok}: unknown flag (nanobragg noisify -h lists them)")
        if flag.kind == "switch":
            setattr(a, flag.fields[0], True)
            continue
        if i >= len(tokens):
            raise UsageError(f"{tok}: needs a value")
        val = tokens[i]
        i += 1
        value: object
        if flag.kind in ("file", "out"):
            if not val:
                raise UsageError(f"{tok}: empty file name")
            value = val
        elif flag.kind == "psf":
            if val in ("gauss", "gaussian"):
                value = "gauss"
            elif val == "fiber":
                value = "fiber"
            else:
                raise UsageError(f"{tok}: unknown PSF type '{val}' (gauss or fiber)")
        elif flag.kind == "integer":
            value = _int32(tok, val)
        elif flag.kind == "radius":
            # noisify.c reads the radius with atof and truncates it to an int.
            x = _number(tok, val)
            if not -(2**31) < x < 2**31:
                raise UsageError(f"{tok}: {val} is outside the 32-bit integer range")
            value = int(x)
        else:
            value = _number(tok, val)
        for name in flag.fields:
            setattr(a, name, value)
        if flag.fields[0] in _UNUSED:
            a.ignored.append(tok)
    if a.floatfile is None:
        raise UsageError("-floatfile: no input image given")
    if a.detpixels_x < 0 or a.detpixels_y < 0:
        raise UsageError("-detpixels: pixel counts must not be negative")
    if a.fix_quirks and a.bits not in (16, 32):
        raise UsageError(f"-bits: {a.bits} is not 16 or 32")
    if a.fix_quirks and a.psf is not None and a.psf_radius < 0:
        raise UsageError(f"-psf_radius: {a.psf_radius} is negative")
    if a.fix_quirks and a.psf is not None and a.pixel <= 0:
        raise UsageError(f"-pixel: {a.pixel:g} is not positive")
    return a


def response_of(a: NoisifyArgs) -> Response:
    """The :class:`Response` a command line describes."""
    return Response(
        psf=a.psf,  # type: ignore[arg-type]
        psf_fwhm_um=a.psf_fwhm,
        psf_radius_px=a.psf_radius,
        pixel_size_mm=a.pixel,
        gain=a.gain,
        adc_offset_adu=a.adc,
        readout_adu=0.0 if a.nonoise else a.readout,
        flicker=0.0 if a.nonoise else a.flicker,
        calibration=0.0 if a.nonoise else a.calibration,
        calib_seed=a.calib_seed,
        scale=a.scale,
        fluence_ph_per_m2=a.fluence,
        bits=a.bits,
        noise=not a.nonoise,
        fix_quirks=a.fix_quirks,
    )


# --- input -------------------------------------------------------------------------------------


def _read(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"{flag}: cannot read '{path}': {e.strerror or e}") from None


def _value_of(text: bytes, key: str) -> float:
    """noisify.c's ValueOf: the number after the ``=`` that follows the key's last occurrence
    (NaN when the key is absent, 0 when no ``=`` follows)."""
    pos = text.rfind(key.encode())
    if pos < 0:
        return math.nan
    eq = text.find(b"=", pos + len(key))
    if eq < 0:
        return 0.0
    m = re.match(rb"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text[eq + 1 :])
    return float(m.group().strip()) if m else 0.0


@dataclass
class SmvHeader:
    """The parts of a ``-header`` file noisify uses."""

    raw: bytes
    width: int
    height: int
    values: dict[str, float]


def read_header(path: str) -> SmvHeader:
    """Read an SMV header the way noisify.c's GetFrame does."""
    data = _read(path, "-header")
    if len(data) < 512:
        raise UsageError(f"-header: '{path}' is shorter than an SMV header (512 bytes)")
    if not data.startswith(b"{\nHEADER_BYT"):
        raise UsageError(f"-header: '{path}' does not look like an SMV (ADSC) frame")
    head = data[:512]
    size = _value_of(head.split(b"\0")[0], "HEADER_BYTES")
    if not math.isfinite(size) or int(size) <= 0:
        raise UsageError(f"-header: '{path}' has no usable HEADER_BYTES")
    nbytes = int(size)
    if nbytes != 512:
        if len(data) < nbytes:
            raise UsageError(f"-header: '{path}' is shorter than its HEADER_BYTES={nbytes}")
        head = data[:nbytes]
    text = head.split(b"\0")[0]

    def as_int(x: float) -> int:
        return int(x) if math.isfinite(x) and abs(x) < 2**31 else 0

    width, height = as_int(_value_of(text, "SIZE1")), as_int(_value_of(text, "SIZE2"))
    if width == 0:
        width = height = as_int(_value_of(text, "DETECTOR_DIMENSIONS"))
    if width <= 0 or height <= 0:
        raise UsageError(f"-header: '{path}' gives no image size (SIZE1, SIZE2)")
    values = {k: _value_of(text, k) for k in ("PIXEL_SIZE", "DISTANCE", "WAVELENGTH", "BEAM_CENTER_X", "BEAM_CENTER_Y")}
    return SmvHeader(head, width, height, values)


@dataclass
class Geometry:
    """Image size and the header numbers, in noisify.c's internal units (metres)."""

    xpixels: int
    ypixels: int
    pixel_m: float
    distance_m: float
    wavelength: float
    xbeam_m: float
    ybeam_m: float
    detsize_x_m: float
    detsize_y_m: float
    guessed: bool


def geometry(a: NoisifyArgs, nfloats: int, header: SmvHeader | None) -> Geometry:
    """The image size as noisify.c decides it (header, then flags, then a guess)."""
    xp, yp = a.detpixels_x, a.detpixels_y
    pixel = a.pixel / 1000.0
    distance = a.distance / 1000.0
    wavelength = a.wavelength
    xbeam = -1e99 if a.xbeam is None else a.xbeam / 1000.0
    ybeam = -1e99 if a.ybeam is None else a.ybeam / 1000.0
    pixels = nfloats
    if header is not None:
        xp, yp = header.width, header.height
        pixels = xp * yp
        v = header.values
        if not math.isnan(v["PIXEL_SIZE"]):
            pixel = v["PIXEL_SIZE"] / 1000.0
        if not math.isnan(v["DISTANCE"]):
            distance = v["DISTANCE"] / 1000.0
        if not math.isnan(v["WAVELENGTH"]):
            wavelength = v["WAVELENGTH"] / 1e10
        if not math.isnan(v["BEAM_CENTER_X"]):
            xbeam = v["BEAM_CENTER_X"] / 1000.0
        if not math.isnan(v["BEAM_CENTER_Y"]):
            ybeam = pixel * yp - v["BEAM_CENTER_Y"] / 1000.0
    guessed = False
    if not xp and not yp:
        guessed = True
        if pixels <= 0:
            raise UsageError(f"{a.floatfile}: no pixels in the input file")
        xp = math.isqrt(pixels)
        while pixels % xp:
            xp -= 1
        yp = pixels // xp
    if xp and not yp:
        yp = pixels // xp
    if yp and not xp:
        xp = pixels // yp
    if xp * yp == 0:
        raise UsageError(f"{a.floatfile}: {nfloats} values do not fill one row of {max(xp, yp)} pixels")
    if xp * yp >= 2**31:
        raise UsageError(f"-detpixels: {xp}x{yp} pixels is more than noisify handles (2^31)")
    detsize_x, detsize_y = pixel * xp, pixel * yp
    if xbeam <= -1e99:
        xbeam = detsize_x / 2.0
    if ybeam <= -1e99:
        ybeam = detsize_y / 2.0
    return Geometry(xp, yp, pixel, distance, wavelength, xbeam, ybeam, detsize_x, detsize_y, guessed)


def _check_memory(pixels: int) -> None:
    # float input, photons, two integer images of each width, the PSF buffers: ~40 bytes a pixel.
    need = 40 * pixels
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > total:
        raise UsageError(f"-detpixels: {pixels} pixels need about {need / 2**30:.1f} GiB, more than this machine has")


def load_values(a: NoisifyArgs, data: bytes, g: Geometry) -> np.ndarray:
    """The input values as noisify.c reads them: a file of at least a quarter of the image is
    accepted and the missing pixels are 0 (corrected: the file must hold the whole image)."""
    pixels = g.xpixels * g.ypixels
    if len(data) < pixels or (a.fix_quirks and len(data) < 4 * pixels):
        raise UsageError(f"{a.floatfile}: {len(data) // 4} values, the image needs {pixels} ({g.xpixels}x{g.ypixels})")
    raw = data[: 4 * pixels].ljust(4 * pixels, b"\0")
    return np.frombuffer(raw, dtype="=f4").reshape(g.ypixels, g.xpixels)


# --- output ------------------------------------------------------------------------------------


def smv_header(a: NoisifyArgs, g: Geometry) -> bytes:
    """noisify.c's own header: without the first five lines when ``-bits`` is not 16 or 32."""
    order = "little_endian" if sys.byteorder == "little" else "big_endian"
    text = ""
    if a.bits in (16, 32):
        kind = "unsigned_short" if a.bits == 16 else "long_integer"
        text += f"{{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER={order};\nTYPE={kind};\n"
    text += "SIZE1=%d;\nSIZE2=%d;\nPIXEL_SIZE=%g;\nDISTANCE=%g;\n" % (g.xpixels, g.ypixels, g.pixel_m * 1000.0, g.distance_m * 1000.0)
    text += "WAVELENGTH=%g;\nBEAM_CENTER_X=%g;\nBEAM_CENTER_Y=%g;\n" % (g.wavelength, g.xbeam_m * 1000.0, (g.detsize_y_m - g.ybeam_m) * 1000)
    text += "PHI=%g;\nOSC_START=%g;\nOSC_RANGE=%g;\n" % (a.phi, a.phi, a.osc)
    text += "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\f"
    return text.encode("ascii").ljust(512, b" ")


def _image_bytes(head: bytes, pixels: np.ndarray, bits: int) -> bytes:
    if bits not in (16, 32):
        return head
    return head + np.ascontiguousarray(pixels, dtype="=u2" if bits == 16 else "=u4").tobytes()


def _psf_lines(p: PsfPass, lines: list[str]) -> None:
    if p.max_input is not None:
        lines.append("  maximum input photon/pixel: %g" % p.max_input)
        if p.no_photons:
            lines.append("WARNING: no photons, PSF skipped")
            return
        lines.append("  auto-selected psf_radius = %d pixels" % (p.auto_radius or 0))
    lines.append("adding back %g lost photons" % p.lost_photons)


def _psf_pass_lines(r: Response, p: PsfPass | None, lines: list[str]) -> None:
    if r.psf_fwhm_px <= 0.0 and not r.fix_quirks:
        lines.append("WARNING: apply_psf function has zero size")
    elif p is not None:
        _psf_lines(p, lines)


def run(a: NoisifyArgs) -> None:
    """Read, compute, then print and write everything (all files or none)."""
    data = _read(a.floatfile or "", "-floatfile")
    header = read_header(a.header) if a.header else None
    g = geometry(a, len(data) // 4, header)
    _check_memory(g.xpixels * g.ypixels)
    values = load_values(a, data, g)
    resp = response_of(a)
    # noisify.c's default seed is the clock, stored as -time.
    seed = a.seed if a.seed is not None else int(time.time())
    state = seed_state(seed)
    calib_state = 123456789 if resp.calib_seed is None else seed_state(resp.calib_seed)
    result = resp.run(values, seed=seed)
    pixels = g.xpixels * g.ypixels

    out: list[str] = ["nanobragg noisify - add noise to pixels (noisify.c by James Holton, 3-19-16)"]
    if header is not None:
        out += [f"taking header from {a.header}", f"reading {a.header}"]
    if g.guessed:
        out.append("WARNING: guessing xy pixel dimensions.")
    out.append(f"importing {pixels} pixel intensites: {a.floatfile}")
    out.append("  distance=%g detsize=%gx%g  pixel=%g meters (%dx%d pixels)" % (g.distance_m, g.detsize_x_m, g.detsize_y_m, g.pixel_m, g.xpixels, g.ypixels))
    out.append("  Xbeam=%g Ybeam=%g" % (g.xbeam_m, g.ybeam_m))
    psf_line = ""
    if a.psf is not None:
        psf_line = ("  Gaussian PSF fwhm = %g um " if a.psf == "gauss" else "  fiber PSF fwhm = %g um ") % (resp.psf_fwhm_m * 1e6)
        if a.psf_radius == 0:
            out.append(psf_line + "  with automatic rendering radius")
            psf_line = ""
        if a.psf_radius >= 0:
            out.append(psf_line + "  with rendering radius: %d" % a.psf_radius)
            psf_line = ""
    out.append(psf_line + "  seed: %d" % state)
    out.append("  calibration noise seed: %d" % calib_state)
    out.append("  calibration_noise = %g %%" % (resp.calibration * 100))
    out.append("  input file scale = %g" % a.scale)
    out.append("  readout_noise = %g ADU" % resp.readout_adu)
    out.append("  flicker_noise = %g %%" % (resp.flicker * 100))
    out.append("  quantum_gain = %g ADU/photon" % a.gain)
    out.append("  adc_offset = %g ADU" % a.adc)
    out.append("")
    for v in values.reshape(-1)[values.reshape(-1) < 0]:
        out.append("WARNING: negative intensity in %s: %g" % (a.floatfile, float(v)))
    out.append("maximum value in input file: %g ( %g on photon scale)" % (result.max_input, result.max_photons))
    if a.nonoise and resp.applies_psf:
        out.append("  applying PSF to noiseless image width = %g pixels" % resp.psf_fwhm_px)
        _psf_pass_lines(resp, result.ideal_psf, out)
    head = header.raw if header is not None else smv_header(a, g)
    files: list[tuple[str, bytes]] = []
    if a.bits in (16, 32):
        out.append(f"writing {a.intfile} as {pixels} {a.bits // 8}-byte integers")
    files.append((a.intfile, _image_bytes(head, result.ideal, a.bits)))
    if not a.nopgm:
        out.append(f"writing {a.pgmfile} as 1-byte integers")
        pgm_head = f"P5\n{g.xpixels} {g.ypixels}\n# pixels scaled by 1\n255\n".encode("ascii")
        files.append((a.pgmfile, pgm_head + np.ascontiguousarray(result.pgm).tobytes()))
    if result.noise is not None:
        if resp.applies_psf:
            out.append("%.0f photons on noise image before PSF" % result.photons_before_psf)
            out.append("  applying PSF width = %g um" % (resp.psf_fwhm_m * 1e6))
            _psf_pass_lines(resp, result.noise_psf, out)
        out.append("%.0f photons on noise image (%d overloads)" % (result.photons, result.overloads))
        if a.bits in (16, 32):
            out.append(f"writing {a.noisefile} as {a.bits // 8}-byte integers")
        files.append((a.noisefile, _image_bytes(head, result.noise, a.bits)))
    atomic.write_all(files)
    sys.stdout.write("\n".join(out) + "\n")


#: Response flags that ``nanobragg`` renders take too (with ``-adc``, ``-seed``, ``-pixel``,
#: ``-nonoise`` and ``-fix_quirks``, which they share with the render): one command then gives
#: what rendering and then ``nanobragg noisify`` with the same flags gives.
RENDER_FLAGS = ("-psf", "-psf_fwhm", "-psf_radius", "-gain", "-readout", "-flicker", "-calibration", "-calib_seed", "-bits")

#: Render outputs the response stage does not write; refused with response flags rather than
#: silently left out.
STAGE_REFUSES = {"h5file": "-h5file", "cxi": "-cxi"}


def stage_response(
    response_args: Sequence[str],
    *,
    pixel_mm: float,
    adc: float,
    noise: bool,
    fix_quirks: bool,
    gain: float | None = None,
) -> tuple[int, Response]:
    """The bit depth and :class:`Response` of a render's response flags, checked (call it
    before rendering: a bad value is a :class:`UsageError` naming the flag).

    ``gain`` is a panel's own gain (a DIALS .expt's), used unless the flags give ``-gain``."""
    tokens = ["-floatfile", "<render>", *(["-gain", repr(gain)] if gain is not None else []), *response_args,
              "-pixel", repr(pixel_mm), "-adc", repr(adc)]
    tokens += [] if noise else ["-nonoise"]
    tokens += ["-fix_quirks"] if fix_quirks else []
    a = parse(tokens)
    if a.bits not in (16, 32):
        raise UsageError(f"-bits: {a.bits} is not 16 or 32")
    return a.bits, response_of(a)


def check_stage_outputs(output: object) -> None:
    """Refuse render outputs the response stage cannot write (``output``: the run's Output)."""
    for attr, flag in STAGE_REFUSES.items():
        if getattr(output, attr, None):
            raise UsageError(f"{flag}: not available with the detector response flags ({' '.join(RENDER_FLAGS)}); "
                             "write SMV images, or run nanobragg noisify on the float image")


def render_stage(
    response_args: Sequence[str],
    image: np.ndarray,
    *,
    pixel_mm: float,
    adc: float,
    seed: int,
    noise: bool,
    fix_quirks: bool,
    header_values: dict[str, object],
    files: dict[str, str | None],
    gain: float | None = None,
) -> tuple[list[str], ResponseResult]:
    """The response stage of a render: noisify's ideal, noise and PGM images of the rendered
    float image, written under the render's names (``files``: int, noise, pgm; None skips one)
    with the render's header. Returns the lines to print and the result."""
    bits, resp = stage_response(response_args, pixel_mm=pixel_mm, adc=adc, noise=noise, fix_quirks=fix_quirks, gain=gain)
    result = resp.run(np.ascontiguousarray(image, np.float32), seed=seed)
    return write_stage(result, bits, header_values, files), result


def stage_header(header_values: dict[str, object], bits: int) -> bytes:
    """A render's SMV header for the response's 16- or 32-bit counts."""
    from .io.smv import header_text

    head = header_text(header_values)
    if bits == 32:
        head = head.replace(b"TYPE=unsigned_short;", b"TYPE=long_integer;").rstrip(b" ").ljust(len(head), b" ")
    return head


def stage_smv(header_values: dict[str, object], counts: np.ndarray, bits: int) -> bytes:
    """One SMV file of response counts under a render's header."""
    return _image_bytes(stage_header(header_values, bits), counts, bits)


def write_stage(result: ResponseResult, bits: int, header_values: dict[str, object], files: dict[str, str | None]) -> list[str]:
    """Write a response's images with a render's SMV header; returns the lines to print."""
    head = stage_header(header_values, bits)
    lines = []
    out: list[tuple[str, bytes]] = []
    if files.get("int"):
        out.append((files["int"], _image_bytes(head, result.ideal, bits)))  # type: ignore[arg-type]
        lines.append(f"writing {files['int']} as {bits // 8}-byte integers (detector response: ideal)")
    if files.get("pgm"):
        h, w = result.pgm.shape
        out.append((files["pgm"], f"P5\n{w} {h}\n# pixels scaled by 1\n255\n".encode("ascii") + result.pgm.tobytes()))  # type: ignore[arg-type]
        lines.append(f"writing {files['pgm']} as 1-byte integers")
    if result.noise is not None and files.get("noise"):
        lines.append("%.0f photons on noise image (%d overloads)" % (result.photons, result.overloads))
        out.append((files["noise"], _image_bytes(head, result.noise, bits)))  # type: ignore[arg-type]
        lines.append(f"writing {files['noise']} as {bits // 8}-byte integers (detector response)")
    atomic.write_all(out)
    return lines


def main(argv: Sequence[str]) -> int:
    """``nanobragg noisify ...``; returns the exit status."""
    tokens = list(argv)
    if not tokens or tokens[0] in ("-h", "-help", "--help"):
        print(USAGE)
        return 0 if tokens else 2
    try:
        run(parse(tokens))
    except (UsageError, ValueError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


__all__ = ["FLAGS", "Flag", "NoisifyArgs", "ResponseResult", "check_stage_outputs", "main", "parse", "render_stage", "response_of",
           "run", "stage_header", "stage_response", "stage_smv", "write_stage"]
