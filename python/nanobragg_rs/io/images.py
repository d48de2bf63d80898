"""The float, integer, noise and PGM images nanoBragg writes, converted as it converts them.

Every conversion of photons to recorded values is the core's response stage
(``rust/core/src/response``); this module streams images through it block by block.

Conversions run over blocks of rows, so writing an image needs only the float image itself in
memory (a 2463x2527 detector would otherwise need several full-size float64 temporaries).
"""

from __future__ import annotations

import os

from .. import _core
from . import atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    import numpy as np

#: Rows converted at a time.
BLOCK_ROWS = 256

Roi = tuple[int, int, int, int]


def roi_mask(shape: tuple[int, int], roi: Roi, rows: slice | None = None) -> np.ndarray:
    """True inside the inclusive window (fast min, fast max, slow min, slow max), for all rows
    or for the block `rows`."""
    import numpy as np

    rows = rows or slice(0, shape[0])
    inside = np.zeros((rows.stop - rows.start, shape[1]), dtype=bool)
    x0, x1, y0, y1 = roi
    inside[max(y0 - rows.start, 0) : max(y1 + 1 - rows.start, 0), x0 : x1 + 1] = True
    return inside


def _blocks(shape: tuple[int, ...]) -> Iterator[slice]:
    for r0 in range(0, shape[0], BLOCK_ROWS):
        yield slice(r0, min(r0 + BLOCK_ROWS, shape[0]))


def _f32(image: np.ndarray, rows: slice) -> np.ndarray:
    import numpy as np

    return np.ascontiguousarray(image[rows], dtype=np.float32)


def int_rows(image: np.ndarray, scale: float, adc: float, roi: Roi) -> Iterator[np.ndarray]:
    """nanoBragg's integer image, block by block: value·scale + adc, clamped to [0, 65535],
    rounded through single precision as ``floorf(t + 0.5)``; 0 outside the window."""
    for rows in _blocks(image.shape):
        yield _core.int_pixels(_f32(image, rows), rows.start, list(roi), scale, adc)


def noise_rows(photons: np.ndarray, adc: float, roi: Roi, round_first: bool = False) -> Iterator[tuple[np.ndarray, int]]:
    """nanoBragg's noise image from Poisson photons, block by block: photons + adc, overloads
    clamped to 65535 and counted, truncated; 0 outside the window. Yields (pixels, overloads).
    ``round_first`` rounds the values to whole photons first (ties to even): the data sets'
    SMV frames of expected photons or counts."""
    for rows in _blocks(photons.shape):
        yield _core.noise_pixels(_f32(photons, rows), rows.start, list(roi), adc, round_first)


def count_image(values: np.ndarray, saturation: int) -> np.ndarray:
    """Whole photon counts (uint32): nearest integer (ties to even), clamped to
    [0, saturation], NaN as 0."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    flat = np.ascontiguousarray(v.reshape(-1, v.shape[-1]) if v.ndim else v.reshape(1, 1))
    return _core.count_pixels(flat, int(saturation)).reshape(v.shape)


def pgm_rows(image: np.ndarray, scale: float, roi: Roi) -> Iterator[np.ndarray]:
    """nanoBragg's 8-bit preview, block by block: value·scale truncated, at most 255."""
    for rows in _blocks(image.shape):
        yield _core.pgm_pixels(_f32(image, rows), rows.start, list(roi), scale)


def int_image(image: np.ndarray, scale: float, adc: float, roi: Roi) -> np.ndarray:
    """The whole integer image (see `int_rows`)."""
    import numpy as np

    return np.concatenate(list(int_rows(image, scale, adc, roi)))


def noise_counts(photons: np.ndarray, adc: float, roi: Roi) -> tuple[np.ndarray, int]:
    """The whole noise image and its overload count (see `noise_rows`)."""
    import numpy as np

    blocks = list(noise_rows(photons, adc, roi))
    return np.concatenate([b for b, _ in blocks]), sum(o for _, o in blocks)


def pgm_bytes(image: np.ndarray, scale: float, roi: Roi) -> np.ndarray:
    """The whole PGM preview (see `pgm_rows`)."""
    import numpy as np

    return np.concatenate(list(pgm_rows(image, scale, roi)))


def write_blocks(path: str | os.PathLike[str], head: bytes, blocks: Iterable[np.ndarray]) -> None:
    """Write ``head`` then the blocks' bytes, atomically, without copying the blocks."""
    import numpy as np

    with atomic.atomic_open(path) as f:
        f.write(head)
        for block in blocks:
            f.write(np.ascontiguousarray(block).data)


def write_float(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Raw little-endian float32, fast index fastest, no header."""
    import numpy as np

    write_blocks(path, b"", [np.ascontiguousarray(image, dtype="<f4")])


def write_pgm(path: str | os.PathLike[str], pixels: np.ndarray | Iterable[np.ndarray], scale: float, shape: tuple[int, int] | None = None) -> None:
    """Binary PGM (P5) with nanoBragg's comment line; `pixels` is the image or its row blocks
    (then `shape` is needed)."""
    import numpy as np

    blocks = [pixels] if isinstance(pixels, np.ndarray) else pixels
    h, w = shape if shape is not None else pixels.shape  # type: ignore[union-attr]
    head = f"P5\n{w} {h}\n# pixels scaled by {scale:g}\n255\n".encode("ascii")
    write_blocks(path, head, (np.asarray(b, dtype=np.uint8) for b in blocks))


def read_float(path: str | os.PathLike[str], shape: tuple[int, int]) -> np.ndarray:
    """Read a raw float32 image of the given (spixels, fpixels) shape."""
    import numpy as np

    data = np.fromfile(os.fspath(path), dtype="<f4")
    if data.size != shape[0] * shape[1]:
        raise ValueError(f"{os.fspath(path)}: {data.size} floats, expected {shape[0]}x{shape[1]}")
    return data.reshape(shape)
