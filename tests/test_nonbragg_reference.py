"""Property-based parity of ``nanobragg nonbragg`` with nonBragg.c (NONBRAGG_C_BIN).

Random command lines over nonBragg's flag space (tables, sample, beam, divergence,
dispersion, source files, detector geometry, pivots, rotations, curved and point pixels,
oversampling, window, Fmap, polarization, scales and seeds) are rendered by the reference and
by us in fresh folders; the float images must be identical bit for bit, the integer and noise
images byte for byte, the PGM in its defined bytes, and the printed statistics equal.
A failure prints the command line.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conftest import CliResult, run_cli

BIN = os.environ.get("NONBRAGG_C_BIN")
pytestmark = [
    pytest.mark.c_binary,
    pytest.mark.skipif(not BIN, reason="NONBRAGG_C_BIN is not set (path of a nonBragg.c build)"),
]
TABLES = pathlib.Path(__file__).resolve().parents[1] / "python" / "nanobragg_rs" / "data" / "stol"
OUTPUTS = ["-floatfile", "float.bin", "-intfile", "int.img", "-pgmfile", "image.pgm", "-noisefile", "noise.img"]

SOURCES = "-10 0 0 1 1e-10\n-10 0.02 0 0.5 1.05e-10\n-10 0 0.01 2\n-10 -0.01 -0.005\n"
NONMONOTONIC = "0 2.57\n0.07 2.8\n0.12 5\n0.2 6\n0.18 4\n0.3 3\n0.5 2\n"


def num(x: float) -> str:
    return repr(float(x))


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    table_flag = draw(st.sampled_from(["-stol", "-stol", "-4stol", "-Q"]))
    table = draw(st.sampled_from(["water.stol", "air.stol", "ice.stol", "nanoice.stol", "nonmono.stol"]))
    n = draw(st.integers(4, 40))
    args = [table_flag, table]
    if draw(st.booleans()):
        args += ["-detpixels", str(n)]
    else:
        args += ["-detpixels_f", str(n), "-detpixels_s", str(draw(st.integers(4, 40)))]
    args += ["-pixel", num(draw(st.floats(0.05, 1.0))), "-distance", num(draw(st.floats(5, 200)))]
    args += ["-thick", num(draw(st.floats(1e-4, 1.0))), "-fluence", num(draw(st.floats(1e18, 1e24)))]
    args += ["-seed", str(draw(st.integers(1, 10**6)))]
    opt = draw(st.sets(st.sampled_from([
        "lambda", "energy", "polar", "nopolar", "polar_vector", "beam_vector", "vectors", "oversample",
        "twotheta", "rot", "xbeam", "xclose", "orgx", "close_distance", "curved", "point", "div",
        "disp", "sourcefile", "roi", "fmap", "sample", "molecules", "flux", "scale", "detsize",
        "adc", "pivot",
    ]), max_size=5))
    f = lambda lo, hi: num(draw(st.floats(lo, hi)))  # noqa: E731
    if "lambda" in opt:
        args += ["-lambda", f(0.5, 3.0)]
    if "energy" in opt:
        args += ["-energy", f(5000, 20000)]
    if "polar" in opt:
        args += ["-polar", f(-1, 1)]
    if "nopolar" in opt:
        args += ["-nopolar"]
    if "polar_vector" in opt:
        args += ["-polar_vector", f(-0.2, 0.2), f(0.5, 1), f(-1, 1)]
    if "beam_vector" in opt:
        args += ["-beam_vector", "1", f(-0.1, 0.1), f(-0.1, 0.1)]
    if "vectors" in opt:
        args += ["-fdet_vector", f(-0.2, 0.2), f(-0.2, 0.2), "1", "-sdet_vector", f(-0.2, 0.2), "-1", f(-0.2, 0.2)]
    if "oversample" in opt:
        args += ["-oversample", str(draw(st.integers(0, 3)))]
    if "twotheta" in opt:
        args += ["-twotheta", f(-30, 30)]
        if draw(st.booleans()):
            args += ["-twotheta_axis", "0", "0", "1"]
    if "rot" in opt:
        args += ["-detector_rotx", f(-10, 10), "-detector_roty", f(-10, 10), "-detector_rotz", f(-10, 10)]
    if "xbeam" in opt:
        args += ["-Xbeam", f(-2, 10), "-Ybeam", f(-2, 10)]
    if "xclose" in opt:
        args += ["-Xclose", f(-2, 10), "-Yclose", f(-2, 10)]
    if "orgx" in opt:
        args += ["-ORGX", f(-5, 40), "-ORGY", f(-5, 40)]
    if "close_distance" in opt:
        args += ["-close_distance", f(5, 100)]
    if "curved" in opt:
        args += ["-curved_det", "1"]
    if "point" in opt:
        args += ["-point_pixel"]
    if "div" in opt:
        args += ["-divergence", f(0.1, 5), "-divsteps", str(draw(st.integers(1, 4)))]
        if draw(st.booleans()):
            args += ["-square_div"]
    if "disp" in opt:
        args += ["-dispersion", f(0.1, 5), "-dispsteps", str(draw(st.integers(1, 4)))]
    if "sourcefile" in opt:
        args += ["-sourcefile", "sources.txt"]
    if "roi" in opt:
        a, b = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
        c, d = sorted(draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
        args += ["-roi", str(a), str(b), str(c), str(d)]
    if "fmap" in opt:
        args += ["-Fmap"]
    if "sample" in opt:
        args += ["-sample_width", f(0.01, 0.2), "-sample_height", f(0.01, 0.2), "-density", f(0.1, 2), "-MW", f(2, 100)]
    if "molecules" in opt:
        args += ["-molecules", f(1e10, 1e16)]
    if "flux" in opt:
        args += ["-flux", f(1e10, 1e14), "-exposure", f(0.1, 10), "-beamsize", f(0.01, 0.2)]
    if "scale" in opt:
        args += ["-scale", f(0.01, 10), "-pgmscale", f(0.01, 10)]
    if "detsize" in opt:
        args += ["-detsize", f(1, 10)]
    if "adc" in opt:
        args += ["-adc", f(0, 100)]
    if "pivot" in opt:
        args += ["-pivot", draw(st.sampled_from(["sample", "beam"]))]
    if draw(st.booleans()):
        args += ["-nonoise"]
    return args


def prepare(folder: pathlib.Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("water.stol", "air.stol", "ice.stol", "nanoice.stol"):
        (folder / name).write_bytes((TABLES / name).read_bytes())
    (folder / "nonmono.stol").write_text(NONMONOTONIC)
    (folder / "sources.txt").write_text(SOURCES)


def run_both(args: list[str], ref_dir: pathlib.Path, our_dir: pathlib.Path) -> tuple[subprocess.CompletedProcess[str], CliResult]:
    """The reference and ``nanobragg nonbragg`` on ``args``, each in its own prepared folder;
    both must succeed."""
    prepare(ref_dir)
    prepare(our_dir)
    assert BIN is not None
    ref = subprocess.run([BIN, *OUTPUTS, *args], cwd=ref_dir, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=120, check=False)
    ours = run_cli(["nonbragg", *OUTPUTS, *args], our_dir, inputs=None)
    assert ours.returncode == 0 == ref.returncode, ours.stderr
    return ref, ours


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(args=command_lines())
def test_random_configurations_match_the_reference(args: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    note("nonBragg " + " ".join(args))
    ref_dir, our_dir = tmp_path_factory.mktemp("ref"), tmp_path_factory.mktemp("ours")
    ref, ours = run_both(args, ref_dir, our_dir)
    a = np.fromfile(our_dir / "float.bin", dtype="<u4")
    b = np.fromfile(ref_dir / "float.bin", dtype="<u4")
    assert a.shape == b.shape
    assert np.array_equal(a, b), f"{np.count_nonzero(a != b)} float pixels differ"
    for name in ("int.img", "noise.img"):
        assert (our_dir / name).exists() == (ref_dir / name).exists()
        if (ref_dir / name).exists():
            assert (our_dir / name).read_bytes() == (ref_dir / name).read_bytes(), name
    pixels = a.size
    ours_pgm, ref_pgm = (our_dir / "image.pgm").read_bytes(), (ref_dir / "image.pgm").read_bytes()
    head = len(ref_pgm) - 2 * pixels
    assert ours_pgm[: head + pixels] == ref_pgm[: head + pixels]
    keep = ("max_I", "mean=", "intfile_scale", "pgm_scale", "solid angle", "  created")
    pick = lambda text: [line for line in text.splitlines() if line.startswith(keep) or "photons on noise" in line]  # noqa: E731
    assert pick(ours.stdout) == pick(ref.stdout)


@pytest.mark.parametrize("extra", [["-printout_pixel", "5", "7"], ["-printout", "-roi", "3", "4", "6", "6", "-oversample", "3"]])
def test_printout_lines_match_the_reference(extra: list[str], tmp_path: pathlib.Path) -> None:
    """`-printout` prints what the reference prints per pixel, but for the F line: the reference
    prints an uninitialised F there, we the interpolated one (docs/nonbragg.md)."""
    args = ["-stol", "water.stol", "-detpixels", "12", "-pixel", "0.1", "-distance", "100", "-lambda", "1",
            "-thick", "0.1", "-nonoise", *extra]
    ref, ours = run_both(args, tmp_path / "ref", tmp_path / "ours")
    keep = (" : stol = ", "I/steps", "polar ", "omega ", "pixel ")
    pick = lambda text: [line for line in text.splitlines() if line.startswith(keep) or " : stol = " in line]  # noqa: E731
    assert pick(ref.stdout), "the reference printed no pixel"
    assert pick(ours.stdout) == pick(ref.stdout)
    assert sum(" F=" in line for line in ours.stdout.splitlines()) == sum(" : stol = " in line for line in ours.stdout.splitlines())
