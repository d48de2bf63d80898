"""The ``nanobragg`` command: nanoBragg's flags, nanoBragg's outputs.

Usage: ``nanobragg [flags]`` renders one image as nanoBragg.c would;
``nanobragg compare A B`` compares two images (see ``nanobragg compare -h``).
"""

from __future__ import annotations

import math
import os
import sys
import time

from . import inputs
from .args import Run, parse_args
from .console import Progress, print_setup
from .errors import exit_status, print_help, run_reporting
from .io import atomic
from .outputs import print_written, render_and_write
from .simulate import Simulator
from .structure_factors import StructureFactors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    import numpy as np


def prepare(run: Run) -> tuple[Simulator, StructureFactors | None]:
    """Load the files a run names into its configuration and resolve it."""
    return inputs.prepare(run)


def _printout(sim: Simulator, fpixel: int, spixel: int, value: float, lines: list[str]) -> None:
    """nanoBragg's -printout block for one pixel, from its trace."""
    last: dict[str, list[float]] = {}
    for line in lines:
        name, *vals = line.split()[1:]
        try:
            last[name.split("[")[0]] = [float(v) for v in vals]
        except ValueError:  # a word, such as the instruction set
            continue
    lam = sim.setup.beam.wavelength_m
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
    """Render and write every output the run asks for: all of them, or none (one output
    set: nothing is in place until every output is complete)."""
    with atomic.outputs():
        _execute(run, sim, sf)


def _execute(run: Run, sim: Simulator, sf: StructureFactors | None) -> None:
    cfg, out = run.config, run.output
    if cfg.detector.panels is not None:
        from .panels.cli import execute_panels

        return execute_panels(run, sim, sf)  # type: ignore[arg-type]
    if out.h5file:
        # Imported before rendering so that a missing h5py fails at once, not after the render.
        from .io.nexus import write_nxmx
    setup = sim.setup
    print_setup(setup)
    if run.hkl_file and sf is not None:
        sf.write_fdump(run.dump_file, cfg.crystal.default_F)
        print(f"writing dump file for next time: {run.dump_file}")
    seed = out.seed if out.seed is not None else int(time.time())
    header = setup.header.as_dict()
    for bg in run.backgrounds:
        print(f"  amorphous background: {bg.material} {bg.thickness_mm:g} mm ({bg.molecules(cfg.beam.beamsize_mm):g} molecules)")
    if out.write_noise:
        print("\n  noise image paramters:")
        print(f"  seed: {-seed}")
        print(f"  water droplet size: {setup.water_size_m:g} m")

    spixels, fpixels = sim.shape
    roi = sim.panel.roi
    progress = Progress(len(range(roi[2], roi[3] + 1)), run.progress and not run.printout)
    written = None
    image: np.ndarray | None
    if run.response_args:
        # The detector response stage writes its own images from the float image; its flags
        # are checked before the render.
        from .noisify import check_stage_outputs, stage_response

        check_stage_outputs(out)
        stage_response(run.response_args, pixel_mm=cfg.detector.pixel_size_mm, adc=out.adc, noise=out.write_noise,
                       fix_quirks=cfg.fix_quirks)
        image = sim.render(threads=run.threads, progress=progress, backgrounds=run.backgrounds)
    else:
        # The core writes the float, integer, PGM and noise files straight from the image; only
        # NXmx (and backgrounds, added to it) need the image as an array.
        written, image = render_and_write(
            sim, out, seed, run.threads, progress, keep_image=bool(out.h5file), backgrounds=run.backgrounds
        )
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

    if run.response_args:
        # The detector response stage (docs/noisify.md): noisify's images of this render.
        from .io import images
        from .noisify import render_stage

        assert image is not None
        images.write_float(out.floatfile, image)
        print(f"writing {out.floatfile} as {image.size} 4-byte floats")
        files = {"int": out.intfile, "noise": out.noisefile if out.write_noise else None, "pgm": out.pgmfile if out.write_pgm else None}
        lines, _ = render_stage(run.response_args, image, pixel_mm=cfg.detector.pixel_size_mm, adc=out.adc, seed=seed,
                             noise=out.write_noise, fix_quirks=cfg.fix_quirks, header_values=header, files=files)
        print("\n".join(lines))
        return

    assert written is not None
    print_written(out, written, spixels * fpixels)
    if out.h5file:
        assert image is not None
        noise = sim.noise(image, seed) if out.write_noise else None
        print(f"writing {out.h5file} as NeXus NXmx")
        write_nxmx(out.h5file, sim, image, noise.photons if noise is not None else None)


#: Subcommands: name -> (module, entry point, one line for the usage text). A module's
#: entry point takes the tokens after the name and returns the exit status.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "compare": (".compare", "main", "compare two images pixel by pixel and spot by spot (nanobragg compare -h)"),
    "dataset": (".dataset.cli", "main", "many frames: rotation series or random orientations (nanobragg dataset -h)"),
    "noisify": (".noisify", "main", "noisify.c's detector response on a float image (nanobragg noisify -h)"),
    "nonbragg": (".nonbragg", "main", "nonBragg.c's amorphous background (nanobragg nonbragg -h)"),
    "hkl": (".hkl_cli", "main", "write an MTZ, SF-mmCIF or model file as a P1 h k l F table (nanobragg hkl -h)"),
    "examples": (".examples", "main", "copy the example inputs P1.hkl and A.mat into a folder"),
}


def usage() -> str:
    """``nanobragg -h``: generated from the schema."""
    from .schema import help_text

    subcommands = "\n".join(f"  nanobragg {name:<9} {doc}" for name, (_, _, doc) in SUBCOMMANDS.items())
    return f"""usage: nanobragg -mat auto.mat -hkl Fs.hkl [flags]   (nanoBragg.c's flags and units)
       nanobragg -cell a b c alpha beta gamma -default_F F [flags]
       nanobragg SUBCOMMAND ...

Renders one diffraction image as nanoBragg.c does. Subcommands:
{subcommands}

{help_text("nanobragg")}

Environment: NANOBRAGG_ISA=avx512|avx2|scalar|exact forces an instruction-set path."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nanobragg`` command; returns the exit status."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    if tokens and tokens[0] in SUBCOMMANDS:
        import importlib

        module, entry, _ = SUBCOMMANDS[tokens[0]]
        sub_main: Callable[[list[str]], int] = getattr(importlib.import_module(module, __package__), entry)
        return exit_status(sub_main(tokens[1:]), argv)
    if not tokens or tokens[0] in ("-h", "-help", "--help"):
        print_help(usage())
        return 0 if tokens else 2
    parsed: list[Run] = []

    def body() -> None:
        run = parse_args(tokens)
        parsed.append(run)
        sim, sf = prepare(run)
        execute(run, sim, sf)

    return exit_status(run_reporting("nanobragg", body, sources=lambda: parsed[0].sources() if parsed else None), argv)



def entry() -> None:
    """The ``nanobragg`` script: :func:`main`, then the process ends at once. Every output is
    complete and in place when main returns (the output set commits before), so what the
    interpreter's teardown would do (free each module and object, run no handler of ours:
    about 10 ms, paid on every frame of a shell loop) is skipped for a render; subcommands,
    which may have started threads or registered exit handlers, end the ordinary way."""
    status = main()
    if sys.argv[1:2] and sys.argv[1] in SUBCOMMANDS:
        raise SystemExit(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        status = status or 120  # what Python returns when it cannot flush stdout at exit
    os._exit(status)


if __name__ == "__main__":
    entry()
