"""CrystFEL geometry files (.geom), read with cfelpyutils, in nanoBragg's lab frame.

CrystFEL's frame has z along the beam (away from the source), y up, x = y cross z; nanoBragg
x, y, z = CrystFEL z, y, -x. A panel's fs/ss vectors are in pixels, corner_x/corner_y place
the outer corner of its first pixel (min_fs, min_ss) in pixels, and clen + coffset is its
distance along the beam (m). Bad regions become masks.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import Panel, PanelFileError, Vec3, check_names


@dataclass(frozen=True)
class GeomLayout:
    """Where a panel's pixels sit in the data array the .geom describes."""

    min_fs: int
    max_fs: int
    min_ss: int
    max_ss: int


@dataclass(frozen=True)
class Geom:
    panels: tuple[Panel, ...]
    layouts: tuple[GeomLayout, ...]
    #: HDF5 path of the image data, and whether it has a leading frame dimension.
    data_path: str
    framed: bool
    photon_energy_eV: float | None


def to_lab(v: Vec3) -> Vec3:
    """A CrystFEL-frame vector in nanoBragg's frame."""
    return (v[2], v[1], -v[0] + 0.0)


def _length_m(text: str) -> float | None:
    m = re.fullmatch(r"\s*([-+0-9.eE]+)\s*(m|mm)?\s*", text)
    if not m:
        return None
    try:
        x = float(m.group(1))
    except ValueError:
        return None
    return x / 1000.0 if m.group(2) == "mm" else x


# cfelpyutils wants bare numbers; CrystFEL also accepts a unit after photon_energy and clen.
_UNITS = re.compile(r"^(\s*(?:[^\s=;]*/)?(?:photon_energy|clen|coffset)\s*=\s*[-+0-9.eE]+)\s*(eV|keV|m|mm)\b", re.M)


def _strip_units(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        key_value, unit = m.group(1), m.group(2)
        if unit in ("eV", "m"):
            return key_value
        head, _, num = key_value.rpartition("=")
        factor = 1000.0 if unit == "keV" else 0.001
        return f"{head}= {float(num) * factor!r}"

    return _UNITS.sub(fix, text)


def read_geom(path: str | os.PathLike[str]) -> Geom:
    """Read a CrystFEL geometry file into panels (bad regions as masks)."""
    where = os.fspath(path)
    try:
        with warnings.catch_warnings():
            # cfelpyutils still uses mypy_extensions.TypedDict, deprecated there.
            warnings.simplefilter("ignore", DeprecationWarning)
            from cfelpyutils.geometry import load_crystfel_geometry
    except ImportError:
        raise ImportError(f"{where}: reading .geom files needs cfelpyutils (pip install cfelpyutils)") from None
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise PanelFileError(f"{where}: not UTF-8 text") from None
    try:
        geo = load_crystfel_geometry(io.StringIO(_strip_units(text)))
    except (ValueError, KeyError, IndexError, TypeError, RuntimeError, AttributeError) as e:
        raise PanelFileError(f"{where}: not a CrystFEL geometry file ({e})") from None
    det: dict[str, Any] = geo.detector
    raw = det.get("panels") or {}
    if not raw:
        raise PanelFileError(f"{where}: no panels")
    panels, layouts = [], []
    data_paths = set()
    framed = False
    for name, p in raw.items():
        what = f"{where}: panel {name}"
        res = float(p["res"])
        if not (math.isfinite(res) and res > 0):
            raise PanelFileError(f"{what}: res must be positive")
        clen = p.get("clen", -1.0)
        if clen == -1 or not isinstance(clen, float) or not math.isfinite(clen):
            clen = _length_m(str(p.get("clen_from", "")))
            if clen is None:
                raise PanelFileError(f"{what}: clen must be a number (in m), not '{p.get('clen_from')}'")
        coffset = float(p.get("coffset", 0.0))
        fs = (float(p["fsx"]), float(p["fsy"]), float(p["fsz"]))
        ss = (float(p["ssx"]), float(p["ssy"]), float(p["ssz"]))
        cn = (float(p["cnx"]), float(p["cny"]))
        if not all(math.isfinite(x) for x in (*fs, *ss, *cn, clen, coffset)):
            raise PanelFileError(f"{what}: fs, ss, corner, clen and coffset must be finite numbers")
        lf = math.sqrt(fs[0] ** 2 + fs[1] ** 2 + fs[2] ** 2)
        ls = math.sqrt(ss[0] ** 2 + ss[1] ** 2 + ss[2] ** 2)
        if lf == 0 or ls == 0:
            raise PanelFileError(f"{what}: fs and ss must not be zero vectors")
        lay = GeomLayout(int(p["orig_min_fs"]), int(p["orig_max_fs"]), int(p["orig_min_ss"]), int(p["orig_max_ss"]))
        nf, ns = lay.max_fs - lay.min_fs + 1, lay.max_ss - lay.min_ss + 1
        if nf <= 0 or ns <= 0 or lay.min_fs < 0 or lay.min_ss < 0:
            raise PanelFileError(f"{what}: min/max fs/ss give no pixels")
        pixel_m = (1.0 / res) * lf
        corner = (cn[0] / res, cn[1] / res, clen + coffset)
        panels.append(
            Panel(
                name=name,
                fast_axis=to_lab((fs[0] / lf, fs[1] / lf, fs[2] / lf)),
                slow_axis=to_lab((ss[0] / ls, ss[1] / ls, ss[2] / ls)),
                origin_mm=tuple(x * 1000.0 for x in to_lab(corner)),  # type: ignore[arg-type]
                fast_pixels=nf,
                slow_pixels=ns,
                pixel_mm=pixel_m * 1000.0,
            )
        )
        layouts.append(lay)
        data_paths.add(p.get("data") or "/data/data")
        framed = framed or "%" in (p.get("dim_structure") or [])
    if len(data_paths) > 1:
        raise PanelFileError(f"{where}: panels in several HDF5 data sets ({sorted(data_paths)}) are not supported")
    masks = _bad_masks(det.get("bad") or {}, panels, layouts, raw)
    panels = [
        Panel(**{**{k: getattr(p, k) for k in Panel.__dataclass_fields__ if k != "mask"}, "mask": m})
        for p, m in zip(panels, masks)
    ]
    out = tuple(panels)
    check_names(out, where)
    energy = geo.beam.get("photon_energy")
    energy = float(energy) if isinstance(energy, float) and math.isfinite(energy) and energy > 0 else None
    gains = [_gain(raw[p.name], energy) for p in out]
    out = tuple(dataclasses.replace(p, gain_adu_per_photon=g) for p, g in zip(out, gains))
    return Geom(out, tuple(layouts), data_paths.pop(), framed, energy)


def _positive_number(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 else None


def _gain(panel: dict[str, Any], energy_eV: float | None) -> float | None:
    """The panel's gain for the detector response (ADU per photon): its adu_per_photon, or its
    adu_per_eV times the file's photon_energy; None when the file gives neither."""
    per_photon = _positive_number(panel.get("adu_per_photon"))
    if per_photon is not None:
        return per_photon
    per_ev = _positive_number(panel.get("adu_per_eV"))
    return per_ev * energy_eV if per_ev is not None and energy_eV is not None else None


def _bad_masks(bad: dict[str, Any], panels: list[Panel], layouts: list[GeomLayout], raw: dict[str, Any]) -> list[np.ndarray | None]:
    masks: list[np.ndarray | None] = [None] * len(panels)
    for region in bad.values():
        for k, (p, lay) in enumerate(zip(panels, layouts)):
            if region.get("panel") and region["panel"] != p.name:
                continue
            ss, fs = np.mgrid[lay.min_ss : lay.max_ss + 1, lay.min_fs : lay.max_fs + 1]
            if region.get("is_fsss"):
                hit = (fs >= region["min_fs"]) & (fs <= region["max_fs"]) & (ss >= region["min_ss"]) & (ss <= region["max_ss"])
            else:
                r = raw[p.name]
                i, j = fs - lay.min_fs + 0.5, ss - lay.min_ss + 0.5
                x = r["cnx"] + i * r["fsx"] + j * r["ssx"]
                y = r["cny"] + i * r["fsy"] + j * r["ssy"]
                hit = (x >= region["min_x"]) & (x <= region["max_x"]) & (y >= region["min_y"]) & (y <= region["max_y"])
            if hit.any():
                m = masks[k]
                if m is None:
                    m = np.ones(p.shape, dtype=np.uint16)
                m[hit] = 0
                masks[k] = m
    return masks
