"""``nanobragg dataset``: many frames from one nanoBragg command line.

See ``nanobragg dataset -h`` and docs/datasets.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..args import DatasetOptions, Run, parse_args
from ..errors import UsageError, print_help, run_reporting

def usage() -> str:
    """``nanobragg dataset -h``: generated from the schema."""
    from ..schema import help_text

    return f"""usage: nanobragg dataset [nanoBragg flags] -frames N -out NAME [options]

Renders N frames of the crystal and detector the nanoBragg flags describe:
  a rotation series (frame i at -phi PHI+i*OSC with the same -osc and -phisteps), or
  with -random_orientations SEED, frames at orientations drawn uniformly from (SEED, i).
Every nanoBragg flag below means what it means for a single image, except: -seed S is the
base of the per-frame noise seeds (default 1, not the clock), and -nonoise stores the float
image rounded to whole photons. Flags that name single-image outputs are refused.
Running the same command again after an interruption renders only the missing frames.

{help_text("dataset")}"""


def build(tokens: Sequence[str]) -> tuple[Any, str, dict[str, Any]]:
    """(plan, out, run options) for a dataset command line."""
    return build_run(parse_args(tokens, command="dataset"))


def build_run(run: Run) -> tuple[Any, str, dict[str, Any]]:
    """(plan, out, run options) for a parsed dataset command line."""
    from ..inputs import prepare
    from .plan import make_plan

    ds = run.dataset
    for required, value in (("-frames", ds.frames), ("-out", ds.out)):
        if value is None:
            raise UsageError(f"{required}: required (see nanobragg dataset -h)")
    assert ds.frames is not None and ds.out is not None
    if ds.frames < 1:
        raise UsageError(f"-frames: {ds.frames} frames: give at least 1")
    if not os.path.basename(ds.out):
        raise UsageError(f"-out: {ds.out!r} names no data set; give a file-name prefix such as run1 or data/run1")
    require_packages(ds)
    if run.detector_file is not None:
        raise UsageError(f"{run.detector_file[0]}: multi-panel detectors are not yet supported by 'nanobragg dataset'")
    prepare(run)
    ranges: dict[str, Any] = {}
    for name, flag in (("n_cells_range", "-N_range"), ("mosaic_range_deg", "-mosaic_range"),
                       ("wavelength_range_A", "-lambda_range")):
        if getattr(ds, name) is not None:
            if ds.random_orientations is None:
                raise UsageError(f"{flag}: per-frame ranges need -random_orientations SEED")
            ranges[name] = getattr(ds, name)
    if ds.float_images and ds.format != "nxmx":
        raise UsageError("-float_images: only with -format nxmx")
    options: dict[str, Any] = {}
    if ds.chunk is not None:
        options["chunk"] = ds.chunk
    if ds.saturation is not None:
        options["saturation"] = ds.saturation
    if run.response_args:
        from ..noisify import stage_response

        # Checked now, before anything is planned or rendered.
        stage_response(run.response_args, pixel_mm=run.config.detector.pixel_size_mm, adc=run.output.adc,
                       noise=run.output.write_noise, fix_quirks=run.config.fix_quirks)
    plan = make_plan(
        run.config,
        ds.frames,
        random_orientations=ds.random_orientations,
        seed=run.output.seed if run.output.seed is not None else 1,
        noise=run.output.write_noise,
        format=ds.format,  # type: ignore[arg-type]
        float_images=ds.float_images,
        adc=run.output.adc,
        labels=ds.labels,  # type: ignore[arg-type]
        mask_path=run.mask_file,
        backgrounds=run.backgrounds,
        response=run.response_args,
        **ranges,
        **options,
    )
    engine, scheduler, workers = ds.engine, ds.scheduler, ds.workers
    if engine is None:
        engine = "dask" if scheduler or workers else "local"
    if engine == "local" and (scheduler or workers):
        raise UsageError(f"{'-scheduler' if scheduler else '-workers'}: needs -engine dask")
    if scheduler and workers:
        raise UsageError("-workers: sizes a LocalCluster; an existing cluster (-scheduler) has its own workers")
    return plan, ds.out, {
        "engine": engine,
        "client": scheduler,
        "workers": workers,
        "threads": run.threads,
        "progress": run.progress,
        "overwrite": ds.overwrite,
    }


#: Optional packages and the pip install that brings each.
PACKAGES = {
    "h5py": "h5py",
    "hdf5plugin": "hdf5plugin",
    "fabio": "fabio",
    "pyarrow": "pyarrow",
    "distributed": "'dask[distributed]'",
}


def require_packages(ds: DatasetOptions) -> None:
    """Check, before any work, that the packages this command needs are installed; a missing
    one is a UsageError saying what to pip install."""
    import importlib

    fmt = ds.format
    needed = {"nxmx": ["h5py", "hdf5plugin"], "cbf": ["fabio"]}.get(fmt, [])
    if ds.labels == "parquet":
        needed.append("pyarrow")
    if ds.engine == "dask" or ds.scheduler is not None or ds.workers is not None:
        needed.append("distributed")
    missing = []
    for name in needed:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        why = f"-format {fmt}" if set(missing) & {"h5py", "hdf5plugin", "fabio"} else "this command"
        raise UsageError(
            f"{why} needs {' and '.join(missing)}, not installed: "
            f"pip install {' '.join(PACKAGES[m] for m in missing)} (or pip install 'nanobragg-rs[dataset]')"
        )


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
        print_help(usage())
        return 0 if tokens else 2
    parsed: list[Run] = []

    def body() -> None:
        run = parse_args(tokens, command="dataset")
        parsed.append(run)
        plan, out, options = build_run(run)
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
        sources=lambda: parsed[0].sources() if parsed else None,
    )
