"""Amorphous backgrounds inside a ``nanobragg`` render (``-background``, Simulator.render).

One render with water and air must equal the Bragg image plus the two backgrounds rendered
apart (ours: bit for bit; with NANOBRAGG_C_BIN and NONBRAGG_C_BIN, nanoBragg.c's image plus
two nonBragg.c images under the corpus's rule), on the same detector, sources, polarization
and oversampling.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np
import pytest

from conftest import agrees, run_cli
from nanobragg_rs import Background, Simulator, config_from_args

TABLES = pathlib.Path(__file__).resolve().parents[1] / "python" / "nanobragg_rs" / "data" / "stol"
PX = 0.4
GEOMETRY = ["-detpixels", "48", "-pixel", str(PX), "-distance", "40", "-lambda", "1", "-fluence", "1e21", "-oversample", "2"]
CRYSTAL = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5"]
# nanoBragg's MOSFLM beam centre (Xbeam, Ybeam) is nonBragg's (Ybeam + px/2, Xbeam + px/2).
MOSFLM_BEAM = ["-Xbeam", "9.4", "-Ybeam", "10.2"]
NONBRAGG_BEAM = ["-Xbeam", "10.4", "-Ybeam", "9.6"]
WATER = ["-stol", "water.stol", "-thick", "0.001"]
AIR = ["-stol", "air.stol", "-thick", "0.5", "-density", "0.0012", "-MW", "28.97"]
BACKGROUNDS = ["-background", "water:0.001", "-background", "air:0.5:0.0012:28.97"]


def tables(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("water.stol", "air.stol"):
        (folder / name).write_bytes((TABLES / name).read_bytes())
    return folder


def floats(path: pathlib.Path) -> np.ndarray:
    return np.fromfile(path, dtype="<f4")


def test_one_render_equals_the_sum_of_separate_renders(tmp_path: pathlib.Path) -> None:
    d = tables(tmp_path)
    together = run_cli([*CRYSTAL, *GEOMETRY, *MOSFLM_BEAM, *BACKGROUNDS, "-floatfile", "all.bin", "-nonoise"], d, inputs=None)
    bragg = run_cli([*CRYSTAL, *GEOMETRY, *MOSFLM_BEAM, "-floatfile", "bragg.bin", "-nonoise"], d, inputs=None)
    water = run_cli(["nonbragg", *WATER, *GEOMETRY, *NONBRAGG_BEAM, "-floatfile", "water.bin", "-nonoise"], d, inputs=None)
    air = run_cli(["nonbragg", *AIR, *GEOMETRY, *NONBRAGG_BEAM, "-floatfile", "air.bin", "-nonoise"], d, inputs=None)
    assert together.returncode == bragg.returncode == water.returncode == air.returncode == 0, together.stderr
    assert "amorphous background: water 0.001 mm" in together.stdout
    b, w, a = floats(d / "bragg.bin"), floats(d / "water.bin"), floats(d / "air.bin")
    assert w.min() > 0 and a.min() > 0 and b.max() > 0
    # Added in single precision in the same order: bit for bit.
    assert np.array_equal(floats(d / "all.bin"), (b + w) + a)


def test_python_api_composes_with_the_crystal(tmp_path: pathlib.Path) -> None:
    d = tables(tmp_path)
    run_cli([*CRYSTAL, *GEOMETRY, *MOSFLM_BEAM, *BACKGROUNDS, "-floatfile", "all.bin", "-nonoise"], d, inputs=None)
    cfg = config_from_args([*CRYSTAL, *GEOMETRY, *MOSFLM_BEAM])
    image = Simulator(cfg).render(backgrounds=[Background("water", thickness_mm=0.001), Background("air", thickness_mm=0.5)])
    assert np.array_equal(image.ravel(), floats(d / "all.bin"))


@pytest.mark.parametrize(
    "spec,word", [("water", "water"), ("mud:1", "mud"), ("water:abc", "water:abc"), ("water:-1", "thickness_mm")]
)
def test_bad_background_spec(spec: str, word: str, tmp_path: pathlib.Path) -> None:
    r = run_cli([*CRYSTAL, *GEOMETRY, "-background", spec, "-nonoise"], tmp_path, inputs=None)
    assert r.returncode == 2
    assert r.stderr.startswith("nanobragg: error: -background") and word in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.c_binary
@pytest.mark.skipif(
    not (os.environ.get("NANOBRAGG_C_BIN") and os.environ.get("NONBRAGG_C_BIN")),
    reason="needs NANOBRAGG_C_BIN and NONBRAGG_C_BIN (reference builds)",
)
def test_equals_nanobragg_c_plus_two_nonbragg_c_runs(tmp_path: pathlib.Path) -> None:
    d = tables(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    nano, non = os.environ["NANOBRAGG_C_BIN"], os.environ["NONBRAGG_C_BIN"]

    def ref(binary: str, *args: str) -> None:
        subprocess.run([binary, *args], cwd=d, env=env, check=True, capture_output=True)

    ref(nano, *CRYSTAL, *GEOMETRY, *MOSFLM_BEAM, "-floatfile", "bragg.bin", "-nonoise")
    ref(non, *WATER, *GEOMETRY, *NONBRAGG_BEAM, "-floatfile", "water.bin", "-nonoise")
    ref(non, *AIR, *GEOMETRY, *NONBRAGG_BEAM, "-floatfile", "air.bin", "-nonoise")
    r = run_cli([*CRYSTAL, *GEOMETRY, *MOSFLM_BEAM, *BACKGROUNDS, "-floatfile", "all.bin", "-nonoise"], d, inputs=None)
    assert r.returncode == 0, r.stderr
    reference = floats(d / "bragg.bin").astype(np.float64) + floats(d / "water.bin") + floats(d / "air.bin")
    ok = agrees(floats(d / "all.bin"), reference)
    assert ok.all(), f"{(~ok).sum()} pixels disagree"


def test_dataset_frames_carry_the_background(tmp_path: pathlib.Path) -> None:
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("hdf5plugin")
    args = [*CRYSTAL, "-detpixels", "24", "-pixel", "0.5", "-distance", "60", "-oversample", "1", "-phi", "10", "-osc", "0.7"]
    r = run_cli(["dataset", "-noprogress", *args, *BACKGROUNDS, "-frames", "2", "-float_images", "-nonoise", "-out", "d"], tmp_path, inputs=None)
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "d_master.h5", "r") as f:
        frames = f["/entry/data/noiseless"][()]
    for i in range(2):
        cfg = config_from_args([*args, "-phi", repr(10 + i * 0.7)])
        single = Simulator(cfg).render(backgrounds=[Background("water", thickness_mm=0.001), Background("air", thickness_mm=0.5)])
        np.testing.assert_array_equal(frames[i], single)
