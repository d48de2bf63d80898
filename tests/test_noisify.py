"""``nanobragg noisify`` against noisify.c: the golden corpus (../shared/golden-noisify/, every
output file byte for byte and the printed text line for line), the corrected mode
(-fix_quirks), bad command lines and inputs, and the Python Response object."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import numpy as np
import pytest

from conftest import run_cli
from nanobragg_rs import Response

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "golden-noisify"
CASES = json.loads((CORPUS / "manifest.json").read_text()) if (CORPUS / "manifest.json").is_file() else []
OUTPUTS = {"intimage.img": "int.img", "noiseimage.img": "noise.img", "image.pgm": "image.pgm"}


def require_corpus() -> None:
    if not CASES:
        pytest.skip(f"noisify corpus not found at {CORPUS} (expected ../shared/golden-noisify beside the project)")


def noisify(args: list[str], folder: pathlib.Path, inputs: pathlib.Path | None = CORPUS / "inputs"):
    return run_cli(["noisify", *args], folder, inputs)


def body(text: str) -> list[str]:
    """Printed lines after the banner (ours names this program; the reference names itself)."""
    lines = text.split("[stderr]")[0].splitlines()
    return lines[1:]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case: dict, tmp_path: pathlib.Path) -> None:
    require_corpus()
    res = noisify(case["args"], tmp_path)
    assert res.returncode == case["returncode"] == 0, res.stderr
    ref_dir = CORPUS / "cases" / case["name"]
    written = {p.name for p in tmp_path.iterdir() if p.name != "inputs"}
    expected = {ours for ours, ref in OUTPUTS.items() if (ref_dir / ref).exists()}
    assert written == expected
    for ours, ref in OUTPUTS.items():
        if ours in written:
            got, want = (tmp_path / ours).read_bytes(), (ref_dir / ref).read_bytes()
            assert len(got) == len(want), ours
            if got != want:
                diff = np.flatnonzero(np.frombuffer(got, np.uint8) != np.frombuffer(want, np.uint8))
                pytest.fail(f"{ours}: {diff.size} bytes differ, first at offset {diff[0]}")
    # The printed text, line for line, and the statistics the manifest records.
    assert body(res.stdout) == body((ref_dir / "stdout.txt").read_text())
    stats = case["stats"]
    assert f"maximum value in input file: {stats['max_input']:g} ( {stats['max_photons']:g} on photon scale)" in res.stdout
    if "photons" in stats:
        assert f"{stats['photons']:.0f} photons on noise image ({stats['overloads']} overloads)" in res.stdout
    if "photons_before_psf" in stats:
        assert f"{stats['photons_before_psf']:.0f} photons on noise image before PSF" in res.stdout
    if "auto_psf_radius" in stats:
        assert f"auto-selected psf_radius = {stats['auto_psf_radius']} pixels" in res.stdout
    if "lost_photons_added" in stats:
        assert f"adding back {stats['lost_photons_added']:g} lost photons" in res.stdout


def test_corpus_is_complete() -> None:
    require_corpus()
    assert len(CASES) == 45


# --- the corrected mode -----------------------------------------------------------------------


def _smv(path: pathlib.Path, shape: tuple[int, int], bits: int = 16) -> np.ndarray:
    raw = path.read_bytes()
    return np.frombuffer(raw[512:], "<u2" if bits == 16 else "<u4").reshape(shape)


def _write_floats(path: pathlib.Path, image: np.ndarray) -> None:
    path.write_bytes(np.ascontiguousarray(image, "<f4").tobytes())


def test_fix_quirks_psf_does_not_wrap_and_keeps_its_photons(tmp_path: pathlib.Path) -> None:
    img = np.zeros((64, 64), np.float32)
    img[20, 63] = 5000.0  # at the right edge
    img[40, 30] = 5000.0  # in the middle
    _write_floats(tmp_path / "in.bin", img)
    common = ["in.bin", "-nonoise", "-psf", "gauss", "-psf_fwhm", "100", "-psf_radius", "4", "-gain", "30", "-adc", "0", "-bits", "32"]
    (tmp_path / "q").mkdir()
    (tmp_path / "f").mkdir()
    for d in ("q", "f"):
        os.symlink(tmp_path / "in.bin", tmp_path / d / "in.bin")
    quirky = noisify(common, tmp_path / "q", inputs=None)
    fixed = noisify([*common, "-fix_quirks"], tmp_path / "f", inputs=None)
    assert quirky.returncode == 0 and fixed.returncode == 0, quirky.stderr + fixed.stderr
    q = _smv(tmp_path / "q" / "intimage.img", (64, 64), 32).astype(np.int64)
    f = _smv(tmp_path / "f" / "intimage.img", (64, 64), 32).astype(np.int64)
    # The reference spills the edge spot into column 0 of the next rows; corrected, nothing.
    assert q[19:23, 0].sum() > 1000
    assert f[19:23, 0].sum() == 0
    # The spot in the middle keeps its photons (within the truncation to integers).
    fixed_total = f[32:49, 22:39].sum() / 30.0
    assert abs(fixed_total - 5000.0) < 17 * 17 / 30.0 + 1
    # Corrected, the 32-bit ideal image is not capped at 65535.
    assert f.max() > 65535 and q.max() == 65535


def test_fix_quirks_negative_values_clamp_to_zero(tmp_path: pathlib.Path) -> None:
    _write_floats(tmp_path / "in.bin", np.full((16, 16), 100.0, np.float32))
    res = noisify(["in.bin", "-adc", "-150", "-seed", "1", "-fix_quirks"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    assert _smv(tmp_path / "intimage.img", (16, 16)).max() == 0
    assert _smv(tmp_path / "noiseimage.img", (16, 16)).max() == 0
    res = noisify(["in.bin", "-adc", "-150", "-seed", "1"], tmp_path, inputs=None)
    assert _smv(tmp_path / "intimage.img", (16, 16)).min() == 65536 - 50  # x86's wrap of -50


def test_fix_quirks_calibration_follows_its_own_seed() -> None:
    img = np.full((24, 24), 1.0e5, np.float32)
    fixed = Response(calibration=0.1, bits=32, adc_offset_adu=0, calib_seed=7, fix_quirks=True)
    a, b = (fixed.apply(img, seed=s).astype(float).ravel() for s in (1, 2))
    assert np.corrcoef(a, b)[0, 1] > 0.9
    quirky = dataclasses.replace(fixed, fix_quirks=False)
    a, b = (quirky.apply(img, seed=s).astype(float).ravel() for s in (1, 2))
    assert np.corrcoef(a, b)[0, 1] < 0.5


def test_fix_quirks_refuses_what_the_reference_guesses(tmp_path: pathlib.Path) -> None:
    _write_floats(tmp_path / "in.bin", np.ones((8, 8), np.float32))
    for args, flag in ((["-bits", "8"], "-bits"), (["-detpixels", "10"], "in.bin")):
        res = noisify(["in.bin", *args, "-fix_quirks"], tmp_path, inputs=None)
        assert res.returncode == 2 and flag in res.stderr
    # The reference pads a short file with zeros.
    res = noisify(["in.bin", "-detpixels", "10", "-nonoise", "-adc", "0"], tmp_path, inputs=None)
    assert res.returncode == 0
    assert _smv(tmp_path / "intimage.img", (10, 10)).reshape(-1)[64:].max() == 0


# --- bad command lines and inputs ------------------------------------------------------------

BAD = [
    (["-floatfile", "in.bin", "-gain", "abc"], "-gain"),
    (["-floatfile", "in.bin", "-gain"], "-gain"),
    (["-floatfile", "in.bin", "-psf"], "-psf"),
    (["-floatfile", "in.bin", "-psf", "airy"], "-psf"),
    (["-floatfile", "in.bin", "-frobnicate", "1"], "-frobnicate"),
    (["-floatfile", "in.bin", "-seed", "1.5"], "-seed"),
    (["-floatfile", "in.bin", "-seed", "99999999999"], "-seed"),
    (["-floatfile", "in.bin", "-scale", "nan"], "-scale"),
    (["-floatfile", "missing.bin"], "missing.bin"),
    (["-floatfile", "in.bin", "-detpixels", "100"], "in.bin"),
    (["-floatfile", "empty.bin"], "empty.bin"),
    (["-floatfile", "in.bin", "-header", "in.bin"], "-header"),
    (["-floatfile", "in.bin", "-nonoise", "-psf", "gauss", "-scale", "0.001"], "-psf"),
    (["-gain", "2"], "-floatfile"),
]


@pytest.mark.parametrize("args,flag", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(args: list[str], flag: str, tmp_path: pathlib.Path) -> None:
    _write_floats(tmp_path / "in.bin", np.full((8, 8), 1.0, np.float32))
    (tmp_path / "empty.bin").write_bytes(b"")
    before = set(os.listdir(tmp_path))
    res = noisify(args, tmp_path, inputs=None)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert set(os.listdir(tmp_path)) == before


# --- the Python object --------------------------------------------------------------------------


def test_response_matches_the_command(tmp_path: pathlib.Path) -> None:
    require_corpus()
    img = np.fromfile(CORPUS / "inputs" / "spots128.bin", "<f4").reshape(128, 128)
    counts = Response(psf="fiber", psf_fwhm_um=120, gain=1.5, readout_adu=2, flicker=0.02, calibration=0.05,
                      calib_seed=4, pixel_size_mm=0.172, scale=2, adc_offset_adu=50, bits=32).apply(img, seed=12345)
    assert counts.dtype == np.uint32 and counts.shape == (128, 128)
    ref = (CORPUS / "cases" / "spots_combined" / "noise.img").read_bytes()
    assert counts.tobytes() == ref[512:]


def test_response_is_frozen_and_checked() -> None:
    r = Response(psf="gauss")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.gain = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        Response(gian=2)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="psf"):
        Response(psf="airy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gain"):
        Response(gain=float("nan"))
    ideal = Response(noise=False, adc_offset_adu=0).apply(np.full((4, 4), 7.9, np.float32), seed=1)
    assert ideal.dtype == np.uint16 and (ideal == 7).all()


# --- the response as a stage of a render ---------------------------------------------------------

RENDER = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "1.0",
          "-distance", "80", "-detpixels", "64", "-pixel", "0.2", "-seed", "7", "-noprogress"]


@pytest.mark.parametrize("response", [
    ["-psf", "fiber", "-readout", "3", "-gain", "2"],
    ["-psf", "gauss", "-psf_fwhm", "300", "-psf_radius", "3", "-flicker", "0.02", "-calib_seed", "5", "-bits", "32"],
])
def test_render_with_response_equals_render_then_noisify(response: list[str], tmp_path: pathlib.Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    res = run_cli([*RENDER, *response], one, inputs=None)
    assert res.returncode == 0, res.stderr
    res = run_cli([*RENDER, "-floatfile", "float.bin"], two, inputs=None)
    assert res.returncode == 0, res.stderr
    res = noisify(["-floatfile", "float.bin", *response, "-seed", "7", "-pixel", "0.2"], two, inputs=None)
    assert res.returncode == 0, res.stderr
    assert (one / "floatimage.bin").read_bytes() == (two / "float.bin").read_bytes()
    for name in ("intimage.img", "noiseimage.img"):
        a, b = (one / name).read_bytes(), (two / name).read_bytes()
        head = int(a[a.index(b"HEADER_BYTES=") + 13 : a.index(b";", a.index(b"HEADER_BYTES="))])
        assert a[head:] == b[512:], name
        assert (b"long_integer" in a[:head]) == ("32" in response)
    assert (one / "image.pgm").read_bytes() == (two / "image.pgm").read_bytes()
