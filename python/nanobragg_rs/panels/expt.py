"""DIALS experiment lists (.expt, JSON): the first experiment's detector (hierarchy
flattened), beam, goniometer and crystal, in nanoBragg's lab frame.

dxtbx itself is not installable from PyPI, so the JSON is read with the standard library and
checked field by field. Frames: DIALS x, y, z = nanoBragg z, y, -x (so nanoBragg x, y, z =
-DIALS z, DIALS y, DIALS x), the relation nanoBragg.c's DIALS_ORIGIN header uses. The DIALS
beam direction points at the source: the X-rays travel along minus it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from .model import Panel, PanelFileError, Vec3, check_names

M3 = tuple[Vec3, Vec3, Vec3]


@dataclass(frozen=True)
class ExptBeam:
    wavelength_A: float
    #: Direction the X-rays travel (unit, nanoBragg frame).
    beam_vector: Vec3
    #: E-vector direction (unit, nanoBragg frame).
    polar_vector: Vec3 | None
    #: Kahn factor 2p - 1.
    polarization: float | None


@dataclass(frozen=True)
class Expt:
    panels: tuple[Panel, ...]
    beam: ExptBeam | None
    spindle_axis: Vec3 | None
    #: MOSFLM-style matrix (wavelength-scaled reciprocal vectors, nine numbers in file order),
    #: when the experiment has a crystal and a beam.
    mosflm_matrix: tuple[float, ...] | None


def to_lab(v: Vec3) -> Vec3:
    """A DIALS-frame vector in nanoBragg's frame."""
    return (-v[2] + 0.0, v[1], v[0])


def _unit(v: Vec3) -> Vec3:
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (v[0] / n, v[1] / n, v[2] / n)


def _cross(a: Vec3, b: Vec3) -> Vec3:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, msg: str) -> PanelFileError:
        return PanelFileError(f"{self.where}: {msg}")

    def obj(self, d: Any, what: str) -> dict[str, Any]:
        if not isinstance(d, dict):
            raise self.fail(f"{what} must be an object")
        return d

    def num(self, d: dict[str, Any], key: str, what: str) -> float:
        x = d.get(key)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise self.fail(f"{what}: '{key}' must be a finite number")
        return float(x)

    def vec(self, d: dict[str, Any], key: str, what: str, n: int = 3, nonzero: bool = False) -> tuple[float, ...]:
        v = d.get(key)
        if not isinstance(v, list) or len(v) != n:
            raise self.fail(f"{what}: '{key}' must be a list of {n} numbers")
        out = []
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise self.fail(f"{what}: '{key}' must hold finite numbers")
            out.append(float(x))
        if nonzero and not any(out):
            raise self.fail(f"{what}: '{key}' must not be the zero vector")
        return tuple(out)

    def index(self, d: dict[str, Any], key: str, items: list[Any], what: str) -> Any:
        k = d.get(key)
        if k is None:
            return None
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(items):
            raise self.fail(f"{what}: '{key}' {k!r} does not name one of {len(items)} entries")
        return items[k]


@dataclass(frozen=True)
class _Frame:
    fast: Vec3
    slow: Vec3
    normal: Vec3
    origin: Vec3

    def apply(self, local: Vec3, point: bool) -> Vec3:
        """A vector (or, with point, a position) given in this frame, in the parent's."""
        f, s, n = self.fast, self.slow, self.normal
        out = tuple(local[0] * f[i] + local[1] * s[i] + local[2] * n[i] for i in range(3))
        if point:
            out = tuple(out[i] + self.origin[i] for i in range(3))
        return (out[0], out[1], out[2])


IDENTITY = _Frame((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.0, 0.0))


def _frame(r: _Reader, d: dict[str, Any], what: str, parent: _Frame) -> _Frame:
    f = parent.apply(r.vec(d, "fast_axis", what, nonzero=True), False)  # type: ignore[arg-type]
    s = parent.apply(r.vec(d, "slow_axis", what, nonzero=True), False)  # type: ignore[arg-type]
    o = parent.apply(r.vec(d, "origin", what), True)  # type: ignore[arg-type]
    n = _cross(_unit(f), _unit(s))
    if math.sqrt(sum(x * x for x in n)) < 1e-9:
        raise r.fail(f"{what}: fast and slow axes are parallel")
    return _Frame(_unit(f), _unit(s), _unit(n), o)


def _panel(r: _Reader, d: Any, k: int, frame: _Frame) -> Panel:
    what = f"detector panel {k}"
    d = r.obj(d, what)
    size = r.vec(d, "image_size", what, 2)
    px = r.vec(d, "pixel_size", what, 2)
    if any(x != int(x) or not 0 < x <= 1 << 20 for x in size):
        raise r.fail(f"{what}: 'image_size' must be two positive pixel counts")
    if not (px[0] > 0 and px[0] == px[1]):
        raise r.fail(f"{what}: pixels must be square and of positive size, not {px[0]:g} x {px[1]:g} mm")
    g = _frame(r, d, what, frame)
    # dxtbx's panel gain (ADU per photon), used by the detector response (docs/noisify.md).
    gain = r.num(d, "gain", what) if "gain" in d else None
    if gain is not None and not gain > 0:
        raise r.fail(f"{what}: 'gain' must be positive, not {gain:g}")
    name = d.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        name = f"p{k:02d}"
    return Panel(
        name=name,
        fast_axis=to_lab(g.fast),
        slow_axis=to_lab(g.slow),
        origin_mm=to_lab(g.origin),
        fast_pixels=int(size[0]),
        slow_pixels=int(size[1]),
        pixel_mm=px[0],
        gain_adu_per_photon=gain,
    )


def _flatten(r: _Reader, node: Any, frame: _Frame, depth: int, out: dict[int, _Frame]) -> None:
    if depth > 64:
        raise r.fail("detector hierarchy nested too deeply")
    node = r.obj(node, "detector hierarchy node")
    if "panel" in node:
        k = node["panel"]
        if isinstance(k, bool) or not isinstance(k, int) or k in out:
            raise r.fail(f"detector hierarchy: bad or repeated panel index {k!r}")
        out[k] = frame
        return
    own = _frame(r, node, "detector hierarchy group", frame)
    children = node.get("children", [])
    if not isinstance(children, list):
        raise r.fail("detector hierarchy: 'children' must be a list")
    for child in children:
        _flatten(r, child, own, depth + 1, out)


def read_expt(path: str | os.PathLike[str]) -> Expt:
    """Read a DIALS experiment list's first experiment."""
    where = os.fspath(path)
    r = _Reader(where)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except UnicodeDecodeError:
        raise r.fail("not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise r.fail(f"not JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise r.fail("nested too deeply") from None
    doc = r.obj(doc, "the file")
    if doc.get("__id__") != "ExperimentList":
        raise r.fail("not a DIALS experiment list (no __id__ ExperimentList)")
    exps = doc.get("experiment")
    if not isinstance(exps, list) or not exps:
        raise r.fail("no experiments")
    exp = r.obj(exps[0], "experiment 0")
    lists = {}
    for key in ("detector", "beam", "goniometer", "crystal"):
        items = doc.get(key, [])
        lists[key] = items if isinstance(items, list) else []
    det = r.index(exp, "detector", lists["detector"], "experiment 0")
    if det is None:
        raise r.fail("experiment 0 has no detector")
    det = r.obj(det, "detector")
    raw_panels = det.get("panels")
    if not isinstance(raw_panels, list) or not raw_panels:
        raise r.fail("the detector has no panels")
    frames: dict[int, _Frame] = {}
    if "hierarchy" in det:
        _flatten(r, det["hierarchy"], IDENTITY, 0, frames)
    panels = tuple(_panel(r, d, k, frames.get(k, IDENTITY)) for k, d in enumerate(raw_panels))
    check_names(panels, where)

    beam = None
    b = r.index(exp, "beam", lists["beam"], "experiment 0")
    if b is not None:
        b = r.obj(b, "beam")
        direction = r.vec(b, "direction", "beam", nonzero=True)
        wavelength = r.num(b, "wavelength", "beam")
        if wavelength <= 0:
            raise r.fail("beam: 'wavelength' must be positive")
        d = _unit(direction)  # type: ignore[arg-type]
        polar_vector = polarization = None
        if "polarization_normal" in b:
            normal = r.vec(b, "polarization_normal", "beam", nonzero=True)
            e_vector = _cross(d, normal)  # type: ignore[arg-type]
            if math.sqrt(sum(x * x for x in e_vector)) > 1e-9:
                polar_vector = to_lab(_unit(e_vector))
        if "polarization_fraction" in b:
            p = r.num(b, "polarization_fraction", "beam")
            if not 0 <= p <= 1:
                raise r.fail("beam: 'polarization_fraction' must be between 0 and 1")
            polarization = 2 * p - 1
        minus = (-d[0], -d[1], -d[2])
        beam = ExptBeam(wavelength, _unit(to_lab(minus)), polar_vector, polarization)

    spindle = None
    g = r.index(exp, "goniometer", lists["goniometer"], "experiment 0")
    if g is not None:
        g = r.obj(g, "goniometer")
        axis = r.vec(g, "rotation_axis", "goniometer", nonzero=True)
        for key in ("fixed_rotation", "setting_rotation"):
            if key in g:
                m = r.vec(g, key, "goniometer", 9)
                axis_m = m if key == "setting_rotation" else None
                if axis_m is not None and m != (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0):
                    axis = tuple(sum(m[3 * i + j] * axis[j] for j in range(3)) for i in range(3))
        spindle = to_lab(_unit(axis))  # type: ignore[arg-type]

    matrix = None
    c = r.index(exp, "crystal", lists["crystal"], "experiment 0")
    if c is not None and beam is not None:
        c = r.obj(c, "crystal")
        real = [r.vec(c, k, "crystal", nonzero=True) for k in ("real_space_a", "real_space_b", "real_space_c")]
        a, bb, cc = (to_lab(v) for v in real)  # type: ignore[arg-type]
        vol = sum(x * y for x, y in zip(a, _cross(bb, cc)))
        if abs(vol) < 1e-9:
            raise r.fail("crystal: the real-space cell has no volume")
        stars = [tuple(x / vol for x in _cross(bb, cc)), tuple(x / vol for x in _cross(cc, a)),
                 tuple(x / vol for x in _cross(a, bb))]
        lam = beam.wavelength_A
        # nanoBragg's matrix file order: a*x b*x c*x, a*y b*y c*y, a*z b*z c*z (times lambda).
        matrix = tuple(stars[j][i] * lam for i in range(3) for j in range(3))
    return Expt(panels, beam, spindle, matrix)
