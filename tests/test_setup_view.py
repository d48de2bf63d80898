"""The typed, frozen set-up Python receives (Simulator.setup): each stage's values agree with
the configuration, and none can be changed."""

from __future__ import annotations

import math

import pytest

from nanobragg_rs import Simulator, _core, config_from_args

ARGS = ["-cell", "50", "60", "70", "90", "90", "90", "-default_F", "10", "-N", "3", "-lambda", "1.5",
        "-distance", "80", "-detpixels", "32", "-pixel", "0.2", "-phi", "10", "-osc", "1", "-phisteps", "2",
        "-mosaic", "0.5", "-mosaic_domains", "3", "-roi", "2", "20", "3", "25"]


def test_stages_hold_the_resolved_values() -> None:
    sim = Simulator(config_from_args(ARGS))
    s = sim.setup
    assert isinstance(s, _core.Setup)
    assert s.beam.wavelength_m == pytest.approx(1.5e-10)
    assert len(s.beam.sources) == 1 and s.beam.sources[0].wavelength_m == pytest.approx(1.5e-10)
    assert s.crystal.lattice.cell[:3] == pytest.approx((50, 60, 70))
    assert s.crystal.n_cells == (3.0, 3.0, 3.0)
    assert s.crystal.mosaic_domains == 3
    assert s.crystal.mosaic_spread_rad == pytest.approx(math.radians(0.5))
    assert len(s.detector.panels) == 1 and sim.panel.roi == (2, 20, 3, 25)
    g = sim.panel.geometry
    assert (g.fpixels, g.spixels) == (32, 32) and g.distance == pytest.approx(0.08)
    assert s.detector.lab.beam == g.beam
    assert s.sampling.phi.count == 2 and s.sampling.phi.phi0 == pytest.approx(math.radians(10))
    # steps = sources x domains x phi steps x oversample²
    assert s.sampling.steps == 1 * 3 * 2 * s.sampling.oversample**2
    assert s.header.as_dict()["DISTANCE"] == pytest.approx(80.0)
    assert s.header.distance_mm == pytest.approx(80.0)


@pytest.mark.parametrize("part", ["beam", "crystal", "detector", "sampling"])
def test_stages_are_frozen(part: str) -> None:
    s = Simulator(config_from_args(ARGS)).setup
    with pytest.raises(AttributeError):
        setattr(s, part, None)
    stage = getattr(s, part)
    name = next(n for n in dir(stage) if not n.startswith("_"))
    with pytest.raises(AttributeError):
        setattr(stage, name, 0)


def test_no_summary_dict() -> None:
    assert not hasattr(Simulator(config_from_args(ARGS)), "summary")
