"""NeXus NXmx output: read back with the ``nxmx`` package the way dxtbx reads it, and check
that the geometry it describes is the geometry the simulation rendered."""

from __future__ import annotations

import os
import types
import pathlib
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import Config, Simulator
from nanobragg_rs.io import read_float, read_smv

h5py = pytest.importorskip("h5py")
nxmx = pytest.importorskip("nxmx")

from nanobragg_rs.io import nexus  # noqa: E402  (needs h5py)
from nanobragg_rs.io.nexus import lab_to_mcstas, write_nxmx  # noqa: E402

#: The materials dxtbx accepts (dxtbx.nexus.KNOWN_SENSOR_MATERIALS).
DXTBX_MATERIALS = {"Si", "Silicon", "CdTe", "GaAs"}
#: dxtbx's conversion from McStas to its imgCIF lab frame.
MCSTAS_TO_IMGCIF = np.diag([-1.0, 1.0, -1.0])

#: A detector a little off the default: vectors from a real Pilatus calibration, a custom
#: beam, and detector rotations plus a two-theta swing on top.
TILTED = {
    "detector.convention": "custom",
    "detector.fdet_vector": (0.999982, -0.005998, -0.000118),
    "detector.sdet_vector": (-0.005998, -0.99997, -0.004913),
    "detector.odet_vector": (-8.8e-05, 0.004914, -0.999988),
    "beam.beam_vector": (0.00051387949, 0.0, -0.99999986),
    "sampling.spindle_axis": (-1.0, 0.0, 0.0),
    "detector.rotx_deg": 3.0,
    "detector.roty_deg": -4.0,
    "detector.rotz_deg": 5.0,
    "detector.twotheta_deg": 12.0,
}
PLAIN_MOSFLM = {
    "detector.convention": "mosflm",
    "detector.xbeam_mm": 3.1,
    "detector.ybeam_mm": 5.3,
    "detector.thickness_um": 450.0,
    "sampling.phi_deg": 10.0,
    "sampling.osc_deg": 2.0,
    "sampling.phisteps": 2,
}


def make_sim(settings: dict[str, Any]) -> Simulator:
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 100
    cfg.crystal.n_cells = (3, 3, 3)
    cfg.detector.detpixels_f, cfg.detector.detpixels_s = 24, 20
    cfg.detector.pixel_size_mm = 0.5
    cfg.detector.distance_mm = 60.0
    cfg.sampling.oversample = 1
    for key, value in settings.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    return Simulator(cfg)


@dataclass
class ReadBack:
    """What a dxtbx-like reader gets from the file, in McStas mm."""

    wavelength_A: float
    total_flux_Hz: float
    data: np.ndarray
    origin: np.ndarray  # chain + fast offset: the outer corner of pixel (0, 0)
    fast: np.ndarray
    slow: np.ndarray
    fast_mm: float
    slow_mm: float
    data_size: tuple[int, int]
    beam_center_px: tuple[float, float] | None
    distance_mm: float
    material: str
    thickness_mm: float
    spindle: np.ndarray
    phi_start: float
    phi_end: float

    def pixel_centre(self, i_f: float, i_s: float) -> np.ndarray:
        return self.origin + (i_f + 0.5) * self.fast_mm * self.fast + (i_s + 0.5) * self.slow_mm * self.slow


def read_back(path: pathlib.Path) -> ReadBack:
    """Walk the file as dxtbx's FormatNXmx does: entries[0] -> samples[0], instruments[0] ->
    detectors[0] / beams[0], data[0]; the panel origin from the module's dependency chain."""
    with h5py.File(path, "r") as f:
        nx = nxmx.NXmx(f)
        entry = nx.entries[0]
        assert entry.definition == "NXmx"
        assert entry.start_time is not None and entry.end_time_estimated >= entry.start_time
        sample = entry.samples[0]
        instrument = entry.instruments[0]
        detector = instrument.detectors[0]
        beam = instrument.beams[0]
        nxdata = entry.data[0]
        data = np.asarray(nxdata[nxdata.signal][()])
        assert entry.source.name

        module = detector.modules[0]
        fast_axis, slow_axis = module.fast_pixel_direction, module.slow_pixel_direction
        assert fast_axis.transformation_type == slow_axis.transformation_type == "translation"
        for axis in (fast_axis, slow_axis):
            chain = nxmx.get_dependency_chain(axis.depends_on)
            # Our chains hold translations only, so the axis vectors need no rotation.
            assert all(t.transformation_type == "translation" for t in chain)
        chain = nxmx.get_dependency_chain(fast_axis.depends_on)
        assert chain[-1].path == detector.depends_on.path, "the module chain must end at the detector"
        A = nxmx.get_cumulative_transformation(chain)
        offset = fast_axis.offset.to("mm").magnitude if fast_axis.offset is not None else np.zeros(3)
        origin = A[0, :3, 3] + offset

        centre = None
        if detector.beam_center_x is not None:
            centre = (
                float(detector.beam_center_x.to("pixel").magnitude),
                float(detector.beam_center_y.to("pixel").magnitude),
            )
        phi = sample.depends_on
        assert phi is not None and phi.transformation_type == "rotation"
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(phi))
        assert len(axes.axes) == 1
        return ReadBack(
            wavelength_A=float(beam.incident_wavelength.to("angstrom").magnitude),
            total_flux_Hz=float(beam.total_flux.to("Hz").magnitude),
            data=data,
            origin=origin,
            fast=np.asarray(fast_axis.vector, dtype=float),
            slow=np.asarray(slow_axis.vector, dtype=float),
            fast_mm=float(fast_axis[()].to("mm").magnitude.item()),
            slow_mm=float(slow_axis[()].to("mm").magnitude.item()),
            data_size=(int(module.data_size[-2]), int(module.data_size[-1])),
            beam_center_px=centre,
            distance_mm=float(detector.distance.to("mm").magnitude),
            material=detector.sensor_material,
            thickness_mm=float(detector.sensor_thickness.to("mm").magnitude),
            spindle=np.asarray(axes.axes[0], dtype=float),
            phi_start=float(phi[0].to("deg").magnitude),
            phi_end=float(phi.end[0].to("deg").magnitude),
        )


def lab_pixel_centre(geo: dict[str, Any], i_f: float, i_s: float) -> np.ndarray:
    """Where nanoBragg puts pixel (i_f, i_s)'s centre, lab frame, metres."""
    px = geo.pixel_size
    return (
        np.asarray(geo.pix0)
        + (i_f + 0.5) * px * np.asarray(geo.fdet)
        + (i_s + 0.5) * px * np.asarray(geo.sdet)
    )


def lab_beam_hit(geo: dict[str, Any]) -> np.ndarray:
    """Where the direct beam from the sample meets the pixel plane, lab frame, metres."""
    normal = np.cross(geo.fdet, geo.sdet)
    beam = np.asarray(geo.beam)
    return float(np.dot(geo.pix0, normal) / np.dot(beam, normal)) * beam


def mm_to_lab(R: np.ndarray, v_mm: np.ndarray) -> np.ndarray:
    """Back from McStas mm to nanoBragg's lab frame in metres."""
    return R.T @ (np.asarray(v_mm) / 1000.0)


# --- the frame ----------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["mosflm", "xds", "adxv", "denzo", "dials", "custom"])
def test_lab_to_mcstas_is_a_rotation_taking_the_beam_to_z(convention: str) -> None:
    geo = make_sim({"detector.convention": convention}).panel.geometry
    R = lab_to_mcstas(geo)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R @ np.asarray(geo.beam), [0, 0, 1], atol=1e-12)
    # The E-vector lies in the x-z plane, along -x: y = E x beam is "up".
    e = R @ np.asarray(geo.polar)
    assert abs(e[1]) < 1e-12 and e[0] < 0


def test_mosflm_frame_puts_the_image_upright() -> None:
    geo = make_sim({}).panel.geometry
    R = lab_to_mcstas(geo)
    # MOSFLM: beam +x, E-vector/spindle +z, vertical -y (nanoBragg's "vert").
    np.testing.assert_allclose(R, [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-15)
    # Fast axis to the right (-x), slow axis down (-y) as seen from the sample.
    np.testing.assert_allclose(R @ np.asarray(geo.fdet), [-1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(R @ np.asarray(geo.sdet), [0, -1, 0], atol=1e-15)


def test_frame_without_a_usable_e_vector_takes_up_from_the_detector() -> None:
    real = make_sim({}).panel.geometry
    geo = types.SimpleNamespace(beam=real.beam, polar=real.beam, sdet=real.sdet)
    R = lab_to_mcstas(geo)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R @ np.asarray(geo.sdet), [0, -1, 0], atol=1e-12)


# --- round trips through the nxmx reader --------------------------------------------------


@pytest.fixture(params=["plain_mosflm", "tilted", "xds", "adxv", "denzo", "dials"])
def written(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> tuple[Simulator, np.ndarray, ReadBack]:
    settings = {
        "plain_mosflm": PLAIN_MOSFLM,
        "tilted": TILTED,
        "xds": {"detector.convention": "xds", "detector.rotz_deg": 7.0},
        "adxv": {"detector.convention": "adxv", "detector.xbeam_mm": 4.0},
        "denzo": {"detector.convention": "denzo", "detector.roty_deg": 3.0},
        "dials": {"detector.convention": "dials", "detector.rotx_deg": -2.0},
    }[request.param]
    sim = make_sim(settings)
    image = sim.render()
    path = tmp_path / "image.h5"
    write_nxmx(path, sim, image)
    return sim, image, read_back(path)


def test_data_and_beam(written: tuple[Simulator, np.ndarray, ReadBack]) -> None:
    sim, image, rb = written
    s, f = sim.shape
    assert rb.data.shape == (1, s, f)
    assert rb.data_size == (s, f)
    np.testing.assert_array_equal(rb.data[0], image)
    assert image.max() > 0, "a blank image would make the comparison vacuous"
    assert rb.wavelength_A == pytest.approx(sim.setup.beam.wavelength_m * 1e10, rel=1e-12)
    assert rb.total_flux_Hz > 0


def test_pixel_size_and_axes(written: tuple[Simulator, np.ndarray, ReadBack]) -> None:
    sim, _, rb = written
    geo = sim.panel.geometry
    R = lab_to_mcstas(geo)
    assert rb.fast_mm == pytest.approx(geo.pixel_size * 1000)
    assert rb.slow_mm == pytest.approx(geo.pixel_size * 1000)
    np.testing.assert_allclose(R.T @ rb.fast, geo.fdet, atol=1e-12)
    np.testing.assert_allclose(R.T @ rb.slow, geo.sdet, atol=1e-12)


def test_pixel_positions_match_the_simulation(written: tuple[Simulator, np.ndarray, ReadBack]) -> None:
    sim, _, rb = written
    geo = sim.panel.geometry
    R = lab_to_mcstas(geo)
    s, f = sim.shape
    # The outer corner of pixel (0, 0) is nanoBragg's pix0...
    np.testing.assert_allclose(mm_to_lab(R, rb.origin), geo.pix0, rtol=0, atol=1e-12)
    # ...and the centres of the first, last and an inner pixel land where nanoBragg renders them.
    for i_f, i_s in [(0, 0), (f - 1, s - 1), (5, 11)]:
        np.testing.assert_allclose(
            mm_to_lab(R, rb.pixel_centre(i_f, i_s)), lab_pixel_centre(geo, i_f, i_s), rtol=0, atol=1e-12
        )


def test_beam_centre_is_where_the_direct_beam_meets_the_detector(
    written: tuple[Simulator, np.ndarray, ReadBack],
) -> None:
    sim, _, rb = written
    geo = sim.panel.geometry
    R = lab_to_mcstas(geo)
    assert rb.beam_center_px is not None
    bx, by = rb.beam_center_px
    centre_mm = rb.origin + bx * rb.fast_mm * rb.fast + by * rb.slow_mm * rb.slow
    # On the beam axis (McStas z) ...
    np.testing.assert_allclose(centre_mm[:2], [0, 0], atol=1e-9)
    # ... at the point the simulation's own geometry gives ...
    hit = lab_beam_hit(geo)
    np.testing.assert_allclose(mm_to_lab(R, centre_mm), hit, rtol=0, atol=1e-12)
    assert rb.distance_mm == pytest.approx(np.linalg.norm(hit) * 1000, rel=1e-12)
    # ... which, without two-theta, is nanoBragg's own Fbeam, Sbeam on the detector.
    if not geo.twotheta:
        assert bx * geo.pixel_size == pytest.approx(geo.fbeam, rel=1e-9)
        assert by * geo.pixel_size == pytest.approx(geo.sbeam, rel=1e-9)


def test_sensor_and_goniometer(written: tuple[Simulator, np.ndarray, ReadBack]) -> None:
    sim, _, rb = written
    setup = sim.setup
    R = lab_to_mcstas(sim.panel.geometry)
    assert rb.material in DXTBX_MATERIALS
    assert rb.thickness_mm == pytest.approx(setup.sampling.thickness.thickness * 1000)
    np.testing.assert_allclose(R.T @ rb.spindle, setup.detector.lab.spindle, atol=1e-12)
    assert rb.phi_start == pytest.approx(np.degrees(setup.sampling.phi.phi0))
    assert rb.phi_end == pytest.approx(np.degrees(setup.sampling.phi.phi0 + setup.sampling.phi.osc))


def test_plain_mosflm_values(tmp_path: pathlib.Path) -> None:
    """Numbers checked against the settings themselves, not only against the summary."""
    sim = make_sim(PLAIN_MOSFLM)
    write_nxmx(tmp_path / "a.h5", sim, sim.render())
    rb = read_back(tmp_path / "a.h5")
    assert rb.material == "Si"
    assert rb.thickness_mm == pytest.approx(0.45)
    assert (rb.phi_start, rb.phi_end) == (pytest.approx(10.0), pytest.approx(12.0))
    assert rb.wavelength_A == pytest.approx(1.0)
    assert rb.fast_mm == pytest.approx(0.5)
    assert rb.distance_mm == pytest.approx(60.0)
    # MOSFLM's beam centre is Xbeam/Ybeam plus half a pixel, along slow/fast.
    assert rb.beam_center_px == (pytest.approx((5.3 + 0.25) / 0.5), pytest.approx((3.1 + 0.25) / 0.5))
    # dxtbx's panel origin equals the DIALS_ORIGIN nanoBragg writes into its SMV header.
    np.testing.assert_allclose(MCSTAS_TO_IMGCIF @ rb.origin, sim.setup.header.dials_origin_mm, atol=1e-9)


def test_beam_parallel_to_the_detector_still_places_every_pixel(tmp_path: pathlib.Path) -> None:
    sim = make_sim({"detector.twotheta_deg": 90.0, "detector.pivot": "sample"})
    geo = sim.panel.geometry
    assert abs(np.dot(geo.beam, geo.odet)) < 1e-12
    write_nxmx(tmp_path / "b.h5", sim, sim.render())
    rb = read_back(tmp_path / "b.h5")
    assert rb.beam_center_px is None
    R = lab_to_mcstas(geo)
    np.testing.assert_allclose(mm_to_lab(R, rb.pixel_centre(3, 4)), lab_pixel_centre(geo, 3, 4), atol=1e-12)
    assert rb.distance_mm == pytest.approx(geo.close_distance * 1000)


def test_noise_image_is_the_data_and_the_float_image_is_kept(tmp_path: pathlib.Path) -> None:
    sim = make_sim({"detector.roi": (2, 20, 3, 15)})
    image = sim.render()
    noise = sim.noise(image, 3)
    write_nxmx(tmp_path / "n.h5", sim, image, noise.photons)
    with h5py.File(tmp_path / "n.h5", "r") as f:
        assert f["/entry/data"].attrs["signal"] == b"data"
        np.testing.assert_array_equal(f["/entry/data/data"][0], noise.photons)
        np.testing.assert_array_equal(f["/entry/data/noiseless"][0], image)
        assert not np.array_equal(noise.photons, image)
        # The detector's data is the same dataset, not a copy.
        assert f[nexus.DETECTOR + "/data"].id == f["/entry/data/data"].id
        mask = f[nexus.DETECTOR + "/pixel_mask"][()]
    inside = np.zeros(sim.shape, dtype=bool)
    inside[3:16, 2:21] = True
    np.testing.assert_array_equal(mask == 0, inside)
    assert set(np.unique(mask)) == {0, 256}


def test_spectrum_is_a_variant_of_the_nominal_wavelength(tmp_path: pathlib.Path) -> None:
    sim = make_sim({"beam.dispersion_pct": 2.0, "beam.dispsteps": 3})
    write_nxmx(tmp_path / "s.h5", sim, sim.render())
    with h5py.File(tmp_path / "s.h5", "r") as f:
        beam = f["/entry/instrument/beam"]
        assert beam["incident_wavelength"][()] == pytest.approx(1.0)
        assert beam["incident_wavelength"].attrs["variant"] == b"incident_wavelength_1"
        lam = beam["incident_wavelength_1"][()]
        weights = beam["incident_wavelength_1_weights"][()]
    assert lam.size == 3 and weights.shape == lam.shape
    assert np.average(lam, weights=weights) == pytest.approx(1.0, rel=1e-9)
    assert lam.min() < 0.995 and lam.max() > 1.005


def test_every_number_has_units(tmp_path: pathlib.Path) -> None:
    sim = make_sim(PLAIN_MOSFLM)
    write_nxmx(tmp_path / "u.h5", sim, sim.render())
    unitless = {"data_origin", "data_size", "pixel_mask", "lab_to_mcstas", "incident_wavelength_1_weights"}
    missing: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and obj.name.rsplit("/", 1)[-1] not in unitless:
            if "units" not in obj.attrs:
                missing.append(name)
            else:
                nxmx.ureg.Unit(nxmx.h5str(obj.attrs["units"]))  # parses

    with h5py.File(tmp_path / "u.h5", "r") as f:
        f.visititems(visit)
    assert not missing


def test_write_nxmx_rejects_a_wrong_shape(tmp_path: pathlib.Path) -> None:
    sim = make_sim({})
    with pytest.raises(ValueError, match="shape"):
        write_nxmx(tmp_path / "x.h5", sim, np.zeros((3, 3), np.float32))
    assert not list(tmp_path.iterdir())


def test_exported_from_io() -> None:
    import nanobragg_rs.io as io

    assert io.write_nxmx is write_nxmx
    assert io.lab_to_mcstas is lab_to_mcstas
    assert "write_nxmx" in dir(io)


# --- atomic writes ------------------------------------------------------------------------


def test_failed_write_leaves_nothing_and_keeps_the_old_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim({})
    image = sim.render()
    target = tmp_path / "keep.h5"
    target.write_bytes(b"previous contents")

    def broken(f: Any, *args: Any) -> None:
        f.create_group("entry")  # something is already on disk when it fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(nexus, "_write", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_nxmx(target, sim, image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.h5"]
    assert target.read_bytes() == b"previous contents"


# --- the command line ---------------------------------------------------------------------

CLI_ARGS = [
    "-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "3",
    "-detpixels_f", "32", "-detpixels_s", "24", "-pixel", "0.3", "-distance", "70",
    "-phi", "5", "-osc", "1", "-phisteps", "2", "-oversample", "1", "-seed", "7",
    "-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img", "-noprogress",
]  # fmt: skip


def test_cli_h5file_with_noise(tmp_path: pathlib.Path) -> None:
    res = run_cli([*CLI_ARGS, "-h5file", "out.h5"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    assert "writing out.h5 as NeXus NXmx" in res.stdout
    float_image = read_float(tmp_path / "float.bin", (24, 32))
    rb = read_back(tmp_path / "out.h5")
    assert rb.data.shape == (1, 24, 32)
    # The recorded data is the noise image: the SMV noise file is it plus the ADC offset.
    counts = read_smv(tmp_path / "noise.img").data
    np.testing.assert_array_equal(np.clip(rb.data[0].astype(np.float64) + 40.0, 0, 65535).astype(np.uint16), counts)
    with h5py.File(tmp_path / "out.h5", "r") as f:
        np.testing.assert_array_equal(f["/entry/data/noiseless"][0], float_image)
    assert (rb.phi_start, rb.phi_end) == (pytest.approx(5.0), pytest.approx(6.0))
    assert rb.fast_mm == pytest.approx(0.3)
    assert oct(os.stat(tmp_path / "out.h5").st_mode & 0o777) == oct(os.stat(tmp_path / "float.bin").st_mode & 0o777)


def test_cli_h5file_without_noise(tmp_path: pathlib.Path) -> None:
    res = run_cli([*CLI_ARGS, "-nonoise", "-h5file", "clean.h5"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    rb = read_back(tmp_path / "clean.h5")
    np.testing.assert_array_equal(rb.data[0], read_float(tmp_path / "float.bin", (24, 32)))
    with h5py.File(tmp_path / "clean.h5", "r") as f:
        assert "noiseless" not in f["/entry/data"]


def test_cli_without_h5py_fails_before_rendering(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes "import h5py" raise ImportError
    monkeypatch.delitem(sys.modules, "nanobragg_rs.io.nexus")
    res = run_cli([*CLI_ARGS, "-h5file", "out.h5"], tmp_path, inputs=None)
    assert res.returncode == 2
    assert "h5py" in res.stderr
    assert not (tmp_path / "float.bin").exists(), "the render should not have run"
    assert not (tmp_path / "out.h5").exists()
