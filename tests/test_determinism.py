"""The image is the same bit for bit whatever the number of threads, including the reference's
serial-order state (phi carry-over, interpolation shutdown)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nanobragg_rs import Config, Simulator, StructureFactors


def _config(**changes: object) -> Config:
    cfg = Config()
    cfg.crystal.cell = (41.3, 53.7, 67.9, 85.2, 97.4, 103.1)
    cfg.crystal.default_F = 50.0
    cfg.crystal.n_cells = (4, 4, 4)
    cfg.detector.detpixels_f = 96
    cfg.detector.detpixels_s = 80
    cfg.detector.pixel_size_mm = 0.2
    cfg.detector.distance_mm = 70.0
    return cfg.replace(**changes)


def _hkl() -> StructureFactors:
    rng = np.random.default_rng(5)
    idx = np.array([(h, k, l) for h in range(-12, 13) for k in range(-12, 13) for l in range(-12, 13)])
    return StructureFactors(idx, rng.uniform(10, 200, len(idx)))


CASES = {
    "plain": {},
    "phi_carry_over": {"sampling.phi_deg": 0.0, "sampling.osc_deg": 1.0, "sampling.phisteps": 4},
    "mosaic_divergence": {
        "crystal.mosaic_spread_deg": 0.3,
        "crystal.mosaic_domains": 3,
        "beam.hdivrange_mrad": 1.0,
        "beam.vdivrange_mrad": 1.0,
        "beam.hdivsteps": 2,
        "beam.vdivsteps": 2,
    },
    # The beam at the middle of the first row, so the first out-of-range point (in serial
    # order) is some rows down.
    "interpolation_shutdown": {
        "crystal.interpolate": True,
        "crystal.structure_factors": _hkl(),
        "detector.xbeam_mm": 1.0,
        "detector.ybeam_mm": 9.6,
    },
    "dmin_thickness": {"sampling.dmin_A": 8.0, "detector.thickness_um": 300.0, "detector.thicksteps": 2},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_threads_do_not_change_the_image(name: str) -> None:
    sim = Simulator(_config(**CASES[name]))
    one = sim.render(threads=1)
    assert one.any()
    for n in (2, 3, os.cpu_count() or 2, 7):
        assert np.array_equal(sim.render(threads=n).view(np.uint32), one.view(np.uint32)), f"{n} threads"


def test_interpolation_shutdown_case_switches_mid_image() -> None:
    """The shutdown case must really switch off interpolation after some rows, or the test
    above would not cover it."""
    sim = Simulator(_config(**CASES["interpolation_shutdown"]))
    _, lines = sim.trace(60, 60)
    switch = [line for line in lines if line.startswith("TRACE interpolation_off_after_pixel")]
    assert switch, "interpolation never switched off"
    fpixel, spixel = (float(x) for x in switch[0].split()[2:])
    assert 10 <= spixel < 70, switch[0]
