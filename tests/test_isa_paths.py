"""Every instruction-set path this CPU supports renders the golden corpus: the exact path bit
for bit, the fast ones within the agreement rule; AVX2 and AVX-512 do the same arithmetic
lane by lane and so give the same bits."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

from conftest import GOLDEN, agrees, golden_cases, require_golden
from nanobragg_rs import Simulator, _core, config_from_args

CASES = golden_cases()
NAMES = [c["name"] for c in CASES] or ["<no golden corpus>"]
PATHS = _core.supported_isas()


def _simulator(name: str, folder: pathlib.Path) -> tuple[Simulator, np.ndarray]:
    require_golden()
    case = next(c for c in CASES if c["name"] == name)
    folder.mkdir(exist_ok=True)
    if not (folder / "inputs").exists():
        os.symlink(GOLDEN / "inputs", folder / "inputs")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        sim = Simulator(config_from_args(case["args"]))
    finally:
        os.chdir(cwd)
    ref = np.fromfile(GOLDEN / "cases" / name / "float.bin", dtype="<f4").reshape(case["spixels"], case["fpixels"])
    return sim, ref


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("isa", PATHS)
def test_golden_on_every_path(isa: str, name: str, tmp_path: pathlib.Path) -> None:
    sim, ref = _simulator(name, tmp_path)
    img = sim.render(isa=isa)
    assert sim.isa == isa
    if isa == "exact":
        differ = img.view(np.uint32) != ref.view(np.uint32)
        assert not differ.any(), f"{differ.sum()} pixels differ in their bits from the reference"
    else:
        ok = agrees(img, ref)
        assert ok.all(), f"{(~ok).sum()} pixels disagree"


@pytest.mark.parametrize("name", NAMES)
def test_vector_paths_agree_bit_for_bit(name: str, tmp_path: pathlib.Path) -> None:
    if not {"avx2", "avx512"} <= set(PATHS):
        pytest.skip(f"this CPU runs only {PATHS}")
    sim, _ = _simulator(name, tmp_path)
    assert np.array_equal(sim.render(isa="avx2").view(np.uint32), sim.render(isa="avx512").view(np.uint32))


def test_unknown_path_is_an_error() -> None:
    cfg = config_from_args(["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detpixels", "8"])
    with pytest.raises(_core.NanoBraggError, match="unknown instruction-set path"):
        Simulator(cfg).render(isa="sse9")


def test_paths_are_deterministic_across_threads(tmp_path: pathlib.Path) -> None:
    sim, _ = _simulator("kitchen_sink", tmp_path)
    for isa in PATHS:
        one = sim.render(isa=isa, threads=1)
        assert np.array_equal(one.view(np.uint32), sim.render(isa=isa, threads=3).view(np.uint32)), isa


#: Crystals past the Chebyshev recurrence's reach (N > 24 on an axis), which no golden case
#: has: the fast paths' lattice factor there is a ratio of sines, all axes over one division.
LARGE_N = {
    "N100": ["-N", "100"],
    "N25_misset": ["-N", "25", "-misset", "10", "20", "30"],
    "Na40_Nb7_Nc1": ["-Na", "40", "-Nb", "7", "-Nc", "1", "-misset", "3", "50", "7"],
    "N60_mosaic_phi": ["-N", "60", "-mosaic", "0.5", "-mosaic_dom", "3", "-mosaic_seed", "2", "-phi", "0", "-osc", "0.3",
                       "-phisteps", "2"],
}


@pytest.mark.parametrize("name", sorted(LARGE_N))
@pytest.mark.parametrize("isa", [p for p in PATHS if p != "exact"])
def test_large_crystals_agree_with_the_exact_path(isa: str, name: str) -> None:
    args = ["-cell", "50", "60", "70", "90", "95", "90", "-default_F", "100", "-lambda", "1.0", "-distance", "100",
            "-detpixels", "64", "-pixel", "0.1", "-oversample", "2", *LARGE_N[name]]
    sim = Simulator(config_from_args(args))
    exact, fast = sim.render(isa="exact"), sim.render(isa=isa)
    assert exact.max() > 0
    ok = agrees(fast, exact)
    assert ok.all(), f"{(~ok).sum()} pixels disagree"
