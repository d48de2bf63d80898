"""Structure factors from MTZ, SF-mmCIF and models (nanobragg_rs.reflections, `nanobragg hkl`).

The expansion to P1 is checked against an independent one: every operator of the space group
applied to every index, one at a time, with Friedel (or Bijvoet) mates, plus a completeness check
over the whole sphere (every index that is not systematically absent is present). Amplitudes from
a model are checked against a direct sum over its atoms written here from the form-factor
coefficients alone.
"""

from __future__ import annotations

import os
import pathlib
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanobragg_rs import StructureFactors
from nanobragg_rs.reflections import ReflectionFileError, expand_to_p1, file_kind, read_reflections

from conftest import agrees, run_cli

gemmi = pytest.importorskip("gemmi", reason="gemmi is not installed (pip install 'nanobragg-rs[mtz]')")

SPACE_GROUPS = {
    "P 21 21 21": (30.0, 40.0, 50.0, 90.0, 90.0, 90.0),
    "P 43 21 2": (40.0, 40.0, 55.0, 90.0, 90.0, 90.0),
    "C 1 2 1": (60.0, 35.0, 42.0, 90.0, 104.0, 90.0),
    "P 61 2 2": (45.0, 45.0, 70.0, 90.0, 90.0, 120.0),
    "R 3:H": (50.0, 50.0, 65.0, 90.0, 90.0, 120.0),
    "P -1": (25.0, 28.0, 33.0, 81.0, 77.0, 69.0),
}


def _write_mtz(path: pathlib.Path, sg: str, cell: tuple[float, ...], dmin: float, *, seed: int = 0, anomalous: bool = False, intensities: bool = False) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An MTZ with random data on the asymmetric unit; returns its hkl and columns."""
    rng = np.random.default_rng(seed)
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = gemmi.SpaceGroup(sg)
    mtz.set_cell_for_all(gemmi.UnitCell(*cell))
    mtz.add_dataset("sim")
    hkl = np.asarray(gemmi.make_miller_array(mtz.cell, mtz.spacegroup, dmin), dtype=np.int32)
    n = len(hkl)
    cols: dict[str, np.ndarray] = {"FP": rng.uniform(1, 100, n), "SIGFP": rng.uniform(0.1, 2, n)}
    types = {"FP": "F", "SIGFP": "Q"}
    if anomalous:
        centric = mtz.spacegroup.operations().centric_flag_array(hkl)
        cols["F(+)"] = rng.uniform(1, 100, n)
        cols["F(-)"] = np.where(centric, cols["F(+)"], rng.uniform(1, 100, n))
        types.update({"F(+)": "G", "F(-)": "G"})
    if intensities:
        cols["IMEAN"] = rng.uniform(-5, 1000, n)
        types["IMEAN"] = "J"
    for label, t in types.items():
        mtz.add_column(label, t)
    mtz.set_data(np.column_stack([hkl] + [cols[k] for k in types]).astype(np.float32))
    mtz.write_to_file(str(path))
    # What the file holds, as float32, is what the reader sees.
    return hkl, {k: v.astype(np.float32).astype(np.float64) for k, v in cols.items()}


def _independent_expansion(sg: str, hkl: np.ndarray, fplus: np.ndarray, fminus: np.ndarray | None = None) -> dict[tuple[int, int, int], float]:
    """Every operator (centring included) on every index, one at a time; F(+) images first."""
    ops = gemmi.SpaceGroup(sg).operations()
    table: dict[tuple[int, int, int], float] = {}
    minus = fplus if fminus is None else fminus
    for (h, k, l), fp in zip(hkl.tolist(), fplus.tolist()):
        for op in ops:
            image = tuple(op.apply_to_hkl([h, k, l]))
            table.setdefault(image, fp)
    for (h, k, l), fm in zip(hkl.tolist(), minus.tolist()):
        for op in ops:
            image = tuple(-x for x in op.apply_to_hkl([h, k, l]))
            table.setdefault(image, fm)
    return table


def _as_dict(sf: StructureFactors) -> dict[tuple[int, int, int], float]:
    assert sf.indices is not None and sf.amplitudes is not None
    keys = [tuple(x) for x in sf.indices.tolist()]
    assert len(set(keys)) == len(keys), "an index listed twice"
    return dict(zip(keys, sf.amplitudes.tolist()))


@pytest.mark.parametrize("sg", sorted(SPACE_GROUPS))
def test_mtz_expansion_matches_operators_index_by_index(sg: str, tmp_path: pathlib.Path) -> None:
    cell = SPACE_GROUPS[sg]
    dmin = 4.0
    hkl, cols = _write_mtz(tmp_path / "x.mtz", sg, cell, dmin)
    sf = StructureFactors.from_mtz(tmp_path / "x.mtz")
    ours = _as_dict(sf)
    assert ours == _independent_expansion(sg, hkl, cols["FP"])
    # Complete: every index of the sphere that the group does not extinguish is there.
    uc, ops = gemmi.UnitCell(*cell), gemmi.SpaceGroup(sg).operations()
    hmax = [int(np.ceil(x / dmin)) + 1 for x in cell[:3]]
    grid = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in hmax], indexing="ij"), -1).reshape(-1, 3)
    inv_d2 = np.asarray(uc.calculate_1_d2_array(grid.astype(np.int32))) * dmin**2
    allowed = {tuple(h) for h in grid[inv_d2 <= 1 + 1e-9].tolist() if any(h) and not ops.is_systematically_absent(h)}
    required = {h for h in allowed if uc.calculate_1_d2(list(h)) * dmin**2 < 1 - 1e-9}
    assert required <= set(ours) <= allowed
    assert sf.space_group == gemmi.SpaceGroup(sg).hm
    assert sf.cell == pytest.approx(cell, rel=1e-6)


@pytest.mark.parametrize("sg", ["P 43 21 2", "P 61 2 2", "C 1 2 1"])
def test_anomalous_pairs_are_kept_as_bijvoet_mates(sg: str, tmp_path: pathlib.Path) -> None:
    hkl, cols = _write_mtz(tmp_path / "a.mtz", sg, SPACE_GROUPS[sg], 4.0, anomalous=True, seed=3)
    sf = StructureFactors.from_mtz(tmp_path / "a.mtz", "F(+)")
    ours = _as_dict(sf)
    assert ours == _independent_expansion(sg, hkl, cols["F(+)"], cols["F(-)"])
    # Acentric reflections really differ from their Friedel mates.
    differ = sum(ours[h] != ours[tuple(-x for x in h)] for h in ours)
    assert differ > len(ours) // 4


def test_expand_to_p1_drops_missing_values() -> None:
    idx, amp = expand_to_p1("P 1", np.array([[1, 2, 3], [1, 1, 1]]), np.array([5.0, np.nan]))
    assert sorted(map(tuple, idx.tolist())) == [(-1, -2, -3), (1, 2, 3)]
    assert amp.tolist() == [5.0, 5.0]


def test_column_choice(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.mtz"
    _write_mtz(path, "P 21 21 21", SPACE_GROUPS["P 21 21 21"], 5.0, anomalous=True, intensities=True)
    with pytest.raises(ReflectionFileError, match="several amplitude columns.*FP.*F\\(\\+\\).*-mtz_column"):
        StructureFactors.from_mtz(path)
    with pytest.raises(ReflectionFileError, match="no column 'FOO'"):
        StructureFactors.from_mtz(path, "FOO")
    with pytest.raises(ReflectionFileError, match="SIGFP.*type 'Q'"):
        StructureFactors.from_mtz(path, "SIGFP")
    assert not StructureFactors.from_mtz(path, "FP").read_options is None


def test_intensities_only_on_request(tmp_path: pathlib.Path) -> None:
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = gemmi.SpaceGroup("P 21 21 21")
    mtz.set_cell_for_all(gemmi.UnitCell(30, 40, 50, 90, 90, 90))
    mtz.add_dataset("d")
    mtz.add_column("IMEAN", "J")
    mtz.add_column("SIGIMEAN", "Q")
    hkl = np.asarray(gemmi.make_miller_array(mtz.cell, mtz.spacegroup, 6.0))
    i = np.linspace(-3, 400, len(hkl))
    mtz.set_data(np.column_stack([hkl, i, np.ones(len(hkl))]).astype(np.float32))
    mtz.write_to_file(str(tmp_path / "i.mtz"))
    with pytest.raises(ReflectionFileError, match="intensities \\(IMEAN\\): -mtz_column IMEAN"):
        StructureFactors.from_mtz(tmp_path / "i.mtz")
    sf = StructureFactors.from_mtz(tmp_path / "i.mtz", "IMEAN")
    expected = _independent_expansion("P 21 21 21", hkl, np.sqrt(np.clip(i.astype(np.float32).astype(np.float64), 0, None)))
    assert _as_dict(sf) == expected


def test_sf_mmcif_equals_the_mtz_it_came_from(tmp_path: pathlib.Path) -> None:
    _write_mtz(tmp_path / "x.mtz", "P 43 21 2", SPACE_GROUPS["P 43 21 2"], 4.0)
    mtz = gemmi.read_mtz_file(str(tmp_path / "x.mtz"))
    (tmp_path / "x.cif").write_text(gemmi.MtzToCif().write_cif_to_string(mtz))
    assert file_kind(tmp_path / "x.cif") == "sf-cif"
    a = _as_dict(StructureFactors.from_mtz(tmp_path / "x.mtz"))
    b = _as_dict(StructureFactors.from_cif(tmp_path / "x.cif"))
    assert a.keys() == b.keys()
    # mmCIF keeps six significant digits.
    assert all(abs(a[h] - b[h]) <= 1e-5 * a[h] for h in a)
    # The mmCIF tag names the same column.
    c = _as_dict(StructureFactors.from_cif(tmp_path / "x.cif", "F_meas_au"))
    assert c == b


# --- models ---------------------------------------------------------------------------------

MODEL = """\
CRYST1   21.000   26.000   31.000  90.00  90.00  90.00 P 21 21 21    4
ATOM      1  N   GLY A   1       1.000   2.000   3.000  1.00 10.00           N
ATOM      2  CA  GLY A   1       2.400   2.300   3.100  1.00 12.00           C
ATOM      3  C   GLY A   1       3.000   3.600   2.500  1.00 14.00           C
ATOM      4  O   GLY A   1       2.400   4.700   2.700  0.80 15.00           O
ATOM      5  SG  CYS A   2       5.000   6.000   7.000  1.00 20.00           S
HETATM    6 ZN    ZN A 101       8.000   4.000   9.000  1.00 25.00          ZN
END
"""


def _direct_sum(path: pathlib.Path, hkl: np.ndarray, wavelength: float | None = None) -> np.ndarray:
    """F(h) = Σ over the unit cell's atoms of occ (f0(s) + f' + i f'') exp(-B s²) exp(2πi h·x)."""
    stc = gemmi.read_structure(str(path))
    ops = gemmi.SpaceGroup(stc.spacegroup_hm).operations()
    stol2 = np.array([stc.cell.calculate_1_d2(list(map(int, h))) / 4 for h in hkl])
    total = np.zeros(len(hkl), dtype=complex)
    for cra in stc[0].all():
        a = cra.atom
        coef = a.element.it92
        f0 = sum(ai * np.exp(-bi * stol2) for ai, bi in zip(coef.a, coef.b)) + coef.c
        if wavelength is not None:
            fp, fpp = gemmi.cromer_liberman(z=a.element.atomic_number, energy=12398.419843320026 / wavelength)
            f0 = f0 + fp + 1j * fpp
        x = stc.cell.fractionalize(a.pos).tolist()
        for op in ops:
            y = np.array(op.apply_to_xyz(x))
            total += a.occ * f0 * np.exp(-a.b_iso * stol2) * np.exp(2j * np.pi * (hkl @ y))
    return total


def test_model_amplitudes_equal_a_direct_sum(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.pdb"
    path.write_text(MODEL)
    sf = StructureFactors.from_model(path, 2.5)
    ours = _as_dict(sf)
    keys = np.array(sorted(ours))
    expected = np.abs(_direct_sum(path, keys))
    got = np.array([ours[tuple(k)] for k in keys.tolist()])
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert len(keys) > 1000


def test_model_anomalous_amplitudes_equal_a_direct_sum(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.pdb"
    path.write_text(MODEL)
    sf = StructureFactors.from_model(path, 3.0, wavelength_A=1.2837)
    ours = _as_dict(sf)
    keys = np.array(sorted(ours))
    expected = np.abs(_direct_sum(path, keys, wavelength=1.2837))
    got = np.array([ours[tuple(k)] for k in keys.tolist()])
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # Zn near its K edge: Bijvoet mates differ.
    assert any(abs(ours[h] - ours[tuple(-x for x in h)]) > 1e-3 * ours[h] for h in ours)


def test_bulk_solvent_changes_low_resolution_most(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.pdb"
    path.write_text(MODEL)
    plain = _as_dict(StructureFactors.from_model(path, 3.0))
    solvent = _as_dict(StructureFactors.from_model(path, 3.0, ksol=0.35, bsol=46.0))
    assert plain.keys() == solvent.keys()
    cell = gemmi.UnitCell(21, 26, 31, 90, 90, 90)
    low = [h for h in plain if cell.calculate_d(list(h)) > 10]
    high = [h for h in plain if cell.calculate_d(list(h)) < 3.5]
    rel = lambda hs: np.mean([abs(solvent[h] - plain[h]) / plain[h] for h in hs])  # noqa: E731
    assert rel(low) > 10 * rel(high)
    with pytest.raises(ReflectionFileError, match="both -ksol and -bsol"):
        StructureFactors.from_model(path, 3.0, ksol=0.35)


# --- command line ---------------------------------------------------------------------------

RENDER = ["-N", "4", "-lambda", "1.0", "-distance", "80", "-detpixels", "96", "-pixel", "0.3", "-nonoise", "-noprogress", "-seed", "1"]


def _files(folder: pathlib.Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name != "inputs"}


def test_render_from_mtz_equals_render_from_the_p1_table_it_writes(tmp_path: pathlib.Path) -> None:
    cell = SPACE_GROUPS["P 43 21 2"]
    _write_mtz(tmp_path / "x.mtz", "P 43 21 2", cell, 3.0)
    r = run_cli(["hkl", str(tmp_path / "x.mtz"), "-out", str(tmp_path / "p1.hkl")], tmp_path / "w0", inputs=None)
    assert r.returncode == 0, r.stderr
    a = run_cli(["-hkl", str(tmp_path / "x.mtz"), *RENDER, "-floatfile", "f.bin"], tmp_path / "a", inputs=None)
    cell_args = ["-cell", *map(str, cell)]
    b = run_cli(["-hkl", str(tmp_path / "p1.hkl"), *cell_args, *RENDER, "-floatfile", "f.bin"], tmp_path / "b", inputs=None)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    fa, fb = (np.fromfile(x.folder / "f.bin", dtype="<f4") for x in (a, b))
    assert fa.max() > 0 and np.array_equal(fa, fb)
    assert "warning" not in a.stderr  # the cell came from the file


def test_render_from_mtz_equals_the_reference_with_the_p1_table(tmp_path: pathlib.Path, c_binary: str) -> None:
    cell = SPACE_GROUPS["P 61 2 2"]
    _write_mtz(tmp_path / "x.mtz", "P 61 2 2", cell, 3.0, seed=7)
    assert run_cli(["hkl", str(tmp_path / "x.mtz"), "-out", str(tmp_path / "p1.hkl")], tmp_path / "w0", inputs=None).returncode == 0
    args = ["-cell", *map(str, cell), *RENDER, "-misset", "10", "20", "30"]
    ours = run_cli(["-hkl", str(tmp_path / "x.mtz"), *args, "-floatfile", "f.bin"], tmp_path / "ours", inputs=None)
    assert ours.returncode == 0, ours.stderr
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    subprocess.run(
        [c_binary, "-hkl", str(tmp_path / "p1.hkl"), *[a for a in args if a != "-noprogress"], "-floatfile", "f.bin"],
        cwd=ref_dir, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True, capture_output=True,
    )
    fo = np.fromfile(ours.folder / "f.bin", dtype="<f4")
    fr = np.fromfile(ref_dir / "f.bin", dtype="<f4")
    assert fr.max() > 0 and agrees(fo, fr).all()


def test_model_render_and_hkl_subcommand(tmp_path: pathlib.Path) -> None:
    (tmp_path / "m.pdb").write_text(MODEL)
    r = run_cli(["hkl", str(tmp_path / "m.pdb"), "-dmin", "3", "-out", str(tmp_path / "m.hkl")], tmp_path / "w", inputs=None)
    assert r.returncode == 0, r.stderr
    assert "model, space group P 21 21 21" in r.stdout
    a = run_cli(["-pdb", str(tmp_path / "m.pdb"), "-dmin", "3", *RENDER, "-floatfile", "f.bin"], tmp_path / "a", inputs=None)
    b = run_cli(["-hkl", str(tmp_path / "m.hkl"), "-dmin", "3", "-cell", "21", "26", "31", "90", "90", "90", *RENDER, "-floatfile", "f.bin"], tmp_path / "b", inputs=None)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert np.array_equal(np.fromfile(a.folder / "f.bin", dtype="<f4"), np.fromfile(b.folder / "f.bin", dtype="<f4"))


def test_cell_mismatch_is_a_warning(tmp_path: pathlib.Path) -> None:
    _write_mtz(tmp_path / "x.mtz", "P 21 21 21", SPACE_GROUPS["P 21 21 21"], 5.0)
    r = run_cli(["-hkl", str(tmp_path / "x.mtz"), "-mtz_column", "FP", "-cell", "31", "40", "50", "90", "90", "90", *RENDER], tmp_path / "w", inputs=None)
    assert r.returncode == 0
    assert "warning" in r.stderr and "a 30 vs 31 A" in r.stderr


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-hkl", "{mtz}"], "-hkl: {mtz}: several amplitude columns"),
        (["-hkl", "{mtz}", "-mtz_column", "NOPE"], "no column 'NOPE'"),
        (["-pdb", "{pdb}"], "-pdb: {pdb}: a model needs a resolution limit: give -dmin"),
        (["-pdb", "{pdb}", "-hkl", "{mtz}"], "-pdb: give either -hkl or -pdb"),
        (["-pdb", "{mtz}"], "is not a PDB or mmCIF coordinate file"),
        (["-hkl", "{txt}", "-mtz_column", "FP"], "-mtz_column: '{txt}' is an h k l F text table"),
        (["-hkl", "{bad}"], "-hkl: {bad}: not a readable MTZ file"),
    ],
)
def test_bad_reflection_input_is_one_line_exit_2_no_output(extra: list[str], words: str, tmp_path: pathlib.Path) -> None:
    names = {"mtz": str(tmp_path / "a.mtz"), "pdb": str(tmp_path / "m.pdb"), "txt": str(tmp_path / "t.hkl"), "bad": str(tmp_path / "bad.mtz")}
    _write_mtz(tmp_path / "a.mtz", "P 21 21 21", SPACE_GROUPS["P 21 21 21"], 6.0, anomalous=True)
    (tmp_path / "m.pdb").write_text(MODEL)
    (tmp_path / "t.hkl").write_text("1 2 3 100\n")
    (tmp_path / "bad.mtz").write_bytes(b"MTZ \x00\x01garbage")
    r = run_cli([a.format(**names) for a in extra] + RENDER, tmp_path / "w", inputs=None)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words.format(**names) in lines[0]
    assert _files(r.folder) == set()


def test_hkl_subcommand_errors(tmp_path: pathlib.Path) -> None:
    (tmp_path / "m.pdb").write_text(MODEL)
    for args, words in (
        ([str(tmp_path / "m.pdb"), "-out", "x.hkl"], "give -dmin"),
        ([str(tmp_path / "m.pdb"), "-dmin", "3"], "-out: give the output file name"),
        ([str(tmp_path / "m.pdb"), "-dmin", "3", "-out", "x.hkl", "-bogus"], "-bogus: unknown flag"),
        ([str(tmp_path / "nothere.mtz"), "-out", "x.hkl"], "cannot read file"),
    ):
        r = run_cli(["hkl", *args], tmp_path / "w", inputs=None)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not (r.folder / "x.hkl").exists()


@given(data=st.binary(max_size=2048), prefix=st.sampled_from([b"", b"MTZ ", b"data_x\n_refln.index_h\n", b"CRYST1"]))
def test_fuzz_readers_fail_cleanly(data: bytes, prefix: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(prefix + data)
    kind = file_kind(path)
    assert kind in ("mtz", "sf-cif", "model", "text")
    if kind == "text":
        return
    try:
        read_reflections(path, dmin_A=4.0)
    except ReflectionFileError as e:
        assert str(path) in str(e)


def test_a_missing_bijvoet_mate_takes_the_measured_one(tmp_path: pathlib.Path) -> None:
    mtz = gemmi.Mtz(with_base=True)
    mtz.spacegroup = gemmi.SpaceGroup("P 1")
    mtz.set_cell_for_all(gemmi.UnitCell(30, 30, 30, 90, 90, 90))
    mtz.add_dataset("d")
    mtz.add_column("F(+)", "G")
    mtz.add_column("F(-)", "G")
    mtz.set_data(np.array([[1, 2, 3, 10.0, 12.0], [2, 0, 1, 7.0, np.nan], [0, 1, 1, np.nan, 5.0]], dtype=np.float32))
    mtz.write_to_file(str(tmp_path / "p.mtz"))
    got = _as_dict(StructureFactors.from_mtz(tmp_path / "p.mtz"))
    assert got == {(1, 2, 3): 10.0, (-1, -2, -3): 12.0, (2, 0, 1): 7.0, (-2, 0, -1): 7.0, (0, 1, 1): 5.0, (0, -1, -1): 5.0}


def test_unmerged_mtz_is_refused(tmp_path: pathlib.Path) -> None:
    _write_mtz(tmp_path / "x.mtz", "P 21 21 21", SPACE_GROUPS["P 21 21 21"], 6.0)
    mtz = gemmi.read_mtz_file(str(tmp_path / "x.mtz"))
    mtz.batches.append(gemmi.Mtz.Batch())
    mtz.write_to_file(str(tmp_path / "u.mtz"))
    with pytest.raises(ReflectionFileError, match="unmerged MTZ"):
        StructureFactors.from_mtz(tmp_path / "u.mtz")


def test_a_data_set_plan_reads_the_mtz_again_the_same_way(tmp_path: pathlib.Path) -> None:
    from nanobragg_rs import Config
    from nanobragg_rs.dataset.plan import load_structure_factors, make_plan

    _write_mtz(tmp_path / "a.mtz", "P 43 21 2", SPACE_GROUPS["P 43 21 2"], 5.0, anomalous=True)
    sf = StructureFactors.from_mtz(tmp_path / "a.mtz", "F(+)")
    cfg = Config()
    cfg.crystal.cell = SPACE_GROUPS["P 43 21 2"]
    cfg.crystal.structure_factors = sf
    cfg.detector.detpixels_f = cfg.detector.detpixels_s = 32
    plan = make_plan(cfg, 2)
    again = load_structure_factors(plan.structure_factors)
    assert _as_dict(again) == _as_dict(sf)
