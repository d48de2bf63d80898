"""Property-based parity with noisify.c: random images and response flags are run through the
reference binary (NOISIFY_C_BIN) and through ``nanobragg noisify``; every output file must be
identical byte for byte and the printed text identical after the first line.

Drawn: image size (non-square included, sizes guessed or given), contents (empty, sparse spots,
flat, dense random, bright pixels past the Poisson method's 1e6 switch, negative values),
``-scale``, ``-gain``, ``-adc`` (negative too: x86's wrap), ``-readout``, ``-flicker``,
``-calibration``, ``-seed``, ``-calib_seed``, ``-psf`` gauss/fiber with FWHM, radius (automatic
or given) and ``-pixel``, ``-bits`` 16/32, ``-nonoise``, ``-nopgm``. Excluded are the command
lines where the reference crashes (an automatic Gaussian radius over values in (0, 0.01) photons,
which only ``-nonoise`` can give). A failure prints the command line; its folders are kept under
$TMPDIR/noisify-property-failures/.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from conftest import reference_binary, run_cli

FAILURES = pathlib.Path(tempfile.gettempdir()) / "noisify-property-failures"
OUT_NAMES = ("intimage.img", "noiseimage.img", "image.pgm")


@pytest.fixture(scope="module")
def noisify_c() -> str:
    return reference_binary("NOISIFY_C_BIN")


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, list[str]]:
    w = draw(st.integers(3, 40))
    h = draw(st.integers(3, 40))
    kind = draw(st.sampled_from(["spots", "flat", "random", "bright", "empty", "negative"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    img = np.zeros((h, w), np.float32)
    if kind == "spots":
        for _ in range(draw(st.integers(1, 6))):
            img[rng.integers(h), rng.integers(w)] = draw(st.floats(1, 2e4))
    elif kind == "flat":
        img[:] = draw(st.floats(0.5, 500))
    elif kind == "random":
        img[:] = np.where(rng.random((h, w)) < 0.3, 0.0, rng.exponential(draw(st.floats(1, 300)), (h, w)) + 1.0)
    elif kind == "bright":
        img[:] = rng.exponential(1e3, (h, w)) + 1.0
        img.flat[rng.integers(w * h)] = draw(st.floats(1e6, 5e6))
    elif kind == "negative":
        img[:] = rng.normal(20, 30, (h, w))
        img[np.abs(img) < 1] = 0.0
    args = ["-floatfile", "in.bin", "-seed", str(draw(st.integers(-(2**31) + 1, 2**31 - 1)))]
    size = draw(st.sampled_from(["guess", "x", "both"]))
    if size == "x":
        args += ["-detpixels_x", str(w)]
    elif size == "both":
        args += ["-detpixels_x", str(w), "-detpixels_y", str(h)]
    else:
        # The reference's guess; keep the image as the guess reads it.
        n = w * h
        gx = int(np.sqrt(n))
        while n % gx:
            gx -= 1
        img = img.reshape(n // gx, gx)
    nonoise = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else False
    if nonoise:
        args.append("-nonoise")
    if draw(st.booleans()):
        args.append("-nopgm")
    scale = 1.0
    if draw(st.booleans()):
        scale = draw(st.sampled_from([0.5, 2.0, 10.0, 0.37]))
        args += ["-scale", repr(scale)]
    for flag, values in (
        ("-gain", [0.5, 1, 2, 0.37, 1000]),
        ("-adc", [0, 10, 40, -20, 100.5]),
        ("-readout", [0, 1, 3, 7.5]),
        ("-flicker", [0, 0.01, 0.05]),
        ("-calibration", [0, 0.03, 0.1]),
        ("-bits", [16, 32]),
    ):
        if draw(st.booleans()):
            args += [flag, str(draw(st.sampled_from(values)))]
    if draw(st.booleans()):
        args += ["-calib_seed", str(draw(st.integers(-1000, 10**6)))]
    if draw(st.booleans()):
        psf = draw(st.sampled_from(["gauss", "fiber"]))
        args += ["-psf", psf, "-psf_fwhm", str(draw(st.sampled_from([20, 46, 80, 100, 150, 250])))]
        radius = draw(st.sampled_from([0, 0, 1, 2, 3, 5, 8, -1]))
        photons = img.astype(np.float64) * scale
        if psf == "gauss" and radius <= 0 and nonoise and ((photons > 0) & (photons < 0.01)).any():
            radius = 3  # the reference crashes on an automatic radius here
        if radius:
            args += ["-psf_radius", str(radius)]
        if draw(st.booleans()):
            args += ["-pixel", str(draw(st.sampled_from([0.05, 0.1, 0.172, 0.2])))]
    return img, args


def _run_ref(binary: str, args: list[str], folder: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([binary, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.c_binary
@given(case=cases())
def test_noisify_matches_the_reference(noisify_c: str, case: tuple[np.ndarray, list[str]]) -> None:
    img, args = case
    note("nanobragg noisify " + " ".join(args))
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir, our_dir = pathlib.Path(tmp, "ref"), pathlib.Path(tmp, "ours")
        for d in (ref_dir, our_dir):
            d.mkdir()
            (d / "in.bin").write_bytes(np.ascontiguousarray(img, "<f4").tobytes())
        ref = _run_ref(noisify_c, args, ref_dir)
        ours = run_cli(["noisify", *args], our_dir, inputs=None)
        try:
            assert ref.returncode == 0, ref.stdout[-500:] + ref.stderr
            assert ours.returncode == 0, ours.stderr
            for name in OUT_NAMES:
                r, o = ref_dir / name, our_dir / name
                assert r.exists() == o.exists(), name
                if r.exists():
                    assert r.read_bytes() == o.read_bytes(), name
            assert ref.stdout.splitlines()[1:] == ours.stdout.splitlines()[1:]
        except AssertionError:
            keep = FAILURES / "test_noisify_matches_the_reference"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(tmp, keep)
            raise
