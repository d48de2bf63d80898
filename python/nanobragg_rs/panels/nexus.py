"""NXmx for a multi-panel detector: one NXdetector with one NXdetector_module per panel.

The panels are stacked along the slow direction of one image, ``/entry/data/data`` of shape
(1, sum of slow_pixels, largest fast_pixels): panel k occupies rows ``data_origin[0]`` to
``data_origin[0] + data_size[0] - 1`` and columns 0 to ``data_size[1] - 1`` (the rest of its
rows, where a panel is narrower than the widest, is padding, flagged as a gap, bit 0, in
``pixel_mask``; masked pixels have bit 8). Each module's ``module_offset`` runs from the
sample to the outer corner of its pixel (0, 0), and its fast and slow pixel directions are
its own axes, all in the McStas frame as the single-panel writer defines it
(:mod:`nanobragg_rs.io.nexus`).
"""

from __future__ import annotations

import datetime
import os

import h5py
import numpy as np

from ..io.atomic import atomic_path
from ..io.nexus import (
    DETECTOR,
    _axis,
    _group,
    _image_dataset,
    _scalar,
    _text,
    _write_beam,
    lab_to_mcstas,
    write_entry,
    write_sample,
    write_source,
)
from ..io.geometry import unit_vector as _unit
from .render import DetectorImages, MultiSimulator

_MM = 1000.0


def stacked(msim: MultiSimulator, images: tuple[np.ndarray, ...]) -> tuple[np.ndarray, list[int]]:
    """The panels stacked along slow into one image, and each panel's first row."""
    width = max(p.fast_pixels for p in msim.panels)
    rows = [0]
    for p in msim.panels:
        rows.append(rows[-1] + p.slow_pixels)
    out = np.zeros((rows[-1], width), dtype=np.float32)
    for p, r0, im in zip(msim.panels, rows, images):
        out[r0 : r0 + p.slow_pixels, : p.fast_pixels] = im
    return out, rows[:-1]


def write_nxmx_panels(
    path: str | os.PathLike[str],
    msim: MultiSimulator,
    images: DetectorImages,
    noise_photons: tuple[np.ndarray, ...] | None = None,
) -> None:
    """Write the panels' images (the noise images as ``data`` when given, the float images as
    ``noiseless`` beside them) as one NXmx file, atomically."""
    sim0 = msim.simulators[0]
    now = datetime.datetime.now(datetime.timezone.utc)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        exposure = float(msim.config.beam.exposure_s)
        entry = write_entry(f, os.path.basename(os.fspath(path)), "nanoBragg simulated multi-panel diffraction image",
                            now, now + datetime.timedelta(seconds=max(exposure, 0.0)))
        data = _group(entry, "data", "NXdata")
        data.attrs["signal"] = np.bytes_(b"data")
        expected = "expected photons per pixel (float image, no noise)"
        image, first_rows = stacked(msim, images.images)
        if noise_photons is not None:
            recorded = _image_dataset(data, "data", stacked(msim, noise_photons)[0], "Poisson noise image, photons per pixel")
            _image_dataset(data, "noiseless", image, expected)
        else:
            recorded = _image_dataset(data, "data", image, expected)
        instrument = _group(entry, "instrument", "NXinstrument")
        _text(instrument, "name", "nanoBragg simulation", short_name="nanoBragg")
        _write_beam(instrument, sim0)
        det = _write_modules(instrument, msim, first_rows, image.shape)
        det["data"] = recorded
        write_sample(entry, sim0)
        write_source(entry)


def _write_modules(instrument: h5py.Group, msim: MultiSimulator, first_rows: list[int], shape: tuple[int, int]) -> h5py.Group:
    geo0 = msim.simulators[0].panel.geometry
    R = lab_to_mcstas(geo0)
    det = _group(instrument, "detector", "NXdetector")
    _text(det, "description", f"nanoBragg simulated multi-panel detector ({len(msim.panels)} panels)")
    _text(det, "type", "pixel")
    _text(det, "sensor_material", "Si")
    thickness = msim.simulators[0].setup.sampling.thickness.thickness
    _scalar(det, "sensor_thickness", thickness * _MM, "mm")
    px = msim.panels[0].pixel_mm
    _scalar(det, "x_pixel_size", px, "mm")
    _scalar(det, "y_pixel_size", px, "mm")
    _scalar(det, "count_time", float(msim.config.beam.exposure_s), "s")
    mask = np.ones(shape, dtype=np.int32)  # bit 0: gap (padding), cleared on panel pixels
    for p, r0 in zip(msim.panels, first_rows):
        block = np.zeros(p.shape, dtype=np.int32)
        if p.mask is not None:
            block[np.asarray(p.mask) == 0] = 1 << 8
        mask[r0 : r0 + p.slow_pixels, : p.fast_pixels] = block
    ds = det.create_dataset("pixel_mask", data=mask, compression="gzip", shuffle=True)
    ds.attrs["long_name"] = np.bytes_(b"bit 0: padding between panels; bit 8: pixel masked")
    det.create_dataset("pixel_mask_applied", data=np.bool_(False))
    transformations = _group(det, "transformations", "NXtransformations")
    # The detector's own reference point is the sample position; each module offset then
    # reaches its panel's corner.
    _axis(transformations, "det_origin", [0.0], kind="translation", vector=np.array([0.0, 0.0, 1.0]), depends_on=".")
    anchor = f"{DETECTOR}/transformations/det_origin"
    _text(det, "depends_on", anchor)
    for k, (p, sim, r0) in enumerate(zip(msim.panels, msim.simulators, first_rows)):
        module = _group(det, f"module_{k:02d}" if len(msim.panels) < 100 else f"module_{k:03d}", "NXdetector_module")
        _text(module, "name", p.name)
        module.create_dataset("data_origin", data=np.array([r0, 0], dtype=np.int32))
        module.create_dataset("data_size", data=np.array(p.shape, dtype=np.int32))
        corner = np.asarray(p.origin_mm, dtype=np.float64)
        length = float(np.linalg.norm(corner))
        path = f"{det.name}/{module.name.rsplit('/', 1)[1]}"
        _axis(module, "module_offset", [length], kind="translation", vector=R @ _unit(corner), depends_on=anchor)
        for name, axis in (("fast_pixel_direction", p.fast_axis), ("slow_pixel_direction", p.slow_axis)):
            _axis(module, name, [p.pixel_mm], kind="translation", vector=R @ _unit(np.asarray(axis, dtype=np.float64)),
                  depends_on=path + "/module_offset")
    return det
