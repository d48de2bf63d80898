"""The per-pixel trace: every named factor of the intensity chain, ending in the image's own
value, on every instruction-set path; and -printout_pixel prints what the reference prints."""

from __future__ import annotations

import math
import os
import pathlib

import numpy as np
import pytest

from conftest import GOLDEN, OUTPUT_ARGS, golden_cases, require_golden, run_cli
from nanobragg_rs import Simulator, _core, config_from_args

CASES = {c["name"]: c for c in golden_cases()}
# Mosaic, phi, divergence (with dispersion), thickness, interpolation, and everything at once.
TRACED = ["mosaic_phi", "phi_osc_steps", "divergence_round", "thick_sensor", "interpolate_shutdown", "kitchen_sink", "oversample_flags"]


def _sim(name: str, folder: pathlib.Path) -> Simulator:
    require_golden()
    os.symlink(GOLDEN / "inputs", folder / "inputs")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return Simulator(config_from_args(CASES[name]["args"]))
    finally:
        os.chdir(cwd)


def _last(lines: list[str], name: str) -> list[float]:
    found = [line.split()[2:] for line in lines if line.split()[1].split("[")[0] == name]
    assert found, f"no TRACE {name}"
    return [float(v) for v in found[-1]]


@pytest.mark.parametrize("name", TRACED)
@pytest.mark.parametrize("isa", _core.supported_isas())
def test_trace_ends_in_the_image_pixel(name: str, isa: str, tmp_path: pathlib.Path) -> None:
    sim = _sim(name, tmp_path)
    img = sim.render(isa=isa)
    ys, xs = np.nonzero(img)
    # A bright pixel, a dim one and the first pixel (the phi carry-over's special case).
    picks = {(int(xs[np.argmax(img[ys, xs])]), int(ys[np.argmax(img[ys, xs])])), (int(xs[0]), int(ys[0])), (0, 0), (57, 91)}
    for f, s in picks:
        value, lines = sim.trace(f, s, isa=isa)
        assert value == img[s, f], (f, s, value, img[s, f])
        assert _last(lines, "pixel_value") == [float(img[s, f])]
        # The closing factors reproduce the value: r_e^2 fluence I / steps · capture · polar · omega.
        i, steps, re2, fl = (_last(lines, n)[0] for n in ("I", "steps", "r_e_sqr", "fluence"))
        cf, pol, om = (_last(lines, n)[0] for n in ("capture_fraction", "polar", "omega"))
        cfg = sim.config.sampling
        expect = re2 * fl * i / steps
        for factor, per_step in ((cf, cfg.oversample_thick), (pol, cfg.oversample_polar), (om, cfg.oversample_omega)):
            if not per_step:
                expect *= factor
        if not (cfg.oversample_thick or cfg.oversample_polar or cfg.oversample_omega or sim.setup.sampling.thickness.layers > 1 and sim.config.fix_quirks):
            assert math.isclose(expect, value, rel_tol=1e-6, abs_tol=1e-30)


def test_trace_names_every_factor(tmp_path: pathlib.Path) -> None:
    sim = _sim("kitchen_sink", tmp_path)
    _, lines = sim.trace(70, 40)
    names = {line.split()[1].split("[")[0] for line in lines}
    for n in ["position", "diffracted", "airpath", "omega", "capture_fraction", "incident", "wavelength", "scattering",
              "stol", "polar", "phi_deg", "a", "b", "c", "hkl", "hkl0", "F_latt", "F_cell", "I", "steps", "r_e_sqr",
              "fluence", "pixel_value"]:
        assert n in names, n
    # One record per layer x sub-pixel x source x phi x mosaic step.
    s = sim.setup
    smp = s.sampling
    steps = smp.thickness.layers * smp.oversample**2 * len(s.beam.sources) * smp.phi.count * s.crystal.mosaic_domains
    assert sum(1 for line in lines if line.startswith("TRACE hkl[")) == steps


def test_square_lattice_factor_matches_the_reference_sign(tmp_path: pathlib.Path) -> None:
    """Per-axis factors multiply to the total and carry the reference's sign on every path."""
    sim = _sim("trace_pixel", tmp_path)
    for isa in _core.supported_isas():
        _, lines = sim.trace(70, 40, isa=isa)
        fa, fb, fc = _last(lines, "F_latt_abc")
        assert math.isclose(fa * fb * fc, _last(lines, "F_latt")[0], rel_tol=1e-12)
        # The reference printed F_latt=-20.1855 for this pixel (golden stdout).
        assert f"{_last(lines, 'F_latt')[0]:g}" == "-20.1855", isa


def test_printout_pixel_prints_the_reference_block(tmp_path: pathlib.Path) -> None:
    require_golden()
    res = run_cli(OUTPUT_ARGS + CASES["trace_pixel"]["args"], tmp_path)
    assert res.returncode == 0, res.stderr
    ref = (GOLDEN / "cases" / "trace_pixel" / "stdout.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(ref) if line.startswith("  70   40 : stol"))
    block = ref[start : start + 13]
    ours = res.stdout.splitlines()
    i = ours.index(block[0])
    assert ours[i : i + 13] == block


@pytest.mark.parametrize("n", [5, 30])
def test_lattice_factor_signs_match_the_exact_path(n: int) -> None:
    """Both forms of the fast lattice factor (Chebyshev for N <= 24, a ratio of sines above)
    report the reference's signed per-axis factors."""
    cfg = config_from_args(["-cell", "60", "60", "60", "90", "90", "90", "-default_F", "10", "-N", str(n),
                            "-detpixels", "48", "-pixel", "0.3", "-distance", "70", "-oversample", "1"])
    sim = Simulator(cfg)
    for f, s in [(3, 5), (20, 31), (40, 7), (11, 44)]:
        _, exact = sim.trace(f, s, isa="exact")
        want = _last(exact, "F_latt_abc")
        for isa in _core.supported_isas():
            got = _last(sim.trace(f, s, isa=isa)[1], "F_latt_abc")
            for g, w in zip(got, want):
                assert math.copysign(1, g) == math.copysign(1, w) and math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9), (isa, got, want)
