"""-round_xtal near F000 (issue 13, item 7): the sphere transform 3(sin x/x - cos x)/x² cancels
as x -> 0, so its value there is set by how sin and cos are rounded. The fast paths' polynomials
once put the brightest pixel (the direct beam, where h = k = l ~ 0) up to 78% away from the
reference; every path must agree with the reference, and with the exact path, there."""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np
import pytest

from conftest import agrees, run_cli
from nanobragg_rs import _core

PATHS = _core.supported_isas()


def _args(offset_mm: float) -> list[str]:
    # The beam on pixel (8, 8)'s centre (MOSFLM: +half a pixel), moved by `offset_mm`, so the
    # one sub-pixel there sees h, k, l of ~1e-9 .. 1e-5: x deep in the cancelling range.
    b = f"{0.8 + offset_mm:.12f}"
    return ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "10", "-round_xtal",
            "-detpixels", "16", "-pixel", "0.1", "-distance", "100", "-Xbeam", b, "-Ybeam", b, "-oversample", "1"]


OFFSETS = [1e-9, 2e-9, 5e-9, 1e-8, 3e-8, 1e-7, 1e-6, 1e-5]


def _ours(args: list[str], isa: str, folder: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setenv("NANOBRAGG_ISA", isa)
    res = run_cli(args + ["-floatfile", f"{isa}.bin", "-nonoise", "-nopgm", "-intfile", f"{isa}.img"], folder, inputs=None)
    assert res.returncode == 0, res.stderr
    return res.read_float(f"{isa}.bin", (16, 16))


@pytest.mark.parametrize("offset", OFFSETS)
def test_every_path_agrees_with_exact_near_f000(offset: float, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = {isa: _ours(_args(offset), isa, tmp_path, monkeypatch) for isa in PATHS}
    exact = images["exact"]
    brightest = np.unravel_index(np.argmax(exact), exact.shape)
    assert brightest == (8, 8)
    for isa, image in images.items():
        assert agrees(image, exact).all(), (isa, image[brightest], exact[brightest])


@pytest.mark.c_binary
@pytest.mark.parametrize("offset", OFFSETS)
def test_every_path_agrees_with_the_reference_near_f000(
    offset: float, c_binary: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    subprocess.run([c_binary, *_args(offset), "-floatfile", "ref.bin", "-nonoise", "-nopgm"], cwd=ref_dir,
                   env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, check=True, timeout=120)
    ref = np.fromfile(ref_dir / "ref.bin", dtype="<f4").reshape(16, 16)
    brightest = np.unravel_index(np.argmax(ref), ref.shape)
    for isa in PATHS:
        ours = _ours(_args(offset), isa, tmp_path / isa, monkeypatch)
        assert agrees(ours, ref).all(), (isa, ours[brightest], ref[brightest])
        if isa == "exact":
            assert np.array_equal(ours, ref)
