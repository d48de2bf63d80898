"""The float, integer, noise and PGM images nanoBragg writes, converted as it converts them."""

from __future__ import annotations

import os

import numpy as np

from .atomic import write_atomic


def roi_mask(shape: tuple[int, int], roi: tuple[int, int, int, int]) -> np.ndarray:
    """True inside the inclusive window (fast min, fast max, slow min, slow max)."""
    inside = np.zeros(shape, dtype=bool)
    x0, x1, y0, y1 = roi
    inside[y0 : y1 + 1, x0 : x1 + 1] = True
    return inside


def write_float(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Raw little-endian float32, fast index fastest, no header."""
    write_atomic(path, np.ascontiguousarray(image, dtype="<f4").tobytes())


def int_image(image: np.ndarray, scale: float, adc: float, inside: np.ndarray) -> np.ndarray:
    """nanoBragg's integer image: value·scale + adc, clamped to [0, 65535], rounded through
    single precision as ``floorf(t + 0.5)``; 0 outside the window."""
    t = image.astype(np.float64) * scale + adc
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 65535.0)
    out = np.floor((t + 0.5).astype(np.float32)).astype(np.uint16)
    out[~inside] = 0
    return out


def noise_counts(photons: np.ndarray, adc: float, inside: np.ndarray) -> tuple[np.ndarray, int]:
    """nanoBragg's noise image from Poisson photons: photons + adc, overloads clamped to 65535
    and counted, truncated to integers; 0 outside the window. Returns (pixels, overloads)."""
    t = np.nan_to_num(photons.astype(np.float64), nan=0.0) + adc
    over = (t > 65535.0) & inside
    t = np.clip(t, 0.0, 65535.0)
    out = t.astype(np.uint16)
    out[~inside] = 0
    return out, int(over.sum())


def pgm_bytes(image: np.ndarray, scale: float, inside: np.ndarray) -> np.ndarray:
    """nanoBragg's 8-bit preview: value·scale truncated, at most 255; 0 outside the window."""
    t = np.nan_to_num(image.astype(np.float64) * scale, nan=0.0)
    out = np.clip(t, 0.0, 255.0).astype(np.uint8)
    out[~inside] = 0
    return out


def write_pgm(path: str | os.PathLike[str], pixels: np.ndarray, scale: float) -> None:
    """Binary PGM (P5) with nanoBragg's comment line."""
    h, w = pixels.shape
    head = f"P5\n{w} {h}\n# pixels scaled by {scale:g}\n255\n".encode("ascii")
    write_atomic(path, head + np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


def read_float(path: str | os.PathLike[str], shape: tuple[int, int]) -> np.ndarray:
    """Read a raw float32 image of the given (spixels, fpixels) shape."""
    data = np.fromfile(os.fspath(path), dtype="<f4")
    if data.size != shape[0] * shape[1]:
        raise ValueError(f"{os.fspath(path)}: {data.size} floats, expected {shape[0]}x{shape[1]}")
    return data.reshape(shape)
