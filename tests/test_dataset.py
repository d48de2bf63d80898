"""Data sets: rotation series and random-orientation sets, their files, engines and resume.

Small detectors and few frames throughout: the whole module runs in well under a minute on two
cores, including a LocalCluster and a real ``dask scheduler`` + ``dask worker`` pair started as
separate processes on loopback.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from conftest import GOLDEN, require_golden, run_cli
from nanobragg_rs import Simulator, config_from_args
from nanobragg_rs.dataset import Plan, PlanError, make_plan, noise_seed, random_rotation, render_dataset
from nanobragg_rs.dataset import plan as plan_mod
from nanobragg_rs.dataset import writers
from nanobragg_rs.dataset.engines import render_chunk as real_render_chunk
from nanobragg_rs.io import read_smv

h5py = pytest.importorskip("h5py")
hdf5plugin = pytest.importorskip("hdf5plugin")
nxmx = pytest.importorskip("nxmx")
fabio = pytest.importorskip("fabio")
distributed = pytest.importorskip("distributed")

#: A small crystal on a small detector: a frame renders in about a millisecond.
SMALL = "-cell 50 50 50 90 90 90 -default_F 100 -N 3 -detpixels 24 -pixel 0.5 -distance 60 -oversample 1".split()
SERIES = SMALL + "-phi 10 -osc 0.7 -phisteps 3".split()
#: Heavier frames (about 0.1-0.2 s each on one thread) for the interruption test.
SLOW = (
    "-cell 50 50 50 90 90 90 -default_F 100 -N 5 -detpixels 96 -pixel 0.25 -distance 60 -oversample 3 "
    "-osc 1 -phisteps 20 -mosaic 0.5 -mosaic_dom 80"
).split()


def dataset(args: list[str], folder: pathlib.Path, inputs: pathlib.Path | None = None) -> Any:
    res = run_cli(["dataset", "-noprogress", *args], folder, inputs=inputs)
    assert res.returncode == 0, res.stderr
    return res


def sha(path: pathlib.Path | str) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def read_frames(master: pathlib.Path, name: str = "data") -> np.ndarray:
    with h5py.File(master, "r") as f:
        return f[f"/entry/data/{name}"][()]


# --- plans and draws -----------------------------------------------------------------------


def test_series_equals_single_renders(tmp_path: pathlib.Path) -> None:
    """Frame i of a series is a single render with -phi phi0+i*osc, bit for bit; its noise is
    a single render's with -seed noise_seed(seed, i)."""
    frames = 4
    dataset([*SERIES, "-frames", str(frames), "-chunk", "3", "-float_images", "-seed", "5", "-out", "s"], tmp_path)
    floats = read_frames(tmp_path / "s_master.h5", "noiseless")
    counts = read_frames(tmp_path / "s_master.h5")
    assert floats.shape == counts.shape == (frames, 24, 24)
    for i in range(frames):
        phi = 10 + i * 0.7
        single = tmp_path / f"single{i}"
        args = [*SERIES, "-phi", repr(phi), "-floatfile", "f.bin", "-noisefile", "n.img", "-intfile", "i.img"]
        args += ["-nopgm", "-noprogress", "-seed", str(noise_seed(5, i))]
        res = run_cli(args, single, inputs=None)
        assert res.returncode == 0, res.stderr
        image = res.read_float("f.bin", (24, 24))
        np.testing.assert_array_equal(floats[i], image)
        # nanoBragg's noise image is photons + 40 (the ADC offset).
        noise = read_smv(single / "n.img").data.astype(np.int64)
        np.testing.assert_array_equal(counts[i].astype(np.int64) + 40, noise)
    assert floats.max() > 0 and not np.array_equal(floats[0], floats[1])


def test_series_frames_in_the_api_match_the_plan() -> None:
    cfg = config_from_args(SERIES)
    plan = make_plan(cfg, 3)
    assert [plan.frame_settings(i)["phi_deg"] for i in range(3)] == [10.0, 10.7, 10 + 2 * 0.7]
    image = Simulator(plan.frame_config(2)).render(threads=1)
    np.testing.assert_array_equal(image, Simulator(cfg.replace(**{"sampling.phi_deg": 10 + 2 * 0.7})).render(threads=2))


def test_seeds_are_fixed_functions_of_seed_and_index() -> None:
    # Pinned: a change here would change every data set already made.
    assert noise_seed(1, 0) == 944554649
    seeds = [noise_seed(1, i) for i in range(1000)]
    assert all(1 <= s <= 2**31 - 1 for s in seeds)
    assert len(set(seeds)) == 1000
    assert noise_seed(2, 0) != noise_seed(1, 0)
    assert plan_mod.derive(1, 0, "noise") != plan_mod.derive(1, 0, "orientation/0")


def test_random_rotations_are_rotations_and_uniform() -> None:
    Us = np.array([random_rotation(11, i) for i in range(3000)])
    np.testing.assert_allclose(Us @ Us.transpose(0, 2, 1), np.broadcast_to(np.eye(3), Us.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(Us), 1.0, atol=1e-12)
    # Haar measure: every entry has mean 0 and variance 1/3; trace has mean 0 and variance 1.
    assert np.abs(Us.mean(axis=0)).max() < 0.06
    np.testing.assert_allclose((Us**2).mean(axis=0), 1 / 3, atol=0.03)
    trace = np.trace(Us, axis1=1, axis2=2)
    assert abs(trace.mean()) < 0.1 and abs(trace.var() - 1.0) < 0.1
    # The same draw on its own, in any order.
    np.testing.assert_array_equal(random_rotation(11, 1234), Us[1234])


def test_random_frames_turn_the_crystal_and_draw_their_ranges() -> None:
    cfg = config_from_args([*SMALL, "-cell", "50", "60", "70", "80", "95", "100", "-misset", "10", "20", "30"])
    plan = make_plan(
        cfg, 50, random_orientations=3, n_cells_range=(2, 6), mosaic_range_deg=(0.1, 0.4), wavelength_range_A=(0.9, 1.2)
    )
    # Any frame is re-derived from (seed, i) alone, also from the plan's plain data.
    again = Plan.from_dict(plan.to_dict())
    assert again.to_dict() == plan.to_dict() and again.plan_id == plan.plan_id
    rows = [plan.frame_settings(i) for i in range(50)]
    assert rows[37] == again.frame_settings(37)
    assert {r["n_a"] for r in rows} == set(range(2, 7))
    assert all(r["n_a"] == r["n_b"] == r["n_c"] for r in rows)
    assert all(0.1 <= r["mosaic_spread_deg"] <= 0.4 and 0.9 <= r["wavelength_A"] <= 1.2 for r in rows)
    assert len({r["mosaic_seed"] for r in rows}) == 50
    A0 = np.asarray(plan.base["reciprocal"]).reshape(3, 3)
    for i in (0, 7):
        r = rows[i]
        U = np.array([[r[f"U{a}{b}"] for b in (1, 2, 3)] for a in (1, 2, 3)])
        A = np.array([[r[f"A{a}{b}"] for b in (1, 2, 3)] for a in (1, 2, 3)])
        np.testing.assert_allclose(U, random_rotation(3, i))
        np.testing.assert_allclose(A, U @ A0, rtol=0, atol=1e-15)
        # What the renderer resolves for the frame is that crystal: the turned reciprocal
        # vectors, the user's cell, the frame's wavelength and size.
        sim = Simulator(plan.frame_config(i))
        lat = sim.setup.crystal.lattice
        np.testing.assert_allclose(np.column_stack([lat.a_star, lat.b_star, lat.c_star]), A, rtol=1e-12, atol=1e-17)
        np.testing.assert_allclose(lat.cell, plan.base["cell"], rtol=1e-12)
        assert sim.setup.beam.wavelength_m * 1e10 == pytest.approx(r["wavelength_A"], rel=1e-15)
        assert list(sim.setup.crystal.n_cells) == [r["n_a"]] * 3
        assert np.degrees(sim.setup.crystal.mosaic_spread_rad) == pytest.approx(r["mosaic_spread_deg"], rel=1e-12)


def test_plans_reject_impossible_requests() -> None:
    cfg = config_from_args(SMALL)
    with pytest.raises(PlanError, match="random orientations"):
        make_plan(cfg, 3, n_cells_range=(1, 3))
    with pytest.raises(PlanError, match="MIN <= MAX"):
        make_plan(cfg, 3, random_orientations=1, mosaic_range_deg=(0.5, 0.1))
    with pytest.raises(PlanError, match="at least one frame"):
        make_plan(cfg, 0)
    with pytest.raises(PlanError, match="unknown field"):
        Plan.from_dict({**make_plan(cfg, 1).to_dict(), "bogus": 1})


# --- files ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("series")
    dataset([*SERIES, "-xtalsize", "0.0002", "-frames", "5", "-chunk", "2", "-float_images", "-out", "run/xtal"], folder)
    return folder / "run"


def test_nxmx_files_are_the_documented_set(series: pathlib.Path) -> None:
    names = sorted(p.name for p in series.iterdir())
    assert names == sorted(
        ["xtal_plan.json", "xtal_ledger.tsv", "xtal_master.h5", "xtal_labels.csv"] + [f"xtal_data_00000{i}.h5" for i in (1, 2, 3)]
    )


def test_nxmx_master_reads_as_a_scan(series: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # From another folder: the links and the virtual data set name their files relative to
    # the master file.
    monkeypatch.chdir(tmp_path)
    plan = Plan.from_dict(writers.read_plan_file(str(series / "xtal_plan.json"))[0])
    sim = Simulator(plan.frame_config(0, structure_factors=False))
    with h5py.File(series / "xtal_master.h5", "r") as f:
        nx = nxmx.NXmx(f)
        entry = nx.entries[0]
        assert entry.definition == "NXmx"
        sample = entry.samples[0]
        phi = sample.depends_on
        assert phi is not None and phi.transformation_type == "rotation"
        assert len(phi) == 5
        np.testing.assert_allclose(phi[()].to("deg").magnitude, [10 + i * 0.7 for i in range(5)])
        np.testing.assert_allclose(phi.end[()].to("deg").magnitude, [10.7 + i * 0.7 for i in range(5)])
        assert phi.increment_set.to("deg").magnitude == pytest.approx(0.7)
        axes = nxmx.get_rotation_axes(nxmx.get_dependency_chain(phi))
        assert list(axes.is_scan_axis) == [True]
        beam = entry.instruments[0].beams[0]
        assert float(beam.incident_wavelength.to("angstrom").magnitude) == pytest.approx(1.0)
        detector = entry.instruments[0].detectors[0]
        assert detector.saturation_value == 2**31 - 1
        module = detector.modules[0]
        assert float(module.fast_pixel_direction[()].to("mm").magnitude.item()) == pytest.approx(0.5)
        assert float(module.slow_pixel_direction[()].to("mm").magnitude.item()) == pytest.approx(0.5)
        assert tuple(int(x) for x in module.data_size) == (24, 24)
        assert float(detector.distance.to("mm").magnitude) == pytest.approx(60.0)
        # The detector chain places pixel (0, 0)'s outer corner at nanoBragg's pix0.
        chain = nxmx.get_dependency_chain(module.fast_pixel_direction.depends_on)
        corner = nxmx.get_cumulative_transformation(chain)[0, :3, 3]
        geo = sim.panel.geometry
        R = np.asarray(f["/entry/instrument/detector/nanobragg/lab_to_mcstas"])
        np.testing.assert_allclose(R.T @ corner / 1000, geo.pix0, atol=1e-12)
        nxdata = entry.data[0]
        frames = np.asarray(nxdata[nxdata.signal][()])
        assert frames.shape == (5, 24, 24) and frames.dtype == np.uint32
        # Each external link reaches its data file's frames, compressed with bitshuffle/LZ4.
        for c, (a, b) in enumerate([(0, 2), (2, 4), (4, 5)]):
            linked = f[f"/entry/data/data_{c + 1:06d}"]
            np.testing.assert_array_equal(linked[()], frames[a:b])
            assert linked.id.get_create_plist().get_filter(0)[0] == 32008  # bitshuffle
            assert linked.attrs["image_nr_low"] == a + 1 and linked.attrs["image_nr_high"] == b
            np.testing.assert_array_equal(f[f"/entry/data/noiseless_{c + 1:06d}"][()], f["/entry/data/noiseless"][a:b])
        labels = f["/entry/nanobragg/labels"]
        np.testing.assert_allclose(labels["phi_deg"][()], [10 + i * 0.7 for i in range(5)])
        assert labels["file"][0] == b"xtal_data_000001.h5"
    assert frames.max() > 0


def test_counts_are_whole_noise_photons_without_rescaling(series: pathlib.Path) -> None:
    counts = read_frames(series / "xtal_master.h5").astype(np.float64)
    floats = read_frames(series / "xtal_master.h5", "noiseless").astype(np.float64)
    # Poisson noise about the float image: same total within a few sigma, never rescaled.
    assert abs(counts.sum() - floats.sum()) < 5 * np.sqrt(floats.sum())
    assert not np.array_equal(counts, np.rint(floats))


def test_nonoise_counts_are_the_rounded_float_image(tmp_path: pathlib.Path) -> None:
    dataset([*SERIES, "-frames", "2", "-nonoise", "-float_images", "-out", "q"], tmp_path)
    counts = read_frames(tmp_path / "q_master.h5")
    floats = read_frames(tmp_path / "q_master.h5", "noiseless")
    np.testing.assert_array_equal(counts, np.rint(floats).astype(np.uint32))


def test_saturation_clips_counts(tmp_path: pathlib.Path) -> None:
    dataset([*SERIES, "-frames", "1", "-nonoise", "-float_images", "-saturation", "50", "-out", "c"], tmp_path)
    counts = read_frames(tmp_path / "c_master.h5")
    floats = read_frames(tmp_path / "c_master.h5", "noiseless")
    assert floats.max() > 50 and counts.max() == 50
    with h5py.File(tmp_path / "c_master.h5", "r") as f:
        assert f["/entry/instrument/detector/saturation_value"][()] == 50


def test_smv_and_cbf_frames_read_by_fabio_hold_the_same_counts(series: pathlib.Path, tmp_path: pathlib.Path) -> None:
    counts = read_frames(series / "xtal_master.h5")
    args = [*SERIES, "-xtalsize", "0.0002", "-frames", "5", "-chunk", "2"]
    dataset([*args, "-format", "cbf", "-out", "c"], tmp_path)
    dataset([*args, "-format", "smv", "-out", "s"], tmp_path)
    for i in range(5):
        cbf = fabio.open(str(tmp_path / f"c_{i + 1:05d}.cbf"))
        assert cbf.data.dtype == np.int32
        np.testing.assert_array_equal(cbf.data, counts[i])
        header = cbf.header["_array_data.header_contents"]
        assert f"Start_angle {10 + i * 0.7:.6f} deg." in header
        assert "Angle_increment 0.700000 deg." in header and "Wavelength 1.000000 A" in header
        smv = fabio.open(str(tmp_path / f"s_{i + 1:05d}.img"))
        # 16 bits: nanoBragg's clamp at 65535 (the HDF5 and CBF counts keep the strong spots).
        np.testing.assert_array_equal(smv.data.astype(np.int64), np.minimum(counts[i].astype(np.int64) + 40, 65535))
        assert float(smv.header["PHI"]) == pytest.approx(10 + i * 0.7)
        assert float(smv.header["OSC_RANGE"]) == pytest.approx(0.7)
    assert counts.max() > 65535
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        [f"{p}_{i:05d}.{e}" for p, e in (("c", "cbf"), ("s", "img")) for i in range(1, 6)]
        + ["c_plan.json", "c_ledger.tsv", "c_labels.csv", "s_plan.json", "s_ledger.tsv", "s_labels.csv"]
    )


def test_random_orientation_set_with_inputs_labels_in_hdf5_csv_and_parquet(tmp_path: pathlib.Path) -> None:
    require_golden()
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    args = "-mat inputs/tric.mat -hkl inputs/tric.hkl -mask inputs/mask128.img -detpixels 128 -pixel 0.2 -distance 80".split()
    args += "-oversample 1 -random_orientations 9 -N_range 2 4 -lambda_range 1.0 1.3 -mosaic_range 0 0.3".split()
    args += ["-frames", "6", "-chunk", "4"]
    dataset([*args, "-out", "r"], tmp_path, inputs=GOLDEN / "inputs")
    dataset([*args, "-labels", "parquet", "-format", "cbf", "-out", "p"], tmp_path)
    csv = pd.read_csv(tmp_path / "r_labels.csv")
    parquet = pd.read_parquet(tmp_path / "p_labels.parquet")
    assert list(csv.columns) == list(plan_mod.LABEL_COLUMNS) == list(parquet.columns)
    assert len(csv) == 6
    different = [c for c in csv.columns if c != "file" and not (csv[c] == parquet[c]).all()]
    assert different == []  # CSV floats round-trip exactly
    assert list(csv["file"]) == ["r_data_000001.h5"] * 4 + ["r_data_000002.h5"] * 2
    assert list(parquet["file"]) == [f"p_{i:05d}.cbf" for i in range(1, 7)]
    with h5py.File(tmp_path / "r_master.h5", "r") as f:
        labels = f["/entry/nanobragg/labels"]
        for c in csv.columns:
            values = labels[c][()]
            if c == "file":
                values = [v.decode() for v in values]
            assert list(values) == list(csv[c]), c
        # One wavelength per shot, as NXbeam allows, and one UB matrix per frame.
        np.testing.assert_array_equal(f["/entry/instrument/beam/incident_wavelength"][()], csv["wavelength_A"])
        assert f["/entry/sample/ub_matrix"].shape == (6, 3, 3)
        mask = f["/entry/instrument/detector/pixel_mask"][()]
        frames = f["/entry/data/data"][()]
    assert (mask != 0).any() and (frames[:, mask != 0] == 0).all()
    assert all((frames[i] > 0).any() for i in range(6))
    # Stills: every frame at the base phi, the axis is no scan.
    np.testing.assert_array_equal(csv["phi_deg"], 0.0)


# --- resume, guards -----------------------------------------------------------------------------


def stat_key(path: pathlib.Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_rerun_renders_only_missing_frames(tmp_path: pathlib.Path) -> None:
    args = [*SERIES, "-frames", "6", "-chunk", "2", "-out", "m"]
    dataset(args, tmp_path)
    before = {p.name: sha(p) for p in tmp_path.iterdir() if p.is_file()}
    keep = {p.name: stat_key(p) for p in tmp_path.glob("m_data_*.h5")}
    (tmp_path / "m_data_000002.h5").unlink()
    (tmp_path / "m_master.h5").unlink()
    (tmp_path / ".m_data_000003.h5.abcdef12.tmp").write_bytes(b"half a file")
    (tmp_path / ".m_00001.cbf.0123abcd.tmp").write_bytes(b"half a frame")
    (tmp_path / ".other_data_000001.h5.abcdef12.tmp").write_bytes(b"not ours")
    res = dataset(args, tmp_path)
    assert "4 of 6 frames already written; rendering the other 2" in res.stdout
    assert "rendered 2 frames (4 already written)" in res.stdout
    after = {p.name: sha(p) for p in tmp_path.iterdir() if p.is_file() and not p.name.startswith(".other")}
    assert after == before  # the same bytes, master included
    for name in ("m_data_000001.h5", "m_data_000003.h5"):
        assert stat_key(tmp_path / name) == keep[name]
    assert sorted(p.name for p in tmp_path.glob(".*")) == [".other_data_000001.h5.abcdef12.tmp"]
    # A complete data set: nothing to render, the same files.
    res = dataset(args, tmp_path)
    assert "rendered 0 frames (6 already written)" in res.stdout


@pytest.mark.parametrize("fmt, ext", [("smv", "img"), ("cbf", "cbf")])
def test_rerun_of_per_frame_files_renders_only_the_missing_frames(tmp_path: pathlib.Path, fmt: str, ext: str) -> None:
    args = [*SERIES, "-frames", "5", "-chunk", "3", "-format", fmt, "-out", "f"]
    dataset(args, tmp_path)
    before = {p.name: sha(p) for p in tmp_path.iterdir()}
    keep = {p.name: stat_key(p) for p in tmp_path.glob(f"f_*.{ext}")}
    (tmp_path / f"f_00002.{ext}").unlink()
    (tmp_path / "f_labels.csv").unlink()
    res = dataset(args, tmp_path)
    assert "rendered 1 frames (4 already written)" in res.stdout
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before
    assert all(stat_key(tmp_path / n) == k for n, k in keep.items() if n != f"f_00002.{ext}")


def test_another_plan_under_the_same_name_needs_overwrite(tmp_path: pathlib.Path) -> None:
    dataset([*SERIES, "-frames", "2", "-out", "x"], tmp_path)
    res = run_cli(["dataset", *SERIES, "-frames", "3", "-out", "x"], tmp_path, inputs=None)
    assert res.returncode == 2 and "another data set" in res.stderr
    dataset([*SERIES, "-frames", "3", "-out", "x", "-overwrite"], tmp_path)
    assert len(read_frames(tmp_path / "x_master.h5")) == 3
    (tmp_path / "x_plan.json").unlink()
    res = run_cli(["dataset", *SERIES, "-frames", "3", "-out", "x"], tmp_path, inputs=None)
    assert res.returncode == 2 and "does not" in res.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["-out", "a"], "-frames: required"),
        (["-frames", "2"], "-out: required"),
        (["-frames", "0", "-out", "a"], "-frames: must be at least 1"),
        (["-frames", "2", "-out", "a", "-N_range", "2", "4"], "-N_range: per-frame ranges need -random_orientations"),
        (["-frames", "2", "-out", "a", "-format", "tiff"], "-format: one of nxmx, smv, cbf"),
        (["-frames", "2", "-out", "a", "-floatfile", "f.bin"], "-floatfile: not used"),
        (["-frames", "2", "-out", "a", "-float_images", "-format", "smv"], "-float_images: only with -format nxmx"),
        (["-frames", "2", "-out", "a", "-engine", "local", "-workers", "2"], "-workers: needs -engine dask"),
        (["-frames", "2", "-out", "a", "-bogus"], "-bogus: unknown flag"),
    ],
)
def test_cli_errors(tmp_path: pathlib.Path, args: list[str], message: str) -> None:
    res = run_cli(["dataset", *SMALL, *args], tmp_path, inputs=None)
    assert res.returncode == 2
    assert message in res.stderr
    assert not list(tmp_path.iterdir())


def test_cli_help(tmp_path: pathlib.Path) -> None:
    res = run_cli(["dataset", "-h"], tmp_path, inputs=None)
    assert res.returncode == 0 and "-random_orientations SEED" in res.stdout


# --- engines ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dask_exe() -> str:
    exe = pathlib.Path(sys.executable).with_name("dask")
    if not exe.exists():
        pytest.skip("the dask command is not installed beside this interpreter")
    return str(exe)


class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes on loopback, started by the test."""

    def __init__(self, log_dir: pathlib.Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.scheduler = self._start(
            "scheduler", [dask_exe(), "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"]
        )

    def _start(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def add_worker(self) -> subprocess.Popen[bytes]:
        n = len(self.workers)
        cmd = [dask_exe(), "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        cmd += ["--host", "127.0.0.1", "--name", f"w{n}"]
        proc = self._start(f"worker{n}", cmd)
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int) -> None:
        client = distributed.Client(self.address, timeout=30)
        try:
            client.wait_for_workers(n, timeout=60)
        finally:
            client.close()

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def cluster(log_dir: pathlib.Path, workers: int) -> Iterator[Cluster]:
    c = Cluster(log_dir)
    try:
        for _ in range(workers):
            c.add_worker()
        c.wait_for_workers(workers)
        yield c
    finally:
        c.close()


def compare_datasets(a: pathlib.Path, b: pathlib.Path, name: str) -> None:
    """Same files; data files, frames and labels byte for byte; master files alike but for
    the time the data set was planned."""
    files_a = sorted(p.name for p in a.iterdir())
    assert files_a == sorted(p.name for p in b.iterdir())
    for f in files_a:
        if f.endswith("_master.h5"):
            assert h5_content(a / f) == h5_content(b / f)
        elif f.endswith("_plan.json"):
            assert writers.read_plan_file(str(a / f))[0] == writers.read_plan_file(str(b / f))[0]
        else:
            assert sha(a / f) == sha(b / f), f
    np.testing.assert_array_equal(read_frames(a / f"{name}_master.h5"), read_frames(b / f"{name}_master.h5"))


TIMES = {"start_time", "end_time_estimated", "file_time"}


def h5_content(path: pathlib.Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        out["/"] = {k: v for k, v in f.attrs.items() if k not in TIMES}

        def visit(name: str, obj: Any) -> None:
            if name.rsplit("/", 1)[-1] in TIMES:
                return
            attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
            value = np.asarray(obj[()]).tolist() if isinstance(obj, h5py.Dataset) else None
            out[name] = (attrs, value)

        f.visititems(visit)
    return out


def test_local_localcluster_and_separate_processes_give_the_same_files(tmp_path: pathlib.Path) -> None:
    args = [*SMALL, "-random_orientations", "4", "-N_range", "2", "4", "-frames", "7", "-chunk", "2", "-float_images"]
    cfg = config_from_args(args[: len(SMALL)])
    plan = make_plan(cfg, 7, random_orientations=4, n_cells_range=(2, 4), chunk=2, float_images=True)
    dataset([*args, "-engine", "local", "-out", "local/set"], tmp_path)
    # A LocalCluster of two single-threaded workers, through the API.
    result = render_dataset(plan, tmp_path / "lc" / "set", workers=2, progress=False)
    assert result.engine == "dask" and result.rendered == 7
    # A scheduler and two workers started as their own processes, through the CLI.
    with cluster(tmp_path, 2) as c:
        dataset([*args, "-scheduler", c.address, "-out", "procs/set"], tmp_path)
    compare_datasets(tmp_path / "local", tmp_path / "lc", "set")
    compare_datasets(tmp_path / "local", tmp_path / "procs", "set")


_FLAKY: dict[int, int] = {}


def flaky_render_chunk(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """render_chunk that fails on its first attempt at chunk 1."""
    chunk = args[2]
    _FLAKY[chunk] = _FLAKY.get(chunk, 0) + 1
    if chunk == 1 and _FLAKY[chunk] == 1:
        raise OSError("transient failure")
    return real_render_chunk(*args, **kwargs)


def test_a_failed_task_is_retried(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nanobragg_rs.dataset import engines

    monkeypatch.setattr(engines, "render_chunk", flaky_render_chunk)
    plan = make_plan(config_from_args(SERIES), 4, chunk=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as lc:
        with distributed.Client(lc) as client:
            render_dataset(plan, tmp_path / "f", client, progress=False)
    assert _FLAKY == {0: 1, 1: 2}
    assert read_frames(tmp_path / "f_master.h5").shape == (4, 24, 24)


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path: pathlib.Path) -> None:
    """Kill a worker, then the driver, mid-run; lose the rest of the cluster; start a worker
    again and re-run the same command: the frames already written stay as they are and the
    result is the uninterrupted run's."""
    frames, chunk = 16, 2
    args = [*SLOW, "-frames", str(frames), "-chunk", str(chunk), "-float_images", "-noprogress"]
    dataset([*args, "-out", "ref/set"], tmp_path)

    out = tmp_path / "cut"
    out.mkdir()

    def recorded() -> set[str]:
        ledger = out / "set_ledger.tsv"
        if not ledger.exists():
            return set()
        return {line.split("\t")[0] for line in ledger.read_text().splitlines(keepends=True) if line.endswith("\n")}

    with cluster(tmp_path, 2) as c:
        cmd = [sys.executable, "-m", "nanobragg_rs", "dataset", *args, "-scheduler", c.address, "-out", str(out / "set")]
        with open(tmp_path / "driver.log", "wb") as log:
            driver = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            # Frames count as written once the ledger notes them (a file that lands without
            # its ledger line is rendered again on the rerun, as a damaged one would be).
            while len(recorded()) < 2:
                assert driver.poll() is None, (tmp_path / "driver.log").read_text()
                assert time.monotonic() < deadline, "no frames written"
                time.sleep(0.01)
            os.kill(c.workers[0].pid, signal.SIGKILL)
            time.sleep(0.2)
            driver.send_signal(signal.SIGKILL)
            driver.wait()
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
        # The node with the other worker is lost too.
        os.kill(c.workers[1].pid, signal.SIGKILL)
        c.workers[1].wait()
        c.workers[0].wait()
        assert not (out / "set_master.h5").exists()
        done = {name: stat_key(out / name) for name in recorded() if name.startswith("set_data_")}
        assert 0 < len(done) < frames // chunk, "the run was not interrupted midway"

        c.add_worker()
        c.wait_for_workers(1)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    written = len(done) * chunk
    assert f"rendered {frames - written} frames ({written} already written)" in proc.stdout
    for name, key in done.items():
        assert stat_key(out / name) == key, f"{name} was written again"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    compare_datasets(tmp_path / "ref", out, "set")
