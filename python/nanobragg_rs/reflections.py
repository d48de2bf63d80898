"""Structure factors from crystallographic files, through gemmi: MTZ, SF-mmCIF, atomic models.

nanoBragg renders from a P1 table ``h k l F``. A reflection file holds the asymmetric unit of
its space group; :func:`expand_to_p1` applies every operator of the group to every index and adds
the Friedel mates (``F(-h) = F(h)``), or, where the file has anomalous pairs, the Bijvoet mates
(``F(+)`` at the images of ``h``, ``F(-)`` at the images of ``-h``). Phases play no part.

A model (PDB or mmCIF coordinates) gives amplitudes by a direct sum over its atoms
(gemmi's ``StructureFactorCalculatorX``, form factors from the International Tables), optionally
with a flat bulk-solvent term ``ksol exp(-bsol s²/4) F_mask`` (as phenix.fmodel) and anomalous
scattering f', f'' at the beam's wavelength (Cromer-Liberman, for the elements present).

gemmi is an optional dependency: ``pip install "nanobragg-rs[mtz]"``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

# Kept where the command line reads them without numpy or gemmi; re-exported here.
from .file_kinds import ReflectionFileError as ReflectionFileError, file_kind as file_kind

if TYPE_CHECKING:
    import gemmi

#: Relative tolerance on cell lengths and absolute one on angles (degrees) when a file's cell is
#: compared with the render's.
CELL_LENGTH_TOLERANCE = 0.01
CELL_ANGLE_TOLERANCE_DEG = 1.0

_HC_EV_A = 12398.419843320026  # h c in eV Å (CODATA 2018)


def _gemmi() -> Any:
    try:
        import gemmi
    except ImportError:
        raise ImportError(
            'reading MTZ, mmCIF and model files needs gemmi: pip install "nanobragg-rs[mtz]"'
        ) from None
    return gemmi


@dataclass(frozen=True)
class Reflections:
    """Amplitudes expanded to P1, and where they came from."""

    #: (n, 3) int32 Miller indices, every index at most once.
    indices: np.ndarray
    #: (n,) float64 amplitudes, in electrons.
    amplitudes: np.ndarray
    #: The file's unit cell (a, b, c in Å; α, β, γ in degrees), if it has one.
    cell: tuple[float, float, float, float, float, float] | None
    #: The file's space group (Hermann-Mauguin), if it has one.
    space_group: str | None
    #: What the amplitudes are: a column label, ``F(+)/F(-)`` labels, or ``model``.
    column: str
    #: The file's path.
    source: str
    #: Whether the table holds Bijvoet pairs (F(h) and F(-h) may differ).
    anomalous: bool


def expand_to_p1(
    space_group: gemmi.SpaceGroup | str,
    hkl: np.ndarray,
    f_plus: np.ndarray,
    f_minus: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every index of the full sphere that ``hkl`` stands for in ``space_group``, with its amplitude.

    Without ``f_minus`` the data obey Friedel's law: the images of ``h`` and of ``-h`` all get
    ``f_plus``. With ``f_minus`` (NaN where missing), the images of ``h`` get ``f_plus`` and those
    of ``-h`` get ``f_minus``; where an index is reached both ways (centric reflections), ``f_plus``
    wins. NaN amplitudes are dropped.
    """
    gemmi = _gemmi()
    sg = gemmi.SpaceGroup(space_group) if isinstance(space_group, str) else space_group
    hkl = np.asarray(hkl, dtype=np.int64).reshape(-1, 3)
    f_plus = np.asarray(f_plus, dtype=np.float64).reshape(-1)
    # Centring translations do not move an index; the point-group rotations are all there is.
    rotations = {tuple(map(tuple, op.rot)) for op in sg.operations().sym_ops}
    den = sg.operations().sym_ops[0].DEN
    mats = [np.array(r, dtype=np.int64) for r in sorted(rotations)]
    images = [hkl @ m // den for m in mats]
    plus_idx = np.concatenate(images)
    minus_idx = -plus_idx
    n = len(mats)
    plus_f = np.tile(f_plus, n)
    minus_f = plus_f if f_minus is None else np.tile(np.asarray(f_minus, dtype=np.float64).reshape(-1), n)
    idx = np.concatenate([plus_idx, minus_idx])
    amp = np.concatenate([plus_f, minus_f])
    keep = ~np.isnan(amp)
    idx, amp = idx[keep], amp[keep]
    # First occurrence wins: every F(+) image comes before every F(-) image.
    _, first = np.unique(idx, axis=0, return_index=True)
    first.sort()
    return idx[first].astype(np.int32), amp[first]


# --- MTZ and SF-mmCIF ----------------------------------------------------------------------


def _partner(label: str, labels: list[str]) -> str | None:
    """The F(-) label that goes with an F(+) label, by the usual spellings."""
    for plus, minus in (("(+)", "(-)"), ("PLUS", "MINUS"), ("plus", "minus"), ("+", "-")):
        if plus in label:
            other = label.replace(plus, minus)
            if other in labels:
                return other
    return None


def _columns_of(mtz: gemmi.Mtz, *types: str) -> list[str]:
    return [c.label for c in mtz.columns if c.type in types]


def _choose(mtz: gemmi.Mtz, name: str, column: str | None) -> tuple[str, str | None, bool]:
    """(plus label, minus label or None, whether the values are intensities)."""
    labels = [c.label for c in mtz.columns]
    if column is not None:
        col = mtz.column_with_label(column)
        if col is None:
            raise ReflectionFileError(f"{name}: no column {column!r} (columns: {', '.join(labels)})")
        if col.type == "F":
            return column, None, False
        if col.type == "J":
            return column, None, True
        if col.type in ("G", "K"):
            partner = _partner(column, _columns_of(mtz, col.type))
            if partner is None:
                raise ReflectionFileError(f"{name}: column {column!r} is one of an anomalous pair, but its mate is missing")
            return column, partner, col.type == "K"
        raise ReflectionFileError(
            f"{name}: column {column!r} has MTZ type {col.type!r}, not amplitudes (F, G) or intensities (J, K)"
        )
    amplitudes = _columns_of(mtz, "F")
    pairs = [(p, m) for p in _columns_of(mtz, "G") if (m := _partner(p, _columns_of(mtz, "G"))) and p != m]
    pairs = [(p, m) for p, m in pairs if "(+)" in p or "PLUS" in p.upper() or p.endswith("+")]
    if len(amplitudes) == 1 and not pairs:
        return amplitudes[0], None, False
    if not amplitudes and len(pairs) == 1:
        return pairs[0][0], pairs[0][1], False
    if not amplitudes and not pairs:
        intensities = _columns_of(mtz, "J", "K")
        hint = (
            f"; it has intensities ({', '.join(intensities)}): -mtz_column {intensities[0]} converts them (F = sqrt(I))"
            if intensities
            else ""
        )
        raise ReflectionFileError(f"{name}: no amplitude column{hint}")
    choices = amplitudes + [p for p, _ in pairs]
    raise ReflectionFileError(f"{name}: several amplitude columns ({', '.join(choices)}): choose one with -mtz_column")


def _cell_of(cell: gemmi.UnitCell) -> tuple[float, float, float, float, float, float]:
    return (cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma)


def _from_mtz(mtz: gemmi.Mtz, name: str, column: str | None) -> Reflections:
    if len(mtz.batches) > 0:
        raise ReflectionFileError(f"{name}: an unmerged MTZ (it has batches): merge it first (e.g. with aimless)")
    plus, minus, intensities = _choose(mtz, name, column)
    hkl = np.asarray(mtz.make_miller_array(), dtype=np.int64)
    fp = np.array(mtz.column_with_label(plus), dtype=np.float64)
    fm = np.array(mtz.column_with_label(minus), dtype=np.float64) if minus else None
    if intensities:
        # French-Wilson would be better; the plain square root is what was asked for.
        fp = np.sqrt(np.clip(fp, 0.0, None))
        fm = None if fm is None else np.sqrt(np.clip(fm, 0.0, None))
    if fm is not None:
        # Where one mate was not measured (always so for some centric reflections), the other
        # stands for both, as a merged amplitude would.
        fm, fp = np.where(np.isnan(fm), fp, fm), np.where(np.isnan(fp), fm, fp)
    idx, amp = expand_to_p1(mtz.spacegroup, hkl, fp, fm)
    if len(idx) == 0:
        raise ReflectionFileError(f"{name}: column {plus!r} holds no amplitudes")
    if np.any(amp < 0) or not np.all(np.isfinite(amp)):
        raise ReflectionFileError(f"{name}: column {plus!r} has negative or infinite amplitudes")
    return Reflections(
        indices=idx,
        amplitudes=amp,
        cell=_cell_of(mtz.cell),
        space_group=mtz.spacegroup.hm,
        column=plus if minus is None else f"{plus}/{minus}",
        source=name,
        anomalous=minus is not None,
    )


def read_mtz(path: str | os.PathLike[str], column: str | None = None) -> Reflections:
    """Amplitudes of an MTZ file, expanded to P1.

    ``column`` names the amplitude column (MTZ type F), one of an anomalous pair (type G: its
    mate is found by the usual ``(+)``/``(-)`` spellings), or an intensity column (J or K),
    converted to ``sqrt(max(I, 0))``. Without it the one amplitude column, or the one anomalous
    pair, is taken; several are an error.
    """
    gemmi, name = _gemmi(), os.fspath(path)
    try:
        mtz = gemmi.read_mtz_file(name)
    except (RuntimeError, ValueError) as e:
        raise ReflectionFileError(f"{name}: not a readable MTZ file ({e})") from None
    return _from_mtz(mtz, name, column)


#: mmCIF reflection tags and the MTZ labels gemmi's cif2mtz gives them.
_CIF_TAGS = {
    "F_meas_au": "FP",
    "F_meas": "FP",
    "F_calc": "FC",
    "F_calc_au": "FC",
    "pdbx_F_plus": "F(+)",
    "pdbx_F_minus": "F(-)",
    "intensity_meas": "I",
    "pdbx_I_plus": "I(+)",
    "pdbx_I_minus": "I(-)",
}


def read_sf_cif(path: str | os.PathLike[str], column: str | None = None) -> Reflections:
    """Amplitudes of an SF-mmCIF file (its first reflection block), expanded to P1.

    The block is converted as gemmi's cif2mtz does, so columns have their MTZ names
    (``FP``, ``FC``, ``F(+)``/``F(-)``, ``I``, ...): ``column`` takes those or the mmCIF tag
    (``F_meas_au``).
    """
    gemmi, name = _gemmi(), os.fspath(path)
    try:
        blocks = gemmi.as_refln_blocks(gemmi.cif.read(name))
    except (RuntimeError, ValueError) as e:
        raise ReflectionFileError(f"{name}: not a readable mmCIF file ({e})") from None
    blocks = [b for b in blocks if b]
    if not blocks:
        raise ReflectionFileError(f"{name}: no reflection block (_refln) in the file")
    block = blocks[0]
    try:
        mtz = gemmi.CifToMtz().convert_block_to_mtz(block)
    except (RuntimeError, ValueError) as e:
        raise ReflectionFileError(f"{name}: {e}") from None
    if column is not None and mtz.column_with_label(column) is None:
        column = _CIF_TAGS.get(column.removeprefix("_refln."), column)
    return _from_mtz(mtz, name, column)


# --- models -------------------------------------------------------------------------------


def _stol_sq(cell: Any, hkl: np.ndarray) -> np.ndarray:
    """(sin θ / λ)² = 1 / (4 d²) for each index."""
    return np.asarray(cell.calculate_1_d2_array(np.ascontiguousarray(hkl, dtype=np.int32))) / 4.0


def _direct_sum(
    calc: Any, model: Any, hkl: np.ndarray
) -> np.ndarray:
    return np.array([calc.calculate_sf_from_model(model, [int(h), int(k), int(l)]) for h, k, l in hkl])


def _fpp_term(st: Any, hkl: np.ndarray, fpp: dict[str, float]) -> np.ndarray:
    """i Σ f''_j occ_j exp(-B_j s²/4) exp(2πi h·x_j) over the unit cell's atoms."""
    gemmi = _gemmi()
    ops = st.find_spacegroup().operations() if st.find_spacegroup() else gemmi.SpaceGroup("P 1").operations()
    frac, weight, b = [], [], []
    for cra in st[0].all():
        extra = fpp.get(cra.atom.element.name, 0.0)
        if extra:
            frac.append(st.cell.fractionalize(cra.atom.pos).tolist())
            weight.append(extra * cra.atom.occ)
            b.append(cra.atom.b_iso)
    out = np.zeros(len(hkl), dtype=np.complex128)
    if not frac:
        return out
    stol2 = _stol_sq(st.cell, hkl)
    hkl_f = hkl.astype(np.float64)
    for op in ops:
        for x, w, bj in zip(frac, weight, b):
            y = np.array(op.apply_to_xyz(x))
            out += w * np.exp(-bj * stol2) * np.exp(2j * np.pi * (hkl_f @ y))
    return 1j * out


def _bulk_solvent(st: Any, hkl: np.ndarray, dmin: float) -> np.ndarray:
    """F_mask: the Fourier transform of the flat solvent region (1 outside the model)."""
    gemmi = _gemmi()
    grid = gemmi.FloatGrid()
    grid.setup_from(st, spacing=min(dmin / 4, 0.8))
    masker = gemmi.SolventMasker(gemmi.AtomicRadiiSet.Refmac)
    masker.put_mask_on_float_grid(grid, st[0])
    fphi = gemmi.transform_map_to_f_phi(grid, half_l=False)
    return np.array([fphi.get_value(int(h), int(k), int(l)) for h, k, l in hkl])


def from_model(
    path: str | os.PathLike[str],
    dmin_A: float,
    *,
    ksol: float | None = None,
    bsol: float | None = None,
    wavelength_A: float | None = None,
) -> Reflections:
    """Amplitudes computed from atomic coordinates (PDB or mmCIF) to ``dmin_A``, expanded to P1.

    ``ksol`` (e/Å³) and ``bsol`` (Å²) add a flat bulk-solvent term, as phenix.fmodel does;
    ``wavelength_A`` adds anomalous scattering (f' and f'' of every element present at that
    wavelength), which makes F(h) and F(-h) differ.
    """
    gemmi, name = _gemmi(), os.fspath(path)
    if not (dmin_A > 0 and math.isfinite(dmin_A)):
        raise ReflectionFileError(f"{name}: a model needs a resolution limit: give -dmin (Å) > 0")
    if (ksol is None) != (bsol is None):
        raise ReflectionFileError(f"{name}: the bulk-solvent term needs both -ksol and -bsol")
    try:
        st = gemmi.read_structure(name)
    except (RuntimeError, ValueError) as e:
        raise ReflectionFileError(f"{name}: not a readable coordinate file ({e})") from None
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise ReflectionFileError(f"{name}: no atoms in the file")
    if not st.cell.is_crystal():
        raise ReflectionFileError(f"{name}: no unit cell (CRYST1 / _cell) in the file")
    st.setup_entities()
    sg = st.find_spacegroup() or gemmi.SpaceGroup("P 1")
    hkl = np.asarray(gemmi.make_miller_array(st.cell, sg, dmin_A), dtype=np.int64)
    calc = gemmi.StructureFactorCalculatorX(st.cell)
    fpp: dict[str, float] = {}
    if wavelength_A is not None:
        energy = _HC_EV_A / wavelength_A
        for el in {cra.atom.element.name for cra in st[0].all()}:
            fp, fpp_el = gemmi.cromer_liberman(z=gemmi.Element(el).atomic_number, energy=energy)
            calc.addends.set(gemmi.Element(el), fp)
            fpp[el] = fpp_el
    f_h = _direct_sum(calc, st[0], hkl)
    f_mh = np.conj(f_h)
    if ksol is not None and bsol is not None:
        stol2 = _stol_sq(st.cell, hkl)
        bulk = ksol * np.exp(-bsol * stol2) * _bulk_solvent(st, hkl, dmin_A)
        f_h, f_mh = f_h + bulk, f_mh + np.conj(bulk)
    if fpp:
        extra = _fpp_term(st, hkl, fpp)
        # f'' adds i f'' to every atom's factor for h and for -h alike.
        f_h = f_h + extra
        f_mh = f_mh + _fpp_term(st, -hkl, fpp)
    plus = np.abs(f_h)
    minus = np.abs(f_mh) if fpp else None
    idx, amp = expand_to_p1(sg, hkl, plus, minus)
    return Reflections(
        indices=idx,
        amplitudes=amp,
        cell=_cell_of(st.cell),
        space_group=sg.hm,
        column="model",
        source=name,
        anomalous=bool(fpp),
    )


def read_reflections(
    path: str | os.PathLike[str],
    *,
    column: str | None = None,
    dmin_A: float = 0.0,
    ksol: float | None = None,
    bsol: float | None = None,
    wavelength_A: float | None = None,
) -> Reflections:
    """An MTZ, SF-mmCIF or model file (told apart by content), expanded to P1."""
    kind = file_kind(path)
    if kind == "mtz":
        return read_mtz(path, column)
    if kind == "sf-cif":
        return read_sf_cif(path, column)
    if kind == "model":
        return from_model(path, dmin_A, ksol=ksol, bsol=bsol, wavelength_A=wavelength_A)
    raise ReflectionFileError(f"{os.fspath(path)}: not an MTZ, SF-mmCIF or coordinate file")


def write_hkl_text(path: str | os.PathLike[str], indices: np.ndarray, amplitudes: np.ndarray) -> None:
    """Write ``h k l F`` lines that nanoBragg.c reads back to the same doubles."""
    from .io.atomic import write_atomic

    lines = (f"{h} {k} {l} {amp!r}\n" for (h, k, l), amp in zip(np.asarray(indices).tolist(), np.asarray(amplitudes).tolist()))
    write_atomic(os.fspath(path), "".join(lines).encode())


def cell_mismatch(
    file_cell: tuple[float, ...], render_cell: tuple[float, ...]
) -> str | None:
    """Why two cells differ beyond the tolerances, or None where they agree."""
    parts = []
    for name, x, y in zip(("a", "b", "c"), file_cell[:3], render_cell[:3]):
        if abs(x - y) > CELL_LENGTH_TOLERANCE * abs(y):
            parts.append(f"{name} {x:g} vs {y:g} A")
    for name, x, y in zip(("alpha", "beta", "gamma"), file_cell[3:], render_cell[3:]):
        if abs(x - y) > CELL_ANGLE_TOLERANCE_DEG:
            parts.append(f"{name} {x:g} vs {y:g} deg")
    return ", ".join(parts) or None
