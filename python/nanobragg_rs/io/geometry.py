"""Detector geometry shared by the writers: where the beam meets the detector, coordinates
in the detector plane, and the rotation from nanoBragg's lab frame to the McStas frame NeXus
uses (see :mod:`nanobragg_rs.io.nexus` for the choice of frame)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class LabAxes(Protocol):
    """The lab directions the McStas frame is built from (a panel's ``Geometry`` has them)."""

    @property
    def beam(self) -> Sequence[float]: ...
    @property
    def polar(self) -> Sequence[float]: ...
    @property
    def sdet(self) -> Sequence[float]: ...


def unit_vector(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def perpendicular_part(v: Sequence[float], axis: np.ndarray) -> np.ndarray:
    u = np.asarray(v, dtype=np.float64)
    return u - np.dot(u, axis) * axis


def lab_to_mcstas(geometry: LabAxes) -> np.ndarray:
    """The rotation taking nanoBragg lab vectors to McStas (3x3, rows = McStas x, y, z in lab
    coordinates): ``v_mcstas = R @ v_lab``, ``v_lab = R.T @ v_mcstas``.

    ``geometry`` is a panel's geometry, ``Simulator.panel.geometry``; see the module docstring for the choice.
    """
    z = unit_vector(np.asarray(geometry.beam, dtype=np.float64))
    # nanoBragg's polarization factor uses the E-vector projected perpendicular to the beam,
    # however short that projection is (a custom beam a fraction of a degree off the default
    # E-vector still has one), so the frame follows the same projection.
    e_vector = perpendicular_part(geometry.polar, z)
    if np.linalg.norm(e_vector) > 1e-12:
        x = -unit_vector(e_vector)
        return np.array([x, np.cross(z, x), z])
    # Exactly along the beam, the E-vector defines nothing: take "up" from the detector
    # instead (its slow axis points down on an image shown with pixel (0, 0) top left), and
    # failing that any lab axis off the beam.
    up = -perpendicular_part(geometry.sdet, z)
    if np.linalg.norm(up) < 1e-12:
        up = perpendicular_part(np.eye(3)[int(np.argmin(np.abs(z)))], z)
    y = unit_vector(up)
    return np.array([np.cross(y, z), y, z])


def beam_hit(pix0: np.ndarray, fast: np.ndarray, slow: np.ndarray, beam: np.ndarray) -> np.ndarray | None:
    """Where the direct beam from the sample meets the pixel plane (lab, m), or None if it
    runs parallel to it or away from it."""
    normal = np.cross(fast, slow)
    denom = float(np.dot(beam, normal))
    if abs(denom) < 1e-12 * np.linalg.norm(normal):
        return None
    t = float(np.dot(pix0, normal)) / denom
    return t * beam if t > 0.0 else None


def in_plane(d: np.ndarray, fast: np.ndarray, slow: np.ndarray) -> tuple[float, float]:
    """Coefficients (a, b) with d = a·fast + b·slow (fast and slow need not be orthogonal)."""
    basis = np.stack([fast, slow], axis=1)
    coeffs, *_ = np.linalg.lstsq(basis, d, rcond=None)
    return float(coeffs[0]), float(coeffs[1])
