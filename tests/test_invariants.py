"""Physical and structural invariants of the renderer on random configurations (no reference
binary needed; small detectors, so the whole file runs in seconds).

* the image is linear in the fluence, and scales as F² with a uniform structure factor;
* a region of interest renders the same window of the full image, bit for bit, and a mask
  zeroes exactly the masked pixels, bit for bit;
* the thread count never changes the image, bit for bit (serial-state quirks included);
* the Python API and the command line give the same array;
* each named convention equals the custom convention given its vectors and beam centre;
* a crystal whose structure factors have the two-fold symmetry about the beam gives a
  pattern that is centro-symmetric about a pixel-centred beam;
* a mosaic crystal with a single domain renders like the plain crystal.

Example counts follow the Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import math
import os
import pathlib
import tempfile

import numpy as np
from hypothesis import assume, given, note
from hypothesis import strategies as st

from conftest import agrees, run_cli
from nanobragg_rs import Config, Simulator, StructureFactors, config_from_args
from strategies import cells, decimals, fmt, rarely, signed

#: float32 has a 24-bit significand: two independently rounded images of the same value
#: times k differ by at most one rounding each, 2 x 2^-24 relative.
F32_RTOL = 2.5e-7
#: Below this the float32 image is subnormal and its relative precision is lost.
F32_ATOL = 1e-36

CONVENTIONS = ("mosflm", "denzo", "adxv", "xds", "dials")


def _table(seed: int, hmax: int, symmetric: bool = False) -> StructureFactors:
    """Random amplitudes on -hmax..hmax in every index; with ``symmetric``, F(h,k,l) =
    F(-h,k,l) = F(h,-k,-l) (and so F(-h,-k,-l), Friedel's law)."""
    rng = np.random.default_rng(seed)
    rng_range = range(-hmax, hmax + 1)
    idx = np.array([(h, k, l) for h in rng_range for k in rng_range for l in rng_range])
    amp = rng.gamma(2.0, 60.0, len(idx))
    if symmetric:
        values: dict[tuple[int, int, int], float] = {}
        for i, (h, k, l) in enumerate(idx):
            key = (abs(int(h)), *max((int(k), int(l)), (-int(k), -int(l))))
            amp[i] = values.setdefault(key, float(amp[i]))
    return StructureFactors(idx, amp)


@st.composite
def configs(
    draw: st.DrawFn,
    *,
    serial_state: bool = True,
    hkl: bool = True,
    water: bool = True,
    max_work: int = 60_000,
) -> Config:
    """A small random configuration.

    ``serial_state=False`` leaves out the two reference behaviours that depend on the order
    in which pixels are computed (phi carry-over from phi = 0, notes Q1, and the shutdown of
    tricubic interpolation, Q2), so that rendering a subset of the pixels cannot change them.
    """
    cfg = Config()
    cr, be, de, sa = cfg.crystal, cfg.beam, cfg.detector, cfg.sampling
    cr.cell = draw(cells())
    cr.n_cells = (draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    cr.default_F = draw(decimals(1.0, 300.0, 1))
    cr.shape = draw(st.sampled_from(["square", "round", "gauss", "tophat"]))
    if cr.shape in ("gauss", "tophat"):
        cr.n_cells = tuple(min(n, 3) for n in cr.n_cells)  # type: ignore[assignment]
        cr.fudge = draw(decimals(0.05, 1.0, 2))
    if draw(st.booleans()):
        cr.misset_deg = (draw(signed(180, 1)), draw(signed(180, 1)), draw(signed(180, 1)))
    if hkl and draw(st.booleans()):
        cr.structure_factors = _table(draw(st.integers(0, 2**32 - 1)), draw(st.integers(3, 6)))
        cr.interpolate = draw(st.sampled_from([None, True, False])) if serial_state else False
    be.wavelength_A = draw(decimals(0.8, 1.5, 3))
    be.fluence_ph_per_m2 = draw(decimals(1.0, 9.9, 2)) * 10.0 ** draw(st.integers(20, 26))
    de.convention = draw(st.sampled_from(CONVENTIONS))
    de.detpixels_f = draw(st.integers(16, 48))
    de.detpixels_s = draw(st.integers(16, 48))
    de.pixel_size_mm = draw(decimals(0.1, 0.3, 3))
    de.distance_mm = draw(decimals(60.0, 150.0, 1))
    if draw(st.booleans()):
        de.twotheta_deg = draw(signed(5, 2))
    if draw(st.booleans()):
        de.rotx_deg, de.roty_deg, de.rotz_deg = draw(signed(3, 2)), draw(signed(3, 2)), draw(signed(3, 2))
    de.curved = rarely(draw, 5)
    de.point_pixel = rarely(draw, 5)
    if rarely(draw, 3):
        de.thickness_um = float(draw(st.integers(50, 300)))
        de.thicksteps = draw(st.integers(1, 2))
    sa.oversample = draw(st.integers(1, 2))
    steps = sa.oversample**2 * (de.thicksteps or 1)
    if draw(st.booleans()):
        cr.mosaic_spread_deg = draw(decimals(0.05, 1.0, 2))
        cr.mosaic_domains = draw(st.integers(1, 3))
        cr.mosaic_seed = draw(st.integers(1, 10**6))
        steps *= cr.mosaic_domains
    if draw(st.booleans()):
        phi0 = draw(decimals(0.5, 90.0, 2))
        if serial_state and draw(st.booleans()):
            phi0 = 0.0  # the carry-over case
        sa.phi_deg, sa.osc_deg, sa.phisteps = phi0, draw(decimals(0.05, 1.0, 2)), draw(st.integers(1, 3))
        steps *= sa.phisteps
    if draw(st.booleans()):
        be.hdivrange_mrad, be.vdivrange_mrad = draw(decimals(0.1, 2.0, 2)), draw(decimals(0.1, 2.0, 2))
        be.hdivsteps = be.vdivsteps = 2
        steps *= 4
    if draw(st.booleans()):
        be.dispersion_pct, be.dispsteps = draw(decimals(0.1, 3.0, 2)), 2
        steps *= 2
    if draw(st.booleans()):
        be.polarization = draw(decimals(0.0, 1.0, 2))
    be.nopolar = rarely(draw, 5)
    if rarely(draw, 4):
        sa.dmin_A = draw(decimals(2.0, 20.0, 1))
    if water and rarely(draw, 3):
        cr.water_um = draw(decimals(1.0, 100.0, 1))
    assume(de.detpixels_f * de.detpixels_s * steps <= max_work)
    return cfg


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    bad = np.argwhere(a.view(np.uint32) != b.view(np.uint32))
    if not len(bad):
        return "none"
    s, f = bad[0]
    return f"{len(bad)} pixels differ; first (f={f}, s={s}): {a[s, f]!r} vs {b[s, f]!r}"


# --- linearity ----------------------------------------------------------------------------------
@given(cfg=configs(water=False), k=st.sampled_from([2.0, 0.5, 3.7, 1e3, 1e-3, 0.123]))
def test_image_is_linear_in_fluence(cfg: Config, k: float) -> None:
    """(The water background is not linear: it carries r_e² x fluence twice, notes Q6.)"""
    fluence = cfg.beam.fluence_ph_per_m2
    assert fluence is not None
    one = Simulator(cfg).render()
    scaled = Simulator(cfg.replace(**{"beam.fluence_ph_per_m2": fluence * k})).render()
    np.testing.assert_allclose(scaled, one.astype(np.float64) * k, rtol=F32_RTOL, atol=F32_ATOL * max(k, 1.0))


@given(cfg=configs(hkl=False, water=False), k=st.sampled_from([2.0, 0.5, 3.0, 10.0, 0.1, 1.7]))
def test_image_scales_as_F_squared(cfg: Config, k: float) -> None:
    one = Simulator(cfg).render()
    scaled = Simulator(cfg.replace(**{"crystal.default_F": cfg.crystal.default_F * k})).render()
    np.testing.assert_allclose(scaled, one.astype(np.float64) * k * k, rtol=F32_RTOL, atol=F32_ATOL * max(k * k, 1.0))


# --- subsets of pixels --------------------------------------------------------------------------
@given(cfg=configs(serial_state=False), data=st.data())
def test_roi_render_is_a_window_of_the_full_render(cfg: Config, data: st.DataObject) -> None:
    nf, ns = cfg.detector.detpixels_f, cfg.detector.detpixels_s
    assert nf is not None and ns is not None
    x0 = data.draw(st.integers(0, nf - 1))
    x1 = data.draw(st.integers(x0, nf - 1))
    y0 = data.draw(st.integers(0, ns - 1))
    y1 = data.draw(st.integers(y0, ns - 1))
    full = Simulator(cfg).render()
    part = Simulator(cfg.replace(**{"detector.roi": (x0, x1, y0, y1)})).render()
    window = np.zeros_like(full)
    window[y0 : y1 + 1, x0 : x1 + 1] = full[y0 : y1 + 1, x0 : x1 + 1]
    assert _same_bits(part, window), _first_difference(part, window)


@given(cfg=configs(serial_state=False), seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.1, 0.5, 0.9]))
def test_masked_render_equals_the_full_render_with_masked_pixels_zeroed(cfg: Config, seed: int, density: float) -> None:
    nf, ns = cfg.detector.detpixels_f, cfg.detector.detpixels_s
    assert nf is not None and ns is not None
    mask = (np.random.default_rng(seed).random((ns, nf)) >= density).astype(np.uint16)
    full = Simulator(cfg).render()
    masked = Simulator(cfg.replace(**{"detector.mask": mask})).render()
    expected = np.where(mask != 0, full, np.float32(0.0)).astype(np.float32)
    assert _same_bits(masked, expected), _first_difference(masked, expected)


# --- threads ------------------------------------------------------------------------------------
@given(cfg=configs(serial_state=True))
def test_thread_count_does_not_change_the_image(cfg: Config) -> None:
    sim = Simulator(cfg)
    one = sim.render(threads=1)
    for n in sorted({2, 3, os.cpu_count() or 2}):
        other = sim.render(threads=n)
        assert _same_bits(other, one), f"{n} threads: {_first_difference(other, one)}"


# --- API and command line -----------------------------------------------------------------------
@st.composite
def api_and_cli(draw: st.DrawFn) -> tuple[Config, list[str], dict[str, str]]:
    """The same setup written as a Config and as a command line (plus its input files)."""
    cfg = Config()
    args: list[str] = []
    files: dict[str, str] = {}
    cell = draw(cells())
    cfg.crystal.cell = cell
    args += ["-cell", *(fmt(x, 2) for x in cell)]
    n = (draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    cfg.crystal.n_cells = n
    args += ["-Na", str(n[0]), "-Nb", str(n[1]), "-Nc", str(n[2])]
    cfg.crystal.default_F = draw(decimals(0.0, 300.0, 1))
    args += ["-default_F", fmt(cfg.crystal.default_F, 1)]
    if cfg.crystal.default_F == 0.0 or draw(st.booleans()):
        table = _table(draw(st.integers(0, 2**32 - 1)), draw(st.integers(2, 5)))
        assert table.indices is not None and table.amplitudes is not None
        amps = np.round(table.amplitudes, 2)  # as written to the file
        files["f.hkl"] = "".join(f"{h} {k} {l} {fmt(F, 2)}\n" for (h, k, l), F in zip(table.indices, amps))
        cfg.crystal.structure_factors = StructureFactors(table.indices, amps)
        args += ["-hkl", "f.hkl"]
        interp = draw(st.sampled_from([None, True, False]))
        cfg.crystal.interpolate = interp
        if interp is not None:
            args.append("-interpolate" if interp else "-nointerpolate")
    shape_flags = {"square": "-square_xtal", "round": "-round_xtal", "gauss": "-gauss_xtal", "tophat": "-tophat_spots"}
    shape = draw(st.sampled_from(sorted(shape_flags)))
    cfg.crystal.shape = shape  # type: ignore[assignment]
    args.append(shape_flags[shape])
    if draw(st.booleans()):
        m = (draw(signed(180, 1)), draw(signed(180, 1)), draw(signed(180, 1)))
        cfg.crystal.misset_deg = m
        args += ["-misset", *(fmt(x, 1) for x in m)]
    if draw(st.booleans()):
        cfg.crystal.mosaic_spread_deg = draw(decimals(0.05, 1.0, 2))
        cfg.crystal.mosaic_domains = draw(st.integers(1, 3))
        cfg.crystal.mosaic_seed = draw(st.integers(1, 10**6))
        args += ["-mosaic", fmt(cfg.crystal.mosaic_spread_deg, 2), "-mosaic_dom", str(cfg.crystal.mosaic_domains)]
        args += ["-mosaic_seed", str(cfg.crystal.mosaic_seed)]
    cfg.beam.wavelength_A = draw(decimals(0.8, 1.5, 3))
    args += ["-lambda", fmt(cfg.beam.wavelength_A, 3)]
    mant, exp = draw(decimals(1.0, 9.9, 1)), draw(st.integers(20, 26))
    cfg.beam.fluence_ph_per_m2 = float(f"{fmt(mant, 1)}e{exp}")
    args += ["-fluence", f"{fmt(mant, 1)}e{exp}"]
    if draw(st.booleans()):
        cfg.beam.dispersion_pct, cfg.beam.dispsteps = draw(decimals(0.1, 3.0, 2)), 2
        args += ["-dispersion", fmt(cfg.beam.dispersion_pct, 2), "-dispsteps", "2"]
    if draw(st.booleans()):
        r = draw(decimals(0.1, 2.0, 2))
        cfg.beam.hdivrange_mrad = cfg.beam.vdivrange_mrad = r
        cfg.beam.hdivsteps = cfg.beam.vdivsteps = 2
        args += ["-divergence", fmt(r, 2), "-divsteps", "2"]
    if draw(st.booleans()):
        cfg.beam.polarization = draw(decimals(0.0, 1.0, 2))
        args += ["-polar", fmt(cfg.beam.polarization, 2)]
    conv = draw(st.sampled_from(CONVENTIONS))
    cfg.detector.convention = conv  # type: ignore[assignment]
    cfg.detector.pivot = "sample" if conv == "xds" else "beam"
    args.append("-" + conv)
    nf, ns, px = draw(st.integers(16, 40)), draw(st.integers(16, 40)), draw(decimals(0.1, 0.3, 3))
    cfg.detector.detpixels_f, cfg.detector.detpixels_s, cfg.detector.pixel_size_mm = nf, ns, px
    args += ["-detpixels_f", str(nf), "-detpixels_s", str(ns), "-pixel", fmt(px, 3)]
    cfg.detector.distance_mm = draw(decimals(60.0, 150.0, 1))
    args += ["-distance", fmt(cfg.detector.distance_mm, 1)]
    cfg.detector.pivot = "beam"
    if draw(st.booleans()):
        xb, yb = draw(decimals(0.3 * ns * px, 0.7 * ns * px, 3)), draw(decimals(0.3 * nf * px, 0.7 * nf * px, 3))
        cfg.detector.xbeam_mm, cfg.detector.ybeam_mm = xb, yb
        args += ["-Xbeam", fmt(xb, 3), "-Ybeam", fmt(yb, 3)]
    if draw(st.booleans()):
        cfg.detector.twotheta_deg = draw(signed(5, 2))
        cfg.detector.pivot = "sample"
        args += ["-twotheta", fmt(cfg.detector.twotheta_deg, 2)]
    if draw(st.booleans()):
        cfg.detector.thickness_um, cfg.detector.thicksteps = float(draw(st.integers(50, 300))), 2
        args += ["-detector_thick", fmt(cfg.detector.thickness_um, 0), "-thicksteps", "2"]
    if draw(st.booleans()):
        phi, osc, steps = draw(decimals(0.0, 30.0, 1)), draw(decimals(0.1, 1.0, 2)), draw(st.integers(1, 3))
        cfg.sampling.phi_deg, cfg.sampling.osc_deg, cfg.sampling.phisteps = phi, osc, steps
        args += ["-phi", fmt(phi, 1), "-osc", fmt(osc, 2), "-phisteps", str(steps)]
    cfg.sampling.oversample = draw(st.integers(1, 2))
    args += ["-oversample", str(cfg.sampling.oversample)]
    if draw(st.booleans()):
        cfg.sampling.dmin_A = draw(decimals(2.0, 20.0, 1))
        args += ["-dmin", fmt(cfg.sampling.dmin_A, 1)]
    if draw(st.booleans()):
        cfg.crystal.water_um = draw(decimals(1.0, 100.0, 1))
        args += ["-water", fmt(cfg.crystal.water_um, 1)]
    for flag, field in (("-curved_det", "curved"), ("-point_pixel", "point_pixel")):
        if rarely(draw, 4):
            setattr(cfg.detector, field, True)
            args.append(flag)
    return cfg, args, files


@given(setup=api_and_cli())
def test_api_and_cli_render_the_same_image(setup: tuple[Config, list[str], dict[str, str]]) -> None:
    cfg, args, files = setup
    note("nanobragg " + " ".join(args))
    with tempfile.TemporaryDirectory(prefix="nbinv-") as tmp:
        folder = pathlib.Path(tmp)
        for name, text in files.items():
            (folder / name).write_text(text)
        outputs = ["-floatfile", "float.bin", "-nonoise", "-nopgm", "-noprogress"]
        res = run_cli([*outputs, *args, "-seed", "1"], folder, inputs=None)
        assert res.returncode == 0, res.stderr
        nf, ns = cfg.detector.detpixels_f, cfg.detector.detpixels_s
        assert nf is not None and ns is not None
        from_cli = res.read_float("float.bin", (ns, nf))
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            parsed = config_from_args(args)
        finally:
            os.chdir(cwd)
    api = Simulator(cfg).render()
    assert _same_bits(api, from_cli), f"API vs CLI: {_first_difference(api, from_cli)}"
    assert _same_bits(Simulator(parsed).render(), from_cli), "config_from_args vs CLI"


# --- conventions --------------------------------------------------------------------------------
#: beam, fdet, sdet, odet, twotheta axis, polar, spindle of each convention (notes §2.2).
FRAMES = {
    "mosflm": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "denzo": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "adxv": ((0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1), (-1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "xds": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "dials": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)),
}


@given(cfg=configs(water=False, serial_state=True), conv=st.sampled_from(sorted(FRAMES)), data=st.data())
def test_convention_equals_custom_vectors(cfg: Config, conv: str, data: st.DataObject) -> None:
    """The same lab geometry given as a named convention and as custom vectors.

    Beam centres: MOSFLM puts the beam at Fbeam = Ybeam + px/2, Sbeam = Xbeam + px/2, DENZO at
    Fbeam = Ybeam, Sbeam = Xbeam, ADXV at Fbeam = Xbeam, Sbeam = detsize_s - Ybeam, all with
    the BEAM pivot; XDS and DIALS pivot about the sample at Fclose = (ORGX - 0.5) px. CUSTOM
    takes Fbeam = Xbeam, Sbeam = Ybeam, Fclose = Xbeam, with the pivot it is given, and its
    own default twotheta axis (0, 1, 0), so the convention's axis is given explicitly.
    """
    de = cfg.detector
    nf, ns, px = de.detpixels_f, de.detpixels_s, de.pixel_size_mm
    assert nf is not None and ns is not None
    # the beam spot (BEAM pivot) or the point nearest the sample (SAMPLE pivot), mm
    f0 = data.draw(decimals(0.3 * nf * px, 0.7 * nf * px, 3))
    s0 = data.draw(decimals(0.3 * ns * px, 0.7 * ns * px, 3))
    named = cfg.replace(**{"detector.convention": conv})
    beam, fdet, sdet, odet, axis, polar, spindle = (tuple(float(x) for x in v) for v in FRAMES[conv])
    custom = cfg.replace(
        **{
            "detector.convention": "custom",
            "beam.beam_vector": beam,
            "detector.fdet_vector": fdet,
            "detector.sdet_vector": sdet,
            "detector.odet_vector": odet,
            "detector.twotheta_axis": axis,
            "beam.polar_vector": polar,
            "sampling.spindle_axis": spindle,
        }
    )
    if conv in ("xds", "dials"):
        orgx, orgy = f0 / px + 0.5, s0 / px + 0.5
        named = named.replace(**{"detector.orgx_px": orgx, "detector.orgy_px": orgy, "detector.pivot": "sample"})
        custom = custom.replace(**{"detector.orgx_px": orgx, "detector.orgy_px": orgy, "detector.pivot": "sample"})
    else:
        xbeam, ybeam = {"mosflm": (s0 - px / 2, f0 - px / 2), "denzo": (s0, f0), "adxv": (f0, ns * px - s0)}[conv]
        named = named.replace(**{"detector.xbeam_mm": xbeam, "detector.ybeam_mm": ybeam, "detector.pivot": "beam"})
        custom = custom.replace(**{"detector.xbeam_mm": f0, "detector.ybeam_mm": s0, "detector.pivot": "beam"})
    a = Simulator(named).render()
    b = Simulator(custom).render()
    if conv in ("denzo", "xds", "dials"):
        # the same numbers reach the geometry: the same bits
        assert _same_bits(b, a), _first_difference(b, a)
    else:
        # the beam centre is the same only up to the rounding of px/2 or detsize - Ybeam
        ok = agrees(b, a)
        assert ok.all(), f"{int((~ok).sum())} pixels disagree; {_first_difference(b, a)}"


# --- symmetry -----------------------------------------------------------------------------------
@st.composite
def symmetric_setups(draw: st.DrawFn) -> Config:
    """An orthorhombic crystal with its a axis along the beam (MOSFLM-frame conventions put
    the beam along x, and the default orientation puts a* along x), turned only about the
    beam, on a detector square to the beam whose centre is the direct-beam spot."""
    cfg = Config()
    cr, be, de, sa = cfg.crystal, cfg.beam, cfg.detector, cfg.sampling
    length = decimals(30.0, 100.0, 1)
    cr.cell = (draw(length), draw(length), draw(length), 90.0, 90.0, 90.0)
    cr.n_cells = (draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    cr.shape = draw(st.sampled_from(["square", "round", "gauss", "tophat"]))
    if cr.shape in ("gauss", "tophat"):
        cr.n_cells = tuple(min(n, 3) for n in cr.n_cells)  # type: ignore[assignment]
        cr.fudge = draw(decimals(0.05, 1.0, 2))
    cr.misset_deg = (draw(signed(180, 1)), 0.0, 0.0)  # about x, the beam
    cr.default_F = draw(decimals(1.0, 100.0, 1))
    if draw(st.booleans()):
        cr.structure_factors = _table(draw(st.integers(0, 2**32 - 1)), draw(st.integers(3, 6)), symmetric=True)
    # serial-order interpolation shutdown (Q2) would treat the two halves differently
    cr.interpolate = False
    be.wavelength_A = draw(decimals(0.8, 1.5, 3))
    if draw(st.booleans()):
        be.dispersion_pct, be.dispsteps = draw(decimals(0.1, 3.0, 2)), draw(st.integers(2, 3))
    if draw(st.booleans()):
        be.polarization = draw(decimals(0.0, 1.0, 2))
    de.convention = draw(st.sampled_from(["denzo", "mosflm"]))
    n_pix = st.integers(16, 48)
    de.detpixels_f, de.detpixels_s = draw(n_pix), draw(n_pix)
    px = de.pixel_size_mm = draw(decimals(0.1, 0.3, 3))
    de.distance_mm = draw(decimals(60.0, 150.0, 1))
    # the detector centre is the beam spot: DENZO Fbeam = Ybeam, MOSFLM Fbeam = Ybeam + px/2
    half = 0.0 if de.convention == "denzo" else px / 2
    de.ybeam_mm = de.detpixels_f * px / 2 - half
    de.xbeam_mm = de.detpixels_s * px / 2 - half
    de.rotx_deg = draw(signed(180, 1))  # about the beam: keeps the symmetry
    de.curved = rarely(draw, 3)
    de.point_pixel = rarely(draw, 3)
    if rarely(draw, 3):
        de.thickness_um, de.thicksteps = float(draw(st.integers(50, 300))), draw(st.integers(1, 2))
    # omega and polarization come from the first sub-pixel, a corner when oversampling (Q5)
    sa.oversample = 1
    if rarely(draw, 3):
        sa.dmin_A = draw(decimals(3.0, 20.0, 1))
    if rarely(draw, 3):
        cr.water_um = draw(decimals(1.0, 100.0, 1))
    return cfg


@given(cfg=symmetric_setups())
def test_two_fold_symmetric_crystal_gives_a_centro_symmetric_pattern(cfg: Config) -> None:
    """Friedel's law alone does not make a still image centro-symmetric: the mirror pixel's
    scattering vector is S rotated 180° about the beam, not -S (the Ewald sphere is curved).
    With a along the beam that rotation maps (h, k, l) to (h, -k, -l), so F(h,k,l) =
    F(h,-k,-l) (here with Friedel's law, from F(h,k,l) = F(-h,k,l)) is what is needed; the
    lattice factor of every shape, the solid angle, the polarization (unpolarized or Kahn
    about x), the sensor absorption and the curved detector are symmetric themselves."""
    image = Simulator(cfg).render()
    assert image.any()
    flipped = image[::-1, ::-1]
    ok = agrees(image, flipped)
    count = int((~ok).sum())
    assert ok.all(), f"{count} of {ok.size} pixels differ from their mirror; " + _first_difference(image, flipped)


# --- mosaicity ----------------------------------------------------------------------------------
@given(cfg=configs(), spread=decimals(0.01, 5.0, 2), seed=st.integers(1, 10**6), domains=st.integers(1, 6))
def test_one_mosaic_domain_renders_the_plain_crystal(cfg: Config, spread: float, seed: int, domains: int) -> None:
    """The first domain is always the unrotated crystal; a spread with one domain, or
    several domains with no spread (which mean one), render the plain image."""
    plain = Simulator(cfg.replace(**{"crystal.mosaic_spread_deg": None, "crystal.mosaic_domains": None})).render()
    for spread_deg, n in ((spread, 1), (0.0, domains)):
        changes = {"crystal.mosaic_spread_deg": spread_deg, "crystal.mosaic_domains": n, "crystal.mosaic_seed": seed}
        mosaic = Simulator(cfg.replace(**changes)).render()
        assert _same_bits(mosaic, plain), f"spread {spread_deg}, {n} domains: {_first_difference(mosaic, plain)}"
    assert math.isfinite(float(plain.sum()))


def test_the_symmetric_setup_is_not_trivially_symmetric() -> None:
    """Guard for the symmetry test: without the two-fold symmetry of F, the same geometry
    does give an asymmetric pattern (so the test above can fail)."""
    cfg = Config()
    cfg.crystal.cell = (50.0, 60.0, 70.0, 90.0, 90.0, 90.0)
    cfg.crystal.n_cells = (5, 5, 5)
    cfg.crystal.interpolate = False
    table = _table(7, 5)
    cfg.crystal.structure_factors = table
    cfg.detector.convention = "denzo"
    cfg.detector.detpixels_f = cfg.detector.detpixels_s = 40
    cfg.detector.pixel_size_mm = 0.2
    cfg.detector.distance_mm = 60.0
    cfg.detector.xbeam_mm = cfg.detector.ybeam_mm = 4.0
    image = Simulator(cfg).render()
    assert not agrees(image, image[::-1, ::-1]).all()
