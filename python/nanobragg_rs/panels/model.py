"""The panel: a flat grid of square pixels in nanoBragg's lab frame (millimetres)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Vec3 = tuple[float, float, float]


class PanelFileError(ValueError):
    """A panel file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Panel:
    """One flat panel. Pixel (i, j) (fast i, slow j) has its centre at
    ``origin_mm + (i + 1/2) pixel_mm fast_axis + (j + 1/2) pixel_mm slow_axis``."""

    name: str
    #: Direction of increasing fast index (normalised when rendered).
    fast_axis: Vec3
    #: Direction of increasing slow index.
    slow_axis: Vec3
    #: Outer corner of pixel (0, 0), nanoBragg's pix0 (mm).
    origin_mm: Vec3
    fast_pixels: int
    slow_pixels: int
    pixel_mm: float
    #: This panel's sensor thickness (µm); ``None`` takes the detector's.
    thickness_um: float | None = None
    #: This panel's attenuation depth (µm); ``None`` takes the detector's.
    attenuation_depth_um: float | None = None
    #: This panel's gain (ADU per photon) for the detector response; ``None``: the response's
    #: own (``-gain``, default 1). A DIALS .expt gives one per panel.
    gain_adu_per_photon: float | None = None
    #: Shape (slow_pixels, fast_pixels); 0 skips a pixel.
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        """(slow_pixels, fast_pixels)."""
        return (self.slow_pixels, self.fast_pixels)

    def normal(self) -> Vec3:
        """Unit fast x slow."""
        f, s = _unit(self.fast_axis), _unit(self.slow_axis)
        return _unit((f[1] * s[2] - f[2] * s[1], f[2] * s[0] - f[0] * s[2], f[0] * s[1] - f[1] * s[0]))

    def faces_sample(self) -> bool:
        """Whether fast x slow points toward the sample (rendered turned, in the file's order)."""
        n = self.normal()
        return sum(o * x for o, x in zip(self.origin_mm, n)) < 0.0

    def turned(self) -> Panel:
        """The same pixels described with the slow axis reversed (slow row j becomes row
        slow_pixels-1-j): how the reference must be given a panel that faces the sample."""
        s = _unit(self.slow_axis)
        run = self.slow_pixels * self.pixel_mm
        o = self.origin_mm
        mask = None if self.mask is None else np.ascontiguousarray(np.asarray(self.mask)[::-1])
        return dataclasses.replace(
            self,
            slow_axis=(-s[0], -s[1], -s[2]),
            origin_mm=(o[0] + run * s[0], o[1] + run * s[1], o[2] + run * s[2]),
            mask=mask,
        )

    def reference_args(self) -> list[str]:
        """nanoBragg.c's detector flags for this panel alone (turned first if it faces the
        sample: the reference's image then has this panel's rows reversed)."""
        q = self.turned() if self.faces_sample() else self
        f, s = _unit(q.fast_axis), _unit(q.slow_axis)
        o = q.normal()
        p = q.origin_mm

        def dot(a: Vec3, b: Vec3) -> float:
            return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]

        return ["-fdet_vector", *map(repr, f), "-sdet_vector", *map(repr, s), "-odet_vector", *map(repr, o),
                "-Xbeam", repr(-dot(p, f)), "-Ybeam", repr(-dot(p, s)), "-close_distance", repr(dot(p, o)),
                "-detpixels_f", str(q.fast_pixels), "-detpixels_s", str(q.slow_pixels), "-pixel", repr(q.pixel_mm),
                "-pivot", "sample"]

    def to_core(self) -> dict[str, Any]:
        """The panel as the core receives it (without the mask)."""
        return {
            "name": self.name,
            "fast_axis": list(self.fast_axis),
            "slow_axis": list(self.slow_axis),
            "origin_mm": list(self.origin_mm),
            "fast_pixels": self.fast_pixels,
            "slow_pixels": self.slow_pixels,
            "pixel_mm": self.pixel_mm,
            "thickness_um": self.thickness_um,
            "attenuation_depth_um": self.attenuation_depth_um,
        }


def _unit(v: Vec3) -> Vec3:
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (v[0] / n, v[1] / n, v[2] / n) if n else v


def _vec(where: str, key: str, value: Any) -> Vec3:
    if not (isinstance(value, list) and len(value) == 3):
        raise PanelFileError(f"{where}: '{key}' must be a list of three numbers")
    out = []
    for x in value:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise PanelFileError(f"{where}: '{key}' must be a list of three finite numbers")
        out.append(float(x))
    return (out[0], out[1], out[2])


def _count(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 20:
        raise PanelFileError(f"{where}: '{key}' must be a positive pixel count")
    return value


def _positive(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise PanelFileError(f"{where}: '{key}' must be a positive number")
    return float(value)


KEYS = {"name", "fast_axis", "slow_axis", "origin_mm", "fast_pixels", "slow_pixels", "pixel_mm",
        "thickness_um", "attenuation_depth_um", "gain_adu_per_photon"}
OPTIONAL = {"thickness_um", "attenuation_depth_um", "gain_adu_per_photon"}


def panel_from_dict(d: Any, where: str) -> Panel:
    """One panel from its JSON object, every field checked."""
    if not isinstance(d, dict):
        raise PanelFileError(f"{where}: a panel must be an object")
    missing = sorted(KEYS - OPTIONAL - set(d))
    if missing:
        raise PanelFileError(f"{where}: missing '{missing[0]}'")
    unknown = sorted(set(d) - KEYS)
    if unknown:
        raise PanelFileError(f"{where}: unknown key '{unknown[0]}'")
    name = d["name"]
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise PanelFileError(f"{where}: 'name' must be a non-empty string without '/'")
    thickness = None if d.get("thickness_um") is None else _positive(where, "thickness_um", d["thickness_um"])
    depth = None if d.get("attenuation_depth_um") is None else _positive(where, "attenuation_depth_um", d["attenuation_depth_um"])
    gain = None if d.get("gain_adu_per_photon") is None else _positive(where, "gain_adu_per_photon", d["gain_adu_per_photon"])
    return Panel(
        name=name,
        fast_axis=_vec(where, "fast_axis", d["fast_axis"]),
        slow_axis=_vec(where, "slow_axis", d["slow_axis"]),
        origin_mm=_vec(where, "origin_mm", d["origin_mm"]),
        fast_pixels=_count(where, "fast_pixels", d["fast_pixels"]),
        slow_pixels=_count(where, "slow_pixels", d["slow_pixels"]),
        pixel_mm=_positive(where, "pixel_mm", d["pixel_mm"]),
        thickness_um=thickness,
        attenuation_depth_um=depth,
        gain_adu_per_photon=gain,
    )


def check_names(panels: tuple[Panel, ...], where: str) -> None:
    """Panel names must be unique (they name the outputs)."""
    seen: set[str] = set()
    for p in panels:
        if p.name in seen:
            raise PanelFileError(f"{where}: two panels are named '{p.name}'")
        seen.add(p.name)
    if not panels:
        raise PanelFileError(f"{where}: no panels")


def read_panels_json(path: str | os.PathLike[str]) -> tuple[Panel, ...]:
    """Read a panel file: ``{"panels": [{"name", "fast_axis", "slow_axis", "origin_mm",
    "fast_pixels", "slow_pixels", "pixel_mm"}, ...]}`` (lab frame, mm)."""
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except UnicodeDecodeError:
        raise PanelFileError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise PanelFileError(f"{where}: not JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise PanelFileError(f"{where}: nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("panels"), list):
        raise PanelFileError(f"{where}: expected an object with a 'panels' list")
    panels = tuple(panel_from_dict(d, f"{where}: panel {k}") for k, d in enumerate(doc["panels"]))
    check_names(panels, where)
    return panels


def write_panels_json(path: str | os.PathLike[str], panels: tuple[Panel, ...]) -> None:
    """Write panels in the panel-file form (masks are not part of it)."""
    from ..io import atomic

    rows = []
    for p in panels:
        d = p.to_core()
        d["gain_adu_per_photon"] = p.gain_adu_per_photon
        rows.append({k: v for k, v in d.items() if v is not None})
    with atomic.atomic_open(path) as f:
        f.write(json.dumps({"panels": rows}, indent=1).encode())

