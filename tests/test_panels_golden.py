"""Every case of the multi-panel corpus (../shared/golden-panels): each panel of one
multi-panel render equals the reference's run of that panel alone, the float image within
the corpus's rule (maximum over the whole detector), the integer and noise pixel data
identical (one scale for all panels, seed S+k for panel k). The .expt and .geom cases are
also rendered from their source files through -expt and -geom."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from conftest import CliResult, run_cli
from nanobragg_rs.io import read_smv
from nanobragg_rs.panels import panels_from_expt, panels_from_geom, read_panels_json
from nanobragg_rs.panels.cli import panel_path

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "golden-panels"
CASES = json.loads((CORPUS / "manifest.json").read_text()) if (CORPUS / "manifest.json").is_file() else []
NAMES = [c["name"] for c in CASES] or ["<no multi-panel corpus>"]
OUT = ["-floatfile", "float.bin", "-intfile", "int.img", "-noisefile", "noise.img", "-noprogress"]
_runs: dict[str, CliResult] = {}


def ref_pixels(path: pathlib.Path, shape: tuple[int, int]) -> np.ndarray:
    """A reference SMV's pixels: the last 2 x pixels bytes. Where its header outgrew 512
    bytes (long numbers in the panel's header) the reference still says HEADER_BYTES=512 but
    writes the whole header, so the data start after it, not at 512."""
    raw = path.read_bytes()
    return np.frombuffer(raw[len(raw) - 2 * shape[0] * shape[1] :], dtype="<u2").reshape(shape)


def _case(name: str) -> dict:
    if not CASES:
        pytest.skip(f"multi-panel corpus not found at {CORPUS}")
    return next(c for c in CASES if c["name"] == name)


def _drop(args: list[str], flag: str, n: int) -> list[str]:
    i = args.index(flag)
    return args[:i] + args[i + 1 + n :]


def _args(case: dict, source: str) -> list[str]:
    """The case's command line with its panel file, or with the file it was converted from
    (whose beam, spindle and energy then come from the file, not the flags)."""
    args = list(case["args"])
    if source == "json":
        return OUT + args + ["-panels", case["panels"]]
    if source == "expt":
        for flag, n in (("-lambda", 1), ("-beam_vector", 3), ("-polar_vector", 3), ("-polar", 1), ("-spindle_axis", 3)):
            args = _drop(args, flag, n)
        return OUT + args + ["-expt", "inputs/eiger_tiled.expt"]
    args = _drop(args, "-energy", 1)
    return OUT + args + ["-geom", source.partition(":")[2] or "inputs/cspad_like.geom"]


def _run(name: str, source: str, tmp_path_factory: pytest.TempPathFactory) -> CliResult:
    key = f"{name}:{source}"
    if key not in _runs:
        case = _case(name)
        _runs[key] = run_cli(_args(case, source), tmp_path_factory.mktemp(name), CORPUS / "inputs")
        assert _runs[key].returncode == 0, _runs[key].stderr
    return _runs[key]


def _check(name: str, source: str, tmp_path_factory: pytest.TempPathFactory, reversed_rows: set[str] = frozenset(),
           masks: dict[str, np.ndarray] | None = None) -> None:
    case = _case(name)
    res = _run(name, source, tmp_path_factory)
    flat = np.fromfile(res.folder / "float.bin", dtype="<f4")
    n = len(case["runs"])
    assert flat.size == sum(r["fpixels"] * r["spixels"] for r in case["runs"])
    max_float = case["max_float"]
    start = 0
    noise = "noise.img" in case["runs"][0]["outputs"]
    for k, r in enumerate(case["runs"]):
        shape = (r["spixels"], r["fpixels"])
        folder = CORPUS / "cases" / name / r["panel"]
        ref = np.fromfile(folder / "float.bin", dtype="<f4").reshape(shape)
        ours = flat[start : start + ref.size].reshape(shape)
        start += ref.size
        ref_int = ref_pixels(folder / "int.img", shape)
        ours_int = read_smv(res.folder / panel_path("int.img", k, n)).data
        ref_noise = ref_pixels(folder / "noise.img", shape) if noise else None
        ours_noise = read_smv(res.folder / panel_path("noise.img", k, n)).data if noise else None
        if r["panel"] in reversed_rows:  # the file's own pixel order: rows opposite to the run's
            ours, ours_int = ours[::-1], ours_int[::-1]
            ours_noise = ours_noise[::-1] if noise else None
        keep = np.ones(shape, dtype=bool)
        if masks and masks.get(r["panel"]) is not None:
            keep = masks[r["panel"]] != 0
            if r["panel"] in reversed_rows:
                keep = keep[::-1]
            assert (ours[~keep] == 0).all() and keep.sum() < keep.size
        tol = 1e-5 * np.abs(ref.astype(np.float64)) + 1e-7 * max_float
        bad = (np.abs(ours.astype(np.float64) - ref) > tol) & keep
        assert not bad.any(), f"panel {r['panel']}: {bad.sum()} of {bad.size} pixels disagree; first at {np.argwhere(bad)[0]}"
        np.testing.assert_array_equal(ours_int[keep], ref_int[keep], err_msg=f"panel {r['panel']} int image")
        if noise and masks is None:  # a mask changes which pixels draw deviates
            np.testing.assert_array_equal(ours_noise[keep], ref_noise[keep], err_msg=f"panel {r['panel']} noise image")
    assert not (res.folder / panel_path("noise.img", 0, n)).exists() or noise


@pytest.mark.parametrize("name", NAMES)
def test_case_panel_by_panel(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    _check(name, "json", tmp_path_factory)


def test_the_scale_is_one_for_all_panels(tmp_path_factory: pytest.TempPathFactory) -> None:
    case = _case("quad_basic")
    res = _run("quad_basic", "json", tmp_path_factory)
    assert f"intfile_scale = {case['intfile_scale']:g}" in res.stdout
    assert len({r["stats"]["intfile_scale"] for r in case["runs"]}) == 1


def _close(a: tuple, b: list, tol: float = 1e-12) -> bool:
    return all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b))


def test_expt_reader_gives_the_converted_panels() -> None:
    _case("eiger_expt")
    ours = panels_from_expt(CORPUS / "inputs" / "eiger_tiled.expt")
    ref = json.loads((CORPUS / "inputs" / "eiger_expt.json").read_text())["panels"]
    assert [p.name for p in ours] == [r["name"] for r in ref]
    for p, r in zip(ours, ref):
        assert _close(p.fast_axis, r["fast_axis"]) and _close(p.slow_axis, r["slow_axis"]), p.name
        assert _close(p.origin_mm, r["origin_mm"]), p.name
        assert (p.fast_pixels, p.slow_pixels, p.pixel_mm) == (r["fast_pixels"], r["slow_pixels"], r["pixel_mm"])


def test_geom_reader_gives_the_converted_panels() -> None:
    _case("cspad_geom")
    ours = panels_from_geom(CORPUS / "inputs" / "cspad_like.geom")
    ref = json.loads((CORPUS / "inputs" / "cspad_geom.json").read_text())["panels"]
    assert [p.name for p in ours] == [r["name"] for r in ref]
    assert [p.faces_sample() for p in ours] == [False, False, True, True]
    for p, r in zip(ours, ref):
        q = p.turned() if p.faces_sample() else p
        assert _close(q.fast_axis, r["fast_axis"]) and _close(q.slow_axis, r["slow_axis"]), p.name
        assert _close(q.origin_mm, r["origin_mm"]), p.name
        assert abs(q.pixel_mm - r["pixel_mm"]) <= 1e-15 and (q.fast_pixels, q.slow_pixels) == (r["fast_pixels"], r["slow_pixels"])
    # bad_gap (fs 94..97 over every ss) masks the last two columns of a0/a2, the first two of a1/a3.
    for p in ours:
        assert p.mask is not None and (p.mask == 0).sum() == 2 * p.slow_pixels


def test_eiger_from_the_expt_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    _check("eiger_expt", "expt", tmp_path_factory)


def test_cspad_from_the_geom_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The .geom without its bad region: every pixel, noise included, in the file's order."""
    _case("cspad_geom")
    text = (CORPUS / "inputs" / "cspad_like.geom").read_text()
    unmasked = tmp_path_factory.mktemp("geom") / "nobad.geom"
    unmasked.write_text("\n".join(line for line in text.splitlines() if not line.startswith("bad_")))
    _check("cspad_geom", f"geom:{unmasked}", tmp_path_factory, reversed_rows={"a2", "a3"})


def test_cspad_geom_bad_region_is_masked(tmp_path_factory: pytest.TempPathFactory) -> None:
    _case("cspad_geom")
    masks = {p.name: p.mask for p in panels_from_geom(CORPUS / "inputs" / "cspad_like.geom")}
    _check("cspad_geom", "geom", tmp_path_factory, reversed_rows={"a2", "a3"}, masks=masks)


def test_panel_file_round_trip(tmp_path: pathlib.Path) -> None:
    _case("hybrid_phi")
    from nanobragg_rs.panels import write_panels_json

    panels = read_panels_json(CORPUS / "inputs" / "hybrid.json")
    write_panels_json(tmp_path / "p.json", panels)
    assert read_panels_json(tmp_path / "p.json") == panels


@pytest.mark.parametrize("name", ["quad_basic", "hybrid_phi"])
def test_fix_quirks_as_for_one_panel(name: str, tmp_path: pathlib.Path) -> None:
    """With -fix_quirks each panel equals our own single-panel -fix_quirks run of the
    reference's per-panel command line."""
    case = _case(name)
    args = ["-nonoise", "-fix_quirks"]
    multi = run_cli(OUT + case["args"] + args + ["-panels", case["panels"]], tmp_path / "multi", CORPUS / "inputs")
    assert multi.returncode == 0, multi.stderr
    flat = np.fromfile(multi.folder / "float.bin", dtype="<f4")
    start = 0
    for k, r in enumerate(case["runs"]):
        one = run_cli(OUT + ["-nopgm"] + r["args"] + args, tmp_path / f"one{k}", CORPUS / "inputs")
        assert one.returncode == 0, one.stderr
        ref = np.fromfile(one.folder / "float.bin", dtype="<f4")
        np.testing.assert_array_equal(flat[start : start + ref.size], ref)
        start += ref.size
        np.testing.assert_array_equal(read_smv(multi.folder / panel_path("int.img", k, len(case["runs"]))).data,
                                      read_smv(one.folder / "int.img").data)


def test_a_panel_carries_its_own_sensor(tmp_path: pathlib.Path) -> None:
    """arm_thick with the sensor in the panel file instead of -detector_thick/-detector_abs."""
    case = _case("arm_thick")
    args = _drop(_drop(case["args"], "-detector_thick", 1), "-detector_abs", 1)
    panels = json.loads((CORPUS / case["panels"]).read_text())
    panels["panels"][0].update(thickness_um=450.0, attenuation_depth_um=300.0)
    (tmp_path / "own.json").write_text(json.dumps(panels))
    res = run_cli(OUT + ["-nonoise"] + args + ["-panels", str(tmp_path / "own.json")], tmp_path / "run", CORPUS / "inputs")
    assert res.returncode == 0, res.stderr
    r = case["runs"][0]
    ref = np.fromfile(CORPUS / "cases" / "arm_thick" / r["panel"] / "float.bin", dtype="<f4")
    ours = np.fromfile(res.folder / "float.bin", dtype="<f4")
    tol = 1e-5 * np.abs(ref.astype(np.float64)) + 1e-7 * case["max_float"]
    assert (np.abs(ours - ref.astype(np.float64)) <= tol).all()
    # Without its sensor the same panel renders differently: the test can fail.
    bare = run_cli(OUT + ["-nonoise"] + args + ["-panels", case["panels"]], tmp_path / "bare", CORPUS / "inputs")
    assert not np.allclose(np.fromfile(bare.folder / "float.bin", dtype="<f4"), ref, rtol=1e-3)
