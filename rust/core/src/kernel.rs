//! The pixel loop.
//!
//! Each pixel sums, over sensor layers, sub-pixels, sources, spindle steps and mosaic
//! domains, |F_cell|² |F_latt|², then scales by r_e², fluence, polarization, solid angle and
//! 1/steps. The order of every operation is the reference's, so the image agrees with
//! nanoBragg.c bit for bit. Two pieces of the reference's serial state are made independent
//! of the pixel order so rows can run in parallel and give the same image on any number of
//! threads:
//!
//! * the phi carry-over (notes Q1): a step at phi = 0 reuses the last nonzero-phi orientation,
//!   which after the first evaluated sweep is always that of the last nonzero step; only the
//!   first sweep of the whole render sees the unrotated crystal. [`Plan`] finds that sweep.
//! * the interpolation shutdown (Q2): the first out-of-range point in serial order turns
//!   interpolation off for the rest of the render. A first pass records each pixel's first such
//!   point; pixels after the earliest one are rendered again without interpolation.

use crate::config::Shape;
use crate::error::{Error, Result};
use crate::lattice::{f_latt, polarization_factor, square_factors, LatticeShape};
use crate::setup::{Setup, R_E_SQR};
use crate::vec3::{mat_vec, rotate_axis, unitize, V3};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Receives the named factors of one pixel's intensity chain (see docs/trace.md).
pub trait Tracer {
    /// False for the no-op tracer, so that no trace work is done in a normal render.
    const ON: bool;
    fn record(&mut self, name: &str, values: &[f64]);
}

/// The tracer of a normal render: does nothing, costs nothing.
pub struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;
    #[inline(always)]
    fn record(&mut self, _: &str, _: &[f64]) {}
}

/// A tracer that keeps `TRACE <name> <values>` lines.
#[derive(Default)]
pub struct TextTrace {
    pub lines: Vec<String>,
}

impl Tracer for TextTrace {
    const ON: bool = true;
    fn record(&mut self, name: &str, values: &[f64]) {
        let mut line = format!("TRACE {name}");
        for v in values {
            line.push(' ');
            line.push_str(&crate::fmt::g_prec(*v, 17));
        }
        self.lines.push(line);
    }
}

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

/// Orientation (a, b, c in m) of each spindle step and mosaic domain.
type Orientations = Vec<[V3; 3]>;

/// Per-render data shared by all pixels.
pub struct Plan<'a> {
    s: &'a Setup,
    shape: LatticeShape,
    /// Orientations for `phi_tic * domains + mos_tic`, for the very first sweep and all others.
    orient_first: Orientations,
    orient_rest: Orientations,
    /// Linear index of the pixel whose first sweep sees the unrotated crystal (Q1).
    first_sweep_pixel: Option<usize>,
    /// Polarization axis as the reference's in-place normalisation leaves it.
    polar_axis: V3,
    fixed: bool,
}

/// What one pixel produced.
#[derive(Clone, Copy, Debug, Default)]
pub struct PixelOut {
    pub value: f32,
    /// Sum of the solid angle over sub-pixels and layers (for the printed statistics).
    pub omega_sum: f64,
    /// Ordinal of the first out-of-range interpolation point met, if any.
    pub out_of_range: Option<u64>,
}

impl<'a> Plan<'a> {
    /// Precompute orientations and the serial-order state of the reference.
    pub fn new(s: &'a Setup) -> Plan<'a> {
        let fixed = s.fix_quirks;
        let phis: Vec<f64> = (0..s.phi.count).map(|i| s.phi.angle(i)).collect();
        let rotated = |phi: f64| -> [V3; 3] {
            [
                rotate_axis(s.a0, s.geometry.spindle, phi),
                rotate_axis(s.b0, s.geometry.spindle, phi),
                rotate_axis(s.c0, s.geometry.spindle, phi),
            ]
        };
        let unrotated = [s.a0, s.b0, s.c0];
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
        let with_mosaic = |spindle: Vec<[V3; 3]>| -> Orientations {
            let mut out = Vec::with_capacity(spindle.len() * s.mosaic_umats.len());
            for [ap, bp, cp] in spindle {
                for u in &s.mosaic_umats {
                    out.push(if s.mosaic_spread > 0.0 {
                        [mat_vec(u, ap), mat_vec(u, bp), mat_vec(u, cp)]
                    } else {
                        [ap, bp, cp]
                    });
                }
            }
            out
        };
        let orient_first = with_mosaic(sweep(unrotated));
        let orient_rest = with_mosaic(sweep(carry_rest));

        // The reference re-normalises the axis in place at each call; it settles at once.
        let mut polar_axis = s.geometry.polar;
        for _ in 0..4 {
            polar_axis = unitize(polar_axis).0;
        }

        let mut plan = Plan {
            s,
            shape: LatticeShape {
                shape: s.shape,
                n: s.n_cells,
                fudge: s.fudge,
                a_star: s.lattice.a_star,
                b_star: s.lattice.b_star,
                c_star: s.lattice.c_star,
            },
            orient_first,
            orient_rest,
            first_sweep_pixel: None,
            polar_axis,
            fixed,
        };
        plan.first_sweep_pixel = plan.find_first_sweep_pixel();
        plan
    }

    /// The first pixel in serial order where some source passes the resolution cut.
    fn find_first_sweep_pixel(&self) -> Option<usize> {
        let s = self.s;
        let f = s.geometry.fpixels;
        for spixel in s.roi[2]..=s.roi[3] {
            for fpixel in s.roi[0]..=s.roi[1] {
                if !s.renders(fpixel, spixel) {
                    continue;
                }
                if s.dmin <= 0.0 || self.any_source_passes_dmin(fpixel, spixel) {
                    return Some(spixel * f + fpixel);
                }
            }
        }
        None
    }

    fn any_source_passes_dmin(&self, fpixel: usize, spixel: usize) -> bool {
        let s = self.s;
        for layer in 0..s.thickness.layers {
            for sub_s in 0..s.oversample {
                for sub_f in 0..s.oversample {
                    let (d, _) = unitize(self.position(fpixel, spixel, sub_f, sub_s, layer));
                    for src in &s.sources {
                        let st = scattering(d, src.direction, src.wavelength_m);
                        if !cut_by_dmin(s.dmin, 0.5 * norm3(st)) {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// Lab position of a sub-pixel (before curving), in the reference's term order.
    #[inline(always)]
    fn position(&self, fpixel: usize, spixel: usize, sub_f: usize, sub_s: usize, layer: usize) -> V3 {
        let s = self.s;
        let g = &s.geometry;
        let os = s.oversample;
        let sub = g.pixel_size / os as f64;
        let fdet = sub * (fpixel * os + sub_f) as f64 + sub / 2.0;
        let sdet = sub * (spixel * os + sub_s) as f64 + sub / 2.0;
        let odet = layer as f64 * s.thickness.step;
        let mut p = [0.0; 3];
        for i in 0..3 {
            p[i] = fdet * g.fdet[i] + sdet * g.sdet[i] + odet * g.odet[i] + g.pix0[i];
        }
        if s.curved {
            let v = [s.geometry.distance * g.beam[0], s.geometry.distance * g.beam[1], s.geometry.distance * g.beam[2]];
            let v = rotate_axis(v, g.sdet, p[1] / g.distance);
            p = rotate_axis(v, g.fdet, p[2] / g.distance);
        }
        p
    }

    /// Render one pixel, telling `tracer` every factor of its intensity chain.
    fn pixel<T: Tracer>(&self, fpixel: usize, spixel: usize, mut interp: Interp, tracer: &mut T) -> PixelOut {
        let s = self.s;
        let g = &s.geometry;
        let fixed = self.fixed;
        let idx = spixel * g.fpixels + fpixel;
        let mut first_sweep = self.first_sweep_pixel == Some(idx);
        let domains = s.mosaic_umats.len();
        let phisteps = s.phi.count;
        let nsrc = s.sources.len();
        let os = s.oversample;
        let (ot, op, oo) = (s.oversample_thick || (fixed && s.thickness.layers > 1), s.oversample_polar, s.oversample_omega);
        let (ot_flag, op_flag, oo_flag) = (s.oversample_thick, s.oversample_polar, s.oversample_omega);
        let hkl = s.hkl.as_deref();
        let mut out = PixelOut::default();

        // In the corrected mode the water adds to every sub-step, so it is scaled once.
        let water_step = if fixed && s.water_size > 0.0 { s.i_bg / (R_E_SQR * s.fluence) } else { 0.0 };
        let mut i_sum = if fixed { 0.0 } else { s.i_bg };
        let mut polar = if s.nopolar { 1.0 } else { 0.0 };
        let mut omega = 0.0;
        let mut capture = 0.0;
        if T::ON {
            tracer.record("pixel", &[fpixel as f64, spixel as f64]);
            tracer.record("I_bg", &[s.i_bg]);
        }

        for layer in 0..s.thickness.layers {
            capture = if s.thickness.thickness == 0.0 { 1.0 } else { 0.0 };
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let p = self.position(fpixel, spixel, sub_f, sub_s, layer);
                    let (mut d, airpath) = unitize(p);
                    if omega == 0.0 || oo_flag {
                        omega = if s.point_pixel {
                            1.0 / airpath / airpath
                        } else {
                            g.pixel_size * g.pixel_size / airpath / airpath * g.close_distance / airpath
                        };
                    }
                    out.omega_sum += omega;
                    if capture == 0.0 || ot_flag {
                        let parallax = d[0] * g.odet[0] + d[1] * g.odet[1] + d[2] * g.odet[2];
                        let (t, mu) = (s.thickness.step, s.thickness.mu);
                        capture = (-(layer as f64) * t * mu / parallax).exp()
                            - (-((layer + 1) as f64) * t * mu / parallax).exp();
                    }
                    if T::ON {
                        let ctx = format!("[t={layer},s={sub_s},f={sub_f}]");
                        tracer.record(&format!("position{ctx}"), &p);
                        tracer.record(&format!("diffracted{ctx}"), &d);
                        tracer.record(&format!("airpath{ctx}"), &[airpath]);
                        tracer.record(&format!("omega{ctx}"), &[omega]);
                        tracer.record(&format!("capture_fraction{ctx}"), &[capture]);
                    }
                    for (isrc, src) in s.sources.iter().enumerate() {
                        let lambda = src.wavelength_m;
                        let incident = [-src.direction[0], -src.direction[1], -src.direction[2]];
                        let sv = [(d[0] - incident[0]) / lambda, (d[1] - incident[1]) / lambda, (d[2] - incident[2]) / lambda];
                        let stol = 0.5 * norm3(sv);
                        let ctx = if T::ON { format!("[t={layer},s={sub_s},f={sub_f},src={isrc}]") } else { String::new() };
                        if T::ON {
                            tracer.record(&format!("incident{ctx}"), &incident);
                            tracer.record(&format!("wavelength{ctx}"), &[lambda]);
                            tracer.record(&format!("scattering{ctx}"), &sv);
                            tracer.record(&format!("stol{ctx}"), &[stol]);
                        }
                        if cut_by_dmin(s.dmin, stol) {
                            if T::ON {
                                tracer.record(&format!("dmin_cut{ctx}"), &[1.0]);
                            }
                            continue;
                        }
                        if (polar == 0.0 || op_flag) && !(fixed && s.nopolar) {
                            polar = polarization_factor(s.polarization, incident, d, self.polar_axis);
                            // The reference normalises the diffracted vector again in place.
                            d = unitize(d).0;
                        }
                        if T::ON {
                            tracer.record(&format!("polar{ctx}"), &[polar]);
                        }
                        let orient = if first_sweep { &self.orient_first } else { &self.orient_rest };
                        first_sweep = false;
                        for phi_tic in 0..phisteps {
                            for mos in 0..domains {
                                let [a, b, c] = orient[phi_tic * domains + mos];
                                let h = a[0] * sv[0] + a[1] * sv[1] + a[2] * sv[2];
                                let k = b[0] * sv[0] + b[1] * sv[1] + b[2] * sv[2];
                                let l = c[0] * sv[0] + c[1] * sv[1] + c[2] * sv[2];
                                let h0 = (h - 0.5).ceil() as i32;
                                let k0 = (k - 0.5).ceil() as i32;
                                let l0 = (l - 0.5).ceil() as i32;
                                let fl = f_latt(&self.shape, h, k, l, h0, k0, l0);
                                let sctx = if T::ON {
                                    format!("[t={layer},s={sub_s},f={sub_f},src={isrc},phi={phi_tic},mos={mos}]")
                                } else {
                                    String::new()
                                };
                                if T::ON {
                                    tracer.record(&format!("phi_deg{sctx}"), &[s.phi.angle(phi_tic) * crate::setup::RTD]);
                                    tracer.record(&format!("a{sctx}"), &a);
                                    tracer.record(&format!("b{sctx}"), &b);
                                    tracer.record(&format!("c{sctx}"), &c);
                                    tracer.record(&format!("hkl{sctx}"), &[h, k, l]);
                                    tracer.record(&format!("hkl0{sctx}"), &[h0 as f64, k0 as f64, l0 as f64]);
                                    if s.shape == Shape::Square {
                                        tracer.record(&format!("F_latt_abc{sctx}"), &square_factors(&self.shape, h, k, l));
                                    }
                                    tracer.record(&format!("F_latt{sctx}"), &[fl]);
                                }
                                if fl == 0.0 && s.water_size == 0.0 {
                                    continue;
                                }
                                let ordinal = ((((layer * os + sub_s) * os + sub_f) * nsrc + isrc) * phisteps + phi_tic)
                                    * domains
                                    + mos;
                                let mut f_cell = s.default_f;
                                let mut nearest = interp == Interp::Nearest;
                                if !nearest {
                                    let t = hkl.expect("interpolation needs a table");
                                    if t.interpolation_in_range(h, k, l) {
                                        f_cell = t.interpolate(h, k, l);
                                    } else {
                                        nearest = true;
                                        if out.out_of_range.is_none() {
                                            out.out_of_range = Some(ordinal as u64);
                                        }
                                        if interp == Interp::UntilOutOfRange {
                                            interp = Interp::Nearest;
                                        }
                                    }
                                }
                                if nearest {
                                    f_cell = hkl.and_then(|t| t.get(h0, k0, l0)).unwrap_or(s.default_f);
                                }
                                let contribution = f_cell * f_cell * fl * fl;
                                if fixed {
                                    let mut c = contribution + water_step;
                                    if ot {
                                        c *= capture;
                                    }
                                    if op {
                                        c *= polar;
                                    }
                                    if oo {
                                        c *= omega;
                                    }
                                    i_sum += c;
                                } else {
                                    i_sum += contribution;
                                    if ot_flag {
                                        i_sum *= capture;
                                    }
                                    if op_flag {
                                        i_sum *= polar;
                                    }
                                    if oo_flag {
                                        i_sum *= omega;
                                    }
                                }
                                if T::ON {
                                    tracer.record(&format!("F_cell{sctx}"), &[f_cell]);
                                    tracer.record(&format!("I{sctx}"), &[i_sum]);
                                }
                            }
                        }
                    }
                }
            }
        }

        let mut test = R_E_SQR * s.fluence * i_sum / s.steps as f64;
        if !ot {
            test *= capture;
        }
        if !op {
            test *= polar;
        }
        if !oo {
            test *= omega;
        }
        out.value = (0.0 + test) as f32;
        if T::ON {
            tracer.record("I", &[i_sum]);
            tracer.record("steps", &[s.steps as f64]);
            tracer.record("r_e_sqr", &[R_E_SQR]);
            tracer.record("fluence", &[s.fluence]);
            tracer.record("capture_fraction", &[capture]);
            tracer.record("polar", &[polar]);
            tracer.record("omega", &[omega]);
            tracer.record("pixel_value", &[out.value as f64]);
        }
        out
    }

    fn base_interp(&self) -> Interp {
        if !self.s.interpolate {
            Interp::Nearest
        } else if self.fixed {
            Interp::WhereInRange
        } else {
            Interp::UntilOutOfRange
        }
    }

    /// Render the rows `rows` of `data` (whole image, row-major), pixels with linear index at
    /// least `from_idx`; returns the solid-angle sum of each row. With `first_event`, record the
    /// earliest pixel meeting an out-of-range interpolation point and leave pixels after it
    /// (in serial order) for a second pass.
    fn pass(
        &self,
        data: &mut [f32],
        rows: std::ops::RangeInclusive<usize>,
        from_idx: usize,
        interp: Interp,
        first_event: Option<&AtomicUsize>,
        ctl: &RenderControl,
    ) -> Result<Vec<f64>> {
        let s = self.s;
        let f = s.geometry.fpixels;
        let (r0, r1) = (*rows.start(), *rows.end());
        data[r0 * f..(r1 + 1) * f]
            .par_chunks_mut(f)
            .enumerate()
            .map(|(i, row)| -> Result<f64> {
                if ctl.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let spixel = r0 + i;
                let mut omega_sum = 0.0;
                for fpixel in s.roi[0]..=s.roi[1] {
                    let idx = spixel * f + fpixel;
                    if idx < from_idx || !s.renders(fpixel, spixel) {
                        continue;
                    }
                    if let Some(first) = first_event {
                        if idx > first.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    let out = self.pixel(fpixel, spixel, interp, &mut NoTrace);
                    if let (Some(first), Some(_)) = (first_event, out.out_of_range) {
                        first.fetch_min(idx, Ordering::Relaxed);
                    }
                    row[fpixel] = out.value;
                    omega_sum += out.omega_sum;
                }
                ctl.rows_done.fetch_add(1, Ordering::Relaxed);
                Ok(omega_sum)
            })
            .collect()
    }

    /// Render the image into `data`; returns the total solid-angle sum.
    fn render_into(&self, data: &mut [f32], ctl: &RenderControl) -> Result<(f64, Option<usize>)> {
        let s = self.s;
        let rows = s.roi[2]..=s.roi[3];
        let base = self.base_interp();
        if base != Interp::UntilOutOfRange {
            let omega = self.pass(data, rows, 0, base, None, ctl)?;
            return Ok((omega.iter().sum(), None));
        }
        // Rows before the first out-of-range pixel are final after the first pass; the row
        // holding it is final up to it; everything after is rendered again without
        // interpolation. Each row's sum therefore comes from a fixed set of pixels.
        let first = AtomicUsize::new(usize::MAX);
        let mut omega = self.pass(data, rows.clone(), 0, base, Some(&first), ctl)?;
        let first = first.into_inner();
        if first == usize::MAX {
            return Ok((omega.iter().sum(), None));
        }
        let f = s.geometry.fpixels;
        let row_of_first = first / f;
        let redo = self.pass(data, row_of_first..=s.roi[3], first + 1, Interp::Nearest, None, ctl)?;
        let k = row_of_first - s.roi[2];
        omega[k] += redo[0];
        omega.truncate(k + 1);
        omega.extend_from_slice(&redo[1..]);
        Ok((omega.iter().sum(), Some(first)))
    }

    /// Trace pixel (fast, slow) as the render computes it: its value and the trace lines.
    pub fn trace(&self, fpixel: usize, spixel: usize) -> Result<(f32, Vec<String>)> {
        let s = self.s;
        if fpixel >= s.geometry.fpixels || spixel >= s.geometry.spixels {
            return Err(Error::Input(format!(
                "pixel ({fpixel}, {spixel}) is outside the {}x{} detector",
                s.geometry.fpixels, s.geometry.spixels
            )));
        }
        let mut t = TextTrace::default();
        if !s.renders(fpixel, spixel) {
            t.record("skipped", &[fpixel as f64, spixel as f64]);
            return Ok((0.0, t.lines));
        }
        let mut interp = self.base_interp();
        if interp == Interp::UntilOutOfRange {
            // Where the serial render would have switched interpolation off.
            let mut scratch = vec![0f32; s.geometry.fpixels * s.geometry.spixels];
            let (_, first) = self.render_into(&mut scratch, &RenderControl::default())?;
            if let Some(first) = first {
                if spixel * s.geometry.fpixels + fpixel > first {
                    interp = Interp::Nearest;
                }
                t.record("interpolation_off_after_pixel", &[(first % s.geometry.fpixels) as f64, (first / s.geometry.fpixels) as f64]);
            }
        }
        let out = self.pixel(fpixel, spixel, interp, &mut t);
        Ok((out.value, t.lines))
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
}

/// Render the whole image on the current rayon pool.
pub fn render(s: &Setup, ctl: &RenderControl) -> Result<Image> {
    let plan = Plan::new(s);
    let (f, n) = (s.geometry.fpixels, s.geometry.spixels);
    let mut data = vec![0f32; f * n];
    let (omega_sum, _) = plan.render_into(&mut data, ctl)?;
    Ok(Image { fpixels: f, spixels: n, data, omega_sum })
}

#[inline(always)]
fn norm3(v: V3) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// Scattering vector (d - i)/λ for a diffracted unit vector and a source direction.
#[inline(always)]
fn scattering(d: V3, source_dir: V3, lambda: f64) -> V3 {
    let i = [-source_dir[0], -source_dir[1], -source_dir[2]];
    [(d[0] - i[0]) / lambda, (d[1] - i[1]) / lambda, (d[2] - i[2]) / lambda]
}

#[inline(always)]
fn cut_by_dmin(dmin: f64, stol: f64) -> bool {
    dmin > 0.0 && stol > 0.0 && dmin > 0.5 / stol
}
