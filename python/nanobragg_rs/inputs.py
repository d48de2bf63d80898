"""Input files a command line names, loaded into its configuration.

Orientation matrices (``-mat``), source lists (``-sourcefile``), masks (``-mask``) and
structure factors (``-hkl``, or the ``Fdump.bin`` cache) are read here, for the command line
and for :func:`nanobragg_rs.config_from_args` alike. (``-img`` and ``-mask`` headers are read
while the flags are parsed, since the flags override them: see :mod:`.args`.) A file that
cannot be used is a :class:`UsageError` naming the flag and the file.
"""

from __future__ import annotations

import os
import sys

from .args import Run
from .errors import UsageError
from .simulate import Simulator
from .structure_factors import StructureFactors
from .values import parse_float

_SOURCE_DELIMITERS = str.maketrans("\t,;:!", "     ")


def _text(flag: str, path: str) -> str:
    """The file's text; binary data is refused with a message naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"{flag}: cannot read file '{path}': {e.strerror or e}") from None
    if b"\0" in data:
        raise UsageError(f"{flag}: '{path}' is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{flag}: '{path}' is not a text file (not UTF-8)") from None


def _numbers(tokens: list[str]) -> list[float] | None:
    out = []
    for t in tokens:
        x = parse_float(t)
        if x is None:
            return None
        out.append(x)
    return out


def read_matrix(path: str, flag: str = "-mat") -> tuple[float, ...]:
    """The first nine numbers of a MOSFLM matrix file (the rest is ignored)."""
    numbers = _numbers(_text(flag, path).split()[:9])
    if numbers is None or len(numbers) < 9:
        raise UsageError(f"{flag}: '{path}' does not start with nine numbers")
    return tuple(numbers)


def read_sources(path: str, flag: str = "-sourcefile") -> list[list[float]]:
    """Source rows ``X Y Z weight wavelength_m``; blank lines skipped, trailing columns may
    be missing, delimiters are spaces, tabs and ``,;:!`` as in nanoBragg."""
    rows: list[list[float]] = []
    for lineno, line in enumerate(_text(flag, path).splitlines(), 1):
        fields = line.translate(_SOURCE_DELIMITERS).split()
        if not fields:
            continue
        numbers = _numbers(fields[:5])
        if numbers is None:
            raise UsageError(f"{flag}: {path}, line {lineno}: not a number")
        rows.append(numbers)
    if not rows:
        raise UsageError(f"{flag}: '{path}' lists no sources")
    return rows


def read_mask(path: str, flag: str = "-mask"):  # type: ignore[no-untyped-def]
    """An SMV mask image, shape (slow, fast); 0 skips a pixel."""
    from .io.smv import read_smv

    try:
        return read_smv(path).data
    except (OSError, ValueError) as e:
        raise UsageError(f"{flag}: {e}") from None


def structure_factors(run: Run) -> StructureFactors | None:
    """The -hkl file (any format, by content) or -pdb model; else the Fdump.bin cache an
    earlier -hkl run left; else None."""
    if run.hkl_file or run.pdb_file:
        return _structure_factor_file(run)
    if os.path.isfile(run.dump_file):
        # As nanoBragg does, a cache left by an earlier -hkl run is read whenever -hkl is absent.
        return StructureFactors.from_fdump(run.dump_file)
    return None


def _structure_factor_file(run: Run) -> StructureFactors:
    from .file_kinds import ReflectionFileError, file_kind

    if run.hkl_file and run.pdb_file:
        raise UsageError("-pdb: give either -hkl or -pdb, not both")
    path = run.pdb_file or run.hkl_file
    assert path is not None
    flag = "-pdb" if run.pdb_file else "-hkl"
    kind = file_kind(path)
    if run.pdb_file and kind != "model":
        raise UsageError(f"-pdb: '{path}' is not a PDB or mmCIF coordinate file")
    if kind == "text":
        for given, name in ((run.mtz_column, "-mtz_column"), (run.ksol, "-ksol"), (run.anomalous or None, "-anomalous")):
            if given is not None:
                raise UsageError(f"{name}: '{path}' is an h k l F text table, which takes no {name}")
        return StructureFactors.read(path)
    options: dict[str, object] = {}
    if kind in ("mtz", "sf-cif"):
        options["column"] = run.mtz_column
    else:
        if run.mtz_column is not None:
            raise UsageError(f"-mtz_column: '{path}' is a model, not a reflection file")
        beam = run.config.beam
        lam = 12398.419843320026 / beam.energy_eV if beam.energy_eV else beam.wavelength_A
        options.update(
            dmin_A=run.config.sampling.dmin_A,
            ksol=run.ksol,
            bsol=run.bsol,
            wavelength_A=lam if run.anomalous else None,
        )
    try:
        return StructureFactors.load(path, **options)
    except ReflectionFileError as e:
        raise UsageError(f"{flag}: {e}") from None


def load_inputs(run: Run) -> StructureFactors | None:
    """Load the files a run names into its configuration; returns the structure factors."""
    cfg = run.config
    if run.mat_file:
        cfg.crystal.mosflm_matrix = read_matrix(run.mat_file)
        run.provenance["crystal.mosflm_matrix"] = "-mat"
    if run.source_file:
        cfg.beam.sources = read_sources(run.source_file)
        run.provenance["beam.sources"] = "-sourcefile"
    if run.mask_file:
        cfg.detector.mask = read_mask(run.mask_file)
        run.provenance["detector.mask"] = f"-mask {run.mask_file}"
    sf = structure_factors(run)
    cfg.crystal.structure_factors = sf
    if sf is None and cfg.crystal.default_F == 0.0:
        raise UsageError(f"-hkl: no -hkl file, no {run.dump_file} and -default_F is 0: nothing to render")
    if cfg.crystal.cell is None and cfg.crystal.mosflm_matrix is None and sf is not None and sf.cell:
        # The file's cell, where the command line gives none.
        cfg.crystal.cell = sf.cell
    if cfg.crystal.cell is None and cfg.crystal.mosflm_matrix is None:
        raise UsageError("-cell: give a unit cell (-cell) or an orientation matrix (-mat)")
    return sf


def prepare(run: Run) -> tuple[Simulator, StructureFactors | None]:
    """Load the files a run names into its configuration and resolve it; warns (on stderr)
    where a structure-factor file's cell differs from the crystal's."""
    sf = load_inputs(run)
    cfg = run.config
    if cfg.detector.panels is not None:
        return _multi_panel(run), sf  # type: ignore[return-value]
    sim = Simulator(cfg)
    check_pixels(run, sim.shape)
    if sf is not None and sf.cell is not None:
        from .reflections import cell_mismatch

        why = cell_mismatch(sf.cell, tuple(sim.setup.crystal.lattice.cell))
        if why:
            flag = "-mat" if cfg.crystal.mosflm_matrix is not None else "-cell"
            print(f"nanobragg: warning: {sf.source}'s cell differs from {flag}'s: {why}", file=sys.stderr)
    return sim, sf


def _multi_panel(run: Run) -> object:
    """A MultiSimulator for the panel list a detector file gave; its errors name the file."""
    from . import _core
    from .panels.render import MultiSimulator

    try:
        return MultiSimulator(run.config)
    except _core.ConfigError as e:
        field, _, rest = str(e).partition(": ")
        if run.detector_file and field.startswith("detector.panels"):
            flag, path = run.detector_file
            raise UsageError(f"{flag}: {path}: panel {field[16:-1] or ''}: {rest}".replace("panel : ", "")) from None
        raise


def check_pixels(run: Run, shape: tuple[int, int]) -> None:
    """Pixels named on the command line must be on the detector (``shape`` = (slow, fast))."""
    if run.trace_pixel is not None:
        f, s = run.trace_pixel
        if not (0 <= f < shape[1] and 0 <= s < shape[0]):
            raise UsageError(
                f"-trace_pixel: pixel ({f}, {s}) is outside the detector "
                f"(fast 0..{shape[1] - 1}, slow 0..{shape[0] - 1})"
            )
