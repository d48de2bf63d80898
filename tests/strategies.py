"""Hypothesis strategies: valid nanoBragg command lines drawn over the whole flag space.

``command_lines()`` draws a :class:`CommandLine`: the tokens (without the program name), the
input files they name (generated HKL table, MOSFLM matrix, source list, SMV mask or header
image) and what the image will look like (its size, the work it costs). It is meant to be
run by both programs, ours and nanoBragg.c, so it keeps to lines that both read the same
way (reference notes §1, quirks Q23-Q25, and our stricter parser):

* every flag is spelled in full and given all its values; numbers are plain decimals;
* ``-twotheta_axis`` is always followed, later on the line, by ``-twotheta`` (the
  reference's ``-twotheta`` handler also fires on ``-twotheta_axis``, setting 2θ to the
  axis's x component; a later ``-twotheta`` overrides that, so the line means the same to
  both programs);
* ``-misset_seed n`` comes last, with a single token after it (followed by three tokens it
  also fires the reference's ``-misset`` handler);
* ``-curved_det`` is never the last token (the reference needs a token after it);
* HKL tables have integer indices and no comments; a source file's last line may lack its
  newline only when it has all five columns (Q33);
* ``-misset random`` always comes with ``-misset_seed`` and the line always has ``-seed``
  (the reference's defaults for both are clock-based).

Left out on purpose, because the reference's output there is undefined or NaN and we differ
on purpose or by accident (each is marked where it would be drawn):

* ``-osc 0`` (also from an -img header's OSC_RANGE=0) with ``-phistep`` alone: the
  reference computes ceil(0/phistep) = 0 phi steps and renders 0/0 = NaN; we render one
  step (KNOWN DIVERGENCE);
* a negative ``-adc``: the reference's noise image converts negative counts to unsigned
  16 bits without a clamp (undefined in C, wraps on x86-64); we write 0 (KNOWN DIVERGENCE);
* ``-divsteps 1`` alone, whose only point the round filter drops: no source left, the
  reference renders NaN, we refuse the line; an ``-roi`` starting outside the detector,
  which we refuse too.

Values are mostly realistic (cells 30-100 Å, wavelengths 0.8-1.5 Å, distances 50-150 mm,
24-96 pixels per side) so that images are seldom blank, and one example in four draws from
wider ranges. The work of one image (pixels x sub-pixels x sources x mosaic domains x phi
steps x sensor layers) is kept below ``max_work`` so that an example renders in a fraction
of a second in either program.
"""

from __future__ import annotations

import math
import pathlib
import shlex
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

#: Default limit on pixels x steps per example (a few tenths of a second in either program).
MAX_WORK = 3_000_000


@dataclass(frozen=True)
class CommandLine:
    """A drawn nanoBragg command line and the input files it needs."""

    args: tuple[str, ...]
    #: (file name, contents) of every input file the line names, relative to the run folder.
    files: tuple[tuple[str, str | bytes], ...]
    #: Detector size in pixels (the reference's own count may differ by rounding of -detsize).
    fpixels: int
    spixels: int
    #: Estimated pixel-loop evaluations.
    work: int
    #: Short feature labels (convention, shape, ...), for statistics.
    tags: tuple[str, ...] = ()

    def write_inputs(self, folder: pathlib.Path) -> None:
        for name, data in self.files:
            if isinstance(data, bytes):
                (folder / name).write_bytes(data)
            else:
                (folder / name).write_text(data)

    def shell(self, program: str = "nanoBragg", prefix: tuple[str, ...] | list[str] = ()) -> str:
        """The command line as one would type it (``prefix``: tokens put before the drawn ones)."""
        return shlex.join([program, *prefix, *self.args])

    def describe(self, limit: int = 1500, prefix: tuple[str, ...] | list[str] = ()) -> str:
        """The command line and the input files (long files cut short)."""
        lines = [self.shell(prefix=prefix)]
        for name, data in self.files:
            if isinstance(data, bytes):
                head = data[: data.find(b"}") + 1].decode("ascii", "replace")
                pixels = np.frombuffer(data[512:], dtype="<u2")
                summary = f"SMV, {len(data)} bytes; header below; pixel values {_counts(pixels)}"
                lines.append(f"--- {name} --- ({summary})\n{head}")
                continue
            shown = data if len(data) <= limit else data[:limit] + f"... ({len(data)} characters in all)\n"
            lines.append(f"--- {name} ---\n{shown}")
        return "\n".join(lines)


def _counts(pixels: np.ndarray) -> str:
    values, counts = np.unique(pixels, return_counts=True)
    text = ", ".join(f"{v}: {c}x" for v, c in zip(values[:6], counts[:6]))
    if pixels.size:
        text += f"; pixel index of the first zero: {int(np.argmin(pixels != 0)) if (pixels == 0).any() else None}"
    return text


def rarely(draw: st.DrawFn, k: int) -> bool:
    """True about once in k+1 draws; shrinks to False (a failing example sheds the options)."""
    return draw(st.integers(0, k)) == k


# --- numbers ---------------------------------------------------------------------------------
def fmt(x: float, places: int = 6) -> str:
    """A short plain decimal for ``x`` rounded to ``places`` decimals ('-0' becomes '0')."""
    text = f"{x:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def decimals(lo: float, hi: float, places: int) -> st.SearchStrategy[float]:
    """Numbers in [lo, hi] with at most ``places`` decimals (shrinking toward ``lo``)."""
    scale = 10**places
    return st.integers(round(lo * scale), round(hi * scale)).map(lambda i: i / scale)


def signed(hi: float, places: int) -> st.SearchStrategy[float]:
    """Numbers in [-hi, hi] with at most ``places`` decimals (shrinking toward 0)."""
    scale = 10**places
    return st.integers(-round(hi * scale), round(hi * scale)).map(lambda i: i / scale)


def scientific(lo_exp: int, hi_exp: int) -> st.SearchStrategy[str]:
    """Numbers written like '3.7e22'."""
    return st.tuples(decimals(1.0, 9.9, 1), st.integers(lo_exp, hi_exp)).map(lambda t: f"{fmt(t[0], 1)}e{t[1]}")


# --- small linear algebra --------------------------------------------------------------------
def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rz·Ry·Rx for angles in degrees (right-handed)."""
    x, y, z = np.radians([rx, ry, rz])
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def real_vectors(cell: tuple[float, ...]) -> np.ndarray:
    """Rows a, b, c (Å) of a cell in a standard frame (a along x, b in the xy plane)."""
    a, b, c = cell[:3]
    al, be, ga = np.radians(cell[3:])
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz = math.sqrt(max(c * c - cx * cx - cy * cy, 0.0))
    return np.array([[a, 0.0, 0.0], [b * np.cos(ga), b * np.sin(ga), 0.0], [cx, cy, cz]])


def reciprocal_vectors(real: np.ndarray) -> np.ndarray:
    """Rows a*, b*, c* (1/Å) of real-space rows a, b, c."""
    a, b, c = real
    volume = float(np.dot(a, np.cross(b, c)))
    return np.array([np.cross(b, c), np.cross(c, a), np.cross(a, b)]) / volume


def cell_is_valid(cell: tuple[float, ...]) -> bool:
    ca, cb, cg = np.cos(np.radians(cell[3:]))
    return 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg > 0.05


# --- the command-line builder ----------------------------------------------------------------
@dataclass
class _Line:
    pixels: int
    max_work: int
    items: list[list[str]] = field(default_factory=list)
    files: dict[str, str | bytes] = field(default_factory=dict)
    steps: int = 1
    tags: list[str] = field(default_factory=list)

    def add(self, flag: str, *values: object) -> None:
        self.items.append([flag, *(str(v) for v in values)])

    def cap(self, most: int) -> int:
        """The largest step count (at most ``most``) that keeps the example within budget."""
        return max(1, min(most, self.max_work // max(1, self.pixels * self.steps)))

    def take(self, n: int) -> None:
        self.steps *= max(1, n)


#: Random-number seeds: the reference negates them; a negative one is a positive idum, which
#: does not re-initialise the shared shuffle table (notes §7), so the stream continues the
#: previous one's state. Both are drawn.
SEEDS = st.integers(1, 2**31 - 2) | st.integers(-1000, 0)

CELL_KINDS = ("orthorhombic", "cubic", "monoclinic", "hexagonal", "triclinic")
#: The custom convention (vector flags) is drawn more often: it has the most settings.
CONVENTIONS = ("default", "mosflm", "denzo", "adxv", "xds", "dials", "custom", "custom", "custom")


@st.composite
def cells(draw: st.DrawFn, wide: bool = False) -> tuple[float, float, float, float, float, float]:
    """a b c (Å, 30-100, or 10-400 if ``wide``) and angles (degrees) of one of the crystal
    families."""
    kind = draw(st.sampled_from(CELL_KINDS))
    length = decimals(10.0, 400.0, 1) if wide else decimals(30.0, 100.0, 1)
    a, b, c = draw(length), draw(length), draw(length)
    al = be = ga = 90.0
    if kind == "cubic":
        b = c = a
    elif kind == "monoclinic":
        be = draw(decimals(90.0, 120.0, 2))
    elif kind == "hexagonal":
        b, ga = a, 120.0
    elif kind == "triclinic":
        angle = decimals(70.0, 110.0, 2)
        al, be, ga = draw(angle), draw(angle), draw(angle)
    cell = (a, b, c, al, be, ga)
    if not cell_is_valid(cell):
        cell = (a, b, c, 90.0, 90.0, 90.0)
    return cell


def smv_bytes(values: dict[str, str], pixels: np.ndarray) -> bytes:
    """An SMV file: a 512-byte header with these values, then the 16-bit pixels."""
    height, width = pixels.shape
    lines = ["{", "HEADER_BYTES=512;", "DIM=2;", "BYTE_ORDER=little_endian;", "TYPE=unsigned_short;"]
    lines += [f"SIZE1={width};", f"SIZE2={height};"] + [f"{k}={v};" for k, v in values.items()]
    head = ("\n".join(lines) + "\n}\f").encode("ascii")
    assert len(head) <= 512
    return head.ljust(512, b" ") + np.ascontiguousarray(pixels, dtype="<u2").tobytes()


def _cell_args(cell: tuple[float, ...], short: bool = False) -> list[str]:
    """-cell values; ``short`` leaves out what the defaults supply (b = c = a, angles 90)."""
    args = [fmt(x, 2) for x in cell]
    if short and cell[3:] == (90.0, 90.0, 90.0):
        args = args[:1] if cell[0] == cell[1] == cell[2] else args[:3]
    return args


def _mosflm_matrix_text(
    reciprocal: np.ndarray,
    lambda_A: float,
    umat: np.ndarray,
    cell: tuple[float, ...],
    tail: bool,
    one_line: bool = False,
) -> str:
    """A MOSFLM orientation file: rows x, y, z; columns lambda-scaled a*, b*, c* (the
    readers take the first nine numbers, however they are laid out)."""
    A = reciprocal.T * lambda_A  # column j = vector j
    if one_line:
        return " ".join(f"{A[i, j]:.10e}" for i in range(3) for j in range(3)) + "\n"
    lines = [" ".join(f"{A[i, j]:14.9f}" for j in range(3)) for i in range(3)]
    if tail:  # what MOSFLM writes after the matrix; the readers ignore it
        lines.append("       0.000       0.000       0.000")
        lines += [" ".join(f"{umat[i, j]:12.7f}" for j in range(3)) for i in range(3)]
        lines.append(" ".join(f"{x:11.4f}" for x in cell))
        lines.append("       0.000       0.000       0.000")
    return "\n".join(lines) + "\n"


def _hkl_text(
    seed: int,
    ranges: tuple[tuple[int, int], ...],
    keep: float,
    with_000: bool,
    integer_F: bool,
    repeats: int = 0,
    negative: bool = False,
    layout: str = "plain",
) -> str:
    """h k l F lines: every index in the ranges (a fraction ``keep`` of them), random F;
    ``repeats`` entries listed again at the end with new values (the last one counts), and
    with ``negative`` some amplitudes below zero (only F² matters, but interpolation sees
    the sign). ``layout``: "plain" (one space), "tabs", "padded" (aligned columns, blank
    lines between index planes) or "exponent" (F written like 1.234e+02)."""
    rng = np.random.default_rng(seed)
    (h0, h1), (k0, k1), (l0, l1) = ranges
    out = []
    for h in range(h0, h1 + 1):
        for k in range(k0, k1 + 1):
            for l in range(l0, l1 + 1):
                F = float(rng.gamma(2.0, 60.0))
                if negative and rng.random() < 0.2:
                    F = -F
                if (h, k, l) == (0, 0, 0):
                    if not with_000:
                        continue
                elif rng.random() > keep:
                    continue
                value = f"{F:.3e}" if layout == "exponent" else str(round(F)) if integer_F else fmt(F, 2)
                if layout == "tabs":
                    out.append(f"{h}\t{k}\t{l}\t{value}\n")
                elif layout == "padded":
                    out.append(f"{h:4d}{k:4d}{l:4d}{value:>10s}\n")
                else:
                    out.append(f"{h} {k} {l} {value}\n")
            if layout == "padded" and out and out[-1] != "\n":
                out.append("\n")
    if not out:  # a table needs at least one entry
        out.append("1 0 0 100\n")
    entries = [line for line in out if line.strip()]
    for i in rng.integers(0, len(entries), repeats):
        hs, ks, ls, _ = entries[int(i)].split()
        out.append(f"{hs} {ks} {ls} {fmt(float(rng.gamma(2.0, 60.0)), 2)}\n")
    return "".join(out)


@st.composite
def command_lines(draw: st.DrawFn, max_work: int = MAX_WORK) -> CommandLine:
    """A valid nanoBragg command line over the whole flag space (see the module docstring)."""
    # ---- detector size --------------------------------------------------------------
    px = draw(decimals(0.1, 0.3, 3)) if not rarely(draw, 5) else draw(decimals(0.05, 0.1, 3))
    # -mask and -img files carry an SMV header whose values come first (the flags override
    # them, except that their pixel counts beat -detsize and CLOSE_DISTANCE beats -distance)
    has_mask = rarely(draw, 7)
    has_img = rarely(draw, 7)
    give_pixel = draw(st.integers(0, 3)) > 0
    if not (give_pixel or has_mask or has_img):
        px = 0.1  # the default
    size_style = draw(st.sampled_from(["detpixels", "detpixels_fs", "detsize"]))
    n_pix = st.integers(24, 96)
    items_det: list[list[str]] = []
    if size_style == "detpixels":
        nf = ns = draw(n_pix)
        items_det.append(["-detpixels", str(nf)])
    elif size_style == "detpixels_fs":
        nf, ns = draw(n_pix), draw(n_pix)
        f_flag, s_flag = draw(st.sampled_from([("-detpixels_f", "-detpixels_s"), ("-detpixels_x", "-detpixels_y")]))
        items_det += [[f_flag, str(nf)], [s_flag, str(ns)]]
    else:
        # sizes in mm; the pixel count is ceil(size/pixel - 0.5) (notes §2.1)
        sf_mm = draw(decimals(24 * px, 96 * px, 2))
        if draw(st.booleans()):
            items_det.append(["-detsize", fmt(sf_mm, 2)])
            ss_mm = sf_mm
        else:
            ss_mm = draw(decimals(24 * px, 96 * px, 2))
            items_det += [["-detsize_f", fmt(sf_mm, 2)], ["-detsize_s", fmt(ss_mm, 2)]]
        nf = max(1, math.ceil(sf_mm / 1000 / (px / 1000) - 0.5))
        ns = max(1, math.ceil(ss_mm / 1000 / (px / 1000) - 0.5))
    if size_style != "detsize" and rarely(draw, 5):
        # pixel counts beat sizes whatever the order (notes §2.1)
        flag = draw(st.sampled_from(["-detsize", "-detsize_f", "-detsize_s"]))
        items_det.append([flag, fmt(draw(decimals(5.0, 30.0, 2)), 2)])
    if give_pixel:
        items_det.append(["-pixel", fmt(px, 3)])
    detsize_f, detsize_s = nf * px, ns * px

    rendered = nf * ns
    roi = None
    if rarely(draw, 4):
        # inclusive bounds; the upper ones may lie past the edge (only existing pixels render)
        x0 = draw(st.integers(0, nf - 1))
        x1 = draw(st.integers(x0, nf + 4))
        y0 = draw(st.integers(0, ns - 1))
        y1 = draw(st.integers(y0, ns + 4))
        roi = (x0, x1, y0, y1)
        rendered = (min(x1, nf - 1) - x0 + 1) * (min(y1, ns - 1) - y0 + 1)
    line = _Line(pixels=rendered, max_work=max_work)
    line.items += items_det
    if roi:
        line.add("-roi", *roi)
    distances = []  # every distance the line or a header gives (for the auto-oversample guess)
    if has_mask:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        pixels = (rng.random((ns, nf)) > draw(st.sampled_from([0.5, 0.1, 0.9]))).astype(np.uint16)
        pixels *= np.uint16(draw(st.sampled_from([1, 7, 65535])))
        values = {"PIXEL_SIZE": fmt(px, 3)}
        if draw(st.booleans()):
            # a mask's BEAM_CENTER_Y is flipped about the detector's slow size (Q28)
            values["BEAM_CENTER_X"] = fmt(detsize_f * draw(decimals(0.3, 0.7, 3)), 3)
            values["BEAM_CENTER_Y"] = fmt(detsize_s * draw(decimals(0.3, 0.7, 3)), 3)
        line.files["mask.img"] = smv_bytes(values, pixels)
        line.add("-mask", "mask.img")
    img_values: dict[str, str] = {}
    if has_img:
        values = img_values
        values["PIXEL_SIZE"] = fmt(px, 3)
        optional = {
            "DISTANCE": decimals(50.0, 150.0, 1),
            "WAVELENGTH": decimals(0.8, 1.5, 3),
            "BEAM_CENTER_X": decimals(0.3 * detsize_f, 0.7 * detsize_f, 3),
            "BEAM_CENTER_Y": decimals(0.3 * detsize_s, 0.7 * detsize_s, 3),
            "XDS_ORGX": decimals(0.3 * nf, 0.7 * nf, 2),
            "XDS_ORGY": decimals(0.3 * ns, 0.7 * ns, 2),
            "CLOSE_DISTANCE": decimals(50.0, 150.0, 1),
            "PHI": signed(180.0, 2),
            "OSC_RANGE": st.sampled_from([0.0, 0.1, 0.5, 1.0]),
            "TWOTHETA": signed(10.0, 2),
        }
        for key, strategy in optional.items():
            if draw(st.booleans()):
                values[key] = fmt(draw(strategy), 3)
        for key in ("DISTANCE", "CLOSE_DISTANCE"):
            if key in values:
                distances.append(float(values[key]))
        if "OSC_RANGE" in values:
            line.take(2)  # an oscillation: at least two phi steps
        line.files["header.img"] = smv_bytes(values, np.zeros((ns, nf), dtype=np.uint16))
        line.add("-img", "header.img")

    # ---- wavelength -----------------------------------------------------------------
    wave = draw(st.sampled_from(["lambda", "energy", "both"]))
    by_flag = []  # (item, wavelength in Å); with both flags the later wins in both programs
    if wave != "energy":
        lam = draw(decimals(0.8, 1.5, 3))
        by_flag.append(([draw(st.sampled_from(["-lambda", "-wavelength"])), fmt(lam, 3)], lam))
    if wave != "lambda":
        energy = draw(decimals(8300.0, 15400.0, 1))
        by_flag.append((["-energy", fmt(energy, 1)], 12398.42 / energy))
    if len(by_flag) == 2 and draw(st.booleans()):
        by_flag.reverse()
    line.items += [item for item, _ in by_flag]
    lambda_A = by_flag[-1][1]

    # ---- crystal: cell or matrix, misset ------------------------------------------------
    # "wide": one example in four draws from wider (less typical, still valid) ranges
    wide = rarely(draw, 3)
    line.tags.append("wide" if wide else "typical")
    cell = draw(cells(wide))
    lengths = np.linalg.norm(real_vectors(cell), axis=1)
    orient = draw(st.sampled_from(["cell", "mat", "mat+cell"]))
    line.tags.append("crystal:" + orient)
    if orient == "cell":
        line.add("-cell", *_cell_args(cell, draw(st.booleans())))
    else:
        angles = (draw(signed(180, 1)), draw(signed(90, 1)), draw(signed(180, 1)))
        umat = rotation(*angles)
        recip = reciprocal_vectors(real_vectors(cell)) @ umat.T
        tail, one_line = draw(st.booleans()), rarely(draw, 4)
        line.files["xtal.mat"] = _mosflm_matrix_text(recip, lambda_A, umat, cell, tail, one_line)
        line.add(draw(st.sampled_from(["-mat", "-matrix"])), "xtal.mat")
        if orient == "mat+cell":
            # -cell with -mat keeps the matrix's directions and takes the cell's lengths
            scale = draw(decimals(0.95, 1.05, 3))
            rescaled = (cell[0] * scale, cell[1], cell[2] * scale, *cell[3:])
            line.add("-cell", *_cell_args(rescaled))
            lengths = np.linalg.norm(real_vectors(rescaled), axis=1)
    misset = draw(st.sampled_from(["none", "angles", "random"]))
    misset_seed = None
    if misset == "angles":
        line.add("-misset", fmt(draw(signed(180, 1)), 1), fmt(draw(signed(180, 1)), 1), fmt(draw(signed(180, 1)), 1))
    elif misset == "random":
        line.add("-misset", "random")
        misset_seed = draw(SEEDS)

    # ---- spot shape -------------------------------------------------------------------
    shape = draw(st.sampled_from(["default", "square", "round", "gauss", "tophat"]))
    line.tags.append("shape:" + shape)
    if shape != "default":
        tophat = draw(st.sampled_from(["-tophat_spots", "-binary_spots"]))
        line.add({"square": "-square_xtal", "round": "-round_xtal", "gauss": "-gauss_xtal", "tophat": tophat}[shape])
    # the gauss and tophat spot radius scales with 1/(Na*Nb*Nc) (Q8): with big crystals the
    # spots are too small to hit a pixel centre, so these get few cells and small fudge
    narrow = shape in ("gauss", "tophat")
    if shape in ("round", "gauss", "tophat") and draw(st.booleans()):
        line.add("-fudge", fmt(draw(decimals(0.05, 1.5, 2) if narrow else decimals(0.3, 3.0, 2)), 2))

    # ---- crystal size -----------------------------------------------------------------
    styles = ["none", "N", "Nabc"] + ([] if narrow else ["xtalsize", "xtal_axes", "N+xtalsize"])
    size_style = draw(st.sampled_from(styles))
    n_cells = [1, 1, 1]
    if size_style in ("N", "N+xtalsize"):
        n = draw(st.integers(1, 4 if narrow else 50 if wide else 12))
        if rarely(draw, 9):
            n = 0  # counts as 1 (after the interpolation choice)
        line.add("-N", n)
        n_cells = [n, n, n]
    elif size_style == "Nabc":
        for i, flag in enumerate(("-Na", "-Nb", "-Nc")):
            if draw(st.booleans()):
                n_cells[i] = draw(st.integers(1, 5 if narrow else 15))
                line.add(flag, n_cells[i])
    if size_style in ("xtalsize", "N+xtalsize"):
        mm = draw(decimals(0.0001, 0.0006, 5))
        line.add(draw(st.sampled_from(["-xtalsize", "-xtal_size", "-samplesize", "-sample_size"])), fmt(mm, 5))
        n_cells = [max(1, math.ceil(mm * 1e7 / L)) for L in lengths]
    elif size_style == "xtal_axes":
        for i, names in enumerate(
            (
                ("-xtal_x", "-xtal_thick", "-sample_x"),
                ("-xtal_y", "-xtal_width", "-sample_y"),
                ("-xtal_z", "-xtal_height", "-sample_z"),
            )
        ):
            if draw(st.booleans()):
                mm = draw(decimals(0.0001, 0.0006, 5))
                line.add(draw(st.sampled_from(names)), fmt(mm, 5))
                n_cells[i] = max(1, math.ceil(mm * 1e7 / lengths[i]))

    # ---- structure factors --------------------------------------------------------------
    sf = draw(st.sampled_from(["default_F", "hkl", "hkl+default_F"]))
    line.tags.append("F:" + sf)
    interpolating = False
    if sf != "default_F":
        hmax = [draw(st.integers(2, 8)) for _ in range(3)]
        # mostly symmetric about 0; sometimes one-sided or not containing 0 at all
        ranges = tuple(draw(st.sampled_from([(-m, m)] * 5 + [(0, m), (-m, 0), (1, m)])) for m in hmax)
        text = _hkl_text(
            draw(st.integers(0, 2**32 - 1)),
            ranges,
            draw(st.sampled_from([1.0, 0.7])),
            draw(st.booleans()),
            draw(st.booleans()),
            repeats=draw(st.sampled_from([0, 0, 0, 5])),
            negative=rarely(draw, 7),
            layout=draw(st.sampled_from(["plain", "plain", "tabs", "padded", "exponent"])),
        )
        line.files["xtal.hkl"] = text
        line.add("-hkl", "xtal.hkl")
        interp = draw(st.sampled_from(["auto", "-interpolate", "-nointerpolate"]))
        if interp != "auto":
            line.add(interp)
        interpolating = interp == "-interpolate" or (interp == "auto" and min(n_cells) <= 2)
    if sf != "hkl":
        line.add("-default_F", fmt(draw(decimals(1.0, 500.0, 1)), 1))
    if interpolating:
        line.take(4)  # tricubic interpolation costs about four plain evaluations

    # ---- detector geometry ---------------------------------------------------------------
    conv = draw(st.sampled_from(CONVENTIONS))
    line.tags.append("convention:" + conv)
    if conv not in ("default", "custom"):
        if rarely(draw, 7):
            # two conventions: the later one counts
            line.add(draw(st.sampled_from(["-mosflm", "-xds", "-adxv", "-denzo", "-dials"])))
        line.add("-" + conv)
    beam_dir = np.array([1.0, 0.0, 0.0]) if conv in ("default", "mosflm", "denzo") else np.array([0.0, 0.0, 1.0])
    if conv == "custom":
        beam_dir = _custom_vectors(draw, line)

    # beam centre: mostly a point within the middle of the detector, sometimes one off its edge
    # (negative values included), written in each flag's own terms
    centre = decimals(0.3, 0.7, 3) if not rarely(draw, 5) else decimals(-0.3, 1.3, 3)
    fc = detsize_f * draw(centre)
    sc = detsize_s * draw(centre)
    if draw(st.booleans()):
        if conv in ("default", "mosflm", "denzo"):
            xb, yb = sc, fc
        elif conv == "adxv":
            xb, yb = fc, detsize_s - sc
        else:
            xb, yb = fc, sc
        for flag, v in (("-Xbeam", xb), ("-Ybeam", yb)):
            if draw(st.integers(0, 3)) > 0:
                line.add(flag, fmt(v, 3))
    if rarely(draw, 3):
        for flag, v in (("-Xclose", fc), ("-Yclose", sc)):
            if draw(st.booleans()):
                line.add(flag, fmt(v, 3))
    if rarely(draw, 2) or conv in ("xds", "dials") and draw(st.booleans()):
        for flag, v in (("-ORGX", fc / px + 0.5), ("-ORGY", sc / px + 0.5)):
            if draw(st.integers(0, 3)) > 0:
                line.add(flag, fmt(v, 2))
    if rarely(draw, 3):
        line.add("-pivot", draw(st.sampled_from(["beam", "sample"])))

    distances_mm = decimals(20.0, 500.0, 1) if wide else decimals(50.0, 150.0, 1)
    distance = draw(distances_mm)
    dist_style = draw(st.sampled_from(["none", "distance", "close_distance", "both"]))
    if dist_style in ("distance", "both"):
        line.add("-distance", fmt(distance, 1))
    if dist_style in ("close_distance", "both"):
        close = draw(distances_mm)
        line.add("-close_distance", fmt(close, 1))
        distance = close
    if dist_style == "none":
        distance = 100.0
    distance = min([distance, *distances])

    if rarely(draw, 3):
        twotheta = fmt(draw(signed(45 if wide else 10, 2)), 2)
        if conv == "custom" and draw(st.booleans()):
            # the reference reads -twotheta_axis as a -twotheta as well; a later -twotheta wins
            # (never normalised by the reference: a non-unit axis scales the detector, notes §2.3)
            length = draw(st.sampled_from([1.0, 1.0, 1.0, 0.5, 2.0]))
            axis = _unitish(draw, np.array([0.0, length, 0.0]), 20)
            line.items.append(["-twotheta_axis", *axis, "-twotheta", twotheta])
        else:
            line.add("-twotheta", twotheta)
    for flag in ("-detector_rotx", "-detector_roty", "-detector_rotz"):
        if rarely(draw, 4):
            line.add(flag, fmt(draw(signed(30 if wide else 5, 2)), 2))
    if rarely(draw, 7):
        line.add("-curved_det")
    if rarely(draw, 7):
        line.add("-point_pixel")

    # ---- beam: fluence, polarization, sources -----------------------------------------------
    flu = draw(st.sampled_from(["default", "fluence", "flux", "both"]))
    if flu in ("fluence", "both"):
        line.add("-fluence", draw(scientific(19, 27)))
    if flu in ("flux", "both"):
        line.add("-flux", draw(scientific(9, 14)))
        if draw(st.booleans()):
            line.add("-exposure", fmt(draw(decimals(0.1, 10.0, 2)), 2))
        if draw(st.booleans()):
            line.add("-beamsize", fmt(draw(decimals(0.01, 0.2, 3)), 3))
    if rarely(draw, 9):
        # a beam narrower than the crystal clips its y and z sizes (notes §3.5), with or
        # without a flux
        line.add("-beamsize", fmt(draw(decimals(0.0001, 0.0004, 5)), 5))
    pol = draw(st.sampled_from(["default", "polar", "nopolar", "both"]))
    if pol in ("nopolar", "both"):
        line.add("-nopolar")
    if pol in ("polar", "both"):
        line.add("-polar", fmt(draw(decimals(0.0, 1.0, 2)), 2))

    src = draw(st.sampled_from(["none", "divergence", "dispersion", "both", "sourcefile"]))
    line.tags.append("sources:" + src)
    if src in ("divergence", "both"):
        _divergence(draw, line, wide)
    if src in ("dispersion", "both"):
        _dispersion(draw, line, wide)
    if src == "sourcefile":
        n = draw(st.integers(1, line.cap(4)))
        rows = []
        perp = np.linalg.svd(beam_dir.reshape(1, 3))[2][1:]  # two directions across the beam
        for _ in range(n):
            d = -10.0 * beam_dir + perp.T @ np.array([draw(signed(0.02, 4)), draw(signed(0.02, 4))])
            lam = lambda_A * draw(decimals(0.98, 1.02, 4)) * 1e-10
            cols = [fmt(d[0], 5), fmt(d[1], 5), fmt(d[2], 5), fmt(draw(decimals(0.5, 2.0, 2)), 2), f"{lam:.6e}"]
            # missing trailing columns: weight 1, the nominal wavelength (every line ends in \n)
            ncols = draw(st.sampled_from([5, 5, 4, 3]))
            sep = draw(st.sampled_from([" ", "\t", ", "]))
            rows.append(sep.join(cols[:ncols]) + "\n")
        text = "".join(rows)
        if text.endswith("\n") and rows[-1].count(sep) == 4 and rarely(draw, 3):
            # a complete last line may lack its newline (an incomplete one would read its
            # missing columns as 0, a 0 wavelength: notes Q33)
            text = text[:-1]
        line.files["sources.txt"] = text
        line.add("-sourcefile", "sources.txt")
        line.take(n)
        if rarely(draw, 3):
            # divergence and dispersion settings are ignored with a source file
            line.add("-divergence", fmt(draw(decimals(0.1, 2.0, 2)), 2))
            line.add("-dispersion", fmt(draw(decimals(0.1, 2.0, 2)), 2))

    # ---- sampling ---------------------------------------------------------------------------
    xtal_max = max(n * L for n, L in zip(n_cells, lengths)) * 1e-10
    auto_os = 3.0 * xtal_max / (lambda_A * 1e-10 * distance * 1e-3 / (px * 1e-3))
    oversample = draw(st.sampled_from([None, 1, 2, 3, 0]))  # 0 = automatic, like no flag
    if oversample in (None, 0) and (auto_os > 2.5 or math.ceil(auto_os) ** 2 > line.cap(9)):
        oversample = 1  # the automatic choice would cost too much
    if oversample in (None, 0):
        if oversample == 0:
            line.add("-oversample", 0)
        line.take(max(1, math.ceil(auto_os)) ** 2)
    else:
        oversample = min(oversample, int(math.sqrt(line.cap(9))))
        line.add("-oversample", oversample)
        line.take(oversample**2)
    _phi(draw, line, zero_osc="OSC_RANGE" in img_values and float(img_values["OSC_RANGE"]) == 0.0, wide=wide)
    _mosaic(draw, line, wide)

    thick_sensor = rarely(draw, 3)
    if not thick_sensor and rarely(draw, 9):
        # a layer count or an absorption depth without a thickness changes nothing
        line.add(draw(st.sampled_from(["-thicksteps", "-detector_abs"])), draw(st.integers(2, 300)))
    if thick_sensor:
        thick = draw(st.integers(10, 500))
        line.add("-detector_thick", thick)
        layers = 2
        if draw(st.booleans()):
            n = draw(st.integers(1, line.cap(3)))
            line.add(draw(st.sampled_from(["-thicksteps", "-detector_thicksteps"])), n)
            layers = max(2, n)
        absorb = draw(st.sampled_from(["none", "value", "value", "value", "value", "value", "inf", "0"]))
        if absorb == "value":
            line.add(draw(st.sampled_from(["-detector_abs", "-detector_absorb"])), draw(st.integers(50, 1000)))
        elif absorb != "none":
            # sets thickness 0 and mu 0: a -detector_thick after it gives an empty image (Q31)
            line.add("-detector_abs", absorb)
        line.take(layers)
    for flag in ("-oversample_thick", "-oversample_polar", "-oversample_omega"):
        # -oversample_omega multiplies the running sum by omega after every term (Q3); with
        # -point_pixel omega is 1/R^2 > 1 and pixels overflow to inf in both programs (the
        # test then wants the same bits). -oversample_thick without a sensor thickness makes
        # every capture fraction 0 (an empty image): seldom drawn.
        if rarely(draw, 5 if flag != "-oversample_thick" or thick_sensor else 40):
            line.add(flag)

    # ---- resolution cut, water, integer image scale ---------------------------------------------
    if rarely(draw, 4):
        # around the resolution at the detector's corner, so that the cut falls on the image
        corner = math.hypot(detsize_f, detsize_s) / 2 / distance
        d_corner = lambda_A / (2 * math.sin(math.atan(corner) / 2))
        line.add("-dmin", fmt(d_corner * draw(decimals(0.7, 2.5, 2)), 2))
    if rarely(draw, 4):
        line.add("-water", fmt(draw(decimals(0.0, 300.0, 1)), 1))
    if rarely(draw, 5):
        # KNOWN DIVERGENCE (reported): with a negative offset a noise count below -adc is
        # negative, and the reference converts it to unsigned 16 bits without a lower clamp
        # (undefined in C; on x86-64 it wraps, -17 -> 65519) where we write 0. Not drawn.
        line.add("-adc", fmt(draw(decimals(0.0, 100.0, 1)), 1))
    if rarely(draw, 5):
        line.add("-scale", fmt(draw(decimals(0.1, 100.0, 2)), 2))

    # ---- order: as drawn, or shuffled (later flags override earlier ones in both programs) ------
    items = line.items
    if rarely(draw, 5):
        # a flag given twice with the same values (its side effects, e.g. on the pivot,
        # happen twice; the later occurrence counts)
        items = items + [draw(st.sampled_from(items))]
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    tokens = [tok for item in items for tok in item]
    tokens += ["-seed", str(draw(SEEDS))]
    if misset_seed is not None:
        tokens += ["-misset_seed", str(misset_seed)]  # last: see the module docstring
    return CommandLine(
        args=tuple(tokens),
        files=tuple(sorted(line.files.items())),
        fpixels=nf,
        spixels=ns,
        work=line.pixels * line.steps,
        tags=tuple(line.tags),
    )


def _unitish(draw: st.DrawFn, base: np.ndarray, degrees: float) -> list[str]:
    """``base`` turned by up to ``degrees`` about each axis, written with six decimals."""
    r = rotation(draw(signed(degrees, 2)), draw(signed(degrees, 2)), draw(signed(degrees, 2)))
    return [fmt(x, 6) for x in r @ base]


def _custom_vectors(draw: st.DrawFn, line: _Line) -> np.ndarray:
    """Near-orthonormal custom vectors; returns the beam direction."""
    frame = draw(st.sampled_from(["mosflm-like", "xds-like"]))
    line.tags.append("vectors:" + frame)
    if rarely(draw, 3):
        # a convention flag first: its pivot stays, the vector flags after it make it custom
        line.add(draw(st.sampled_from(["-mosflm", "-xds", "-adxv", "-denzo", "-dials"])))
    if frame == "mosflm-like":
        x, y, z = np.eye(3)
        beam, fdet, sdet, odet, polar, spindle = x, z, -y, x, z, z
        # every vector is optional: the custom defaults are this frame
        wanted = {name: draw(st.booleans()) for name in ("fdet", "sdet", "odet", "beam", "polar", "spindle")}
        if not any(wanted.values()):
            wanted["fdet"] = True
    else:
        x, y, z = np.eye(3)
        beam, fdet, sdet, odet, polar, spindle = z, x, y, z, x, x
        # the custom defaults belong to the other frame, so give the frame in full
        wanted = {"fdet": True, "sdet": True, "odet": True, "beam": True, "polar": True, "spindle": draw(st.booleans())}
    tilt = rotation(draw(signed(4, 2)), draw(signed(4, 2)), draw(signed(4, 2)))
    exact = draw(st.integers(0, 3)) == 0  # no tilt: unit vectors written exactly
    if exact:
        tilt = np.eye(3)
    beam_out = beam
    for name, vec, flag in (
        ("fdet", fdet, "-fdet_vector"),
        ("sdet", sdet, "-sdet_vector"),
        ("odet", odet, "-odet_vector"),
        ("beam", beam, "-beam_vector"),
        ("polar", polar, "-polar_vector"),
        ("spindle", spindle, "-spindle_axis"),
    ):
        if not wanted[name]:
            continue
        v = tilt @ vec
        if name == "beam":
            v = rotation(draw(signed(1, 2)), draw(signed(1, 2)), draw(signed(1, 2))) @ v
            beam_out = v
        elif name == "spindle" and draw(st.booleans()):
            v = rotation(draw(signed(60, 1)), draw(signed(60, 1)), 0) @ v
        # the reference normalises these (odet: replaces a non-unit one by fdet x sdet)
        v = v * draw(st.sampled_from([1.0, 1.0, 1.0, 1.0, 2.0, 0.5]))
        line.add(flag, *(fmt(x, 6) for x in v))
    if rarely(draw, 5):
        # its values have no effect; the flag still selects the custom convention (Q16)
        line.add("-pix0_vector", *(fmt(draw(signed(0.2, 4)), 4) for _ in range(3)))
    return beam_out


def _axis_count(rng: float | None, step: float | None, steps: int | None) -> int:
    """Points along one divergence (or dispersion) axis, as the reference counts them."""
    if steps is None:
        if rng is None and step is None:
            return 1
        if rng is None or step is None:
            return 2
        return math.ceil(rng / step)
    if rng is None:
        return steps if step is None else 2
    return max(2, steps) if step is None else steps


def _divergence(draw: st.DrawFn, line: _Line, wide: bool = False) -> None:
    """-divergence/-divsteps or per-axis -h/-vdivrange, -h/-vdivstep, -h/-vdivsteps."""
    budget = line.cap(16)
    if draw(st.booleans()):
        rng = draw(decimals(0.1, 20.0 if wide else 3.0, 2)) if not rarely(draw, 3) else None
        n = draw(st.integers(1, max(1, int(math.sqrt(budget))))) if rng is None or draw(st.booleans()) else None
        if rng is None and n == 1:
            # -divsteps 1 alone: one point at (-0.5, -0.5) rad, which the round filter drops;
            # with no source left the reference renders NaN and we refuse the line
            n = 2
        if rng is not None:
            line.add("-divergence", fmt(rng, 2))
        if n is not None:
            line.add("-divsteps", n)
        count = _axis_count(rng, None, n) ** 2
    else:
        count = 1
        for axis in "hv":
            per_axis = max(1, int(math.sqrt(budget)))
            mode = draw(st.sampled_from(["none", "range", "range+steps", "range+step", "step", "steps+step", "steps"]))
            rng = step = None
            steps = None
            if "range" in mode:
                rng = draw(decimals(0.1, 20.0 if wide else 3.0, 2))
            if mode == "range+step":
                assert rng is not None
                n = draw(st.integers(1, max(1, per_axis - 1)))
                step = round(rng / (n + 0.5), 4)
            elif "step" in mode.split("+") or mode == "steps+step":
                step = draw(decimals(0.05, 1.5, 2))
            if "steps" in mode.split("+"):
                steps = draw(st.integers(1, per_axis))
            if mode == "steps":
                # range defaults to 1 rad: a very wide fan, valid all the same (but one step
                # on both axes puts the only point outside the round filter; see below)
                steps = draw(st.integers(2, max(2, min(3, per_axis))))
            for flag, v in ((f"-{axis}divrange", rng), (f"-{axis}divstep", step)):
                if v is not None and v > 0:
                    line.add(flag, fmt(v, 4))
            if steps is not None:
                line.add(f"-{axis}divsteps", steps)
            count *= _axis_count(rng, step, steps)
    if rarely(draw, 2):
        line.add(draw(st.sampled_from(["-round_div", "-square_div"])))
    line.take(count)


def _dispersion(draw: st.DrawFn, line: _Line, wide: bool = False) -> None:
    pct = draw(decimals(0.1, 20.0 if wide else 5.0, 2))
    line.add("-dispersion", fmt(pct, 2))
    n = 2
    if draw(st.booleans()):
        n = draw(st.integers(1, line.cap(5)))
        line.add("-dispsteps", n)
        n = max(2, n)
    line.take(n)


def _phi(draw: st.DrawFn, line: _Line, zero_osc: bool = False, wide: bool = False) -> None:
    """Spindle rotation in every way the reference can be asked for it (notes §4.1).

    ``zero_osc``: an -img header sets the oscillation to 0. A -phistep alone then asks the
    reference for ceil(0/phistep) = 0 phi steps, and it renders 0/0 = NaN in every pixel,
    while we render one step (KNOWN DIVERGENCE, reported; same as ``-osc 0 -phistep x``,
    which is never drawn either): that combination is not drawn.
    """
    styles = ["none", "phi", "osc", "osc+steps", "osc+step", "step", "steps", "steps+step", "all"]
    if zero_osc:
        styles.remove("step")
    style = draw(st.sampled_from(styles))
    if style == "none":
        return
    phi0 = draw(st.sampled_from([0.0, None])) if draw(st.booleans()) else draw(signed(180, 2))
    if phi0 is not None:
        line.add("-phi", fmt(phi0, 2))
    most = line.cap(4)
    n = draw(st.integers(1, most))
    osc = draw(decimals(0.05, 30.0 if wide else 2.0, 3))
    count = 1
    if style == "osc":
        line.add("-osc", fmt(osc, 3))
        count = 2
    elif style == "osc+steps":
        line.add("-osc", fmt(osc, 3))
        line.add("-phisteps", n)
        count = n
    elif style == "osc+step":
        step = round(osc / (n - 0.5), 4) if n > 1 else osc * 2
        line.add("-osc", fmt(osc, 3))
        line.add("-phistep", fmt(step, 4))
        count = max(1, n)
    elif style == "step":
        line.add("-phistep", fmt(osc, 3))
        count = 2
    elif style == "steps":
        # osc defaults to 1 degree
        line.add("-phisteps", n)
        count = n
    elif style == "steps+step":
        line.add("-phisteps", n)
        line.add("-phistep", fmt(osc, 3))
        count = 2
    elif style == "all":
        line.add("-osc", fmt(osc, 3))
        line.add("-phistep", fmt(osc / n, 4))
        line.add("-phisteps", n)
        count = n
    line.take(count)


def _mosaic(draw: st.DrawFn, line: _Line, wide: bool = False) -> None:
    style = draw(st.sampled_from(["none", "spread+domains", "spread", "domains", "zero_spread"]))
    if style == "none":
        return
    count = 1
    flag = draw(st.sampled_from(["-mosaic", "-mosaicity", "-mosaic_spread"]))
    if style == "spread" and line.cap(10) >= 10:
        line.add(flag, fmt(draw(decimals(0.01, 10.0 if wide else 1.0, 3)), 3))
        count = 10  # a spread without a domain count means ten domains
    elif style in ("spread+domains", "spread"):
        n = draw(st.integers(1, line.cap(6)))
        line.add(flag, fmt(draw(decimals(0.01, 10.0 if wide else 1.0, 3)), 3))
        line.add(draw(st.sampled_from(["-mosaic_dom", "-mosaic_domains"])), n)
        count = n
    elif style == "domains":
        line.add("-mosaic_dom", draw(st.integers(1, 6)))  # no spread: one domain
    else:
        line.add(flag, "0")
        line.add("-mosaic_dom", draw(st.integers(1, 6)))
    if draw(st.booleans()):
        line.add("-mosaic_seed", draw(SEEDS))
    line.take(count)
