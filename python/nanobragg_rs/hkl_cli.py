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
from collections.abc import Sequence

from .args import parse_args
from .errors import UsageError as _Usage
from .errors import print_help, report

USAGE = __doc__.split("\n\n")[1].rstrip()

_HC_EV_A = 12398.419843320026


def _parse(tokens: list[str]) -> tuple[str, str, dict[str, object], bool]:
    run = parse_args(tokens, command="hkl", positional=1)
    path = run.positional[0] if run.positional else None
    out = run.dataset.out
    column = run.mtz_column
    dmin = run.config.sampling.dmin_A
    if "sampling.dmin_A" in run.provenance and not dmin > 0:
        raise _Usage(f"-dmin: '{dmin:g}' must be a finite number > 0")
    beam = run.config.beam
    wavelength = _HC_EV_A / beam.energy_eV if beam.energy_eV else beam.wavelength_A
    if not (math.isfinite(wavelength) and wavelength > 0):
        flag = run.provenance.get("beam.energy_eV" if beam.energy_eV else "beam.wavelength_A", "-lambda")
        raise _Usage(f"{flag}: must be a finite number > 0")
    ksol, bsol, anomalous = run.ksol, run.bsol, run.anomalous
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
        from .schema import help_text

        print_help(f"{USAGE}\n\n{help_text('hkl')}")
        return 0 if tokens else 2
    from .reflections import ReflectionFileError, read_reflections, write_hkl_text

    try:
        path, out, options, _ = _parse(tokens)
        r = read_reflections(path, **options)  # type: ignore[arg-type]
        write_hkl_text(out, r.indices, r.amplitudes)
    except (_Usage, ReflectionFileError, OSError, ImportError) as e:
        return report("nanobragg hkl", str(e))
    cell = " ".join(f"{x:g}" for x in r.cell) if r.cell else "none"
    print(f"{path}: {r.column}, space group {r.space_group}, cell {cell}")
    print(f"wrote {len(r.indices)} P1 reflections{' (Bijvoet pairs kept)' if r.anomalous else ''} to {out}")
    return 0
