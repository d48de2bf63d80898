"""``nanobragg hkl``: write any structure-factor file as the P1 ``h k l F`` text nanoBragg.c reads.

    nanobragg hkl IN [-mtz_column LABEL] [-dmin D] [-ksol K -bsol B] [-anomalous]
                  [-lambda L | -energy E] -out P1.hkl

IN is an MTZ file, an SF-mmCIF file or a model (PDB or mmCIF coordinates), told apart by
content. Reflections are expanded from the file's asymmetric unit to the full sphere (Friedel
mates, or Bijvoet mates where the file has F(+)/F(-)); a model's amplitudes are computed to
``-dmin`` Å, with a bulk-solvent term for ``-ksol``/``-bsol`` and f', f'' at the wavelength for
``-anomalous``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence

USAGE = __doc__.split("\n\n")[1].rstrip()

_HC_EV_A = 12398.419843320026


class _Usage(Exception):
    pass


def _number(flag: str, token: str, *, positive: bool = False) -> float:
    try:
        x = float(token)
    except ValueError:
        raise _Usage(f"{flag}: '{token}' is not a number") from None
    if not math.isfinite(x) or (x <= 0 if positive else x < 0):
        raise _Usage(f"{flag}: '{token}' must be a finite number {'> 0' if positive else '>= 0'}")
    return x


def _parse(tokens: list[str]) -> tuple[str, str, dict[str, object], bool]:
    path: str | None = None
    out: str | None = None
    column: str | None = None
    dmin = 0.0
    ksol = bsol = None
    anomalous = False
    wavelength = 1.0
    i = 0
    takes_value = {"-mtz_column", "-dmin", "-ksol", "-bsol", "-lambda", "-energy", "-out"}
    while i < len(tokens):
        t = tokens[i]
        if t in takes_value:
            if i + 1 >= len(tokens):
                raise _Usage(f"{t}: needs a value")
            v = tokens[i + 1]
            i += 2
            if t == "-mtz_column":
                column = v
            elif t == "-dmin":
                dmin = _number(t, v, positive=True)
            elif t == "-ksol":
                ksol = _number(t, v)
            elif t == "-bsol":
                bsol = _number(t, v)
            elif t == "-lambda":
                wavelength = _number(t, v, positive=True)
            elif t == "-energy":
                wavelength = _HC_EV_A / _number(t, v, positive=True)
            else:
                out = v
            continue
        if t == "-anomalous":
            anomalous = True
        elif t.startswith("-") and t != "-":
            raise _Usage(f"{t}: unknown flag (see nanobragg hkl -h)")
        elif path is None:
            path = t
        else:
            raise _Usage(f"{t}: one input file only ({path} given already)")
        i += 1
    if path is None:
        raise _Usage("give the input file (an MTZ, SF-mmCIF or coordinate file)")
    if out is None:
        raise _Usage("-out: give the output file name")
    if not os.path.isfile(path):
        raise _Usage(f"{path}: cannot read file")
    from .reflections import file_kind

    kind = file_kind(path)
    if kind == "text":
        raise _Usage(f"{path}: already an h k l F text table (or not a file gemmi reads)")
    options: dict[str, object]
    if kind == "model":
        if column is not None:
            raise _Usage(f"-mtz_column: {path} is a model, not a reflection file")
        options = {"dmin_A": dmin, "ksol": ksol, "bsol": bsol, "wavelength_A": wavelength if anomalous else None}
    else:
        for given, name in ((ksol, "-ksol"), (bsol, "-bsol"), (anomalous or None, "-anomalous")):
            if given is not None:
                raise _Usage(f"{name}: applies to models; {path} is a reflection file")
        options = {"column": column}
    return path, out, options, kind == "model"


def main(argv: Sequence[str]) -> int:
    tokens = list(argv)
    if not tokens or tokens[0] in ("-h", "-help", "--help"):
        print(USAGE)
        return 0 if tokens else 2
    from .reflections import ReflectionFileError, read_reflections, write_hkl_text

    try:
        path, out, options, _ = _parse(tokens)
        r = read_reflections(path, **options)  # type: ignore[arg-type]
        write_hkl_text(out, r.indices, r.amplitudes)
    except (_Usage, ReflectionFileError, OSError, ImportError) as e:
        print(f"nanobragg hkl: error: {e}", file=sys.stderr)
        return 2
    cell = " ".join(f"{x:g}" for x in r.cell) if r.cell else "none"
    print(f"{path}: {r.column}, space group {r.space_group}, cell {cell}")
    print(f"wrote {len(r.indices)} P1 reflections{' (Bijvoet pairs kept)' if r.anomalous else ''} to {out}")
    return 0
