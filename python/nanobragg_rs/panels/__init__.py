"""Multi-panel detectors: panel lists from JSON, DIALS .expt and CrystFEL .geom files, a
render of every panel, and per-panel outputs (docs/panels.md).

Each panel renders exactly as nanoBragg.c renders that panel alone as a custom detector; panel
k draws its noise from seed S+k, and the integer images share one scale.
"""

from __future__ import annotations

from .model import Panel, read_panels_json, write_panels_json
from .render import DetectorImages, MultiSimulator

__all__ = ["DetectorImages", "MultiSimulator", "Panel", "read_panels_json", "write_panels_json",
           "panels_from_expt", "panels_from_geom"]


def panels_from_expt(path: str) -> tuple[Panel, ...]:
    """The panels of the first detector of a DIALS experiment list (hierarchy flattened)."""
    from .expt import read_expt

    return read_expt(path).panels


def panels_from_geom(path: str) -> tuple[Panel, ...]:
    """The panels of a CrystFEL geometry file (bad regions as masks)."""
    from .geom import read_geom

    return read_geom(path).panels
