"""The corrected mode (-fix_quirks): the golden-fixed corpus, and each fix against an
independent expectation. Without the switch every golden case still passes (test_golden.py)."""

from __future__ import annotations

import math
import os
import pathlib

import numpy as np
import pytest

from conftest import GOLDEN, GOLDEN_FIXED, agrees, golden_cases, require_golden, run_cli
from nanobragg_rs import Simulator, StructureFactors, config_from_args, parse_args

R_E_SQR = 7.94079248018965e-30
FIXED = golden_cases(GOLDEN_FIXED)


@pytest.mark.parametrize("name", [c["name"] for c in FIXED] or ["<no golden-fixed corpus>"])
def test_golden_fixed_corpus(name: str, tmp_path: pathlib.Path) -> None:
    require_golden(GOLDEN_FIXED)
    case = next(c for c in FIXED if c["name"] == name)
    res = run_cli(["-floatfile", "float.bin", "-nonoise", "-nopgm", "-noprogress", "-fix_quirks"] + case["args"], tmp_path)
    assert res.returncode == 0, res.stderr
    shape = (case["spixels"], case["fpixels"])
    ref = np.fromfile(GOLDEN_FIXED / "cases" / name / "float.bin", dtype="<f4").reshape(shape)
    ok = agrees(res.read_float("float.bin", shape), ref)
    assert ok.all(), f"{(~ok).sum()} pixels disagree"


def render(args: list[str], fixed: bool = True) -> tuple[np.ndarray, Simulator]:
    sim = Simulator(config_from_args(args + (["-fix_quirks"] if fixed else [])))
    return sim.render(), sim


BASE = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "100", "-N", "5", "-lambda", "1",
        "-distance", "80", "-detpixels", "64", "-pixel", "0.2", "-oversample", "2"]
# One isolated cell with a flat F: every sub-step contributes F², so the pixel is pure geometry.
FLAT = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "10", "-N", "1", "-lambda", "1",
        "-distance", "80", "-detpixels", "32", "-pixel", "0.2", "-nopolar", "-nointerpolate"]


def omega(sim: Simulator, f: float, s: float) -> float:
    """Solid angle px² close/R³ at detector position (f, s) in pixels from pix0."""
    g = sim.panel.geometry
    px = g.pixel_size
    p = np.array(g.pix0) + f * px * np.array(g.fdet) + s * px * np.array(g.sdet)
    r = float(np.linalg.norm(p))
    return px * px / r / r * g.close_distance / r


def test_q1_rotation_is_the_mean_of_its_steps() -> None:
    """A phi range equals the mean of single renders at the step angles (the reference instead
    reuses the last angle for the step at phi = 0)."""
    n, osc = 4, 2.0
    sweep, _ = render(BASE + ["-phi", "0", "-osc", str(osc), "-phisteps", str(n)])
    singles = [render(BASE + ["-phi", repr(i * osc / n)])[0].astype(np.float64) for i in range(n)]
    mean = np.mean(singles, axis=0)
    np.testing.assert_allclose(sweep, mean, rtol=2e-6, atol=1e-7 * mean.max())
    quirky, _ = render(BASE + ["-phi", "0", "-osc", str(osc), "-phisteps", str(n)], fixed=False)
    assert not np.allclose(quirky, mean, rtol=1e-3), "the reference's carry-over should differ"


def test_q2_interpolation_is_a_property_of_each_point() -> None:
    """In the corrected mode a pixel's value does not depend on where earlier pixels went out of
    range: it equals a render whose window starts at that pixel (where nothing came before)."""
    rng = np.random.default_rng(3)
    idx = np.array([(h, k, l) for h in range(-12, 13) for k in range(-12, 13) for l in range(-12, 13)])
    sf = StructureFactors(idx, rng.uniform(10, 200, len(idx)))
    # Monoclinic, where the reference's cell formula is exact, so only Q2 differs.
    args = ["-cell", "41.3", "53.7", "67.9", "90", "97.4", "90", "-N", "4", "-lambda", "1.1", "-distance", "70",
            "-detpixels_f", "96", "-detpixels_s", "80", "-pixel", "0.2", "-interpolate", "-Xbeam", "15.0", "-Ybeam", "9.6",
            "-oversample", "1"]

    def sim_for(extra: list[str], fixed: bool) -> Simulator:
        cfg = parse_args(args + extra + (["-fix_quirks"] if fixed else [])).config
        cfg.crystal.structure_factors = sf
        return Simulator(cfg)

    full = sim_for([], True).render()
    quirky = sim_for([], False).render()
    # The beam is near the bottom: the top rows go out of range first (switching the reference
    # to nearest neighbours), the pixels near the beam, later in serial order, are in range.
    for f, s in [(48, 62), (34, 72), (60, 79)]:
        alone = sim_for(["-roi", str(f), str(f), str(s), str(s)], False).render()
        assert alone[s, f] > 0
        assert full[s, f] == pytest.approx(alone[s, f], rel=1e-12)
        assert quirky[s, f] != pytest.approx(full[s, f], rel=1e-6), "the reference has switched to nearest here"


def test_q3_oversample_omega_is_the_subpixel_average() -> None:
    os_ = 3
    img, sim = render(FLAT + ["-oversample", str(os_), "-oversample_omega"])
    f, s = 5, 27
    sub = [(f + (i + 0.5) / os_, s + (j + 0.5) / os_) for j in range(os_) for i in range(os_)]
    expect = R_E_SQR * sim.setup.beam.fluence_ph_per_m2 * 100.0 * np.mean([omega(sim, x, y) for x, y in sub])
    assert img[s, f] == pytest.approx(expect, rel=1e-6)
    quirky, _ = render(FLAT + ["-oversample", str(os_), "-oversample_omega"], fixed=False)
    assert quirky[s, f] < 0.5 * expect, "the reference compounds omega into the running sum"


def test_q4_layers_absorb_one_minus_exp() -> None:
    thick_um, att_um, layers = 450.0, 300.0, 3
    args = FLAT + ["-distance", "400", "-oversample", "1"]
    bare, sim = render(args)
    thick, _ = render(args + ["-detector_thick", str(thick_um), "-detector_abs", str(att_um), "-thicksteps", str(layers)])
    g = sim.panel.geometry
    for f, s in [(3, 4), (16, 16), (30, 2)]:
        px = g.pixel_size
        p = np.array(g.pix0) + (f + 0.5) * px * np.array(g.fdet) + (s + 0.5) * px * np.array(g.sdet)
        cos = float(np.dot(p / np.linalg.norm(p), g.odet))
        absorbed = 1 - math.exp(-thick_um / att_um / cos)
        assert thick[s, f] / bare[s, f] == pytest.approx(absorbed, rel=2e-3)
    quirky, _ = render(args + ["-detector_thick", str(thick_um), "-detector_abs", str(att_um), "-thicksteps", str(layers)], fixed=False)
    assert quirky[16, 16] / bare[16, 16] < 0.5 * absorbed, "the reference keeps the last layer's fraction only"


def test_q6_water_is_scaled_once() -> None:
    water_um = 200.0
    args = FLAT[:] + ["-water", str(water_um), "-oversample", "1"]
    args[args.index("-default_F") + 1] = "1e-30"
    img, sim = render(args)
    fluence = sim.setup.beam.fluence_ph_per_m2
    molecules = (water_um * 1e-6) ** 3 * 1e6 * 6.02214179e23 / 18.0
    for f, s in [(0, 0), (20, 9)]:
        expect = R_E_SQR * fluence * 2.57**2 * molecules * omega(sim, f + 0.5, s + 0.5)
        assert img[s, f] == pytest.approx(expect, rel=1e-6)
    low, _ = render(args + ["-fluence", "1e24"])
    assert low[9, 20] == pytest.approx(img[9, 20] * 1e24 / fluence, rel=1e-6), "water is linear in fluence"
    quirky, _ = render(args + ["-fluence", "1e24"], fixed=False)
    assert quirky[9, 20] < 1e-3 * low[9, 20], "the reference scales the water by r_e² fluence twice"


def test_q12_triclinic_cell_keeps_its_angles() -> None:
    cell = [70.0, 80.0, 90.0, 75.0, 85.0, 95.0]
    args = ["-cell", *map(str, cell), "-default_F", "1", "-detpixels", "8"]
    fixed = Simulator(config_from_args(args + ["-fix_quirks"])).setup.crystal.lattice.cell
    assert fixed == pytest.approx(cell, abs=1e-9)
    quirky = Simulator(config_from_args(args)).setup.crystal.lattice.cell
    assert abs(quirky[3] - 75.0391) < 1e-4  # as the reference prints it


def test_q16_pix0_vector_sets_the_origin() -> None:
    pix0 = (0.1, -0.004, 0.0035)
    args = BASE + ["-oversample", "1", "-pix0_vector", *map(str, pix0)]
    sim = Simulator(config_from_args(args + ["-fix_quirks"]))
    g = sim.panel.geometry
    assert g.pix0 == pytest.approx(pix0, abs=1e-15)
    _, lines = sim.trace(0, 0)
    pos = [float(v) for v in next(line for line in lines if line.startswith("TRACE position[")).split()[2:]]
    px = g.pixel_size
    expect = np.array(pix0) + 0.5 * px * np.array(g.fdet) + 0.5 * px * np.array(g.sdet)
    assert pos == pytest.approx(expect.tolist(), abs=1e-15)
    assert Simulator(config_from_args(args)).panel.geometry.pix0 != pytest.approx(pix0)


@pytest.mark.parametrize("convention", ["-mosflm", "-xds", "-adxv", "-denzo", "-dials"])
def test_q17_header_beam_centre_is_where_the_beam_hits(convention: str) -> None:
    sim = Simulator(config_from_args(BASE + [convention, "-twotheta", "20", "-fix_quirks"]))
    g, h = sim.panel.geometry, sim.setup.header.as_dict()
    pix0, f, s, o, beam = (np.array(v) for v in (g.pix0, g.fdet, g.sdet, g.odet, g.beam))
    t = float(np.dot(pix0, o) / np.dot(beam, o))  # the beam line meets the detector plane
    hit = t * beam - pix0
    assert g.fbeam == pytest.approx(float(np.dot(hit, f)), abs=1e-12)
    assert g.sbeam == pytest.approx(float(np.dot(hit, s)), abs=1e-12)
    assert h["DISTANCE"] == pytest.approx(t * 1000, rel=1e-12)
    # The header's own convention maps back to the same point.
    px, fb, sb = g.pixel_size * 1000, float(np.dot(hit, f)) * 1000, float(np.dot(hit, s)) * 1000
    want = {"-mosflm": (sb - px / 2, fb - px / 2), "-denzo": (sb, fb), "-adxv": (fb, g.detsize_s * 1000 - sb)}.get(convention, (fb, sb))
    assert (h["BEAM_CENTER_X"], h["BEAM_CENTER_Y"]) == pytest.approx(want, abs=1e-9)


def test_q31_no_absorption_is_no_sensor_model() -> None:
    args = BASE + ["-detector_abs", "inf", "-detector_thick", "300"]
    plain, _ = render(BASE)
    fixed, _ = render(args)
    assert np.array_equal(fixed, plain)
    quirky, _ = render(args, fixed=False)
    assert not quirky.any(), "the reference renders nothing here"


def test_default_mode_is_unchanged_by_the_switch_being_off(tmp_path: pathlib.Path) -> None:
    """Sanity: without -fix_quirks a carry-over case still matches the reference corpus."""
    require_golden()
    case = next(c for c in golden_cases() if c["name"] == "phi_osc_steps")
    os.symlink(GOLDEN / "inputs", tmp_path / "inputs")
    res = run_cli(["-floatfile", "f.bin", "-nonoise", "-noprogress"] + case["args"], tmp_path, inputs=None)
    ref = np.fromfile(GOLDEN / "cases" / "phi_osc_steps" / "float.bin", dtype="<f4").reshape(128, 128)
    assert agrees(res.read_float("f.bin", (128, 128)), ref).all()


def test_corrected_fixed_radius_psf_by_fft_agrees_with_the_direct_sum(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-fix_quirks with a fixed -psf_radius is a plain convolution, done by FFT when that is
    cheaper (docs/noisify.md); NANOBRAGG_PSF_DIRECT=1 forces the direct sum. The float results
    agree to ~1e-12, so the truncated ADU images are the same."""
    rng = np.random.default_rng(5)
    rng.exponential(50.0, (128, 128)).astype("<f4").tofile(tmp_path / "in.bin")
    args = ["noisify", "-floatfile", "in.bin", "-fix_quirks", "-nonoise", "-psf", "fiber", "-psf_fwhm", "300",
            "-psf_radius", "15", "-gain", "10", "-adc", "0", "-bits", "32", "-nopgm"]
    res = run_cli([*args, "-intfile", "fft.img"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    monkeypatch.setenv("NANOBRAGG_PSF_DIRECT", "1")
    res = run_cli([*args, "-intfile", "direct.img"], tmp_path, inputs=None)
    assert res.returncode == 0, res.stderr
    a = np.fromfile(tmp_path / "fft.img", "<u4", offset=512).astype(np.int64)
    b = np.fromfile(tmp_path / "direct.img", "<u4", offset=512).astype(np.int64)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 1e-3
    assert a.sum() > 0.9 * 10 * 50 * 128 * 128  # the photons stayed (minus what left the edges)
