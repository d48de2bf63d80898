"""What nanoBragg prints: the set-up summary, a progress bar, the closing statistics."""

from __future__ import annotations

import math
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO
    from ._core import Setup

RTD = 180.0 / math.pi


def _g(x: float) -> str:
    return "%g" % x


def _vec(v: Any) -> str:
    return " ".join(_g(x) for x in v)


def print_setup(s: Setup, out: TextIO | None = None) -> None:
    """The reference's set-up block (nanoBragg.c L1275-2504), from ``Simulator.setup``."""
    out = out if out is not None else sys.stdout
    beam, xtal, smp = s.beam, s.crystal, s.sampling
    panel = s.detector.panels[0]
    g = panel.geometry
    lat = xtal.lattice
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("nanoBragg nanocrystal diffraction simulator - nanobragg-rs")
    p(f"{g.convention} convention selected.")
    for m in s.messages:
        p(m)
    b = g.beam
    p(f"XDS incident beam: {_g(_dot(b, g.fdet))} {_g(_dot(b, g.sdet))} {_g(_dot(b, g.odet))}")
    p("Unit Cell: " + " ".join(_g(x) for x in lat.cell))
    p("Recp Cell: " + " ".join(_g(x) for x in lat.reciprocal_cell))
    p(f"volume = {_g(lat.volume_A3)} A^3")
    p("real-space cell vectors (Angstrom):")
    p("     %-10s  %-10s  %-10s" % ("a", "b", "c"))
    for i, axis in enumerate("XYZ"):
        p("%s: %11.8f %11.8f %11.8f" % (axis, lat.a[i], lat.b[i], lat.c[i]))
    p("reciprocal-space cell vectors (Angstrom^-1):")
    p("     %-10s  %-10s  %-10s" % ("a_star", "b_star", "c_star"))
    for i, axis in enumerate("XYZ"):
        p("%s: %11.8f %11.8f %11.8f" % (axis, lat.a_star[i], lat.b_star[i], lat.c_star[i]))
    if xtal.misset_random_rad:
        p("random orientation misset angles: %f %f %f deg" % tuple(x * RTD for x in xtal.misset_random_rad))
    size = xtal.size_m
    p(f"crystal is {_g(size[0] * 1e6)} x {_g(size[1] * 1e6)} x {_g(size[2] * 1e6)} microns")
    t = smp.thickness
    for i in range(t.layers):
        p(f"thick{i} = {_g(t.step * i * 1e6)} um")
    ph = smp.phi
    for i in range(ph.count):
        p(f"phi{i} = {_g((ph.phi0 + ph.step * i) * RTD)}")
    p(f"  created a total of {len(beam.sources)} sources:")
    for src in beam.sources:
        p(f"{_vec(src.position)}   {_g(src.weight)} {_g(src.wavelength_m)}")
    p(f"  created a total of {xtal.mosaic_domains} mosaic domains")
    p(f"  {xtal.hkl_count} initialized hkls (all others ={_g(xtal.default_F)})")
    shape = {"round": "ellipsoidal", "square": "parallelpiped", "gauss": "gaussian", "tophat": "tophat-spot"}
    n = xtal.n_cells
    p(f"  {shape[xtal.shape]} xtal: {n[0]:.0f}x{n[1]:.0f}x{n[2]:.0f} cells")
    p(f"  wave={_g(beam.wavelength_m)} meters +/- {_g(beam.disp.range * 100)}% in {beam.disp.count} steps")
    if beam.nopolar:
        p("  polarization effect disabled")
    else:
        p("  Kahn polarization factor: %f" % beam.polarization)
    if panel.curved:
        p("  curved detector: all pixels same distance from origin")
    if panel.point_pixel:
        p("  pixel obliquity effect disabled")
    p(f"  incident fluence: {_g(beam.fluence_ph_per_m2)} photons/m^2")
    p(
        f"  distance={_g(g.distance)} detsize={_g(g.detsize_f)}x{_g(g.detsize_s)}  "
        f"pixel={_g(g.pixel_size)} meters ({g.fpixels}x{g.spixels} pixels)"
    )
    p(f"  sensor is {_g(t.thickness)} m thick in {t.layers} layers with mu= {_g(t.mu)}")
    p(f"  Xbeam={_g(g.xbeam)} Ybeam={_g(g.ybeam)}")
    p(f"  Fbeam={_g(g.fbeam)} Sbeam={_g(g.sbeam)}")
    p(f"  Xclose={_g(g.xclose)} Yclose={_g(g.yclose)}")
    p(f"  Fclose={_g(g.fclose)} Sclose={_g(g.sclose)}")
    p(f"  DIRECTION_OF_DETECTOR_X-AXIS= {_vec(g.fdet)}")
    p(f"  DIRECTION_OF_DETECTOR_Y-AXIS= {_vec(g.sdet)}")
    p(f"  DIRECTION_OF_DETECTOR_Z-AXIS= {_vec(g.odet)}")
    p(f"  INCIDENT_BEAM_DIRECTION= {_vec(g.beam)}")
    p(f"  spindle ROTATION_AXIS= {_vec(g.spindle)}")
    p(f"  POLARIZATION_PLANE_NORMAL= {_vec(_cross(g.beam, g.polar))}")
    p(f"  dials origin= {_vec(g.dials_origin)}")
    r = panel.roi_printed
    p(f"  roi: {r[0]} < x < {r[1]} && {r[2]} < y < {r[3]}")
    p(f"  hdivrange={_g(beam.hdiv.range)} hdivstep={_g(beam.hdiv.step)}  radians")
    p(f"  vdivrange={_g(beam.vdiv.range)} vdivstep={_g(beam.vdiv.step)}  radians")
    p(f"  {beam.divergence_points} divergence steps")
    p(f"  {len(beam.sources)} sources")
    p(f"  {xtal.mosaic_domains} mosaic domains over mosaic spread of {_g(xtal.mosaic_spread_rad * RTD)} degrees")
    p(f"  {ph.count} phi steps from {_g(ph.phi0 * RTD)} to {_g((ph.phi0 + ph.osc) * RTD)} degrees")
    flags = {"thick": smp.oversample_thick, "polar": smp.oversample_polar, "omega": smp.oversample_omega}
    extra = "".join(f" +{k}" for k, on in flags.items() if on)
    p(f"  {smp.oversample}x{smp.oversample} pixel oversample steps{extra}")
    if s.fix_quirks:
        p("  corrected mode (-fix_quirks): the reference's known defects are fixed")


def _dot(a: Any, b: Any) -> float:
    return float(a[0] * b[0] + a[1] * b[1] + a[2] * b[2])


def _cross(a: Any, b: Any) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


class Progress:
    """A progress bar on stderr, shown once a render has taken more than a second."""

    def __init__(self, total_rows: int, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total = max(total_rows, 1)
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, rows_done: int) -> None:
        if not self.enabled or time.monotonic() - self.start < 1.0:
            return
        frac = min(rows_done / self.total, 1.0)
        bar = "#" * int(40 * frac)
        self.stream.write(f"\rrendering [{bar:<40}] {100 * frac:5.1f}%")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write(f"\rrendering [{'#' * 40}] 100.0%\n")
            self.stream.flush()
