"""The ``nanobragg`` command on a multi-panel detector: render every panel, write the outputs.

- ``-floatfile``: the panels one after another in panel order, each ``slow x fast`` float32;
- ``-intfile`` / ``-noisefile``: one SMV per panel, ``NAME_p00.img``, ``NAME_p01.img``, ...,
  each with its panel's geometry in the header; one integer scale for all panels
  (55000 / the largest float pixel over all of them, unless ``-scale`` is given);
  panel k's noise is drawn as the reference does with ``-seed S+k``;
- ``-h5file``: NXmx with one NXdetector_module per panel;
- ``-cxi``: for ``-geom`` input, one image laid out as the .geom places the panels;
- with the detector response flags (``-psf``, ``-gain``, ``-readout``, ...): per panel, noisify's
  images of the panel's float image with seed S+k, under the same names (docs/noisify.md).
"""

from __future__ import annotations

import os
import time

from ..args import Run, UsageError
from ..console import Progress
from ..io import images, smv
from ..structure_factors import StructureFactors
from .model import Panel
from .render import DetectorImages, MultiSimulator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..response import Response


def panel_path(path: str, k: int, count: int) -> str:
    """``NAME.img`` -> ``NAME_p00.img`` for panel k of count."""
    root, ext = os.path.splitext(path)
    width = max(2, len(str(count - 1)))
    return f"{root}_p{k:0{width}d}{ext}"


def _check(run: Run, msim: MultiSimulator) -> None:
    """Refuse what a multi-panel run cannot do, before anything is rendered or written."""
    if run.printout:
        raise UsageError("-printout: not available on a multi-panel detector; use -trace_pixel PANEL F S")
    if run.mask_file or run.img_file:
        raise UsageError(f"{'-mask' if run.mask_file else '-img'}: the panel file is the whole detector (masks come from -geom bad regions)")
    if run.config.detector.roi is not None:
        raise UsageError("-roi: not available on a multi-panel detector")
    if run.output.cxi and run.geom is None:
        raise UsageError("-cxi: needs a -geom detector (the .geom says where each panel goes)")
    if run.response_args:
        from ..noisify import check_stage_outputs

        check_stage_outputs(run.output)
        seed = run.output.seed
        if seed is not None and seed + len(msim.panels) - 1 >= 2**31:
            raise UsageError(f"-seed: {seed} + panel index leaves the 32-bit range for panel {len(msim.panels) - 1}")
        for p in msim.panels:
            _panel_response(run, p)
    if run.trace_pixel:
        if run.trace_panel is None and len(msim.panels) > 1:
            raise UsageError("-trace_pixel: name the panel: -trace_pixel PANEL F S")
        name = run.trace_panel or msim.panels[0].name
        if name not in msim.names:
            raise UsageError(f"-trace_pixel: no panel named '{name}'")
        p = msim.panels[msim.index(name)]
        f, s = run.trace_pixel
        if not (0 <= f < p.fast_pixels and 0 <= s < p.slow_pixels):
            raise UsageError(f"-trace_pixel: pixel ({f}, {s}) is outside panel {name} ({p.fast_pixels}x{p.slow_pixels})")


def _panel_response(run: Run, p: Panel) -> tuple[int, Response]:
    """Panel p's response: the run's flags with the panel's pixel size, and the panel's gain
    (from a .expt) unless -gain is given."""
    from ..noisify import stage_response

    out = run.output
    return stage_response(run.response_args, pixel_mm=p.pixel_mm, adc=out.adc, noise=out.write_noise,
                          fix_quirks=run.config.fix_quirks, gain=p.gain_adu_per_photon)


def _write_responses(run: Run, msim: MultiSimulator, imgs: DetectorImages, seed: int) -> None:
    """The detector response per panel (docs/noisify.md): panel k's float image, in its own
    pixel order as -floatfile holds it, through noisify with seed S+k; the PSF stays inside
    the panel. One SMV (and PGM) per panel, named as the plain integer and noise images."""
    from ..noisify import write_stage

    out = run.output
    n = len(msim.panels)
    total, overloads = 0.0, 0
    bits = 16
    for k, (p, sim, image) in enumerate(zip(msim.panels, msim.simulators, imgs.images)):
        bits, resp = _panel_response(run, p)
        result = resp.run(image, seed=seed + k)
        files = {"int": panel_path(out.intfile, k, n), "noise": panel_path(out.noisefile, k, n) if out.write_noise else None,
                 "pgm": panel_path(out.pgmfile, k, n) if out.write_pgm else None}
        write_stage(result, bits, sim.setup.header.as_dict(), files)
        total += result.photons
        overloads += result.overloads
    print(f"detector response per panel: seed {seed} + panel index, PSF within each panel")
    print(f"writing {panel_path(out.intfile, 0, n)} ... {panel_path(out.intfile, n - 1, n)} as {bits // 8}-byte integers (detector response: ideal)")
    if out.write_pgm:
        print(f"writing {panel_path(out.pgmfile, 0, n)} ... {panel_path(out.pgmfile, n - 1, n)} as 1-byte integers")
    if out.write_noise:
        print(f"{total:.0f} photons on noise images ({overloads} overloads)")
        print(f"writing {panel_path(out.noisefile, 0, n)} ... {panel_path(out.noisefile, n - 1, n)} as {bits // 8}-byte integers (detector response)")


def execute_panels(run: Run, msim: MultiSimulator, sf: StructureFactors | None) -> None:
    """Render every panel and write the outputs the run asks for."""
    cfg, out = run.config, run.output
    _check(run, msim)
    if out.h5file or out.cxi:
        import h5py  # noqa: F401  (fail before rendering when it is missing)
    n = len(msim.panels)
    pixels = sum(p.fast_pixels * p.slow_pixels for p in msim.panels)
    print(f"multi-panel detector: {n} panels, {pixels} pixels")
    seen: set[str] = set()
    for p, sim in zip(msim.panels, msim.simulators):
        for m in sim.setup.messages:
            if m not in seen:
                seen.add(m)
                print(m)
    if run.hkl_file and sf is not None:
        sf.write_fdump(run.dump_file, cfg.crystal.default_F)
        print(f"writing dump file for next time: {run.dump_file}")
    seed = out.seed if out.seed is not None else int(time.time())
    progress = Progress(sum(p.slow_pixels for p in msim.panels), run.progress)
    imgs = msim.render(threads=run.threads, progress=progress)
    progress.close()
    if run.trace_pixel:
        name = run.trace_panel or msim.panels[0].name
        _, lines = msim.trace(name, *run.trace_pixel)
        print(f"TRACE panel {name}")
        for line in lines:
            print(line)
    print()

    max_float = msim.max_float(imgs)
    scale = out.scale if out.scale > 0.0 else (55000.0 / max_float if max_float > 0.0 else 1.0)
    flat = imgs.concatenated()
    images.write_float(out.floatfile, flat)
    print(f"writing {out.floatfile} as {flat.size} 4-byte floats ({n} panels one after another, each slow x fast)")
    print(f"max_I = {max_float:g} over all panels")
    if run.response_args:
        return _write_responses(run, msim, imgs, seed)
    print(f"intfile_scale = {scale:g}")
    for k, (p, sim, image) in enumerate(zip(msim.panels, msim.simulators, imgs.images)):
        roi = sim.panel.roi
        smv.write_smv(panel_path(out.intfile, k, n), images.int_rows(image, scale, out.adc, roi), sim.setup.header.as_dict())
    print(f"writing {panel_path(out.intfile, 0, n)} ... {panel_path(out.intfile, n - 1, n)} as 2-byte integers")
    noise = None
    if out.write_noise:
        print(f"  seed: {-seed} (panel k: {-seed}-k)")
        noise = msim.noise(imgs, seed)
        total = 0.0
        overloads = 0
        for k, (sim, nz) in enumerate(zip(msim.simulators, noise)):
            roi = sim.panel.roi
            blocks = list(images.noise_rows(nz.photons, out.adc, roi))
            overloads += sum(o for _, o in blocks)
            total += nz.total
            smv.write_smv(panel_path(out.noisefile, k, n), (b for b, _ in blocks), sim.setup.header.as_dict())
        print(f"{total:.0f} photons on noise images ({overloads} overloads)")
        print(f"writing {panel_path(out.noisefile, 0, n)} ... {panel_path(out.noisefile, n - 1, n)} as 2-byte integers")
    if out.h5file:
        from .nexus import write_nxmx_panels

        print(f"writing {out.h5file} as NeXus NXmx ({n} modules)")
        write_nxmx_panels(out.h5file, msim, imgs, tuple(nz.photons for nz in noise) if noise else None)
    if out.cxi:
        from .cxi import write_cxi

        print(f"writing {out.cxi} as CXI laid out by the .geom")
        write_cxi(out.cxi, run.geom, tuple(nz.photons for nz in noise) if noise else imgs.images)
