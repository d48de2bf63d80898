"""The ``nanobragg`` command: nanoBragg's flags, nanoBragg's outputs.

Usage: ``nanobragg [flags]`` renders one image as nanoBragg.c would;
``nanobragg compare A B`` compares two images (see ``nanobragg compare -h``).
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from . import _core
from .args import Run, UsageError, parse_args
from .console import Progress, print_setup
from .io import images, smv
from .simulate import Simulator, Stats
from .structure_factors import StructureFactors

#: Configuration fields and the flags that set them, for error messages.
FIELD_FLAGS = {
    "crystal.cell": "-cell",
    "crystal.mosflm_matrix": "-mat",
    "crystal.misset_deg": "-misset",
    "crystal.n_cells": "-N",
    "crystal.size_mm": "-xtalsize",
    "crystal.fudge": "-fudge",
    "crystal.default_F": "-default_F",
    "crystal.mosaic_spread_deg": "-mosaic",
    "crystal.mosaic_domains": "-mosaic_dom",
    "crystal.water_um": "-water",
    "beam.wavelength_A": "-lambda",
    "beam.energy_eV": "-energy",
    "beam.fluence_ph_per_m2": "-fluence",
    "beam.flux_ph_per_s": "-flux",
    "beam.exposure_s": "-exposure",
    "beam.beamsize_mm": "-beamsize",
    "beam.dispersion_pct": "-dispersion",
    "beam.dispsteps": "-dispsteps",
    "beam.hdivrange_mrad": "-hdivrange",
    "beam.vdivrange_mrad": "-vdivrange",
    "beam.hdivstep_mrad": "-hdivstep",
    "beam.vdivstep_mrad": "-vdivstep",
    "beam.hdivsteps": "-hdivsteps",
    "beam.vdivsteps": "-vdivsteps",
    "beam.sources": "-sourcefile",
    "beam.polarization": "-polar",
    "beam.beam_vector": "-beam_vector",
    "beam.polar_vector": "-polar_vector",
    "beam": "-divergence",
    "detector.distance_mm": "-distance",
    "detector.close_distance_mm": "-close_distance",
    "detector.pixel_size_mm": "-pixel",
    "detector.detpixels_f": "-detpixels",
    "detector.detpixels_s": "-detpixels",
    "detector.detsize_f_mm": "-detsize",
    "detector.detsize_s_mm": "-detsize",
    "detector.xbeam_mm": "-Xbeam",
    "detector.ybeam_mm": "-Ybeam",
    "detector.xclose_mm": "-Xclose",
    "detector.yclose_mm": "-Yclose",
    "detector.orgx_px": "-ORGX",
    "detector.orgy_px": "-ORGY",
    "detector.fdet_vector": "-fdet_vector",
    "detector.sdet_vector": "-sdet_vector",
    "detector.odet_vector": "-odet_vector",
    "detector.twotheta_axis": "-twotheta_axis",
    "detector.pix0_vector_m": "-pix0_vector",
    "detector.twotheta_deg": "-twotheta",
    "detector.rotx_deg": "-detector_rotx",
    "detector.roty_deg": "-detector_roty",
    "detector.rotz_deg": "-detector_rotz",
    "detector.thickness_um": "-detector_thick",
    "detector.attenuation_depth_um": "-detector_abs",
    "detector.thicksteps": "-thicksteps",
    "detector.roi": "-roi",
    "sampling.oversample": "-oversample",
    "sampling.phi_deg": "-phi",
    "sampling.osc_deg": "-osc",
    "sampling.phistep_deg": "-phistep",
    "sampling.phisteps": "-phisteps",
    "sampling.spindle_axis": "-spindle_axis",
    "sampling.dmin_A": "-dmin",
    "crystal.structure_factors": "-hkl",
}


def _flag_message(message: str, set_by: dict[str, str] | None = None) -> str:
    """Replace a leading configuration field name by the flag that sets it: the one the user
    typed (``set_by``) if known, else the field's own flag."""
    field, sep, rest = message.partition(": ")
    flag = (set_by or {}).get(field) or FIELD_FLAGS.get(field)
    if sep and flag:
        return f"{flag}: {rest}"
    return message


def read_matrix(path: str) -> tuple[float, ...]:
    """The first nine numbers of a MOSFLM matrix file (the rest is ignored)."""
    # Only the first numbers count; a bounded read keeps a huge or binary file harmless.
    with open(path, errors="replace") as f:
        tokens = f.read(1 << 20).split()
    try:
        numbers = [float(t) for t in tokens[:9]]
    except ValueError:
        numbers = []
    if len(numbers) < 9:
        raise UsageError(f"-mat: '{path}' does not start with nine numbers")
    return tuple(numbers)


def read_sources(path: str) -> list[list[float]]:
    """Source rows ``X Y Z weight wavelength_m``; blank lines skipped, trailing columns may
    be missing, delimiters are spaces, tabs and ``,;:!`` as in nanoBragg."""
    rows: list[list[float]] = []
    with open(path, errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            fields = [t for t in line.replace("\t", " ").translate(str.maketrans(",;:!", "    ")).split()]
            if not fields:
                continue
            try:
                rows.append([float(t) for t in fields[:5]])
            except ValueError:
                raise UsageError(f"-sourcefile: {path}, line {lineno}: not a number") from None
    if not rows:
        raise UsageError(f"-sourcefile: '{path}' lists no sources")
    return rows


def prepare(run: Run) -> tuple[Simulator, StructureFactors | None]:
    """Load the files a run names into its configuration and resolve it."""
    cfg = run.config
    if run.mat_file:
        cfg.crystal.mosflm_matrix = read_matrix(run.mat_file)
    if run.source_file:
        cfg.beam.sources = read_sources(run.source_file)
    if run.mask_file:
        cfg.detector.mask = smv.read_smv(run.mask_file).data.reshape(-1)
    sf = None
    if run.hkl_file or run.pdb_file:
        sf = load_structure_factors(run)
    elif os.path.isfile(run.dump_file):
        # As nanoBragg does, a cache left by an earlier -hkl run is read whenever -hkl is absent.
        sf = StructureFactors.from_fdump(run.dump_file)
    cfg.crystal.structure_factors = sf
    if cfg.detector.panels is not None:
        from .panels.render import MultiSimulator

        if sf is None and cfg.crystal.default_F == 0.0:
            raise UsageError(f"-hkl: no -hkl file, no {run.dump_file} and -default_F is 0: nothing to render")
        if cfg.crystal.cell is None and cfg.crystal.mosflm_matrix is None:
            raise UsageError("-cell: give a unit cell (-cell) or an orientation matrix (-mat)")
        try:
            return MultiSimulator(cfg), sf  # type: ignore[return-value]
        except _core.ConfigError as e:
            field, _, rest = str(e).partition(": ")
            if run.detector_file and field.startswith("detector.panels"):
                flag, path = run.detector_file
                raise UsageError(f"{flag}: {path}: panel {field[16:-1] or ''}: {rest}".replace("panel : ", "")) from None
            raise
    if sf is None and cfg.crystal.default_F == 0.0:
        raise UsageError(f"-hkl: no -hkl file, no {run.dump_file} and -default_F is 0: nothing to render")
    if cfg.crystal.cell is None and cfg.crystal.mosflm_matrix is None and sf is not None and sf.cell:
        # The file's cell, where the command line gives none.
        cfg.crystal.cell = sf.cell
    if cfg.crystal.cell is None and cfg.crystal.mosflm_matrix is None:
        raise UsageError("-cell: give a unit cell (-cell) or an orientation matrix (-mat)")
    sim = Simulator(cfg)
    if sf is not None and sf.cell is not None:
        from .reflections import cell_mismatch

        why = cell_mismatch(sf.cell, tuple(sim.summary["lattice"]["cell"]))
        if why:
            flag = "-mat" if cfg.crystal.mosflm_matrix is not None else "-cell"
            print(f"nanobragg: warning: {sf.source}'s cell differs from {flag}'s: {why}", file=sys.stderr)
    return sim, sf


def load_structure_factors(run: Run) -> StructureFactors:
    """The structure factors of -hkl (any format, by content) or -pdb, as the flags ask."""
    from .reflections import ReflectionFileError, file_kind

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


def _printout(sim: Simulator, fpixel: int, spixel: int, value: float, lines: list[str]) -> None:
    """nanoBragg's -printout block for one pixel, from its trace."""
    last: dict[str, list[float]] = {}
    for line in lines:
        name, *vals = line.split()[1:]
        try:
            last[name.split("[")[0]] = [float(v) for v in vals]
        except ValueError:  # a word, such as the instruction set
            continue
    lam = sim.summary["lambda0"]
    pos = last.get("position", [math.nan] * 3)
    twotheta = math.atan2(math.sqrt(pos[1] ** 2 + pos[2] ** 2), pos[0])
    print(f"{fpixel:4d} {spixel:4d} : stol = {last.get('stol', [math.nan])[0]:g} or {math.sin(twotheta / 2) / (lam * 1e10):g}")
    print(f"at {pos[0]:g} {pos[1]:g} {pos[2]:g}")
    h = last.get("hkl", [math.nan] * 3)
    h0 = [int(x) for x in last.get("hkl0", [0, 0, 0])]
    print(f"hkl= {h[0]:f} {h[1]:f} {h[2]:f}  hkl0= {h0[0]} {h0[1]} {h0[2]}")
    print(f" F_cell={last.get('F_cell', [math.nan])[0]:g}  F_latt={last.get('F_latt', [math.nan])[0]:g}   I = {last['I'][0]:g}")
    print(f"I/steps {last['I'][0] / last['steps'][0]:15.10g}")
    print(f"polar   {last['polar'][0]:15.10g}")
    print(f"omega   {last['omega'][0]:15.10g}")
    print(f"capfrac {last['capture_fraction'][0]:15.10g}")
    print(f"pixel   {value:15.10g}")
    print("real-space cell vectors (Angstrom):")
    print("     %-10s  %-10s  %-10s" % ("a", "b", "c"))
    a, b, c = (last.get(k, [math.nan] * 3) for k in "abc")
    for i, axis in enumerate("XYZ"):
        print("%s: %11.8f %11.8f %11.8f" % (axis, a[i] * 1e10, b[i] * 1e10, c[i] * 1e10))


def execute(run: Run, sim: Simulator, sf: StructureFactors | None) -> None:
    """Render and write every output the run asks for."""
    cfg, out = run.config, run.output
    if cfg.detector.panels is not None:
        from .panels.cli import execute_panels

        return execute_panels(run, sim, sf)  # type: ignore[arg-type]
    if out.h5file:
        # Imported before rendering so that a missing h5py fails at once, not after the render.
        from .io.nexus import write_nxmx
    summary = sim.summary
    print_setup(summary)
    if run.hkl_file and sf is not None:
        sf.write_fdump(run.dump_file, cfg.crystal.default_F)
        print(f"writing dump file for next time: {run.dump_file}")
    seed = out.seed if out.seed is not None else int(time.time())
    if out.write_noise:
        print("\n  noise image paramters:")
        print(f"  seed: {-seed}")
        print(f"  water droplet size: {summary['water_size']:g} m")

    spixels, fpixels = sim.shape
    progress = Progress(len(range(summary["roi"][2], summary["roi"][3] + 1)), run.progress and not run.printout)
    image = sim.render(threads=run.threads, progress=progress)
    progress.close()

    if run.printout:
        wanted = [run.printout_pixel] if run.printout_pixel else [(f, s) for s in range(spixels) for f in range(fpixels)]
        for fpixel, spixel in wanted:
            if 0 <= fpixel < fpixels and 0 <= spixel < spixels:
                value, lines = sim.trace(fpixel, spixel)
                if not lines[0].startswith("TRACE skipped"):
                    _printout(sim, fpixel, spixel, value, lines)
    if run.trace_pixel:
        value, lines = sim.trace(*run.trace_pixel)
        for line in lines:
            print(line)
    print()

    roi = tuple(summary["roi"])
    header = summary["header"]
    # After the render the two cores share the outputs: the statistics (serial sums, whose
    # order sets the PGM scale) and then the PGM on one worker thread, the float file on
    # another, the integer image (which needs only max_I) here. The Rust calls and file writes
    # release the GIL.
    max_i = sim.max_pixel(image)[0]
    scale = out.scale
    if scale <= 0.0:
        scale = 55000.0 / max_i if max_i > 0.0 else 1.0

    def stats_then_pgm() -> tuple[Stats, float | None]:
        st = sim.stats(image)
        if not out.write_pgm:
            return st, None
        pgm_scale = out.pgmscale
        if pgm_scale <= 0.0:
            pgm_scale = 250.0 / (5.0 * st.rmsd) if st.rmsd > 0.0 else scale
        images.write_pgm(out.pgmfile, images.pgm_rows(image, pgm_scale, roi), pgm_scale, image.shape)
        return st, pgm_scale

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stats_pgm = pool.submit(stats_then_pgm)
        float_written = pool.submit(images.write_float, out.floatfile, image)
        smv.write_smv(out.intfile, images.int_rows(image, scale, out.adc, roi), header)
        float_written.result()
        st, pgm_scale = stats_pgm.result()
    print(f"solid angle subtended by detector = {st.solid_angle_sr:g} steradian ( {100 * st.solid_angle_sr / 4 / math.pi:g}% sphere)")
    print(f"writing {out.floatfile} as {image.size} 4-byte floats")
    print(f"max_I = {st.max_I:g}  at {st.max_I_x:g} {st.max_I_y:g}")
    print(f"mean= {st.mean:g} rms= {st.rms:g} rmsd= {st.rmsd:g}")
    print(f"intfile_scale = {scale:g}")
    print(f"writing {out.intfile} as 2-byte integers")
    if pgm_scale is not None:
        print(f"pgm_scale = {pgm_scale:g}")
        print(f"writing {out.pgmfile} as 1-byte integers")
    noise = None
    if out.write_noise:
        noise = sim.noise(image, seed)
        overloads = sum(o for _, o in images.noise_rows(noise.photons, out.adc, roi))
        print(f"{noise.total:.0f} photons on noise image ({overloads} overloads)")
        print(f"writing {out.noisefile} as 2-byte integers")
        smv.write_smv(out.noisefile, (b for b, _ in images.noise_rows(noise.photons, out.adc, roi)), header)
    if out.h5file:
        print(f"writing {out.h5file} as NeXus NXmx")
        write_nxmx(out.h5file, sim, image, noise.photons if noise is not None else None)


USAGE = """usage: nanobragg -mat auto.mat -hkl Fs.hkl [flags]   (nanoBragg.c's flags and units)
       nanobragg -cell a b c alpha beta gamma -default_F F [flags]
       nanobragg compare A B [--shape S F] [--png diff.png]
       nanobragg hkl IN.mtz|IN.cif|MODEL.pdb [-mtz_column L] [-dmin D] -out P1.hkl
See README.md and docs/flags.md for every flag."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nanobragg`` command; returns the exit status."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    if tokens and tokens[0] == "compare":
        from .compare import main as compare_main

        return compare_main(tokens[1:])
    if tokens and tokens[0] == "dataset":
        from .dataset.cli import main as dataset_main

        return dataset_main(tokens[1:])
    if tokens and tokens[0] == "hkl":
        from .hkl_cli import main as hkl_main

        return hkl_main(tokens[1:])
    if not tokens or tokens[0] in ("-h", "-help", "--help"):
        print(USAGE)
        return 0 if tokens else 2
    def body() -> None:
        run = parse_args(tokens)
        try:
            sim, sf = prepare(run)
            execute(run, sim, sf)
        except _core.ConfigError as e:
            raise UsageError(_flag_message(str(e), run.set_by)) from None

    return run_reporting("nanobragg", body)


def run_reporting(
    prog: str,
    body: Callable[[], None],
    also: tuple[type[Exception], ...] = (),
    interrupted: str = "interrupted",
) -> int:
    """Run ``body``; turn the package's errors (and ``also``) into a one-line message on stderr.

    Returns the exit status: 0, 2 for an error, 130 for Ctrl-C.
    """
    errors: tuple[type[Exception], ...] = (UsageError, _core.NanoBraggError, OSError, ValueError, ImportError)
    try:
        body()
    except _core.ConfigError as e:
        message = _flag_message(str(e))
    except errors + also as e:
        message = str(e)
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    else:
        return 0
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2

if __name__ == "__main__":
    raise SystemExit(main())
