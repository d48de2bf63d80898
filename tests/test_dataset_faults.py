"""Data sets under faults: damaged frame files, two drivers, a billion frames, bad -out,
missing optional packages, Ctrl-C on a Dask run; and the single-image NXmx's UB matrix and
integer counts."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import run_cli
from test_dataset import SERIES, SLOW, dataset, sha

h5py = pytest.importorskip("h5py")
pytest.importorskip("hdf5plugin")
pytest.importorskip("fabio")


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- damaged frame files ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt, damaged", [("nxmx", "d_data_000002.h5"), ("smv", "d_00003.img"), ("cbf", "d_00003.cbf")])
def test_a_damaged_or_truncated_frame_file_is_rendered_again(fmt: str, damaged: str, tmp_path: pathlib.Path) -> None:
    args = [*SERIES, "-frames", "5", "-chunk", "2", "-format", fmt, "-out", "d"]
    dataset(args, tmp_path)
    before = {p.name: sha(p) for p in tmp_path.iterdir()}
    path = tmp_path / damaged
    # One flipped byte in the middle (a silent corruption), then a file cut short.
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    res = dataset(args, tmp_path)
    assert f"{damaged}: damaged (its SHA-256 differs from when it was written); rendering it again" in res.stdout
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before
    path.write_bytes(path.read_bytes()[:100])
    res = dataset(args, tmp_path)
    assert f"{damaged}: damaged (100 bytes" in res.stdout
    assert {p.name: sha(p) for p in tmp_path.iterdir()} == before


# --- two drivers -------------------------------------------------------------------------------


def test_a_second_driver_of_the_same_data_set_is_refused(tmp_path: pathlib.Path) -> None:
    args = [sys.executable, "-m", "nanobragg_rs", "dataset", *SLOW, "-frames", "40", "-out", "two", "-noprogress"]
    first = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "two.lock").exists() or not (tmp_path / "two_plan.json").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        second = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and "another nanobragg dataset is writing this data set" in err[0], second.stderr
        assert f"process {first.pid} on" in err[0]
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    assert not (tmp_path / "two.lock").exists()


def test_a_lock_left_by_a_dead_driver_is_taken_over(tmp_path: pathlib.Path) -> None:
    (tmp_path / "stale.lock").write_text("process 999999 on nowhere\n")
    res = dataset([*SERIES, "-frames", "2", "-out", "stale"], tmp_path)
    assert "rendered 2 frames" in res.stdout
    assert not (tmp_path / "stale.lock").exists()


# --- -out and a billion frames ---------------------------------------------------------------------


@pytest.mark.parametrize("out", ["", "sub/"])
def test_an_out_naming_no_data_set_is_refused(out: str, tmp_path: pathlib.Path) -> None:
    res = run_cli(["dataset", *SERIES, "-frames", "2", "-out", out], tmp_path, inputs=None)
    assert res.returncode == 2
    assert res.stderr == f"nanobragg dataset: error: -out: {out!r} names no data set; give a file-name prefix such as run1 or data/run1\n"
    assert _files(tmp_path) == []


def test_a_billion_frames_start_at_once_in_bounded_memory(tmp_path: pathlib.Path) -> None:
    args = [sys.executable, "-m", "nanobragg_rs", "dataset", *SERIES, "-frames", "1e9", "-format", "smv",
            "-out", "big", "-noprogress"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "big_00020.img").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "frames must start within seconds"
            time.sleep(0.05)
        with open(f"/proc/{proc.pid}/status") as f:
            rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        assert rss_kb < 1_000_000, f"{rss_kb} kB resident"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --- missing optional packages -----------------------------------------------------------------

HIDE = "import sys\nfor name in sys.argv[1].split(','):\n    sys.modules[name] = None\n"


@pytest.mark.parametrize(
    "hidden, flags, needs",
    [
        ("h5py", [], "pip install h5py"),
        ("hdf5plugin", [], "pip install hdf5plugin"),
        ("fabio", ["-format", "cbf"], "pip install fabio"),
        ("distributed", ["-engine", "dask"], "pip install 'dask[distributed]'"),
    ],
)
def test_a_missing_optional_package_is_one_line_before_any_work(
    hidden: str, flags: list[str], needs: str, tmp_path: pathlib.Path
) -> None:
    code = HIDE + "from nanobragg_rs.cli import main\nraise SystemExit(main(sys.argv[2:]))\n"
    args = ["dataset", *SERIES, "-frames", "2", "-out", "m", *flags]
    res = subprocess.run([sys.executable, "-c", code, hidden, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""  # nothing started: not even the description of the data set
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needs in lines[0] and hidden in lines[0], res.stderr
    assert _files(tmp_path) == []


# --- Ctrl-C on a Dask run ------------------------------------------------------------------------


def test_ctrl_c_on_a_dask_run_prints_one_line(tmp_path: pathlib.Path) -> None:
    args = [sys.executable, "-m", "nanobragg_rs", "dataset", *SLOW, "-frames", "200", "-chunk", "2",
            "-workers", "2", "-out", "dk", "-noprogress"]  # fmt: skip
    # Its own process group, signalled as a whole, as a terminal does on Ctrl-C.
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("dk_data_*.h5")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert err == "nanobragg dataset: interrupted; run the same command again to resume\n", err


# --- the single-image NXmx -------------------------------------------------------------------------


def test_single_image_nxmx_holds_the_ub_matrix_and_integer_counts(tmp_path: pathlib.Path) -> None:
    from nanobragg_rs.io.geometry import lab_to_mcstas

    args = ["-cell", "50", "60", "70", "90", "90", "90", "-misset", "10", "20", "30", "-default_F", "100",
            "-N", "3", "-detpixels", "32", "-pixel", "0.3", "-distance", "70", "-seed", "3", "-noprogress",
            "-floatfile", "f.bin", "-h5file", "n.h5"]  # fmt: skip
    res = run_cli(args, tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    from nanobragg_rs import Simulator
    from nanobragg_rs.cli import prepare
    from nanobragg_rs.args import parse_args

    sim, _ = prepare(parse_args(args))
    lat = sim.setup.crystal.lattice
    expected = lab_to_mcstas(sim.panel.geometry) @ np.column_stack([lat.a_star, lat.b_star, lat.c_star])
    with h5py.File(tmp_path / "n.h5", "r") as f:
        ub = f["/entry/sample/ub_matrix"]
        assert ub.shape == (1, 3, 3) and ub.attrs["units"] == b"1/angstrom"
        np.testing.assert_allclose(ub[0], expected, rtol=1e-12)
        # |a*| = 1/50 Å⁻¹ for this orthorhombic cell, whatever the orientation.
        np.testing.assert_allclose(np.linalg.norm(ub[0], axis=0), [1 / 50, 1 / 60, 1 / 70], rtol=1e-9)
        data = f["/entry/data/data"]
        assert data.dtype == np.uint32 and data[()].sum() > 0
        assert f["/entry/data/noiseless"].dtype == np.float32
    assert isinstance(Simulator, type)
