"""Multi-panel outputs and inputs: NXmx modules read back with nxmx, the CXI image read back
with h5py and the .geom, the Python API, bad input refused with one line, readers fuzzed."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import run_cli
from nanobragg_rs import Config
from nanobragg_rs.panels import MultiSimulator, Panel, panels_from_geom, read_panels_json
from nanobragg_rs.panels.cli import panel_path
from nanobragg_rs.panels.model import PanelFileError

h5py = pytest.importorskip("h5py")

COMMON = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-oversample", "1",
          "-seed", "5", "-noprogress", "-floatfile", "f.bin", "-intfile", "i.img", "-noisefile", "n.img"]

PANELS = {"panels": [
    {"name": "left", "fast_axis": [0.0, 0.0, 1.0], "slow_axis": [0.0, -1.0, 0.0], "origin_mm": [80.0, 3.0, -4.0],
     "fast_pixels": 40, "slow_pixels": 30, "pixel_mm": 0.1},
    {"name": "tilted", "fast_axis": [0.0, 0.0, 1.0], "slow_axis": [0.5, -0.8660254037844386, 0.0],
     "origin_mm": [78.0, 0.5, 0.5], "fast_pixels": 24, "slow_pixels": 36, "pixel_mm": 0.12},
    {"name": "backward", "fast_axis": [0.0, 0.0, 1.0], "slow_axis": [0.0, 1.0, 0.0], "origin_mm": [80.0, -3.0, -2.0],
     "fast_pixels": 20, "slow_pixels": 10, "pixel_mm": 0.1}]}


@pytest.fixture
def panel_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PANELS))
    return path


def _config(path: pathlib.Path) -> Config:
    cfg = Config()
    cfg.crystal.cell = (50, 50, 50, 90, 90, 90)
    cfg.crystal.default_F = 100
    cfg.crystal.n_cells = (5, 5, 5)
    cfg.sampling.oversample = 1
    cfg.detector.panels = read_panels_json(path)
    return cfg


def test_nxmx_modules_read_back_with_nxmx(panel_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    nxmx = pytest.importorskip("nxmx")
    res = run_cli(COMMON + ["-panels", str(panel_file), "-h5file", "d.h5"], tmp_path / "run", None)
    assert res.returncode == 0, res.stderr
    panels = read_panels_json(panel_file)
    flat = np.fromfile(res.folder / "f.bin", dtype="<f4")
    with h5py.File(res.folder / "d.h5", "r") as f:
        nx = nxmx.NXmx(f)
        entry = nx.entries[0]
        detector = entry.instruments[0].detectors[0]
        modules = detector.modules
        assert len(modules) == len(panels)
        data = np.asarray(f["/entry/data/data"])
        noiseless = np.asarray(f["/entry/data/noiseless"])[0]
        mask = np.asarray(f["/entry/instrument/detector/pixel_mask"])
        start = 0
        for p, m in zip(panels, modules):
            r0, c0 = (int(x) for x in m.data_origin)
            size = tuple(int(x) for x in m.data_size)
            assert size == p.shape and c0 == 0
            block = noiseless[r0 : r0 + p.slow_pixels, : p.fast_pixels]
            own = flat[start : start + p.fast_pixels * p.slow_pixels].reshape(p.shape)
            start += own.size
            np.testing.assert_array_equal(block, own)
            assert (mask[r0 : r0 + p.slow_pixels, : p.fast_pixels] == 0).all()
            fast, slow = m.fast_pixel_direction, m.slow_pixel_direction
            chain = nxmx.get_dependency_chain(fast.depends_on)
            assert chain[-1].path == detector.depends_on.path
            origin = nxmx.get_cumulative_transformation(chain)[0, :3, 3]
            assert float(fast[()].to("mm").magnitude.item()) == pytest.approx(p.pixel_mm)
            # Back to the lab frame: McStas z is the beam (+x in nanoBragg's default), y up.
            to_lab = np.array([[0, 0, 1], [0, 1, 0], [-1, 0, 0]], dtype=float)  # rows: lab x, y, z in McStas
            np.testing.assert_allclose(to_lab @ origin, p.origin_mm, atol=1e-9)
            np.testing.assert_allclose(to_lab @ np.asarray(fast.vector), p.fast_axis, atol=1e-12)
            np.testing.assert_allclose(to_lab @ np.asarray(slow.vector), np.asarray(p.slow_axis) / np.linalg.norm(p.slow_axis), atol=1e-12)
        assert data.shape == (1, sum(p.slow_pixels for p in panels), max(p.fast_pixels for p in panels))
        # Padding beside the narrower panels is flagged as gap.
        assert (mask[30:66, 24:] == 1).all()


def test_cxi_reads_back_with_the_geom(tmp_path: pathlib.Path) -> None:
    from test_panels_reference import GEOM

    (tmp_path / "q.geom").write_text(GEOM)
    res = run_cli(COMMON + ["-geom", str(tmp_path / "q.geom"), "-nonoise", "-cxi", "c.h5"], tmp_path / "run", None)
    assert res.returncode == 0, res.stderr
    panels = panels_from_geom(tmp_path / "q.geom")
    from cfelpyutils.geometry import load_crystfel_geometry

    geo = load_crystfel_geometry(str(tmp_path / "q.geom"))
    flat = np.fromfile(res.folder / "f.bin", dtype="<f4")
    with h5py.File(res.folder / "c.h5", "r") as f:
        image = np.asarray(f["/entry_1/data_1/data"])
    assert image.shape == (1, 48, 96)
    start = 0
    for p in panels:
        g = geo.detector["panels"][p.name]
        own = flat[start : start + p.fast_pixels * p.slow_pixels].reshape(p.shape)
        start += own.size
        block = image[0, g["orig_min_ss"] : g["orig_max_ss"] + 1, g["orig_min_fs"] : g["orig_max_fs"] + 1]
        np.testing.assert_array_equal(block, own)
        assert own.max() > 0 or p.mask is not None


def test_python_api_per_panel_arrays(panel_file: pathlib.Path) -> None:
    msim = MultiSimulator(_config(panel_file))
    assert msim.turned == (False, False, True)
    imgs = msim.render()
    assert imgs.names == ("left", "tilted", "backward")
    assert [im.shape for im in imgs.images] == [(30, 40), (36, 24), (10, 20)]
    with pytest.raises(ValueError):
        imgs.stacked()
    # A backward panel renders as its turned self with the rows put back.
    turned = msim.panels[2].turned()
    cfg = _config(panel_file)
    cfg.detector.panels = (turned,)
    other = MultiSimulator(cfg).render().images[0]
    np.testing.assert_allclose(imgs["backward"], other[::-1], rtol=1e-6, atol=1e-7 * float(other.max()))
    value, lines = msim.trace("backward", 3, 2)
    assert value == pytest.approx(float(imgs["backward"][2, 3]), rel=1e-6)
    noise = msim.noise(imgs, 9)
    assert len(noise) == 3 and all(n.photons.shape == im.shape for n, im in zip(noise, imgs.images))
    # Panel k draws from seed S+k.
    np.testing.assert_array_equal(noise[1].photons, msim.simulators[1].noise(imgs.images[1], 10).photons)
    assert not np.array_equal(noise[1].photons, msim.simulators[1].noise(imgs.images[1], 9).photons)


def test_trace_pixel_names_a_panel(panel_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    res = run_cli(COMMON + ["-panels", str(panel_file), "-nonoise", "-trace_pixel", "tilted", "3", "4"], tmp_path / "a", None)
    assert res.returncode == 0, res.stderr
    assert "TRACE panel tilted" in res.stdout and "TRACE " in res.stdout.split("TRACE panel tilted", 1)[1]
    res = run_cli(COMMON + ["-panels", str(panel_file), "-trace_pixel", "3", "4"], tmp_path / "b", None)
    assert res.returncode == 2 and "name the panel" in res.stderr
    assert not (tmp_path / "b" / "f.bin").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-trace_pixel", "nosuch", "1", "1"], "no panel named"),
        (["-roi", "0", "3", "0", "3"], "-roi"),
        (["-printout"], "-printout"),
        (["-cxi", "x.h5"], "-cxi"),
    ],
)
def test_refused_before_anything_is_written(panel_file: pathlib.Path, tmp_path: pathlib.Path, extra: list[str], message: str) -> None:
    res = run_cli(COMMON + ["-panels", str(panel_file)] + extra, tmp_path / "r", None)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == []


@pytest.mark.parametrize(
    "doc, message",
    [
        ("not json", "not JSON"),
        ('{"panels": []}', "no panels"),
        ('{"panel": []}', "'panels' list"),
        ('{"panels": [{"name": "a"}]}', "missing"),
        ('{"panels": [{"name": "a", "fast_axis": [1, 0], "slow_axis": [0, 1, 0], "origin_mm": [1, 0, 0], "fast_pixels": 2, "slow_pixels": 2, "pixel_mm": 0.1}]}', "fast_axis"),
        ('{"panels": [{"name": "a", "fast_axis": [0, 0, 1], "slow_axis": [0, 1, 0], "origin_mm": [1, 0, 0], "fast_pixels": 0, "slow_pixels": 2, "pixel_mm": 0.1}]}', "fast_pixels"),
        ('{"panels": [{"name": "a", "fast_axis": [0, 0, 1], "slow_axis": [0, 0, 1], "origin_mm": [1, 0, 0], "fast_pixels": 2, "slow_pixels": 2, "pixel_mm": 0.1}]}', "parallel"),
        ('{"panels": [{"name": "a", "fast_axis": [0, 0, 1], "slow_axis": [0, 1, 0], "origin_mm": [0, 1, 0], "fast_pixels": 2, "slow_pixels": 2, "pixel_mm": 0.1}]}', "contains the sample"),
        ('{"panels": [{"name": "a", "fast_axis": [0, 0, 1], "slow_axis": [0, 1, 0], "origin_mm": [1, 0, 0], "fast_pixels": 2, "slow_pixels": 2, "pixel_mm": 0.1, "colour": 1}]}', "unknown key"),
    ],
)
def test_bad_panel_files(tmp_path: pathlib.Path, doc: str, message: str) -> None:
    (tmp_path / "bad.json").write_text(doc)
    res = run_cli(COMMON + ["-panels", str(tmp_path / "bad.json")], tmp_path / "r", None)
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and res.stderr.startswith("nanobragg: error: -panels"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert list((tmp_path / "r").iterdir()) == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["panels", "name", "fast_axis", "slow_axis", "origin_mm", "fast_pixels", "slow_pixels",
                         "pixel_mm", "__id__", "experiment", "detector", "beam", "hierarchy", "children", "panel",
                         "origin", "image_size", "pixel_size", "direction", "wavelength"]), inner, max_size=6),
    max_leaves=20,
)


@given(_json)
def test_panel_json_reader_fuzz(tmp_path_factory: pytest.TempPathFactory, doc: object) -> None:
    path = tmp_path_factory.mktemp("fz") / "p.json"
    path.write_text(json.dumps(doc))
    try:
        panels = read_panels_json(path)
    except PanelFileError:
        return
    assert all(isinstance(p, Panel) for p in panels)


@given(_json)
def test_expt_reader_fuzz(tmp_path_factory: pytest.TempPathFactory, doc: object) -> None:
    from nanobragg_rs.panels.expt import read_expt

    if isinstance(doc, dict) and "experiment" in doc:
        doc["__id__"] = "ExperimentList"
    path = tmp_path_factory.mktemp("fz") / "e.expt"
    path.write_text(json.dumps(doc))
    try:
        read_expt(path)
    except PanelFileError:
        return


@given(st.text(alphabet="abc/=_-+.0123456789xyz \n;%eVm", max_size=300))
def test_geom_reader_fuzz(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    from nanobragg_rs.panels.geom import read_geom

    path = tmp_path_factory.mktemp("fz") / "g.geom"
    path.write_text("a0/min_fs = 0\na0/max_fs = 3\na0/min_ss = 0\na0/max_ss = 3\na0/fs = x\na0/ss = y\n"
                    "a0/corner_x = 1\na0/corner_y = 2\nclen = 0.1\nres = 10000\n" + text)
    try:
        read_geom(path)
    except PanelFileError:
        return


def test_per_panel_file_names() -> None:
    assert panel_path("int.img", 3, 4) == "int_p03.img"
    assert panel_path("dir/x.img", 12, 150) == "dir/x_p012.img"


def test_dataset_refuses_a_panel_list(panel_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    res = run_cli(["dataset", "-frames", "2", "-out", "ds", "-cell", "50", "50", "50", "90", "90", "90",
                   "-default_F", "10", "-panels", str(panel_file)], tmp_path / "d", None)
    assert res.returncode == 2 and "-panels" in res.stderr and "not yet supported" in res.stderr
    assert list((tmp_path / "d").iterdir()) == []


def test_expt_crystal_and_beam_map_into_the_lab_frame(tmp_path: pathlib.Path) -> None:
    """A crystal given in DIALS's frame renders as the same crystal given by -mat in
    nanoBragg's: DIALS a = (0, 0, -50) is lab (50, 0, 0), b stays (0, 50, 0), c = (50, 0, 0)
    is lab (0, 0, 50); a beam along DIALS -z (direction +z, toward the source) is lab +x."""
    panel = {"name": "d", "fast_axis": [1.0, 0.0, 0.0], "slow_axis": [0.0, -1.0, 0.0], "origin": [-3.0, 3.0, -90.0],
             "image_size": [60, 60], "pixel_size": [0.1, 0.1]}
    doc = {"__id__": "ExperimentList",
           "experiment": [{"beam": 0, "detector": 0, "crystal": 0}],
           "beam": [{"direction": [0.0, 0.0, 1.0], "wavelength": 1.2}],
           "detector": [{"panels": [panel]}],
           "crystal": [{"real_space_a": [0.0, 0.0, -50.0], "real_space_b": [0.0, 50.0, 0.0], "real_space_c": [60.0, 0.0, 0.0]}]}
    (tmp_path / "x.expt").write_text(json.dumps(doc))
    lam = 1.2
    (tmp_path / "x.mat").write_text(f"{lam / 50} 0 0\n0 {lam / 50} 0\n0 0 {lam / 60}\n")
    common = ["-default_F", "100", "-N", "5", "-oversample", "1", "-nonoise", "-noprogress", "-floatfile", "f.bin", "-intfile", "i.img"]
    a = run_cli(common + ["-expt", str(tmp_path / "x.expt"), "-misset", "3", "7", "11"], tmp_path / "a", None)
    panels_json = {"panels": [{"name": "d", "fast_axis": [0.0, 0.0, 1.0], "slow_axis": [0.0, -1.0, 0.0],
                               "origin_mm": [90.0, 3.0, -3.0], "fast_pixels": 60, "slow_pixels": 60, "pixel_mm": 0.1}]}
    (tmp_path / "p.json").write_text(json.dumps(panels_json))
    b = run_cli(common + ["-panels", str(tmp_path / "p.json"), "-mat", str(tmp_path / "x.mat"), "-lambda", "1.2",
                          "-misset", "3", "7", "11"], tmp_path / "b", None)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    fa = np.fromfile(a.folder / "f.bin", dtype="<f4")
    fb = np.fromfile(b.folder / "f.bin", dtype="<f4")
    assert fb.max() > 0
    np.testing.assert_allclose(fa, fb, rtol=1e-5, atol=1e-7 * float(fb.max()))
