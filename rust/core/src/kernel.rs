//! The pixel loop.
//!
//! Each pixel sums, over sensor layers, sub-pixels, sources, spindle steps and mosaic
//! domains, |F_cell|² |F_latt|², then scales by r_e², fluence, polarization, solid angle and
//! 1/steps, in the reference's loop order. The loop is written once over [`Lanes`]: adjacent
//! pixels of a row share every loop index, so a vector holds one pixel per lane and the
//! control flow stays uniform. Specialised copies are compiled for each crystal shape and
//! structure-factor mode, and for each instruction set (see [`crate::simd`]).
//!
//! Two pieces of the reference's serial state are made independent of the pixel order, so
//! rows can run in parallel and give the same image on any number of threads:
//!
//! * the phi carry-over (notes Q1): a step at phi = 0 reuses the last nonzero-phi orientation,
//!   which after the first evaluated sweep is always that of the last nonzero step; only the
//!   first sweep of the whole render sees the unrotated crystal. [`Plan`] finds that sweep.
//! * the interpolation shutdown (Q2): the first out-of-range point in serial order turns
//!   interpolation off for the rest of the render. A first pass records where each row first
//!   meets such a point; pixels after the earliest one are rendered again without it.

use crate::config::Shape;
use crate::error::{Error, Result};
use crate::lattice::{f_latt, polarization_factor, sincg, LatticeShape};
use crate::detector::Panel;
use crate::setup::{Setup, R_E_SQR, RTD};
use crate::simd::{cospi, sinpi, Exact, Isa, Lanes, Scalar, MAX_LANES, V};
pub use crate::trace::{NoTrace, TextTrace, Tracer};
use crate::vec3::{cross, dot, mat_vec, rotate_axis, unitize, V3};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How F_cell is found for one pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Interp {
    /// Nearest grid point.
    Nearest,
    /// Tricubic interpolation; at the first out-of-range point switch to nearest for the rest
    /// of the pixel (the reference's global shutdown, seen from one pixel).
    UntilOutOfRange,
    /// Tricubic interpolation where in range, nearest elsewhere (the corrected mode).
    WhereInRange,
}

/// A crystal shape fixed at compile time: the kernel is compiled once per shape.
trait ShapeKind {
    const SHAPE: Shape;
}
/// How F_cell is found, fixed at compile time: the kernel is compiled once per mode.
trait FModeKind {
    const MODE: FMode;
}

/// The structure-factor modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FMode {
    /// default_F everywhere (no table).
    Const,
    /// Nearest-neighbour lookup in the table.
    Table,
    /// Tricubic interpolation in the table.
    Interp,
}

macro_rules! kinds {
    ($trait:ident, $const:ident, $ty:ty, $($name:ident = $value:expr),*) => {
        $(struct $name;
        impl $trait for $name {
            const $const: $ty = $value;
        })*
    };
}
kinds!(ShapeKind, SHAPE, Shape, SquareXtal = Shape::Square, RoundXtal = Shape::Round, GaussXtal = Shape::Gauss, TophatXtal = Shape::Tophat);
kinds!(FModeKind, MODE, FMode, FConst = FMode::Const, FTable = FMode::Table, FInterp = FMode::Interp);

/// Up to this many cells the lattice factor is a Chebyshev recurrence on one cosine,
/// sin(Nx)/sin(x) = U_{N-1}(cos x) in N multiply-adds; above it a ratio of two sines.
const CHEBYSHEV_MAX_N: f64 = 24.0;

/// One source as the pixel loop uses it.
#[derive(Clone, Copy, Debug)]
struct Src {
    incident: V3,
    lambda: f64,
    inv_lambda: f64,
    /// Incident unit vector and the E/B axes of the polarization factor.
    inc_unit: V3,
    b_axis: V3,
    e_axis: V3,
}

/// Per-render data shared by all pixels.
pub struct Plan<'a> {
    s: &'a Setup,
    /// The panel rendered.
    panel: &'a Panel,
    shape: LatticeShape,
    /// Orientations (a, b, c in m, flattened) for `phi_tic * domains + mos_tic`, for the very
    /// first sweep and for all others.
    orient_first: Vec<[f64; 9]>,
    orient_rest: Vec<[f64; 9]>,
    /// Linear index of the pixel whose first sweep sees the unrotated crystal (Q1).
    first_sweep_pixel: Option<usize>,
    /// Polarization axis as the reference's in-place normalisation leaves it.
    polar_axis: V3,
    sources: Vec<Src>,
    fixed: bool,
    isa: Isa,
    /// Sum factors: thick/polar/omega per contribution (else applied once per pixel).
    weight_thick: bool,
    weight_polar: bool,
    weight_omega: bool,
    /// The water term added to every contribution in the corrected mode.
    water_step: f64,
    accumulation: Accumulation,
    /// Structure factors as a flat grid: data, minimum indices, extents.
    table: Option<(&'a [f64], [f64; 3], [f64; 3])>,
    f_mode: FMode,
    /// N when every axis has the same N on the Chebyshev path (the three recurrences then run
    /// in lockstep), decided once per render.
    cheb3: Option<usize>,
}

/// One sub-pixel seen from the sample, per lane.
struct SubPixel<L: Lanes> {
    /// Lab position (m).
    position: [L::F; 3],
    /// Unit vector from the sample towards it.
    direction: [L::F; 3],
    /// Distance from the sample (m).
    airpath: L::F,
}

/// The factors each contribution (or the pixel's sum) is weighted by.
struct Factors<L: Lanes> {
    capture: L::F,
    polar: L::F,
    omega: L::F,
}

/// How a sub-step's contribution joins the pixel's sum, chosen once per render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accumulation {
    /// The corrected mode: each contribution (plus the water term) times its own factors.
    Weighted,
    /// The reference with per-step factors: they multiply the running sum (notes Q3).
    Compounding,
    /// Lanes outside `reach` (a resolution cut) add nothing.
    Masked,
    /// Everything adds (a zero lattice factor adds zero).
    Plain,
}

/// What a group of pixels produced, per lane.
struct GroupOut<L: Lanes> {
    value: L::F,
    omega_sum: L::F,
    /// Ordinal of the first out-of-range interpolation point met, per lane.
    out_of_range: [u64; MAX_LANES],
}

impl<'a> Plan<'a> {
    /// Precompute orientations and the serial-order state of the reference, for the fastest
    /// instruction set this CPU supports (or the one `NANOBRAGG_ISA` names).
    pub fn new(s: &'a Setup) -> Plan<'a> {
        Plan::with_isa(s, Isa::detect())
    }

    /// As [`Plan::new`] on a given instruction set (falling back to scalar if unsupported).
    pub fn with_isa(s: &'a Setup, isa: Isa) -> Plan<'a> {
        let isa = if isa.supported() { isa } else { Isa::Scalar };
        let fixed = s.fix_quirks;
        let phis: Vec<f64> = (0..s.sampling.phi.count).map(|i| s.sampling.phi.angle(i)).collect();
        let rotated = |phi: f64| -> [V3; 3] {
            [
                rotate_axis(s.crystal.a0, s.detector.lab.spindle, phi),
                rotate_axis(s.crystal.b0, s.detector.lab.spindle, phi),
                rotate_axis(s.crystal.c0, s.detector.lab.spindle, phi),
            ]
        };
        let unrotated = [s.crystal.a0, s.crystal.b0, s.crystal.c0];
        let last_nonzero = phis.iter().rposition(|&p| p != 0.0);
        // The spindle orientation at each step given the state carried into the sweep.
        let sweep = |carry_in: [V3; 3]| -> Vec<[V3; 3]> {
            let mut state = carry_in;
            phis.iter()
                .map(|&p| {
                    if p != 0.0 {
                        state = rotated(p);
                    } else if fixed {
                        state = unrotated;
                    }
                    state
                })
                .collect()
        };
        let carry_rest = match last_nonzero {
            Some(i) if !fixed => rotated(phis[i]),
            _ => unrotated,
        };
        let with_mosaic = |spindle: Vec<[V3; 3]>| -> Vec<[f64; 9]> {
            let mut out = Vec::with_capacity(spindle.len() * s.crystal.mosaic_umats.len());
            for [ap, bp, cp] in spindle {
                for u in &s.crystal.mosaic_umats {
                    let [a, b, c] = if s.crystal.mosaic_spread > 0.0 {
                        [mat_vec(u, ap), mat_vec(u, bp), mat_vec(u, cp)]
                    } else {
                        [ap, bp, cp]
                    };
                    out.push([a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]]);
                }
            }
            out
        };
        let orient_first = with_mosaic(sweep(unrotated));
        let orient_rest = with_mosaic(sweep(carry_rest));

        // The reference re-normalises the axis in place at each call; it settles at once.
        let mut polar_axis = s.detector.lab.polar;
        for _ in 0..4 {
            polar_axis = unitize(polar_axis).0;
        }
        let sources = s
            .beam
            .sources
            .iter()
            .map(|src| {
                let incident = [-src.direction[0], -src.direction[1], -src.direction[2]];
                let inc_unit = unitize(incident).0;
                let b_axis = unitize(cross(polar_axis, inc_unit)).0;
                let e_axis = unitize(cross(inc_unit, b_axis)).0;
                Src {
                    incident,
                    lambda: src.wavelength_m,
                    inv_lambda: 1.0 / src.wavelength_m,
                    inc_unit,
                    b_axis,
                    e_axis,
                }
            })
            .collect();

        let table = s.crystal.hkl.as_deref().filter(|t| t.count() != 0).map(|t| {
            let (eh, ek, el) = t.extents();
            // HklTable's invariant, on which `lookup`'s unchecked gather rests.
            debug_assert!(t.data().len() == eh * ek * el && t.data().len() <= crate::hkl::MAX_CELLS);
            (t.data(), t.min().map(f64::from), [eh as f64, ek as f64, el as f64])
        });
        let f_mode = match (table.is_some(), s.crystal.interpolate) {
            (false, _) => FMode::Const,
            (true, false) => FMode::Table,
            (true, true) => FMode::Interp,
        };
        let mut plan = Plan {
            s,
            panel: s.panel(),
            shape: LatticeShape {
                shape: s.crystal.shape,
                n: s.crystal.n_cells,
                fudge: s.crystal.fudge,
                a_star: s.crystal.lattice.a_star,
                b_star: s.crystal.lattice.b_star,
                c_star: s.crystal.lattice.c_star,
            },
            orient_first,
            orient_rest,
            first_sweep_pixel: None,
            polar_axis,
            sources,
            fixed,
            isa,
            // The corrected mode weights each layer's contributions by its own capture fraction.
            weight_thick: s.sampling.oversample_thick || (fixed && s.sampling.thickness.layers > 1),
            weight_polar: s.sampling.oversample_polar,
            weight_omega: s.sampling.oversample_omega,
            accumulation: {
                let per_step = s.sampling.oversample_thick || (fixed && s.sampling.thickness.layers > 1) || s.sampling.oversample_polar || s.sampling.oversample_omega;
                if fixed {
                    Accumulation::Weighted
                } else if per_step {
                    Accumulation::Compounding
                } else if s.sampling.dmin > 0.0 {
                    Accumulation::Masked
                } else {
                    Accumulation::Plain
                }
            },
            water_step: if fixed && s.water.size_m > 0.0 { s.water.i_bg / (R_E_SQR * s.beam.fluence) } else { 0.0 },
            table,
            f_mode,
            cheb3: {
                let [na, nb, nc] = s.crystal.n_cells;
                (na == nb && nb == nc && na > 1.0 && na <= CHEBYSHEV_MAX_N).then_some(na as usize)
            },
        };
        plan.first_sweep_pixel = plan.find_first_sweep_pixel();
        plan
    }

    /// The instruction set this plan renders with.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The first pixel in serial order where some source passes the resolution cut.
    fn find_first_sweep_pixel(&self) -> Option<usize> {
        let s = self.s;
        let f = self.panel.geometry.fpixels;
        for spixel in self.panel.roi[2]..=self.panel.roi[3] {
            for fpixel in self.panel.roi[0]..=self.panel.roi[1] {
                if !self.panel.renders(fpixel, spixel) {
                    continue;
                }
                if s.sampling.dmin <= 0.0 || self.any_source_passes_dmin(fpixel, spixel) {
                    return Some(spixel * f + fpixel);
                }
            }
        }
        None
    }

    fn any_source_passes_dmin(&self, fpixel: usize, spixel: usize) -> bool {
        let s = self.s;
        for layer in 0..s.sampling.thickness.layers {
            for sub_s in 0..s.sampling.oversample {
                for sub_f in 0..s.sampling.oversample {
                    let (d, _) = unitize(self.position(fpixel, spixel, sub_f, sub_s, layer));
                    for src in &self.sources {
                        let sv = [
                            (d[0] - src.incident[0]) / src.lambda,
                            (d[1] - src.incident[1]) / src.lambda,
                            (d[2] - src.incident[2]) / src.lambda,
                        ];
                        let stol = 0.5 * dot(sv, sv).sqrt();
                        if !(stol > 0.0 && s.sampling.dmin > 0.5 / stol) {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// Lab position of one sub-pixel, in the reference's term order (curved if asked).
    #[inline(always)]
    fn position(&self, fpixel: usize, spixel: usize, sub_f: usize, sub_s: usize, layer: usize) -> V3 {
        let s = self.s;
        let g = &self.panel.geometry;
        let os = s.sampling.oversample;
        let sub = g.pixel_size / os as f64;
        let fdet = sub * (fpixel * os + sub_f) as f64 + sub / 2.0;
        let sdet = sub * (spixel * os + sub_s) as f64 + sub / 2.0;
        let odet = layer as f64 * s.sampling.thickness.step;
        let mut p: V3 = std::array::from_fn(|i| fdet * g.fdet[i] + sdet * g.sdet[i] + odet * g.odet[i] + g.pix0[i]);
        if self.panel.curved {
            let v = [g.distance * g.beam[0], g.distance * g.beam[1], g.distance * g.beam[2]];
            let v = rotate_axis(v, g.sdet, p[1] / g.distance);
            p = rotate_axis(v, g.fdet, p[2] / g.distance);
        }
        p
    }

    /// Render `L::N` adjacent pixels of row `spixel` starting at `f0`; lanes outside `valid`
    /// are computed but must not be used.
    #[inline(always)]
    fn group<L: Lanes, T: Tracer, SH: ShapeKind, FM: FModeKind>(
        &self,
        spixel: usize,
        f0: usize,
        valid: L::M,
        mode: Interp,
        tr: &mut T,
    ) -> GroupOut<L> {
        let s = self.s;
        let g = &self.panel.geometry;
        let fixed = self.fixed;
        let os = s.sampling.oversample;
        let sub = g.pixel_size / os as f64;
        let nsrc = self.sources.len();
        let domains = s.crystal.mosaic_umats.len();
        let phisteps = s.sampling.phi.count;
        let nsteps = phisteps * domains;
        let (wt, wp, wo) = (self.weight_thick, self.weight_polar, self.weight_omega);
        let compounding = !fixed && (wt || wp || wo);
        // A local copy, so the choice is seen as fixed across the loops.
        let accumulation = self.accumulation;
        let water = s.water.size_m != 0.0;
        let dmin = s.sampling.dmin;
        let skip_polar = fixed && s.beam.nopolar;
        let fpixels = g.fpixels;
        let [na, nb, nc] = s.crystal.n_cells;
        let zero = L::splat(0.0);
        let one = L::splat(1.0);

        let mut out_of_range = [u64::MAX; MAX_LANES];
        let mut interp_on: L::M = if FM::MODE == FMode::Interp && mode != Interp::Nearest { valid } else { L::mask_from_fn(|_| false) };
        let mut first_mask: L::M = match self.first_sweep_pixel {
            Some(p) if p / fpixels == spixel && p % fpixels >= f0 && p % fpixels < f0 + L::N => {
                L::and(L::mask_from_fn(|j| f0 + j == p % fpixels), valid)
            }
            _ => L::mask_from_fn(|_| false),
        };
        let mut i_sum = L::splat(if fixed { 0.0 } else { s.water.i_bg });
        let mut polar = L::splat(if s.beam.nopolar { 1.0 } else { 0.0 });
        let mut omega = zero;
        let mut omega_sum = zero;
        let mut capture = zero;
        let fbase = L::from_fn(|j| ((f0 + j) * os) as f64);
        if T::ON {
            tr.record::<L>("pixel", &[L::from_fn(|j| (f0 + j) as f64), L::splat(spixel as f64)]);
            tr.record::<L>("I_bg", &[L::splat(s.water.i_bg)]);
        }

        for layer in 0..s.sampling.thickness.layers {
            capture = L::splat(if s.sampling.thickness.thickness == 0.0 { 1.0 } else { 0.0 });
            let odet = layer as f64 * s.sampling.thickness.step;
            for sub_s in 0..os {
                let sdet = sub * (spixel * os + sub_s) as f64 + sub / 2.0;
                for sub_f in 0..os {
                    let first_sub = layer == 0 && sub_s == 0 && sub_f == 0;
                    let SubPixel { position: p, direction: mut d, airpath: r } =
                        self.subpixel::<L>(spixel, f0, fbase, [sub_f, sub_s, layer], [sub, sdet, odet]);
                    if first_sub || wo {
                        omega = self.solid_angle::<L>(r);
                    }
                    omega_sum = L::add(omega_sum, omega);
                    let need_capture = if s.sampling.oversample_thick { L::mask_from_fn(|_| true) } else { L::eq(capture, zero) };
                    if L::any(need_capture) {
                        capture = L::select(need_capture, self.capture_fraction::<L>(&d, layer), capture);
                    }
                    if T::ON {
                        let ctx = format!("[t={layer},s={sub_s},f={sub_f}]");
                        tr.record::<L>(&format!("position{ctx}"), &p);
                        tr.record::<L>(&format!("diffracted{ctx}"), &d);
                        tr.record::<L>(&format!("airpath{ctx}"), &[r]);
                        tr.record::<L>(&format!("omega{ctx}"), &[omega]);
                        tr.record::<L>(&format!("capture_fraction{ctx}"), &[capture]);
                    }
                    for (isrc, src) in self.sources.iter().enumerate() {
                        let sv = scattering::<L>(&d, src);
                        let ctx = if T::ON { format!("[t={layer},s={sub_s},f={sub_f},src={isrc}]") } else { String::new() };
                        let mut active = valid;
                        if dmin > 0.0 || T::ON {
                            let stol = L::mul(L::splat(0.5), L::sqrt(norm_sqr::<L>(&sv)));
                            if T::ON {
                                tr.record::<L>(&format!("incident{ctx}"), &each3!(|i| L::splat(src.incident[i])));
                                tr.record::<L>(&format!("wavelength{ctx}"), &[L::splat(src.lambda)]);
                                tr.record::<L>(&format!("scattering{ctx}"), &sv);
                                tr.record::<L>(&format!("stol{ctx}"), &[stol]);
                            }
                            if dmin > 0.0 {
                                let cut = L::and(L::lt(zero, stol), L::lt(L::div(L::splat(0.5), stol), L::splat(dmin)));
                                active = L::andnot(active, cut);
                                if T::ON && L::any(cut) {
                                    tr.record::<L>(&format!("dmin_cut{ctx}"), &[L::select(cut, one, zero)]);
                                }
                                if !L::any(active) {
                                    continue;
                                }
                            }
                        }
                        let need_polar = if skip_polar {
                            L::mask_from_fn(|_| false)
                        } else if s.sampling.oversample_polar {
                            active
                        } else {
                            L::and(L::eq(polar, zero), active)
                        };
                        if L::any(need_polar) {
                            let fresh = self.polarization::<L>(src, d);
                            polar = L::select(need_polar, fresh, polar);
                            // The reference normalises the diffracted vector again, in place.
                            let n2 = norm_sqr::<L>(&d);
                            d = if L::EXACT {
                                let rn = L::sqrt(n2);
                                each3!(|i| L::select(need_polar, L::div(d[i], rn), d[i]))
                            } else {
                                let inv = L::inv_sqrt(n2);
                                each3!(|i| L::select(need_polar, L::mul(d[i], inv), d[i]))
                            };
                        }
                        if T::ON {
                            tr.record::<L>(&format!("polar{ctx}"), &[polar]);
                        }
                        let blend = L::and(first_mask, active);
                        let blending = L::any(blend);
                        for step in 0..nsteps {
                            let rest = &self.orient_rest[step];
                            let o: [L::F; 9] = if blending {
                                let first = &self.orient_first[step];
                                each9!(|i| L::select(blend, L::splat(first[i]), L::splat(rest[i])))
                            } else {
                                each9!(|i| L::splat(rest[i]))
                            };
                            let (h, k, l) = (miller::<L>(&o, 0, &sv), miller::<L>(&o, 3, &sv), miller::<L>(&o, 6, &sv));
                            let half = L::splat(0.5);
                            let (h0, k0, l0) = (L::ceil(L::sub(h, half)), L::ceil(L::sub(k, half)), L::ceil(L::sub(l, half)));
                            let ordinal = ((((layer * os + sub_s) * os + sub_f) * nsrc + isrc) * nsteps + step) as u64;
                            let sctx = if T::ON {
                                format!("[t={layer},s={sub_s},f={sub_f},src={isrc},phi={},mos={}]", step / domains, step % domains)
                            } else {
                                String::new()
                            };

                            // F_cell first where it does not depend on the lattice factor: a
                            // sparse table with default_F 0 then skips most lattice factors.
                            let mut f_cell = L::splat(s.crystal.default_f);
                            if FM::MODE == FMode::Table {
                                f_cell = self.lookup::<L>(h0, k0, l0, active);
                            }
                            if FM::MODE == FMode::Table && !compounding && !water && !T::ON {
                                let contributes = L::andnot(active, L::eq(f_cell, zero));
                                if !L::any(contributes) {
                                    continue;
                                }
                            }
                            let fl = self.lattice::<L, SH>(h, k, l, h0, k0, l0);
                            if T::ON {
                                tr.record::<L>(&format!("phi_deg{sctx}"), &[L::splat(s.sampling.phi.angle(step / domains) * RTD)]);
                                tr.record::<L>(&format!("a{sctx}"), &o[0..3]);
                                tr.record::<L>(&format!("b{sctx}"), &o[3..6]);
                                tr.record::<L>(&format!("c{sctx}"), &o[6..9]);
                                tr.record::<L>(&format!("hkl{sctx}"), &[h, k, l]);
                                tr.record::<L>(&format!("hkl0{sctx}"), &[h0, k0, l0]);
                                let axis = |x, x0, n: f64| if n > 1.0 { self.lattice_axis::<L>(x, x0, n, true) } else { one };
                                let axes = [axis(h, h0, na), axis(k, k0, nb), axis(l, l0, nc)];
                                if SH::SHAPE == Shape::Square {
                                    tr.record::<L>(&format!("F_latt_abc{sctx}"), &axes);
                                }
                                let signed = if SH::SHAPE == Shape::Square && !L::EXACT { L::mul(L::mul(axes[0], axes[1]), axes[2]) } else { fl };
                                tr.record::<L>(&format!("F_latt{sctx}"), &[signed]);
                            }
                            // The reference skips a step whose lattice factor is exactly 0.
                            let reach = if water { active } else { L::andnot(active, L::eq(fl, zero)) };
                            if FM::MODE == FMode::Interp {
                                f_cell = self.interpolated::<L>(h, k, l, h0, k0, l0, reach, &mut interp_on, mode, ordinal, &mut out_of_range);
                            }
                            let (f, fl) = (V::<L>(f_cell), V::<L>(fl));
                            let contribution = (f * f * fl * fl).0;
                            i_sum = self.accumulate::<L>(accumulation, i_sum, contribution, reach, Factors { capture, polar, omega });
                            if T::ON {
                                tr.record::<L>(&format!("F_cell{sctx}"), &[f_cell]);
                                tr.record::<L>(&format!("I{sctx}"), &[i_sum]);
                            }
                        }
                        first_mask = L::andnot(first_mask, active);
                    }
                }
            }
        }

        let value = self.pixel_value::<L>(i_sum, Factors { capture, polar, omega });
        if T::ON {
            tr.record::<L>("I", &[i_sum]);
            tr.record::<L>("steps", &[L::splat(s.sampling.steps as f64)]);
            tr.record::<L>("r_e_sqr", &[L::splat(R_E_SQR)]);
            tr.record::<L>("fluence", &[L::splat(s.beam.fluence)]);
            tr.record::<L>("capture_fraction", &[capture]);
            tr.record::<L>("polar", &[polar]);
            tr.record::<L>("omega", &[omega]);
            tr.record::<L>("pixel_value", &[L::from_fn(|j| L::lane(value, j) as f32 as f64)]);
        }
        GroupOut { value, omega_sum, out_of_range }
    }

    /// Sub-pixel `[sub_f, sub_s, layer]` of the `L::N` pixels from `f0` in row `spixel`:
    /// position, direction and distance. `[sub, sdet, odet]`: the sub-pixel size and its slow
    /// and depth offsets (m), computed by the caller once per group and row (the size computed
    /// here cost B1 3% of its instructions on the scalar path, 1.4% on AVX2).
    #[inline(always)]
    fn subpixel<L: Lanes>(&self, spixel: usize, f0: usize, fbase: L::F, [sub_f, sub_s, layer]: [usize; 3], [sub, sdet, odet]: [f64; 3]) -> SubPixel<L> {
        let g = &self.panel.geometry;
        let p: [L::F; 3] = if self.panel.curved {
            let ps: Vec<V3> = (0..L::N).map(|j| self.position(f0 + j, spixel, sub_f, sub_s, layer)).collect();
            [L::from_fn(|j| ps[j][0]), L::from_fn(|j| ps[j][1]), L::from_fn(|j| ps[j][2])]
        } else {
            let fdet = V::<L>::splat(sub) * (V(fbase) + sub_f as f64) + sub / 2.0;
            each3!(|i| (fdet * g.fdet[i] + sdet * g.sdet[i] + odet * g.odet[i] + g.pix0[i]).0)
        };
        let r2 = norm_sqr::<L>(&p);
        let (d, r) = if L::EXACT {
            let r = L::sqrt(r2);
            ([L::div(p[0], r), L::div(p[1], r), L::div(p[2], r)], r)
        } else {
            // No division or square root: on AVX-512 those two were a fifth of B1's render.
            let inv = L::inv_sqrt(r2);
            ([L::mul(p[0], inv), L::mul(p[1], inv), L::mul(p[2], inv)], L::mul(r2, inv))
        };
        SubPixel { position: p, direction: d, airpath: r }
    }

    /// Solid angle of a pixel at distance `r`: px² close/R³, or 1/R² for point pixels.
    #[inline(always)]
    fn solid_angle<L: Lanes>(&self, r: L::F) -> L::F {
        let g = &self.panel.geometry;
        let r = V::<L>(r);
        if self.panel.point_pixel {
            (V::<L>::splat(1.0) / r / r).0
        } else {
            (V::<L>::splat(g.pixel_size * g.pixel_size) / r / r * g.close_distance / r).0
        }
    }

    /// Fraction of the photons along `d` that sensor layer `layer` absorbs.
    #[inline(always)]
    fn capture_fraction<L: Lanes>(&self, d: &[L::F; 3], layer: usize) -> L::F {
        let parallax = dot_const::<L>(d, self.panel.geometry.odet);
        let (t, mu) = (self.s.sampling.thickness.step, self.s.sampling.thickness.mu);
        L::from_fn(|j| {
            let par = L::lane(parallax, j);
            (-(layer as f64) * t * mu / par).exp() - (-((layer + 1) as f64) * t * mu / par).exp()
        })
    }

    /// Add one sub-step's `contribution` to the running sum of the lanes in `reach`, in the
    /// render's accumulation mode.
    #[inline(always)]
    fn accumulate<L: Lanes>(&self, mode: Accumulation, i_sum: L::F, contribution: L::F, reach: L::M, f: Factors<L>) -> L::F {
        match mode {
            Accumulation::Weighted => {
                let c = if self.s.water.size_m != 0.0 { L::add(contribution, L::splat(self.water_step)) } else { contribution };
                L::select(reach, L::add(i_sum, self.weighted::<L>(c, &f)), i_sum)
            }
            // Factors multiply the running sum (notes Q3).
            Accumulation::Compounding => L::select(reach, self.weighted::<L>(L::add(i_sum, contribution), &f), i_sum),
            Accumulation::Masked => L::select(reach, L::add(i_sum, contribution), i_sum),
            // A zero lattice factor adds zero, as the reference's skip does.
            Accumulation::Plain => L::add(i_sum, contribution),
        }
    }

    /// `x` times the factors applied per sub-step.
    #[inline(always)]
    fn weighted<L: Lanes>(&self, mut x: L::F, f: &Factors<L>) -> L::F {
        if self.weight_thick {
            x = L::mul(x, f.capture);
        }
        if self.weight_polar {
            x = L::mul(x, f.polar);
        }
        if self.weight_omega {
            x = L::mul(x, f.omega);
        }
        x
    }

    /// The pixel's value from its sum: r_e² fluence I / steps, times the factors not applied
    /// per sub-step.
    #[inline(always)]
    fn pixel_value<L: Lanes>(&self, i_sum: L::F, f: Factors<L>) -> L::F {
        let mut test = (V::<L>::splat(R_E_SQR * self.s.beam.fluence) * V(i_sum) / self.s.sampling.steps as f64).0;
        if !self.weight_thick {
            test = L::mul(test, f.capture);
        }
        if !self.weight_polar {
            test = L::mul(test, f.polar);
        }
        if !self.weight_omega {
            test = L::mul(test, f.omega);
        }
        L::add(L::splat(0.0), test)
    }

    /// Kahn polarization factor for each lane's diffracted direction.
    #[inline(always)]
    fn polarization<L: Lanes>(&self, src: &Src, d: [L::F; 3]) -> L::F {
        let k = self.s.beam.polarization;
        if L::EXACT {
            return L::from_fn(|j| {
                polarization_factor(k, src.incident, [L::lane(d[0], j), L::lane(d[1], j), L::lane(d[2], j)], self.polar_axis)
            });
        }
        let c = V::<L>(dot_const::<L>(&d, src.inc_unit));
        let c2 = c * c;
        let one = V::<L>::splat(1.0);
        let s2 = one - c2;
        let cos2psi = if k != 0.0 {
            // psi = -atan2(d·B, d·E), so cos 2psi = (e² - b²)/(e² + b²), no trigonometry.
            let (b, e) = (V::<L>(dot_const::<L>(&d, src.b_axis)), V::<L>(dot_const::<L>(&d, src.e_axis)));
            let (b2, e2) = (b * b, e * e);
            let den = e2 + b2;
            V(L::select(L::eq(den.0, L::splat(0.0)), one.0, ((e2 - b2) / den).0))
        } else {
            one
        };
        (V::<L>::splat(0.5) * ((one + c2) - V::splat(k) * cos2psi * s2)).0
    }

    /// sin(N π x)/sin(π x) for one axis, N > 1, up to its sign, which the square removes
    /// (`signed` restores it, for traces).
    #[inline(always)]
    fn lattice_axis<L: Lanes>(&self, x: L::F, x0: L::F, n: f64, signed: bool) -> L::F {
        if L::EXACT {
            return L::from_fn(|j| sincg(std::f64::consts::PI * L::lane(x, j), n));
        }
        // In units of pi from the nearest integer (x - x0 is exact, within 1/2).
        let delta = L::sub(x, x0);
        let chebyshev = n <= CHEBYSHEV_MAX_N;
        let ratio = if chebyshev {
            // sin(N pi delta)/sin(pi delta) = U_{N-1}(cos pi delta), by the three-term
            // recurrence U_{m+1} = 2c U_m - U_{m-1}, two steps per turn without moves.
            let c = cospi::<L>(delta);
            chebyshev_u::<L, 1>([L::add(c, c)], n as usize)[0]
        } else {
            let (top, bottom) = sine_ratio_parts::<L>(x, x0, n);
            L::div(top, bottom)
        };
        if !signed {
            return ratio;
        }
        // sin(N pi x)/sin(pi x) = (-1)^((N-1) x0) sin(N pi delta)/sin(pi delta), and
        // sin(N pi delta) = (-1)^k sin(pi t), k = round(N delta), in the ratio form.
        let k = L::round(L::mul(L::splat(n), delta));
        L::from_fn(|j| {
            let k = if chebyshev { 0.0 } else { L::lane(k, j) };
            let parity = ((n - 1.0) * L::lane(x0, j) + k).rem_euclid(2.0);
            if parity == 1.0 {
                -L::lane(ratio, j)
            } else {
                L::lane(ratio, j)
            }
        })
    }

    /// F_latt for the crystal shape.
    #[inline(always)]
    fn lattice<L: Lanes, SH: ShapeKind>(&self, h: L::F, k: L::F, l: L::F, h0: L::F, k0: L::F, l0: L::F) -> L::F {
        let [na, nb, nc] = self.s.crystal.n_cells;
        if L::EXACT {
            return L::from_fn(|j| {
                let x = |v: L::F| L::lane(v, j);
                f_latt(&self.shape, x(h), x(k), x(l), x(h0) as i32, x(k0) as i32, x(l0) as i32)
            });
        }
        let one = L::splat(1.0);
        match SH::SHAPE {
            Shape::Square => {
                if let Some(n) = self.cheb3 {
                    // Equal N on every axis: three recurrences in lockstep overlap their latency.
                    let t = [two_cospi::<L>(h, h0), two_cospi::<L>(k, k0), two_cospi::<L>(l, l0)];
                    let [fa, fb, fc] = chebyshev_u::<L, 3>(t, n);
                    return L::mul(L::mul(fa, fb), fc);
                }
                // Each axis as a numerator over a denominator, one division for all of them:
                // three divisions were a tenth of an N = 100 render on AVX2.
                let (mut num, mut den, mut divide) = (one, one, false);
                for (x, x0, n) in [(h, h0, na), (k, k0, nb), (l, l0, nc)] {
                    if n <= 1.0 {
                        continue;
                    }
                    if n <= CHEBYSHEV_MAX_N {
                        num = L::mul(num, self.lattice_axis::<L>(x, x0, n, false));
                    } else {
                        let (top, bottom) = sine_ratio_parts::<L>(x, x0, n);
                        (num, den, divide) = (L::mul(num, top), L::mul(den, bottom), true);
                    }
                }
                if divide {
                    L::div(num, den)
                } else {
                    num
                }
            }
            Shape::Round => {
                let (dh, dk, dl) = (L::sub(h, h0), L::sub(k, k0), L::sub(l, l0));
                let hrad_sqr = radius_term::<L>(dh, na) + radius_term::<L>(dk, nb) + radius_term::<L>(dl, nc);
                let y = L::sqrt((hrad_sqr * self.shape.fudge).0);
                // sin and cos of pi*y from y's distance to the nearest integer; both change
                // sign together there, which the square removes.
                let t = L::sub(y, L::round(y));
                let x = V::<L>::splat(std::f64::consts::PI) * V(y);
                let sinc3 = V::<L>::splat(3.0) * (V(sinpi::<L>(t)) / x - V(cospi::<L>(t))) / (x * x);
                let sinc3 = L::select(L::eq(x.0, L::splat(0.0)), one, sinc3.0);
                // Near a lattice point (F000 above all) the formula cancels: its value there is
                // set by how sin and cos are rounded, and the polynomials' ulps, amplified
                // by 3/x², put a pixel percents away from the reference's libm rounding.
                // Lanes below the switch take the reference's own arithmetic; above it the
                // two agree to ~1e-15/x² relative (1e-11 at the switch).
                let near = L::lt(x.0, L::splat(ROUND_REFERENCE_BELOW));
                let sinc3 = if L::any(near) {
                    L::from_fn(|j| if L::mask_lane(near, j) { sinc3_reference(L::lane(x.0, j)) } else { L::lane(sinc3, j) })
                } else {
                    sinc3
                };
                L::mul(L::splat(na * nb * nc * 0.723601254558268), sinc3)
            }
            _ => {
                let (dh, dk, dl) = (L::sub(h, h0), L::sub(k, k0), L::sub(l, l0));
                let sh = &self.shape;
                let (dh, dk, dl) = (V::<L>(dh), V::<L>(dk), V::<L>(dl));
                let [dx, dy, dz] = each3!(|i| (dh * sh.a_star[i] + dk * sh.b_star[i] + dl * sh.c_star[i]).0);
                let r2 = V::<L>(norm_sqr::<L>(&[dx, dy, dz]));
                let rad_star_sqr = (r2 * na * na * nb * nb * nc * nc).0;
                let nnn = L::splat(na * nb * nc);
                if SH::SHAPE == Shape::Gauss {
                    let arg = L::mul(L::div(rad_star_sqr, L::splat(0.63)), L::splat(sh.fudge));
                    L::mul(nnn, L::from_fn(|j| (-L::lane(arg, j)).exp()))
                } else {
                    let inside = L::lt(L::mul(rad_star_sqr, L::splat(sh.fudge)), L::splat(0.3969));
                    L::mul(nnn, L::select(inside, one, L::splat(0.0)))
                }
            }
        }
    }

    /// Nearest-neighbour F for lanes `m` with indices inside the table; default_F elsewhere.
    #[inline(always)]
    fn lookup<L: Lanes>(&self, h0: L::F, k0: L::F, l0: L::F, m: L::M) -> L::F {
        let default = L::splat(self.s.crystal.default_f);
        let Some((data, min, ext)) = self.table else { return default };
        let zero = L::splat(0.0);
        let (dh, dk, dl) = (L::sub(h0, L::splat(min[0])), L::sub(k0, L::splat(min[1])), L::sub(l0, L::splat(min[2])));
        // Inside [min, max] on each axis; the extents include one padding plane.
        let ih = L::and(L::le(zero, dh), L::lt(dh, L::splat(ext[0] - 1.0)));
        let ik = L::and(L::le(zero, dk), L::lt(dk, L::splat(ext[1] - 1.0)));
        let il = L::and(L::le(zero, dl), L::lt(dl, L::splat(ext[2] - 1.0)));
        let inside = L::and(L::and(L::and(ih, ik), il), m);
        if !L::any(inside) {
            return default;
        }
        let idx = L::mul_add(L::mul_add(dh, L::splat(ext[1]), dk), L::splat(ext[2]), dl);
        // SAFETY: lanes in `inside` index within the grid: 0 <= d < extent - 1 on each axis,
        // and HklTable guarantees data.len() == the product of the extents <= i32::MAX, so the
        // index is exact in f64 and fits the AVX2 gather's 32-bit lanes.
        unsafe { L::gather(data, idx, inside, default) }
    }

    /// F by tricubic interpolation where in range (lane by lane), nearest elsewhere, tracking
    /// the reference's switch to nearest after each pixel's first out-of-range point.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn interpolated<L: Lanes>(
        &self,
        h: L::F,
        k: L::F,
        l: L::F,
        h0: L::F,
        k0: L::F,
        l0: L::F,
        reach: L::M,
        interp_on: &mut L::M,
        mode: Interp,
        ordinal: u64,
        out_of_range: &mut [u64; MAX_LANES],
    ) -> L::F {
        let t = self.s.crystal.hkl.as_deref().expect("interpolation needs a table");
        let mut on = [false; MAX_LANES];
        let f = L::from_fn(|j| {
            let (x, y, z) = (L::lane(h, j), L::lane(k, j), L::lane(l, j));
            let nearest = || t.get(L::lane(h0, j) as i32, L::lane(k0, j) as i32, L::lane(l0, j) as i32).unwrap_or(self.s.crystal.default_f);
            on[j] = L::mask_lane(*interp_on, j);
            if !L::mask_lane(reach, j) {
                return self.s.crystal.default_f;
            }
            if !on[j] {
                return nearest();
            }
            if t.interpolation_in_range(x, y, z) {
                return t.interpolate(x, y, z);
            }
            if out_of_range[j] == u64::MAX {
                out_of_range[j] = ordinal;
            }
            if mode == Interp::UntilOutOfRange {
                on[j] = false;
            }
            nearest()
        });
        *interp_on = L::mask_from_fn(|j| on[j]);
        f
    }

    fn base_interp(&self) -> Interp {
        if !self.s.crystal.interpolate {
            Interp::Nearest
        } else if self.fixed {
            Interp::WhereInRange
        } else {
            Interp::UntilOutOfRange
        }
    }

    /// Render one row's pixels from linear index `from_idx` on; returns the row's solid-angle
    /// sum and, with `stop_at_event`, the linear index of the row's first pixel that met an
    /// out-of-range interpolation point (pixels after it are left for a second pass).
    #[inline(always)]
    fn row<L: Lanes, SH: ShapeKind, FM: FModeKind>(&self, spixel: usize, row: &mut [f32], job: &RowJob<'_>) -> RowOut {
        let p = self.panel;
        let f = p.geometry.fpixels;
        let (x0, x1) = (p.roi[0], p.roi[1]);
        let mut out = RowOut { omega_sum: 0.0, first_event: None };
        let mut f0 = x0;
        while f0 <= x1 {
            if let Some(first) = job.first_event {
                if spixel * f + f0 > first.load(Ordering::Relaxed) {
                    break;
                }
            }
            let lanes = L::N.min(x1 + 1 - f0);
            let mut use_lane = [false; 32];
            for (j, u) in use_lane.iter_mut().enumerate().take(lanes) {
                *u = spixel * f + f0 + j >= job.from_idx && p.renders(f0 + j, spixel);
            }
            let use_lane = |j: usize| use_lane[j];
            let valid = L::mask_from_fn(use_lane);
            if L::any(valid) {
                let g = self.group::<L, NoTrace, SH, FM>(spixel, f0, valid, job.interp, &mut NoTrace);
                // With a shutdown pass, keep the lanes up to the first event only.
                let mut last_lane = lanes;
                if job.first_event.is_some() {
                    if let Some(j) = (0..lanes).find(|&j| use_lane(j) && g.out_of_range[j] != u64::MAX) {
                        last_lane = j + 1;
                        out.first_event = Some(spixel * f + f0 + j);
                        if let Some(first) = job.first_event {
                            first.fetch_min(spixel * f + f0 + j, Ordering::Relaxed);
                        }
                    }
                }
                for j in 0..last_lane {
                    if use_lane(j) {
                        row[f0 + j] = L::lane(g.value, j) as f32;
                        out.omega_sum += L::lane(g.omega_sum, j);
                    }
                }
                if out.first_event.is_some() {
                    break;
                }
            }
            f0 += L::N;
        }
        out
    }

    /// Render rows `rows` of `data` (the whole image, row-major); per-row solid-angle sums and
    /// first interpolation events.
    fn pass(&self, data: &mut [f32], rows: std::ops::RangeInclusive<usize>, job: &RowJob<'_>, ctl: &RenderControl) -> Result<Vec<RowOut>> {
        let f = self.panel.geometry.fpixels;
        let (r0, r1) = (*rows.start(), *rows.end());
        let row_fn = self.row_fn();
        data[r0 * f..(r1 + 1) * f]
            .par_chunks_mut(f)
            .enumerate()
            .map(|(i, row)| -> Result<RowOut> {
                if ctl.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                // SAFETY: `row_fn` was chosen for an instruction set this CPU supports.
                let out = unsafe { row_fn(self, r0 + i, row, job) };
                ctl.rows_done.fetch_add(1, Ordering::Relaxed);
                Ok(out)
            })
            .collect()
    }

    /// Render the image into `data`; returns the total solid-angle sum and the pixel after
    /// which interpolation was switched off, if it was.
    fn render_into(&self, data: &mut [f32], ctl: &RenderControl) -> Result<(f64, Option<usize>)> {
        let p = self.panel;
        let rows = p.roi[2]..=p.roi[3];
        let base = self.base_interp();
        if base != Interp::UntilOutOfRange {
            let job = RowJob { from_idx: 0, interp: base, first_event: None };
            let out = self.pass(data, rows, &job, ctl)?;
            return Ok((out.iter().map(|r| r.omega_sum).sum(), None));
        }
        // Rows before the first out-of-range pixel are final after the first pass; the row
        // holding it is final up to it; everything after is rendered again without
        // interpolation. Each row's sum therefore comes from a fixed set of pixels.
        let first = AtomicUsize::new(usize::MAX);
        let job = RowJob { from_idx: 0, interp: base, first_event: Some(&first) };
        let mut out = self.pass(data, rows.clone(), &job, ctl)?;
        let first = match out.iter().filter_map(|r| r.first_event).min() {
            Some(p) => p,
            None => return Ok((out.iter().map(|r| r.omega_sum).sum(), None)),
        };
        let f = p.geometry.fpixels;
        let row_of_first = first / f;
        let job = RowJob { from_idx: first + 1, interp: Interp::Nearest, first_event: None };
        let redo = self.pass(data, row_of_first..=p.roi[3], &job, ctl)?;
        let k = row_of_first - p.roi[2];
        out[k].omega_sum += redo[0].omega_sum;
        out.truncate(k + 1);
        out.extend(redo.into_iter().skip(1));
        Ok((out.iter().map(|r| r.omega_sum).sum(), Some(first)))
    }

    /// Trace pixel (fast, slow) as the render computes it: its value and the trace lines.
    pub fn trace(&self, fpixel: usize, spixel: usize) -> Result<(f32, Vec<String>)> {
        let p = self.panel;
        if fpixel >= p.geometry.fpixels || spixel >= p.geometry.spixels {
            return Err(Error::Input(format!(
                "pixel ({fpixel}, {spixel}) is outside the {}x{} detector",
                p.geometry.fpixels, p.geometry.spixels
            )));
        }
        if !p.renders(fpixel, spixel) {
            return Ok((0.0, vec![format!("TRACE skipped {fpixel} {spixel}")]));
        }
        let mut lines = vec![format!("TRACE isa {}", self.isa.name())];
        let mut interp = self.base_interp();
        if interp == Interp::UntilOutOfRange {
            // Where the serial render would have switched interpolation off.
            let mut scratch = vec![0f32; p.geometry.fpixels * p.geometry.spixels];
            let (_, first) = self.render_into(&mut scratch, &RenderControl::default())?;
            if let Some(first) = first {
                if spixel * p.geometry.fpixels + fpixel > first {
                    interp = Interp::Nearest;
                }
                let f = p.geometry.fpixels;
                lines.push(format!("TRACE interpolation_off_after_pixel {} {}", first % f, first / f));
            }
        }
        let trace_fn = self.trace_fn();
        // SAFETY: `trace_fn` was chosen for an instruction set this CPU supports.
        let (value, mut traced) = unsafe { trace_fn(self, fpixel, spixel, interp) };
        lines.append(&mut traced);
        Ok((value, lines))
    }

    /// Trace through the same lane group, and so the same arithmetic, as the render.
    #[inline(always)]
    fn trace_group<L: Lanes, SH: ShapeKind, FM: FModeKind>(&self, fpixel: usize, spixel: usize, interp: Interp) -> (f32, Vec<String>) {
        let x0 = self.panel.roi[0];
        let f0 = x0 + (fpixel - x0) / L::N * L::N;
        let lane = fpixel - f0;
        let mut t = TextTrace { lane, lines: Vec::new() };
        let valid = L::mask_from_fn(|j| j == lane);
        let g = self.group::<L, TextTrace, SH, FM>(spixel, f0, valid, interp, &mut t);
        (L::lane(g.value, lane) as f32, t.lines)
    }
}

/// U_{n-1}(c) from 2c for K arguments at once, 2 <= n <= 24, by the recurrence
/// U_{m+1} = 2c U_m - U_{m-1} run only to about n/2 and finished by a doubling identity,
/// U_{2m-1} = U_{m-1} (U_m - U_{m-2}) or U_{2m} = (U_m - U_{m-1}) (U_m + U_{m-1}), where that is
/// shorter. Each n is a constant-length, fully unrolled chain (n is fixed for a render, so the
/// branch is always predicted), the K chains interleaved so their latencies overlap.
#[inline(always)]
fn chebyshev_u<L: Lanes, const K: usize>(two_c: [L::F; K], n: usize) -> [L::F; K] {
    #[inline(always)]
    fn chain<L: Lanes, const K: usize, const N: usize>(t: [L::F; K]) -> [L::F; K] {
        // Run the recurrence to index `top`, keeping the last three values.
        let direct = N - 2;
        let half = N / 2;
        let doubled = if N.is_multiple_of(2) { half + 1 } else { half + 2 };
        let top = if doubled < direct { half } else { N - 1 };
        let mut u0 = [L::splat(1.0); K]; // U_{i-1}
        let mut u1 = t; // U_i, i = 1
        let mut um = [L::splat(0.0); K]; // U_{i-2}
        for _ in 1..top {
            for i in 0..K {
                let u2 = L::mul_sub(t[i], u1[i], u0[i]);
                um[i] = u0[i];
                u0[i] = u1[i];
                u1[i] = u2;
            }
        }
        if top == N - 1 {
            return u1;
        }
        let mut out = u1;
        for i in 0..K {
            out[i] = if N.is_multiple_of(2) {
                L::mul(u0[i], L::sub(u1[i], um[i]))
            } else {
                L::mul(L::sub(u1[i], u0[i]), L::add(u1[i], u0[i]))
            };
        }
        out
    }
    macro_rules! arms {
        ($($n:literal),*) => {
            match n {
                $($n => chain::<L, K, $n>(two_c),)*
                _ => unreachable!("Chebyshev path for N = {n}"),
            }
        };
    }
    arms!(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24)
}

/// `[f(0), f(1), f(2)]` written out: closures are not reliably inlined, and an outlined
/// closure loses the caller's instruction set (its intrinsics become calls).
macro_rules! each3 {
    (|$i:ident| $e:expr) => {
        [{ let $i = 0usize; $e }, { let $i = 1usize; $e }, { let $i = 2usize; $e }]
    };
}
use each3;

/// `[f(0), ..., f(8)]` written out (see [`each3`]).
macro_rules! each9 {
    (|$i:ident| $e:expr) => {
        [
            { let $i = 0usize; $e }, { let $i = 1usize; $e }, { let $i = 2usize; $e },
            { let $i = 3usize; $e }, { let $i = 4usize; $e }, { let $i = 5usize; $e },
            { let $i = 6usize; $e }, { let $i = 7usize; $e }, { let $i = 8usize; $e },
        ]
    };
}
use each9;

/// Row `row` (0, 3 or 6) of an orientation dotted with the scattering vector: h, k or l.
#[inline(always)]
fn miller<L: Lanes>(o: &[L::F; 9], row: usize, sv: &[L::F; 3]) -> L::F {
    if L::EXACT {
        L::add(L::add(L::mul(o[row], sv[0]), L::mul(o[row + 1], sv[1])), L::mul(o[row + 2], sv[2]))
    } else {
        L::mul_add(o[row + 2], sv[2], L::mul_add(o[row + 1], sv[1], L::mul(o[row], sv[0])))
    }
}

/// d · v for lane vectors d and a constant v, summed left to right.
#[inline(always)]
fn dot_const<L: Lanes>(d: &[L::F; 3], v: V3) -> L::F {
    let [x, y, z] = d.map(V::<L>);
    (x * v[0] + y * v[1] + z * v[2]).0
}

/// |v|², summed left to right.
#[inline(always)]
fn norm_sqr<L: Lanes>(v: &[L::F; 3]) -> L::F {
    let [x, y, z] = v.map(V::<L>);
    (x * x + y * y + z * z).0
}

/// The scattering vector (d - incident)/λ of one source, per lane.
#[inline(always)]
fn scattering<L: Lanes>(d: &[L::F; 3], src: &Src) -> [L::F; 3] {
    each3!(|i| {
        let diff = L::sub(d[i], L::splat(src.incident[i]));
        if L::EXACT {
            L::div(diff, L::splat(src.lambda))
        } else {
            L::mul(diff, L::splat(src.inv_lambda))
        }
    })
}

/// sin(N π x)/sin(π x) up to its sign as (numerator, denominator): ±sin(π t) over sin(π δ),
/// with δ = x - x0 and t = N δ - round(N δ), so neither sine needs range reduction; N over 1
/// at δ = 0.
#[inline(always)]
fn sine_ratio_parts<L: Lanes>(x: L::F, x0: L::F, n: f64) -> (L::F, L::F) {
    let delta = L::sub(x, x0);
    let p = L::mul(L::splat(n), delta);
    let t = L::sub(p, L::round(p));
    let at_zero = L::eq(delta, L::splat(0.0));
    (L::select(at_zero, L::splat(n), sinpi::<L>(t)), L::select(at_zero, L::splat(1.0), sinpi::<L>(delta)))
}

/// 2 cos(pi (x - x0)).
#[inline(always)]
fn two_cospi<L: Lanes>(x: L::F, x0: L::F) -> L::F {
    let c = cospi::<L>(L::sub(x, x0));
    L::add(c, c)
}

/// Below this x = pi·|dh·N| the round-crystal transform takes the reference's arithmetic on
/// every path (see the `ROUND` arm of `lattice`).
const ROUND_REFERENCE_BELOW: f64 = 1e-2;

/// The reference's 3(sin x/x - cos x)/x² with libm's sin and cos, kept out of line: it runs
/// only for the few lanes near a lattice point.
#[inline(never)]
fn sinc3_reference(x: f64) -> f64 {
    crate::lattice::sinc3(x)
}

/// d² n²: one axis of the round shape's radius.
#[inline(always)]
fn radius_term<L: Lanes>(d: L::F, n: f64) -> V<L> {
    let d = V::<L>(d);
    d * d * n * n
}

/// One pass over rows.
struct RowJob<'a> {
    from_idx: usize,
    interp: Interp,
    first_event: Option<&'a AtomicUsize>,
}

/// What one row produced.
struct RowOut {
    omega_sum: f64,
    first_event: Option<usize>,
}

type RowFn = unsafe fn(&Plan<'_>, usize, &mut [f32], &RowJob<'_>) -> RowOut;
type TraceFn = unsafe fn(&Plan<'_>, usize, usize, Interp) -> (f32, Vec<String>);

macro_rules! isa_entry_points {
    ($row:ident, $trace:ident, $lanes:ty, $($feature:literal)?) => {
        $(#[target_feature(enable = $feature)])?
        unsafe fn $row<SH: ShapeKind, FM: FModeKind>(p: &Plan<'_>, spixel: usize, row: &mut [f32], job: &RowJob<'_>) -> RowOut {
            p.row::<$lanes, SH, FM>(spixel, row, job)
        }
        $(#[target_feature(enable = $feature)])?
        unsafe fn $trace<SH: ShapeKind, FM: FModeKind>(p: &Plan<'_>, fpixel: usize, spixel: usize, interp: Interp) -> (f32, Vec<String>) {
            p.trace_group::<$lanes, SH, FM>(fpixel, spixel, interp)
        }
    };
}

#[cfg(target_arch = "x86_64")]
// Four vectors per group on AVX-512: the sub-pixel's chain (square root, Miller indices,
// cosine, Chebyshev recurrence) is latency-bound, and 32 registers hold four chains; B1 13% and
// L2048 22% faster than two on a Xeon. AVX2's 16 registers spill at four.
isa_entry_points!(row_avx512, trace_avx512, crate::simd::Double<crate::simd::Double<crate::simd::Avx512>>, "avx512f,avx512dq");
#[cfg(target_arch = "x86_64")]
isa_entry_points!(row_avx2, trace_avx2, crate::simd::Double<crate::simd::Avx2>, "avx2,fma");
isa_entry_points!(row_scalar, trace_scalar, Scalar,);
isa_entry_points!(row_exact, trace_exact, Exact,);

macro_rules! pick {
    ($f:ident, $sh:expr, $fm:expr) => {
        match ($sh, $fm) {
            (Shape::Square, FMode::Const) => $f::<SquareXtal, FConst> as _,
            (Shape::Square, FMode::Table) => $f::<SquareXtal, FTable> as _,
            (Shape::Square, FMode::Interp) => $f::<SquareXtal, FInterp> as _,
            (Shape::Round, FMode::Const) => $f::<RoundXtal, FConst> as _,
            (Shape::Round, FMode::Table) => $f::<RoundXtal, FTable> as _,
            (Shape::Round, FMode::Interp) => $f::<RoundXtal, FInterp> as _,
            (Shape::Gauss, FMode::Const) => $f::<GaussXtal, FConst> as _,
            (Shape::Gauss, FMode::Table) => $f::<GaussXtal, FTable> as _,
            (Shape::Gauss, FMode::Interp) => $f::<GaussXtal, FInterp> as _,
            (Shape::Tophat, FMode::Const) => $f::<TophatXtal, FConst> as _,
            (Shape::Tophat, FMode::Table) => $f::<TophatXtal, FTable> as _,
            (Shape::Tophat, FMode::Interp) => $f::<TophatXtal, FInterp> as _,
        }
    };
}

impl Plan<'_> {
    fn row_fn(&self) -> RowFn {
        let (sh, fm) = (self.s.crystal.shape, self.f_mode);
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => pick!(row_avx512, sh, fm),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => pick!(row_avx2, sh, fm),
            Isa::Exact => pick!(row_exact, sh, fm),
            _ => pick!(row_scalar, sh, fm),
        }
    }

    fn trace_fn(&self) -> TraceFn {
        let (sh, fm) = (self.s.crystal.shape, self.f_mode);
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => pick!(trace_avx512, sh, fm),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => pick!(trace_avx2, sh, fm),
            Isa::Exact => pick!(trace_exact, sh, fm),
            _ => pick!(trace_scalar, sh, fm),
        }
    }
}

/// Cancellation and progress shared with the caller while rendering.
#[derive(Default)]
pub struct RenderControl {
    /// Set to stop the render; it then returns [`Error::Cancelled`].
    pub cancel: AtomicBool,
    /// Rows finished so far (a row rendered twice counts twice).
    pub rows_done: AtomicUsize,
}

/// A rendered float image and the sums the reference prints.
#[derive(Clone, Debug)]
pub struct Image {
    pub fpixels: usize,
    pub spixels: usize,
    /// Photons per pixel, row-major (slow index outer).
    pub data: Vec<f32>,
    /// Sum of the solid angles of every sub-pixel and layer.
    pub omega_sum: f64,
    /// The instruction set that rendered it.
    pub isa: Isa,
}

/// Render the whole image on the current rayon pool with the fastest supported path.
pub fn render(s: &Setup, ctl: &RenderControl) -> Result<Image> {
    render_with(s, Isa::detect(), ctl)
}

/// Render with a chosen instruction-set path.
pub fn render_with(s: &Setup, isa: Isa, ctl: &RenderControl) -> Result<Image> {
    let plan = Plan::with_isa(s, isa);
    let (f, n) = (s.panel().geometry.fpixels, s.panel().geometry.spixels);
    let mut data = vec![0f32; f * n];
    let (omega_sum, _) = plan.render_into(&mut data, ctl)?;
    Ok(Image { fpixels: f, spixels: n, data, omega_sum, isa: plan.isa })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chebyshev_matches_the_sine_ratio() {
        // U_{N-1}(cos x) = sin(N x)/sin(x) for every N on the Chebyshev path, near and far from
        // the peak (x = 0) and at the half-way zero of cos.
        for n in 2..=24usize {
            for i in 0..=400 {
                let delta = -0.5 + i as f64 / 400.0 + 1e-7;
                let x = std::f64::consts::PI * delta;
                let want = (n as f64 * x).sin() / x.sin();
                let got = chebyshev_u::<Scalar, 1>([2.0 * x.cos()], n)[0];
                assert!((got - want).abs() <= 1e-12 * n as f64, "n={n} delta={delta} {got} {want}");
            }
        }
    }
}
