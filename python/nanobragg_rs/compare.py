"""Compare two detector images: ``nanobragg compare A B`` and :func:`compare_images`.

A is the reference (for instance nanoBragg.c's output), B is ours. Pixels are judged by the
golden corpus's agreement rule, ``|ours - ref| <= 1e-5·|ref| + 1e-7·max(ref)``; beyond that
the comparison reports summary statistics (correlation, sum ratio, largest differences) and
where the Bragg spots are in each image, so that a scale error, a shifted beam centre or a
transposed axis is recognisable at a glance.

Images can be raw float32 files (``-floatfile``), SMV files (``-intfile``, ``-noisefile``)
or HDF5 files (``-h5file``); see :func:`load_image`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import report
from .io.atomic import atomic_open
from .io.smv import read_smv

#: Relative and max-relative tolerances of the agreement rule (golden/README.md).
REL_TOL = 1e-5
MAX_TOL = 1e-7

#: Where our HDF5 writer puts the images.
DEFAULT_DATASET = "/entry/data/data"

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5")


class UnknownShapeError(ValueError):
    """A raw float32 file whose shape is neither given nor found."""


@dataclass(frozen=True)
class Spot:
    """A connected group of pixels above the spot threshold.

    ``slow``/``fast`` are the centroid in pixels (0-based, pixel centres at integers), weighted
    by each pixel's height above the threshold; ``peak`` is the largest pixel value, ``total``
    the sum of the pixel values and ``pixels`` the number of pixels."""

    slow: float
    fast: float
    peak: float
    total: float
    pixels: int


@dataclass(frozen=True)
class SpotMatch:
    """A reference spot, the spot of ours paired with it and their centroid distance (pixels)."""

    reference: Spot
    ours: Spot
    distance: float


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare_images` found. Pixel positions are ``(slow, fast)``."""

    shape: tuple[int, int]
    #: True when every pixel agrees under the rule.
    agree: bool
    #: Pearson correlation coefficient over pixels finite in both images (NaN if undefined).
    correlation: float
    sum_reference: float
    sum_ours: float
    #: ``sum_ours / sum_reference``.
    sum_ratio: float
    #: Largest ``|ours - ref|``; infinite where either image has a NaN or infinite pixel.
    max_abs_diff: float
    max_abs_diff_at: tuple[int, int]
    #: Largest ``|ours - ref| / |ref|`` over pixels where the reference is nonzero.
    max_rel_diff: float
    max_rel_diff_at: tuple[int, int] | None
    #: Number and fraction of pixels that fail the agreement rule.
    disagreeing: int
    disagreeing_fraction: float
    #: The disagreeing pixel furthest outside its tolerance (largest ``|diff| / tol``).
    worst_pixel: tuple[int, int] | None
    #: Spot threshold: mean + ``spot_sigma`` standard deviations of each image.
    spot_sigma: float
    #: Largest centroid distance at which two spots are paired.
    match_radius: float
    reference_spots: tuple[Spot, ...]
    our_spots: tuple[Spot, ...]
    #: Each reference spot with the nearest of ours within the radius, strongest first.
    matches: tuple[SpotMatch, ...]
    #: Reference spots without a spot of ours within the radius.
    unmatched_reference: int
    #: Spots of ours that are no reference spot's nearest.
    unmatched_ours: int
    #: Largest and median distance of the matched pairs (NaN without pairs).
    max_spot_distance: float
    median_spot_distance: float


def tolerance(reference: np.ndarray) -> np.ndarray:
    """Per pixel, ``1e-5·|ref| + 1e-7·max(ref)``, the maximum over the finite pixels."""
    ref = np.asarray(reference, dtype=np.float64)
    finite = np.isfinite(ref)
    top = float(ref[finite].max()) if finite.any() else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        return REL_TOL * np.abs(ref) + MAX_TOL * top


def agreement_mask(reference: np.ndarray, ours: np.ndarray) -> np.ndarray:
    """Per pixel, whether ``ours`` agrees with ``reference`` under the corpus's rule; a NaN or
    infinite pixel in either image never agrees (the rule's inequality is false for it)."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(ours, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(out - ref) <= tolerance(ref)
    return ok & np.isfinite(ref) & np.isfinite(out)


def compare_images(
    reference: np.ndarray,
    ours: np.ndarray,
    *,
    spot_sigma: float = 3.0,
    match_radius: float = 10.0,
    min_spot_pixels: int = 1,
) -> Comparison:
    """Compare ``ours`` with ``reference`` (2-D arrays of the same shape, any numeric dtype).

    Spots are the 8-connected groups of at least ``min_spot_pixels`` pixels above each image's
    mean + ``spot_sigma`` standard deviations. Each reference spot is paired with the nearest
    of our spots when their centroids are at most ``match_radius`` pixels apart."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(ours, dtype=np.float64)
    if ref.ndim != 2 or out.ndim != 2:
        raise ValueError(f"images must be 2-D, got shapes {ref.shape} and {out.shape}")
    if ref.shape != out.shape:
        raise ValueError(f"shapes differ: reference {_shape_text(ref.shape)}, ours {_shape_text(out.shape)}")
    if ref.size == 0:
        raise ValueError("images are empty")

    ok = agreement_mask(ref, out)
    both = np.isfinite(ref) & np.isfinite(out)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.where(both, np.abs(out - ref), np.inf)
        sum_ref = float(ref[np.isfinite(ref)].sum())
        sum_out = float(out[np.isfinite(out)].sum())
        ratio = _ratio(sum_out, sum_ref)
        nonzero = ref != 0
        rel = np.where(nonzero, diff / np.where(nonzero, np.abs(ref), 1.0), -np.inf)
        tol = tolerance(ref)
        # How far outside its tolerance a pixel is; a zero tolerance makes any excess infinite.
        excess = np.where(ok, -np.inf, np.where(tol > 0, diff / np.where(tol > 0, tol, 1.0), np.inf))

    abs_at = _argmax(diff)
    rel_at = _argmax(rel) if nonzero.any() else None
    disagreeing = int(ok.size - np.count_nonzero(ok))

    ref_spots = find_spots(ref, spot_sigma, min_spot_pixels)
    our_spots = find_spots(out, spot_sigma, min_spot_pixels)
    matches = match_spots(ref_spots, our_spots, match_radius)
    distances = np.array([m.distance for m in matches])

    return Comparison(
        shape=(int(ref.shape[0]), int(ref.shape[1])),
        agree=disagreeing == 0,
        correlation=_correlation(ref[both], out[both]),
        sum_reference=sum_ref,
        sum_ours=sum_out,
        sum_ratio=ratio,
        max_abs_diff=float(diff[abs_at]),
        max_abs_diff_at=abs_at,
        max_rel_diff=float(rel[rel_at]) if rel_at is not None else 0.0,
        max_rel_diff_at=rel_at,
        disagreeing=disagreeing,
        disagreeing_fraction=disagreeing / ok.size,
        worst_pixel=_argmax(excess) if disagreeing else None,
        spot_sigma=spot_sigma,
        match_radius=match_radius,
        reference_spots=ref_spots,
        our_spots=our_spots,
        matches=matches,
        unmatched_reference=len(ref_spots) - len(matches),
        unmatched_ours=len(our_spots) - len({m.ours for m in matches}),
        max_spot_distance=float(distances.max()) if distances.size else math.nan,
        median_spot_distance=float(np.median(distances)) if distances.size else math.nan,
    )


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) + (" (slow x fast)" if len(shape) == 2 else "")


def _ratio(num: float, den: float) -> float:
    if den != 0:
        return num / den
    return 1.0 if num == 0 else math.copysign(math.inf, num)


def _argmax(values: np.ndarray) -> tuple[int, int]:
    s, f = np.unravel_index(int(np.argmax(values)), values.shape)
    return int(s), int(f)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r; 1 for two identical constant images, NaN for other constant ones."""
    if a.size == 0:
        return math.nan
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    if den == 0 or not math.isfinite(den):
        return 1.0 if np.array_equal(a, b) else math.nan
    return max(-1.0, min(1.0, float(np.dot(da, db)) / den))


def find_spots(image: np.ndarray, sigma: float = 3.0, min_pixels: int = 1) -> tuple[Spot, ...]:
    """Spots of ``image``: 8-connected groups of pixels above mean + ``sigma``·sd (over the
    finite pixels), strongest peak first. A flat image has none."""
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    if not finite.any():
        return ()
    vals = img[finite]
    sd = float(vals.std())
    if sd == 0 or not math.isfinite(sd):
        return ()
    threshold = float(vals.mean()) + sigma * sd
    with np.errstate(invalid="ignore"):
        mask = finite & (img > threshold)
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return ()
    comp, count = _components(mask, ys.size)
    v = img[ys, xs]
    w = v - threshold
    pixels = np.bincount(comp, minlength=count)
    weight = np.bincount(comp, weights=w, minlength=count)
    slow = np.bincount(comp, weights=w * ys, minlength=count) / weight
    fast = np.bincount(comp, weights=w * xs, minlength=count) / weight
    total = np.bincount(comp, weights=v, minlength=count)
    peak = np.full(count, -np.inf)
    np.maximum.at(peak, comp, v)
    keep = np.nonzero(pixels >= max(1, min_pixels))[0]
    # Strongest first; ties broken by position so the order is deterministic.
    order = keep[np.lexsort((fast[keep], slow[keep], -peak[keep]))]
    return tuple(
        Spot(float(slow[k]), float(fast[k]), float(peak[k]), float(total[k]), int(pixels[k])) for k in order
    )


def _components(mask: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Label the 8-connected components of ``mask``'s true pixels (in ``np.nonzero`` order).

    Returns a component number per pixel and the number of components. Vectorised min-label
    propagation with pointer jumping: labels only decrease and are always a pixel of the same
    component, so when no edge joins two labels every component has exactly one."""
    h, w = mask.shape
    index = np.full(mask.shape, -1, dtype=np.int64)
    index[mask] = np.arange(n)
    us, vs = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        if dx >= 0:
            src, dst = index[: h - dy, : w - dx], index[dy:, dx:]
        else:
            src, dst = index[: h - dy, -dx:], index[dy:, : w + dx]
        linked = (src >= 0) & (dst >= 0)
        us.append(src[linked])
        vs.append(dst[linked])
    u, v = np.concatenate(us), np.concatenate(vs)
    labels = np.arange(n)
    while u.size:
        lu, lv = labels[u], labels[v]
        if np.array_equal(lu, lv):
            break
        low = np.minimum(lu, lv)
        # Hook both endpoints and both of their roots onto the smaller label.
        np.minimum.at(labels, u, low)
        np.minimum.at(labels, v, low)
        np.minimum.at(labels, lu, low)
        np.minimum.at(labels, lv, low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    roots, comp = np.unique(labels, return_inverse=True)
    return comp.ravel(), int(roots.size)


def match_spots(reference: Sequence[Spot], ours: Sequence[Spot], radius: float = 10.0) -> tuple[SpotMatch, ...]:
    """Pair each reference spot with the nearest of our spots, if that is at most ``radius``
    pixels away; the pairs come in the order of ``reference``.

    Several reference spots may pick the same spot of ours. A one-to-one assignment would be
    no better: on a regular lattice a shift can put two candidates at the same distance, and
    resolving such ties one way cascades into wrong pairs along a whole row."""
    if not reference or not ours:
        return ()
    r = np.array([(s.slow, s.fast) for s in reference])
    o = np.array([(s.slow, s.fast) for s in ours])
    pairs: list[SpotMatch] = []
    # Rows at a time so that many spots do not need an n x m matrix at once.
    step = max(1, 2_000_000 // len(o))
    for start in range(0, len(r), step):
        block = r[start : start + step]
        d = np.hypot(block[:, None, 0] - o[None, :, 0], block[:, None, 1] - o[None, :, 1])
        nearest = np.argmin(d, axis=1)  # the first, i.e. strongest, of equally near spots
        for k, j in enumerate(nearest):
            dist = float(d[k, j])
            if dist <= radius:
                pairs.append(SpotMatch(reference[start + k], ours[int(j)], dist))
    return tuple(pairs)


# --------------------------------------------------------------------------------------------
# Reading images


def load_image(
    path: str | os.PathLike[str],
    shape: tuple[int, int] | None = None,
    dataset: str | None = None,
    frame: int = 0,
    *,
    fallback_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read one image as a float64 array of shape (slow, fast).

    The format is recognised from the content (the extension only for HDF5 with a user block):

    - HDF5: frame ``frame`` of ``dataset`` (default ``/entry/data/data``, shape (frames, slow,
      fast) or (slow, fast)). Needs h5py; hdf5plugin is loaded when installed, for compressed
      data.
    - SMV (``{`` header with ``HEADER_BYTES``): the pixels, including nanoBragg.c's headers
      that run past their 512 bytes.
    - Anything else is raw little-endian float32 (``-floatfile``). Its shape is, in order:
      ``shape`` if given; else SIZE2 x SIZE1 of an SMV file in the same folder holding as many
      pixels, the one with the same stem first (``float.bin`` / ``float.img``), then the other
      ``*.img`` files in name order (nanoBragg writes ``intimage.img`` beside
      ``floatimage.bin``); else ``fallback_shape`` when it holds as many pixels; else square
      when the count is a perfect square.

    ``dataset`` and ``frame`` apply to HDF5 files only, so that one command line can compare an
    HDF5 frame with a float or SMV file. Raises ``OSError`` for files that cannot be opened and
    ``ValueError``, with a message that starts with the file name, for files that cannot be
    read as an image."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        head = f.read(64)
    if head.startswith(_HDF5_MAGIC) or name.lower().endswith(_HDF5_SUFFIXES):
        return _load_hdf5(name, dataset or DEFAULT_DATASET, frame)
    if head.startswith(b"{") and b"HEADER_BYTES" in head:
        return read_smv(name).data.astype(np.float64)
    return _load_raw(name, shape, fallback_shape)


def _load_raw(name: str, shape: tuple[int, int] | None, fallback: tuple[int, int] | None) -> np.ndarray:
    nbytes = os.path.getsize(name)
    if nbytes == 0 or nbytes % 4:
        raise ValueError(
            f"{name}: {nbytes} bytes is not a whole number of float32 pixels (and not an SMV or HDF5 file)"
        )
    count = nbytes // 4
    if shape is not None:
        if shape[0] * shape[1] != count:
            raise ValueError(f"{name}: {count} float32 pixels, not {shape[0]}x{shape[1]} (slow x fast)")
    else:
        shape = _sibling_shape(name, count)
        if shape is None and fallback is not None and fallback[0] * fallback[1] == count:
            shape = fallback
        if shape is None:
            side = math.isqrt(count)
            if side * side != count:
                raise UnknownShapeError(
                    f"{name}: cannot tell the shape of {count} float32 pixels; give --shape SLOW FAST"
                )
            shape = (side, side)
    return np.fromfile(name, dtype="<f4").reshape(shape).astype(np.float64)


def _sibling_shape(name: str, count: int) -> tuple[int, int] | None:
    """(SIZE2, SIZE1) of an SMV file beside ``name`` with ``count`` pixels, if there is one."""
    folder = os.path.dirname(os.path.abspath(name))
    stem = os.path.splitext(os.path.basename(name))[0]
    try:
        others = sorted(e for e in os.listdir(folder) if e.lower().endswith(".img"))
    except OSError:
        return None
    same = [e for e in others if os.path.splitext(e)[0] == stem]
    for entry in same + [e for e in others if e not in same]:
        size = _smv_size(os.path.join(folder, entry))
        if size is not None and size[0] * size[1] == count:
            return size
    return None


def _smv_size(path: str) -> tuple[int, int] | None:
    """(SIZE2, SIZE1) from an SMV header, without reading the pixels; None if not SMV."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return None
    end = head.find(b"}")
    if not head.startswith(b"{") or end < 0:
        return None
    text = head[:end].decode("ascii", errors="replace")
    s1 = re.search(r"(?m)^\s*SIZE1\s*=\s*(\d+)", text)
    s2 = re.search(r"(?m)^\s*SIZE2\s*=\s*(\d+)", text)
    if not (s1 and s2):
        return None
    return int(s2.group(1)), int(s1.group(1))


def _load_hdf5(name: str, dataset: str, frame: int) -> np.ndarray:
    try:
        import h5py
    except ImportError:
        raise ValueError(f"{name}: reading HDF5 needs h5py (pip install 'nanobragg-rs[hdf5]')") from None
    with contextlib.suppress(ImportError):
        import hdf5plugin  # noqa: F401  (registers compression filters with h5py)
    try:
        f = h5py.File(name, "r")
    except OSError as e:
        raise ValueError(f"{name}: not a readable HDF5 file ({e})") from None
    with f:
        node = f.get(dataset)
        if not isinstance(node, h5py.Dataset):
            what = "no dataset" if node is None else "not a dataset"
            raise ValueError(f"{name}: {what} at {dataset} (choose one with --dataset)")
        if node.ndim == 2:
            if frame != 0:
                raise ValueError(f"{name}: {dataset} holds one image, not frame {frame}")
            data = node[()]
        elif node.ndim == 3:
            if not -node.shape[0] <= frame < node.shape[0]:
                raise ValueError(f"{name}: {dataset} has {node.shape[0]} frames, no frame {frame}")
            data = node[frame]
        else:
            raise ValueError(f"{name}: {dataset} has shape {node.shape}, expected (frames, slow, fast) or (slow, fast)")
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {dataset} is not numeric") from None


# --------------------------------------------------------------------------------------------
# Report and picture


def _g(x: float, digits: int = 6) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}g}"


def _at(pos: tuple[int, int] | None) -> str:
    return "" if pos is None else f" at (slow {pos[0]}, fast {pos[1]})"


def format_report(
    c: Comparison,
    reference: np.ndarray | None = None,
    ours: np.ndarray | None = None,
    names: tuple[str, str] = ("reference", "ours"),
    top: int = 10,
) -> str:
    """The report ``nanobragg compare`` prints. With the images, the ``top`` disagreeing
    pixels are listed by value; the ``top`` strongest reference spots always are."""
    lines = [
        f"reference (A): {names[0]}",
        f"ours (B):      {names[1]}",
        f"shape:         {c.shape[0]} x {c.shape[1]} (slow x fast), {c.shape[0] * c.shape[1]} pixels",
        f"sum:           reference {_g(c.sum_reference)}, ours {_g(c.sum_ours)}",
        f"sum ratio (ours/reference): {c.sum_ratio:.6f}",
        f"correlation:   {'n/a' if math.isnan(c.correlation) else f'{c.correlation:.6f}'}",
        f"max |diff|:    {_g(c.max_abs_diff)}{_at(c.max_abs_diff_at if c.max_abs_diff else None)}",
        f"max rel diff:  {_g(c.max_rel_diff)}{_at(c.max_rel_diff_at if c.max_rel_diff else None)}"
        + ("" if c.max_rel_diff_at is not None else " (reference is zero everywhere)"),
        f"disagreeing:   {c.disagreeing} of {c.shape[0] * c.shape[1]} pixels ({100 * c.disagreeing_fraction:.4g}%)"
        f" under |B - A| <= {REL_TOL:g}*|A| + {MAX_TOL:g}*max(A)",
    ]
    if c.worst_pixel is not None and reference is not None and ours is not None and top > 0:
        ref = np.asarray(reference, dtype=np.float64)
        out = np.asarray(ours, dtype=np.float64)
        bad = np.flatnonzero(~agreement_mask(ref, out))
        with np.errstate(invalid="ignore"):
            gap = np.abs(out.ravel()[bad] - ref.ravel()[bad])
        gap[np.isnan(gap)] = np.inf  # NaN pixels are the worst of all
        flat = bad[np.argsort(-gap, kind="stable")[:top]]
        lines.append(f"largest disagreements ({len(flat)}):")
        lines.append("   slow   fast   reference        ours             diff")
        for k in flat:
            row, col = divmod(int(k), c.shape[1])
            a, b = float(ref[row, col]), float(out[row, col])
            lines.append(f"  {row:5d}  {col:5d}   {a:<15.7g}  {b:<15.7g}  {b - a:.4g}")
    lines.append(
        f"spots:         reference {len(c.reference_spots)}, ours {len(c.our_spots)}"
        f" (8-connected pixels above mean + {c.spot_sigma:g} sd)"
    )
    lines.append(
        f"spot matches:  {len(c.matches)} within {c.match_radius:g} px;"
        f" unmatched reference {c.unmatched_reference}, unmatched ours {c.unmatched_ours}"
    )
    if c.matches:
        lines.append(f"spot distance: median {_g(c.median_spot_distance, 4)} px, max {_g(c.max_spot_distance, 4)} px")
    else:
        lines.append("spot distance: n/a (no matched spots)")
    if top > 0 and c.reference_spots:
        paired = {m.reference: m for m in c.matches}
        shown = c.reference_spots[:top]
        lines.append(f"strongest reference spots ({len(shown)}):")
        lines.append("   ref slow  ref fast        peak    our slow  our fast        peak   distance")
        for spot in shown:
            m = paired.get(spot)
            left = f"  {spot.slow:8.2f}  {spot.fast:8.2f}  {spot.peak:10.4g}"
            if m is None:
                lines.append(left + "    (no spot of ours within the radius)")
            else:
                o = m.ours
                lines.append(left + f"    {o.slow:8.2f}  {o.fast:8.2f}  {o.peak:10.4g}   {m.distance:8.3f}")
    lines.append("result:        " + ("AGREE" if c.agree else "DISAGREE"))
    return "\n".join(lines)


def _display(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map to [0, 1] with an asinh stretch, linear near ``lo`` and logarithmic above, so
    faint background and bright spots are both visible."""
    span = hi - lo
    if not span > 0:
        return np.zeros_like(image)
    soft = span / 1000.0
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.arcsinh(np.clip(image - lo, 0.0, span) / soft) / math.asinh(span / soft)
    return np.nan_to_num(t, nan=0.0)


def write_png(
    path: str | os.PathLike[str],
    reference: np.ndarray,
    ours: np.ndarray,
    names: tuple[str, str] = ("reference", "ours"),
) -> None:
    """Reference, ours and ours − reference side by side, written atomically as a PNG.

    The two images share one asinh stretch from the reference's 0.5th percentile to its
    maximum; the difference uses a diverging colour map, symmetric about zero and
    logarithmic beyond the corpus's absolute tolerance."""
    # A bare Figure renders through Agg without touching pyplot's global backend.
    from matplotlib.colors import Normalize, SymLogNorm
    from matplotlib.figure import Figure

    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(ours, dtype=np.float64)
    finite = ref[np.isfinite(ref)]
    lo = float(np.percentile(finite, 0.5)) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.nan_to_num(out - ref, nan=0.0, posinf=0.0, neginf=0.0)
    vmax = float(np.abs(diff).max()) or 1.0
    linthresh = max(MAX_TOL * abs(hi), vmax * 1e-3)

    slow, fast = ref.shape
    panel = 4.0  # inches across one panel's width
    height = panel * slow / fast
    bar, title = 0.5, 0.45  # inches for colour bars (below) and titles (above)
    gap, margin = 0.25, 0.15
    fig_w = 3 * panel + 2 * gap + 2 * margin
    fig_h = height + bar + title + 2 * margin
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    panels = [
        (_display(ref, lo, hi), "magma", Normalize(0.0, 1.0), f"A (reference): {names[0]}"),
        (_display(out, lo, hi), "magma", Normalize(0.0, 1.0), f"B (ours): {names[1]}"),
        (diff, "RdBu_r", SymLogNorm(linthresh, vmin=-vmax, vmax=vmax, base=10), "B - A"),
    ]
    for k, (img, cmap, norm, label) in enumerate(panels):
        x = (margin + k * (panel + gap)) / fig_w
        ax = fig.add_axes((x, (margin + bar) / fig_h, panel / fig_w, height / fig_h))
        shown = ax.imshow(img, origin="upper", interpolation="nearest", aspect="auto", cmap=cmap, norm=norm)
        ax.set_title(_shorten(label), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        cax = fig.add_axes((x, (margin + 0.25) / fig_h, panel / fig_w, 0.12 / fig_h))
        cb = fig.colorbar(shown, cax=cax, orientation="horizontal")
        cb.ax.tick_params(labelsize=6)
        if k < 2:
            # The stretch is not linear, so name its ends instead of placing ticks.
            cb.set_ticks([])
            cb.set_label(f"{lo:.4g} to {hi:.4g} (asinh stretch)", fontsize=7)
        else:
            ticks = [-vmax, -linthresh, 0.0, linthresh, vmax]
            cb.set_ticks(ticks, labels=[f"{t:.2g}" for t in ticks])
            cb.set_label("symmetric log beyond the middle ticks", fontsize=7)
    with atomic_open(path) as f:
        fig.savefig(f, format="png")


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]


# --------------------------------------------------------------------------------------------
# Command line


class _Usage(Exception):
    """A command-line mistake, reported in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Usage(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="nanobragg compare",
        description="Compare image B (ours) with image A (the reference), pixel by pixel and spot by spot. "
        "Exit status: 0 when every pixel agrees (|B - A| <= 1e-5|A| + 1e-7 max(A)), 1 when some do not, "
        "2 on bad input.",
    )
    p.add_argument("reference", metavar="A", help="reference image: raw float32 (.bin), SMV (.img) or HDF5")
    p.add_argument("ours", metavar="B", help="our image, in any of the same formats")
    p.add_argument("--shape", nargs=2, type=int, metavar=("SLOW", "FAST"),
                   help="shape of raw float32 files (default: from an SMV file beside them, the other "
                   "image, or square)")
    p.add_argument("--dataset", metavar="PATH", help=f"dataset of HDF5 files (default {DEFAULT_DATASET})")
    p.add_argument("--frame", type=int, default=0, metavar="N", help="frame of HDF5 files (default 0)")
    p.add_argument("--png", metavar="FILE", help="write A, B and B - A side by side to this PNG")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="list the N strongest reference spots and N largest disagreements (default 10)")
    p.add_argument("--sigma", type=float, default=3.0, metavar="K",
                   help="spots are pixels above mean + K standard deviations (default 3)")
    p.add_argument("--match-radius", type=float, default=10.0, metavar="PX",
                   help="pair spots at most PX pixels apart (default 10)")
    return p


def _fail(message: str) -> int:
    return report("nanobragg compare", message)


def _read(path: str, args: argparse.Namespace, fallback: tuple[int, int] | None) -> np.ndarray:
    shape = (args.shape[0], args.shape[1]) if args.shape else None
    try:
        return load_image(path, shape, args.dataset, args.frame, fallback_shape=fallback)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``nanobragg compare A B``: print the comparison; 0 if the images agree, 1 if not, 2 on
    bad input."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except _Usage as e:
        return _fail(f"{e} (see nanobragg compare -h)")
    except SystemExit as e:  # -h / --help
        return e.code if isinstance(e.code, int) else 0
    if args.shape and min(args.shape) <= 0:
        return _fail(f"--shape: {args.shape[0]} {args.shape[1]} must be positive")
    if args.top < 0:
        return _fail(f"--top: {args.top} must not be negative")
    if not (args.match_radius >= 0):
        return _fail(f"--match-radius: {args.match_radius} must not be negative")
    if not math.isfinite(args.sigma):
        return _fail(f"--sigma: {args.sigma} must be finite")
    if args.png:
        # Checked before the work, so that a bad --png does not follow a whole report.
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _fail("--png needs matplotlib (pip install 'nanobragg-rs[plot]')")
        folder = os.path.dirname(os.path.abspath(args.png))
        if not os.path.isdir(folder):
            return _fail(f"{args.png}: no folder {folder}")
    try:
        # A raw float32 file may take its shape from the other image.
        try:
            ref = _read(args.reference, args, None)
        except UnknownShapeError:
            ours = _read(args.ours, args, None)
            ref = _read(args.reference, args, ours.shape)
        else:
            ours = _read(args.ours, args, ref.shape)
    except ValueError as e:
        return _fail(str(e))
    if ref.shape != ours.shape:
        return _fail(
            f"{args.ours} is {_shape_text(ours.shape)} but the reference {args.reference} is {_shape_text(ref.shape)}"
        )
    c = compare_images(ref, ours, spot_sigma=args.sigma, match_radius=args.match_radius)
    print(format_report(c, ref, ours, (args.reference, args.ours), args.top))
    if args.png:
        try:
            write_png(args.png, ref, ours, (args.reference, args.ours))
        except OSError as e:
            return _fail(f"{args.png}: {e.strerror or e}")
        print(f"wrote {args.png}")
    return 0 if c.agree else 1

