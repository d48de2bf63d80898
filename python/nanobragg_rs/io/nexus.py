"""NeXus/HDF5 output following the NXmx application definition (read by DIALS/dxtbx, nxmx).

Layout of the file ``write_nxmx`` writes (lengths in mm, angles in degrees, every number
with a ``units`` attribute)::

    /entry                          NXentry: definition="NXmx", start_time, end_time_estimated
      data/                         NXdata, @signal="data"
        data        (1, s, f) f4    the image a detector would record: the Poisson noise image
                                    in photons when one is given, else the float image
        noiseless   (1, s, f) f4    the float (expected-photons) image, only with a noise image
      instrument/                   NXinstrument
        beam/                       NXbeam: incident_wavelength (Å), total_flux (Hz), ...
        detector/                   NXdetector: depends_on, distance, beam_center_x/y (pixels),
                                    x/y_pixel_size, sensor_material="Si", sensor_thickness,
                                    count_time, pixel_mask, data (link to /entry/data/data)
          transformations/det_z     translation along the beam to where it meets the detector
          module/                   NXdetector_module: data_origin, data_size, module_offset,
                                    fast_pixel_direction, slow_pixel_direction
          nanobragg/                NXcollection: lab_to_mcstas matrix, nanoBragg convention
      sample/                       NXsample: depends_on -> transformations/phi (rotation about
                                    the spindle, phi = start, phi_end = start + oscillation)
      source/                       NXsource

The data carry a leading frame axis of length 1, as NXmx wants frames first.

**Coordinate frame.** NeXus vectors are in the McStas frame: z along the beam, y up, x
horizontal completing a right-handed set (to the left when looking downstream). nanoBragg's
lab frame depends on the convention (MOSFLM: beam along +x, XDS: along +z), so every vector
and position is rotated by ``R = lab_to_mcstas(geometry)``, whose rows are the McStas axes in
lab coordinates:

- ``z`` = the beam direction (source to sample);
- ``x`` = minus the polarization E-vector with its component along the beam removed (as
  nanoBragg's polarization factor removes it), normalised;
- ``y`` = ``z × x`` (equivalently E × beam).

The E-vector of a synchrotron beam is horizontal, hence along ±x. The sign is chosen so that
y is up for nanoBragg's MOSFLM, DENZO and XDS conventions: there the E-vector and the fast
axis point right and the slow axis points down as seen from the sample, i.e. pixel (0, 0) is
at the top left, and the detector origin then matches the ``DIALS_ORIGIN`` nanoBragg writes to
its SMV headers. Should the E-vector lie exactly along the beam, y is taken opposite to the
detector's slow axis (projected perpendicular to the beam) and x = y × z.

**Pixel positions.** The point reached by following the detector module's chain
(``module_offset`` -> ``det_z``) plus the ``offset`` of ``fast_pixel_direction`` (zero here)
is the *outer corner* of pixel (0, 0); the centre of pixel (i_f, i_s) lies at that corner plus
``(i_f + 0.5)`` fast pixel steps and ``(i_s + 0.5)`` slow pixel steps. NXmx and
NXdetector_module do not say which point of the first pixel the chain reaches (NXdetector's
base class calls the detector's reference point the centre of the first pixel); dxtbx, the
main NXmx reader, takes the chain's end plus that offset as its panel origin, which is the
outer corner of the first pixel, and its own NXmx writer writes it so. We follow dxtbx.
``beam_center_x/y`` are in pixels counted from that same corner along the fast and slow
directions, so ``corner + beam_center_x * fast_step + beam_center_y * slow_step`` is where the
direct beam meets the detector plane (for a two-theta swing, not nanoBragg's Fbeam/Sbeam).

A curved detector (``-curved_det``) is described by its flat pixel grid.

``write_entry``, ``write_instrument``, ``write_sample`` and ``write_source`` are the pieces of
this layout; the data-set master file (:mod:`nanobragg_rs.dataset.writers`) is written with
the same pieces, with one phi start (and, when it varies, one wavelength) per frame.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .atomic import write_hdf5
from .geometry import beam_hit, in_plane, lab_to_mcstas, unit_vector

try:
    import h5py  # type: ignore[import-untyped]
except ImportError as e:  # pragma: no cover - exercised only without the optional dependency
    raise ImportError("NeXus output needs h5py: pip install 'nanobragg-rs[hdf5]'") from e

if TYPE_CHECKING:
    from .. import _core
    from ..simulate import Simulator

__all__ = [
    "beam_hit",
    "in_plane",
    "lab_to_mcstas",
    "write_nxmx",
    "write_ub_matrix",
    "write_entry",
    "write_instrument",
    "write_sample",
    "write_source",
    "DETECTOR",
    "MODULE",
    "SAMPLE_PHI",
    "DET_Z",
]

#: Paths of the groups and axes readers most often need.
DETECTOR = "/entry/instrument/detector"
MODULE = DETECTOR + "/module"
DET_Z = DETECTOR + "/transformations/det_z"
SAMPLE_PHI = "/entry/sample/transformations/phi"

_M_TO_MM = 1000.0


def _s(text: str) -> np.bytes_:
    # Fixed-length strings: the form every HDF5 reader (C, Fortran, h5py) handles.
    return np.bytes_(text.encode("utf-8"))


def _scalar(group: h5py.Group, name: str, value: float, units: str) -> h5py.Dataset:
    ds = group.create_dataset(name, data=np.float64(value))
    ds.attrs["units"] = _s(units)
    return ds


def _text(group: h5py.Group, name: str, value: str, **attrs: str) -> h5py.Dataset:
    ds = group.create_dataset(name, data=_s(value))
    for k, v in attrs.items():
        ds.attrs[k] = _s(v)
    return ds


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    g = parent.create_group(name)
    g.attrs["NX_class"] = _s(nx_class)
    return g


def _axis(
    group: h5py.Group,
    name: str,
    values: Sequence[float] | np.ndarray,
    *,
    kind: str,
    vector: np.ndarray,
    depends_on: str,
) -> h5py.Dataset:
    """One NXtransformations axis: values (one per frame; mm for a translation, degrees for a
    rotation), unit vector, a zero offset and the path of the axis it depends on."""
    ds = group.create_dataset(name, data=np.asarray(values, dtype=np.float64))
    ds.attrs["transformation_type"] = _s(kind)
    ds.attrs["vector"] = np.asarray(vector, dtype=np.float64)
    ds.attrs["offset"] = np.zeros(3)
    ds.attrs["offset_units"] = _s("mm")
    ds.attrs["units"] = _s("mm" if kind == "translation" else "deg")
    ds.attrs["depends_on"] = _s(depends_on)
    return ds


def _timestamp(t: datetime.datetime) -> str:
    return t.astimezone(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _image_dataset(
    group: h5py.Group, name: str, image: np.ndarray, description: str, dtype: type = np.float32
) -> h5py.Dataset:
    s, f = image.shape
    rows = max(1, min(s, (1 << 20) // (4 * f)))  # chunks of about 1 MiB
    ds = group.create_dataset(
        name,
        data=np.ascontiguousarray(image, dtype=dtype).reshape(1, s, f),
        chunks=(1, rows, f),
        compression="gzip",
        compression_opts=4,
        shuffle=True,
    )
    ds.attrs["units"] = _s("counts")
    ds.attrs["long_name"] = _s(description)
    return ds


def _pixel_mask(sim: Simulator, shape: tuple[int, int]) -> np.ndarray:
    """NXmx pixel_mask: bit 8 ("user defined") on pixels nanoBragg did not render, i.e. those
    outside the -roi window or zero in the -mask image; 0 elsewhere."""
    x0, x1, y0, y1 = sim.panel.roi
    skipped = np.ones(shape, dtype=bool)
    skipped[y0 : y1 + 1, x0 : x1 + 1] = False
    mask = sim.config.detector.mask
    if mask is not None:
        skipped |= np.asarray(mask).reshape(shape) == 0
    return np.where(skipped, np.int32(1 << 8), np.int32(0)).astype(np.int32)


def write_nxmx(
    path: str | os.PathLike[str],
    sim: Simulator,
    image: np.ndarray,
    noise_photons: np.ndarray | None = None,
) -> None:
    """Write ``image`` (and ``noise_photons``, if given) rendered by ``sim`` as an NXmx file.

    ``image`` is ``sim.render()``; ``noise_photons`` is ``sim.noise(image, seed).photons``.
    When both are given, ``/entry/data/data`` holds the noise image and
    ``/entry/data/noiseless`` the float image (see the module docstring for the whole layout,
    the McStas frame and the pixel convention). The file is written under a temporary name
    beside ``path`` and renamed when complete, so a failure never leaves a partial file.
    """
    shape = sim.shape
    image = np.asarray(image)
    if image.shape != shape:
        raise ValueError(f"image has shape {image.shape}, the simulator renders {shape}")
    if noise_photons is not None:
        noise_photons = np.asarray(noise_photons)
        if noise_photons.shape != shape:
            raise ValueError(f"noise image has shape {noise_photons.shape}, expected {shape}")
    write_hdf5(path, lambda f: _write(f, os.path.basename(os.fspath(path)), sim, image, noise_photons))


def _write(
    f: h5py.File, name: str, sim: Simulator, image: np.ndarray, noise_photons: np.ndarray | None
) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    exposure = float(sim.config.beam.exposure_s)
    entry = write_entry(
        f, name, "nanoBragg simulated diffraction image", now, now + datetime.timedelta(seconds=max(exposure, 0.0))
    )
    data = _group(entry, "data", "NXdata")
    data.attrs["signal"] = _s("data")
    expected = "expected photons per pixel (float image, no noise)"
    if noise_photons is not None:
        # Whole photons, stored as the integers a counting detector records.
        counts = np.clip(np.rint(np.nan_to_num(noise_photons, nan=0.0)), 0, np.iinfo(np.uint32).max)
        recorded = _image_dataset(data, "data", counts, "Poisson noise image, photons per pixel", np.uint32)
        _image_dataset(data, "noiseless", image, expected)
    else:
        recorded = _image_dataset(data, "data", image, expected)
    detector = write_instrument(entry, sim)
    detector["data"] = recorded  # a hard link: NXmx also expects the frames under the detector
    write_sample(entry, sim)
    lattice = sim.setup.crystal.lattice
    write_ub_matrix(entry, sim, [np.column_stack([lattice.a_star, lattice.b_star, lattice.c_star])])
    write_source(entry)


def write_ub_matrix(entry: h5py.Group, sim: Simulator, reciprocal: Sequence[np.ndarray]) -> None:
    """NXsample/ub_matrix, one per frame: the crystal's reciprocal vectors a*, b*, c* (the
    columns of each of ``reciprocal``, lab frame, 1/Å, no 2π) at phi = 0, in the McStas frame."""
    R = lab_to_mcstas(sim.panel.geometry)
    ds = entry["sample"].create_dataset("ub_matrix", data=np.array([R @ np.asarray(A) for A in reciprocal]))
    ds.attrs["units"] = _s("1/angstrom")


# --- pieces shared by the single-image writer and the data-set master file -------------------


def write_entry(
    f: h5py.File, name: str, title: str, start: datetime.datetime, end: datetime.datetime
) -> h5py.Group:
    """The root attributes and ``/entry`` (NXentry, definition NXmx) with its times."""
    from .. import __version__

    f.attrs["NX_class"] = _s("NXroot")
    f.attrs["default"] = _s("entry")
    f.attrs["file_name"] = _s(name)
    f.attrs["file_time"] = _s(_timestamp(start))
    f.attrs["creator"] = _s("nanobragg-rs")
    f.attrs["creator_version"] = _s(__version__)
    f.attrs["HDF5_Version"] = _s(h5py.version.hdf5_version)
    f.attrs["h5py_version"] = _s(h5py.version.version)

    entry = _group(f, "entry", "NXentry")
    entry.attrs["default"] = _s("data")
    _text(entry, "definition", "NXmx")
    _text(entry, "title", title)
    _text(entry, "start_time", _timestamp(start))
    _text(entry, "end_time_estimated", _timestamp(end))
    return entry


def write_instrument(
    entry: h5py.Group,
    sim: Simulator,
    *,
    wavelengths_A: Sequence[float] | None = None,
    saturation_value: int | None = None,
) -> h5py.Group:
    """``/entry/instrument`` with its beam and detector; returns the NXdetector group.

    ``wavelengths_A``, when given, are the per-frame wavelengths of a series whose wavelength
    changes from shot to shot (NXbeam's per-shot form); otherwise the render's own."""
    instrument = _group(entry, "instrument", "NXinstrument")
    _text(instrument, "name", "nanoBragg simulation", short_name="nanoBragg")
    _write_beam(instrument, sim, wavelengths_A)
    detector = _write_detector(instrument, sim)
    if saturation_value is not None:
        detector.create_dataset("saturation_value", data=np.int64(saturation_value))
    return detector


def write_source(entry: h5py.Group) -> None:
    """``/entry/source`` (NXsource)."""
    source = _group(entry, "source", "NXsource")
    _text(source, "name", "nanoBragg simulated X-ray source", short_name="nanoBragg")
    _text(source, "probe", "x-ray")


def _write_beam(instrument: h5py.Group, sim: Simulator, wavelengths_A: Sequence[float] | None = None) -> None:
    """NXbeam: nominal wavelength (with the sampled spectrum as a variant), flux, size."""
    setup, cfg = sim.setup, sim.config
    beam = _group(instrument, "beam", "NXbeam")
    if wavelengths_A is not None:
        # A monochromatic beam that changes from shot to shot: one wavelength per frame.
        wavelength = beam.create_dataset("incident_wavelength", data=np.asarray(wavelengths_A, dtype=np.float64))
        wavelength.attrs["units"] = _s("angstrom")
        spectrum = None
    else:
        wavelength = _scalar(beam, "incident_wavelength", setup.beam.wavelength_m * 1e10, "angstrom")
        spectrum = _spectrum(setup.beam.sources)
    if spectrum is not None:
        # The scalar stays the nominal wavelength; the sampled spectrum is its variant, which
        # dxtbx reads as a spectrum while keeping the nominal value.
        wavelength.attrs["variant"] = _s("incident_wavelength_1")
        lam, weights = spectrum
        ds = beam.create_dataset("incident_wavelength_1", data=lam * 1e10)
        ds.attrs["units"] = _s("angstrom")
        beam.create_dataset("incident_wavelength_1_weights", data=weights)
    fluence = setup.beam.fluence_ph_per_m2  # photons per m² over the whole exposure
    exposure = float(cfg.beam.exposure_s)
    beamsize_m = float(cfg.beam.beamsize_mm) * 1e-3
    if exposure > 0.0:
        _scalar(beam, "flux", fluence / exposure, "1/(s*m**2)")
        _scalar(beam, "total_flux", fluence * beamsize_m**2 / exposure, "Hz")
    else:
        _scalar(beam, "total_flux", float(cfg.beam.flux_ph_per_s), "Hz")
    size = beam.create_dataset("incident_beam_size", data=np.array([beamsize_m, beamsize_m]) * _M_TO_MM)
    size.attrs["units"] = _s("mm")
    _text(beam, "profile", "rectangular")  # nanoBragg's fluence is flux over a square beam


def _write_detector(instrument: h5py.Group, sim: Simulator) -> h5py.Group:
    """NXdetector with its transformation chain and one module spanning the image."""
    geo = sim.panel.geometry
    R = lab_to_mcstas(geo)
    shape = sim.shape
    px_m = geo.pixel_size
    fdet = np.asarray(geo.fdet, dtype=np.float64)
    sdet = np.asarray(geo.sdet, dtype=np.float64)
    pix0 = np.asarray(geo.pix0, dtype=np.float64)
    fast_step = px_m * float(np.linalg.norm(fdet))
    slow_step = px_m * float(np.linalg.norm(sdet))

    det = _group(instrument, "detector", "NXdetector")
    _text(det, "description", f"nanoBragg simulated detector ({geo.convention} convention)")
    _text(det, "type", "pixel")
    _text(det, "sensor_material", "Si")
    _scalar(det, "sensor_thickness", sim.setup.sampling.thickness.thickness * _M_TO_MM, "mm")
    _scalar(det, "x_pixel_size", fast_step * _M_TO_MM, "mm")
    _scalar(det, "y_pixel_size", slow_step * _M_TO_MM, "mm")
    _scalar(det, "count_time", float(sim.config.beam.exposure_s), "s")
    mask = det.create_dataset("pixel_mask", data=_pixel_mask(sim, shape), compression="gzip", shuffle=True)
    mask.attrs["long_name"] = _s("bit 8 set: pixel not rendered (outside -roi or masked)")
    det.create_dataset("pixel_mask_applied", data=np.bool_(False))

    transformations = _group(det, "transformations", "NXtransformations")
    hit = beam_hit(pix0, fdet, sdet, np.asarray(geo.beam, dtype=np.float64))
    if hit is not None:
        # The detector sits along the beam at the point the beam meets the detector plane;
        # the module offset runs from there to the outer corner of pixel (0, 0).
        anchor, anchor_name, along = hit, "det_z", np.array([0.0, 0.0, 1.0])
        # In pixel steps from the outer corner of pixel (0, 0), as dxtbx counts pixels.
        bx, by = in_plane(hit - pix0, fdet * px_m, sdet * px_m)
        _scalar(det, "beam_center_x", bx, "pixel")
        _scalar(det, "beam_center_y", by, "pixel")
    else:
        # The beam misses the detector plane: anchor the detector at the plane's closest
        # point to the sample instead; there is no beam centre to give.
        normal = unit_vector(np.cross(fdet, sdet))
        anchor, anchor_name = float(np.dot(pix0, normal)) * normal, "det_normal"
        along = R @ unit_vector(anchor) if np.linalg.norm(anchor) > 0 else np.array([0.0, 0.0, 1.0])
    anchor_length = float(np.linalg.norm(anchor)) * _M_TO_MM
    _axis(transformations, anchor_name, [anchor_length], kind="translation", vector=along, depends_on=".")
    anchor_path = f"{DETECTOR}/transformations/{anchor_name}"
    _text(det, "depends_on", anchor_path)
    _scalar(det, "distance", anchor_length, "mm")
    det.create_dataset("distance_derived", data=np.bool_(True))

    module = _group(det, "module", "NXdetector_module")
    module.create_dataset("data_origin", data=np.array([0, 0], dtype=np.int32))
    module.create_dataset("data_size", data=np.array(shape, dtype=np.int32))
    to_corner = pix0 - anchor
    corner_length = float(np.linalg.norm(to_corner))
    offset_vector = R @ (unit_vector(to_corner) if corner_length > 0 else unit_vector(fdet))
    _axis(
        module,
        "module_offset",
        [corner_length * _M_TO_MM],
        kind="translation",
        vector=offset_vector,
        depends_on=anchor_path,
    )
    pixel_axes = (("fast_pixel_direction", fast_step, fdet), ("slow_pixel_direction", slow_step, sdet))
    for name, step, axis in pixel_axes:
        _axis(
            module,
            name,
            [step * _M_TO_MM],
            kind="translation",
            vector=R @ unit_vector(axis),
            depends_on=MODULE + "/module_offset",
        )

    notes = _group(det, "nanobragg", "NXcollection")
    rot = notes.create_dataset("lab_to_mcstas", data=R)
    rot.attrs["long_name"] = _s("rows: McStas x, y, z in nanoBragg lab coordinates; v_mcstas = M @ v_lab")
    _text(notes, "convention", geo.convention)
    return det


def write_sample(
    entry: h5py.Group,
    sim: Simulator,
    *,
    phi_starts_deg: Sequence[float] | None = None,
    osc_deg: float | None = None,
) -> None:
    """NXsample: unit cell, and the spindle as a rotation over the render's phi range, or,
    for a series, over each frame's range (``phi_starts_deg``, each ``osc_deg`` wide)."""
    setup = sim.setup
    sample = _group(entry, "sample", "NXsample")
    _text(sample, "name", "nanoBragg crystal")
    _text(sample, "depends_on", SAMPLE_PHI)
    cell = [float(x) for x in setup.crystal.lattice.cell]
    abc = sample.create_dataset("unit_cell_abc", data=np.asarray(cell[:3]))
    abc.attrs["units"] = _s("angstrom")
    angles = sample.create_dataset("unit_cell_alphabetagamma", data=np.asarray(cell[3:]))
    angles.attrs["units"] = _s("deg")

    goniometer = _group(sample, "transformations", "NXtransformations")
    phi = setup.sampling.phi
    if phi_starts_deg is None:
        starts = np.array([float(np.degrees(phi.phi0))])
    else:
        starts = np.asarray(phi_starts_deg, dtype=np.float64)
    osc = float(np.degrees(phi.osc)) if osc_deg is None else float(osc_deg)
    geo = sim.panel.geometry
    spindle = np.asarray(geo.spindle, dtype=np.float64)
    # nanoBragg turns the crystal right-handedly about the spindle by phi, as NXtransformations
    # rotations turn about their vector; the change of frame is a proper rotation, so the
    # axis maps directly.
    R = lab_to_mcstas(geo)
    _axis(goniometer, "phi", starts, kind="rotation", vector=R @ unit_vector(spindle), depends_on=".")
    end = goniometer.create_dataset("phi_end", data=starts + osc)
    end.attrs["units"] = _s("deg")
    increment = goniometer.create_dataset("phi_increment_set", data=np.float64(osc))
    increment.attrs["units"] = _s("deg")


def _spectrum(sources: Sequence[_core.Source]) -> tuple[np.ndarray, np.ndarray] | None:
    """Distinct source wavelengths (m) with their summed weights, or None if there is one."""
    lam = np.array([s.wavelength_m for s in sources])
    weight = np.array([s.weight for s in sources])
    values, index = np.unique(lam, return_inverse=True)
    if values.size < 2:
        return None
    return values, np.bincount(index, weights=weight)
