"""``nanobragg dataset``: many frames from one nanoBragg command line.

See ``nanobragg dataset -h`` and docs/datasets.md.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ..args import UsageError, parse_args
from ..cli import run_reporting

USAGE = """usage: nanobragg dataset [nanoBragg flags] -frames N -out NAME [options]

Renders N frames of the crystal and detector the nanoBragg flags describe:
  a rotation series (frame i at -phi PHI+i*OSC with the same -osc and -phisteps), or
  with -random_orientations SEED, frames at orientations drawn uniformly from (SEED, i).

options:
  -frames N                  number of frames (required)
  -out NAME                  output prefix, may include a folder (required)
  -random_orientations SEED  random-orientation set instead of a rotation series
  -N_range MIN MAX           random sets: cells per axis drawn per frame (integers)
  -mosaic_range MIN MAX      random sets: mosaic spread drawn per frame (degrees)
  -lambda_range MIN MAX      random sets: wavelength drawn per frame (Angstrom)
  -format nxmx|smv|cbf       NAME_master.h5 + NAME_data_NNNNNN.h5 (default), or
                             NAME_NNNNN.img, or NAME_NNNNN.cbf
  -chunk K                   frames per task and per NXmx data file (default 10)
  -float_images              nxmx: also store the noiseless float images
  -labels csv|parquet        format of the label table NAME_labels.* (default csv)
  -saturation COUNTS         nxmx/cbf: counts are clipped here (default 2147483647)
  -engine local|dask         local: this process; dask: a Dask cluster (default: local,
                             or dask when -scheduler or -workers is given)
  -scheduler ADDRESS         use the Dask cluster at ADDRESS (e.g. tcp://host:8786)
  -workers N                 dask without -scheduler: a LocalCluster of N workers
  -overwrite                 replace an existing data set of the same NAME
  -seed S                    base of the per-frame noise seeds (default 1)
  -nonoise                   store the float image rounded to whole photons, no noise
  -threads T                 render threads per frame
  -noprogress                no progress bar

Running the same command again after an interruption renders only the missing frames."""

#: Flags of the dataset command and how many values each takes.
FLAGS = {
    "-frames": 1,
    "-out": 1,
    "-random_orientations": 1,
    "-N_range": 2,
    "-mosaic_range": 2,
    "-lambda_range": 2,
    "-format": 1,
    "-chunk": 1,
    "-float_images": 0,
    "-labels": 1,
    "-saturation": 1,
    "-engine": 1,
    "-scheduler": 1,
    "-workers": 1,
    "-overwrite": 0,
}

#: nanoBragg flags that name single-image outputs or rescale them: meaningless here.
REJECTED = {
    "-floatfile", "-floatimage", "-intfile", "-intimage", "-noisefile", "-noiseimage",
    "-pgmfile", "-pgmimage", "-h5file", "-scale", "-pgmscale", "-printout",
    "-printout_pixel", "-trace_pixel",
}


def _int(flag: str, token: str, minimum: int | None = None) -> int:
    try:
        x = float(token)
    except ValueError:
        raise UsageError(f"{flag}: '{token}' is not an integer") from None
    if not math.isfinite(x) or x != int(x):
        raise UsageError(f"{flag}: '{token}' is not an integer")
    if minimum is not None and x < minimum:
        raise UsageError(f"{flag}: must be at least {minimum}, not {int(x)}")
    return int(x)


def _float(flag: str, token: str) -> float:
    try:
        x = float(token)
    except ValueError:
        raise UsageError(f"{flag}: '{token}' is not a number") from None
    if not math.isfinite(x):
        raise UsageError(f"{flag}: '{token}' is not a finite number")
    return x


def split_tokens(tokens: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Separate the dataset flags (with their values) from the nanoBragg flags."""
    ours: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in FLAGS:
            n = FLAGS[tok]
            vals = list(tokens[i + 1 : i + 1 + n])
            if len(vals) < n:
                raise UsageError(f"{tok}: needs {n} value{'s' if n > 1 else ''}")
            ours[tok] = vals
            i += 1 + n
            continue
        if tok in REJECTED:
            raise UsageError(f"{tok}: not used by 'nanobragg dataset', which writes NAME_* files (see -out, -format)")
        rest.append(tok)
        i += 1
    return ours, rest


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UsageError(f"{flag}: one of {', '.join(choices)}, not '{value}'")
    return value


def build(tokens: Sequence[str]) -> tuple[Any, str, dict[str, Any]]:
    """(plan, out, run options) for a dataset command line."""
    from ..cli import prepare
    from .plan import make_plan

    ours, rest = split_tokens(tokens)
    for required in ("-frames", "-out"):
        if required not in ours:
            raise UsageError(f"{required}: required (see nanobragg dataset -h)")
    frames = _int("-frames", ours["-frames"][0], minimum=1)
    out = ours["-out"][0]
    run = parse_args(rest)
    if run.detector_file is not None:
        raise UsageError(f"{run.detector_file[0]}: multi-panel detectors are not yet supported by 'nanobragg dataset'")
    prepare(run)
    orientation_seed = None
    if "-random_orientations" in ours:
        orientation_seed = _int("-random_orientations", ours["-random_orientations"][0])
    ranges: dict[str, Any] = {}
    if "-N_range" in ours:
        lo, hi = (_int("-N_range", v, minimum=1) for v in ours["-N_range"])
        ranges["n_cells_range"] = (lo, hi)
    if "-mosaic_range" in ours:
        ranges["mosaic_range_deg"] = tuple(_float("-mosaic_range", v) for v in ours["-mosaic_range"])
    if "-lambda_range" in ours:
        ranges["wavelength_range_A"] = tuple(_float("-lambda_range", v) for v in ours["-lambda_range"])
    if ranges and orientation_seed is None:
        flag = {"n_cells_range": "-N_range", "mosaic_range_deg": "-mosaic_range", "wavelength_range_A": "-lambda_range"}
        raise UsageError(f"{flag[next(iter(ranges))]}: per-frame ranges need -random_orientations SEED")
    fmt = _choice("-format", ours.get("-format", ["nxmx"])[0], ("nxmx", "smv", "cbf"))
    labels = _choice("-labels", ours.get("-labels", ["csv"])[0], ("csv", "parquet"))
    if "-float_images" in ours and fmt != "nxmx":
        raise UsageError("-float_images: only with -format nxmx")
    options: dict[str, Any] = {}
    if "-chunk" in ours:
        options["chunk"] = _int("-chunk", ours["-chunk"][0], minimum=1)
    if "-saturation" in ours:
        options["saturation"] = _int("-saturation", ours["-saturation"][0], minimum=1)
    plan = make_plan(
        run.config,
        frames,
        random_orientations=orientation_seed,
        seed=run.output.seed if run.output.seed is not None else 1,
        noise=run.output.write_noise,
        format=fmt,  # type: ignore[arg-type]
        float_images="-float_images" in ours,
        adc=run.output.adc,
        labels=labels,  # type: ignore[arg-type]
        mask_path=run.mask_file,
        **ranges,
        **options,
    )
    engine = ours.get("-engine", [None])[0]
    if engine is not None:
        _choice("-engine", engine, ("local", "dask"))
    scheduler = ours.get("-scheduler", [None])[0]
    workers = _int("-workers", ours["-workers"][0], minimum=1) if "-workers" in ours else None
    if engine is None:
        engine = "dask" if scheduler or workers else "local"
    if engine == "local" and (scheduler or workers):
        raise UsageError(f"{'-scheduler' if scheduler else '-workers'}: needs -engine dask")
    if scheduler and workers:
        raise UsageError("-workers: sizes a LocalCluster; an existing cluster (-scheduler) has its own workers")
    return plan, out, {
        "engine": engine,
        "client": scheduler,
        "workers": workers,
        "threads": run.threads,
        "progress": run.progress,
        "overwrite": "-overwrite" in ours,
    }


def _describe(plan: Any, out: str, engine: str) -> str:
    b = plan.base
    if plan.kind == "rotation":
        what = f"rotation series from phi={b['phi_deg']:g} deg by {b['osc_deg']:g} deg"
    else:
        what = f"random orientations (seed {plan.orientation_seed})"
    return (
        f"data set {out}: {plan.frames} frames, {what}, {b['shape'][1]}x{b['shape'][0]} pixels, "
        f"{plan.format}, {plan.n_chunks} chunks of up to {plan.chunk} frames, engine {engine}"
    )


def main(argv: Sequence[str]) -> int:
    """Entry point of ``nanobragg dataset``; returns the exit status."""
    from .plan import PlanError

    tokens = list(argv)
    if not tokens or tokens[0] in ("-h", "-help", "--help"):
        print(USAGE)
        return 0 if tokens else 2
    def body() -> None:
        plan, out, options = build(tokens)
        from .engines import render_dataset

        print(_describe(plan, out, options["engine"]))
        result = render_dataset(plan, out, log=print, **options)
        written = [os.path.basename(f) for f in result.files]
        print(
            f"rendered {result.rendered} frames ({result.already_done} already written) "
            f"in {result.seconds:.2f} s; {len(written)} files: {written[0]} ... {written[-1]}"
        )

    return run_reporting(
        "nanobragg dataset",
        body,
        also=(PlanError, RuntimeError),
        interrupted="interrupted; run the same command again to resume",
    )
