"""CXI/HDF5 output for a -geom detector: one image laid out as the .geom's min/max fs/ss
place the panels, at the .geom's data path, so CrystFEL reads it back with the same file."""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..io.atomic import atomic_path
from .geom import Geom


def layout_image(geom: Geom, images: tuple[np.ndarray, ...]) -> np.ndarray:
    """The panels' images placed in one (ss, fs) array as the .geom lays them out."""
    height = max(lay.max_ss for lay in geom.layouts) + 1
    width = max(lay.max_fs for lay in geom.layouts) + 1
    out = np.zeros((height, width), dtype=np.float32)
    for lay, im in zip(geom.layouts, images):
        out[lay.min_ss : lay.max_ss + 1, lay.min_fs : lay.max_fs + 1] = im
    return out


def write_cxi(path: str | os.PathLike[str], geom: Geom, images: tuple[np.ndarray, ...]) -> None:
    """Write the image (with a leading frame axis when the .geom's dims have one), atomically."""
    image = layout_image(geom, images)
    if geom.framed:
        image = image[np.newaxis]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["creator"] = np.bytes_(b"nanobragg-rs")
        ds = f.create_dataset(geom.data_path, data=image, compression="gzip", shuffle=True)
        ds.attrs["long_name"] = np.bytes_(b"photons per pixel, laid out by the CrystFEL geometry")
        if not geom.data_path.startswith("/entry_1/"):
            # The CXI convention's place for the frames, linked to the same data.
            f["/entry_1/data_1/data"] = ds
