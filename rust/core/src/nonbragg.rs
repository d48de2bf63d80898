//! The nonBragg program: an amorphous sample's diffuse scattering on a flat (or curved)
//! detector, from its command line's settings to its images and printed statistics, as
//! nonBragg.c (upstream bl831/nanoBragg, commit 455534a) computes them.
//!
//! The background physics (table, interpolation, sample, one source term) is
//! [`crate::background`]; this module is what is particular to the program:
//! - its detector: like nanoBragg's CUSTOM convention, but pixel counts are `ceil(size/px)`
//!   (nanoBragg: `ceil(size/px − 0.5)`), the default beam centre is ((W − px)/2, (H + px)/2),
//!   odet is always unit(fdet × sdet), close distance = ratio·distance without absolute value,
//!   ORGX/ORGY carry no half-pixel shift, `-pix0_vector` is ignored (so
//!   [`crate::detector::build_geometry`] is not used);
//! - its sources: the divergence/dispersion grid of [`crate::sources`] with weight 1 each,
//!   generated at `-source_distance`, or a source file whose weights are applied;
//! - a serial pixel loop (the table index and the renormalised polarization axis are carried
//!   from pixel to pixel), polarization and solid angle per sub-pixel and source;
//! - its statistics (the rmsd that reads each pixel's right-hand neighbour), integer, noise
//!   and PGM conversions with x86 casts, its SMV header, and the `-img` F(stol) extraction.
//!
//! `fixed` corrects the quirks listed in docs/nonbragg.md.

use crate::background::{source_term, BgSource, Frame, Polarization, Sample, StolTable, SubPixel};
use crate::error::{Error, Result};
use crate::fmt::{g, g_prec};
use crate::kernel::RenderControl;
use std::sync::atomic::Ordering;
use crate::rng::{Deviates, Ran1Table};
use crate::sources::{resolve_steps, Steps};
use crate::vec3::{cross, dot, rotate_axis, rotate_xyz, unitize, V3};
use serde::{Deserialize, Serialize};

/// r_e² (m²), as the reference spells it.
pub const R_E_SQR: f64 = 7.94079248018965e-30;
const RTD: f64 = 180.0 / std::f64::consts::PI;

/// The detector point that stays fixed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NbPivot {
    #[default]
    Beam,
    Sample,
}

/// Everything nonBragg's command line sets, in SI units (m, rad, fractions), with its
/// defaults. `None` or a negative value means "not given" where the reference uses NaN or −1.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NonBraggInput {
    /// Correct the quirks (docs/nonbragg.md) instead of reproducing them.
    pub fixed: bool,
    pub sample: Sample,
    pub lambda0_m: f64,
    pub fluence: f64,
    pub flux: f64,
    pub exposure_s: f64,
    pub beamsize_m: f64,
    pub dispersion: f64,
    pub dispsteps: i64,
    pub hdivrange: f64,
    pub vdivrange: f64,
    pub hdivstep: f64,
    pub vdivstep: f64,
    pub hdivsteps: i64,
    pub vdivsteps: i64,
    pub round_div: bool,
    pub source_distance_m: f64,
    pub beam_vector: V3,
    pub polar_vector: V3,
    pub fdet_vector: V3,
    pub sdet_vector: V3,
    pub twotheta_axis: V3,
    pub kahn: f64,
    pub nopolar: bool,
    pub pivot: NbPivot,
    pub distance_m: f64,
    pub close_distance_m: Option<f64>,
    pub xbeam_m: Option<f64>,
    pub ybeam_m: Option<f64>,
    pub xclose_m: Option<f64>,
    pub yclose_m: Option<f64>,
    pub orgx: Option<f64>,
    pub orgy: Option<f64>,
    pub twotheta: f64,
    pub rotx: f64,
    pub roty: f64,
    pub rotz: f64,
    pub detsize_x_m: f64,
    pub detsize_y_m: f64,
    /// Pixel counts (0: from the size).
    pub fpixels: i64,
    pub spixels: i64,
    pub pixel_m: f64,
    pub curved: bool,
    pub point_pixel: bool,
    pub oversample: i64,
    /// xmin, xmax, ymin, ymax (inclusive); negative: unset.
    pub roi: [i64; 4],
    pub fmap: bool,
    pub phi0: f64,
    pub osc: f64,
    pub phistep: f64,
    pub phisteps: i64,
    /// Source rows X Y Z weight λ (NaN: missing), from `-sourcefile`.
    pub source_rows: Option<Vec<[f64; 5]>>,
}

impl Default for NonBraggInput {
    fn default() -> Self {
        NonBraggInput {
            fixed: false,
            sample: Sample::default(),
            lambda0_m: 1e-10,
            fluence: 125932015286227086360700780544.0,
            flux: 0.0,
            exposure_s: 1.0,
            beamsize_m: 1e-4,
            dispersion: 0.0,
            dispsteps: -1,
            hdivrange: -1.0,
            vdivrange: -1.0,
            hdivstep: -1.0,
            vdivstep: -1.0,
            hdivsteps: -1,
            vdivsteps: -1,
            round_div: true,
            source_distance_m: 10.0,
            beam_vector: [1.0, 0.0, 0.0],
            polar_vector: [0.0, 0.0, 1.0],
            fdet_vector: [0.0, 0.0, 1.0],
            sdet_vector: [0.0, -1.0, 0.0],
            twotheta_axis: [0.0, 1.0, 0.0],
            kahn: 0.0,
            nopolar: false,
            pivot: NbPivot::Beam,
            distance_m: 0.1,
            close_distance_m: None,
            xbeam_m: None,
            ybeam_m: None,
            xclose_m: None,
            yclose_m: None,
            orgx: None,
            orgy: None,
            twotheta: 0.0,
            rotx: 0.0,
            roty: 0.0,
            rotz: 0.0,
            detsize_x_m: 0.1024,
            detsize_y_m: 0.1024,
            fpixels: 0,
            spixels: 0,
            pixel_m: 1e-4,
            curved: false,
            point_pixel: false,
            oversample: -1,
            roi: [-1; 4],
            fmap: false,
            phi0: 0.0,
            osc: -1.0,
            phistep: -1.0,
            phisteps: -1,
            source_rows: None,
        }
    }
}

/// One source as the reference lists it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ListedSource {
    pub position: V3,
    pub weight: f64,
    pub wavelength_m: f64,
}

/// A resolved nonBragg run: detector, sources, sample and sampling.
#[derive(Clone, Debug, Serialize)]
pub struct NonBragg {
    pub fixed: bool,
    pub fpixels: usize,
    pub spixels: usize,
    pub pixel_m: f64,
    pub detsize_x_m: f64,
    pub detsize_y_m: f64,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub pix0: V3,
    pub beam: V3,
    pub polar: V3,
    pub distance_m: f64,
    pub close_distance_m: f64,
    pub xbeam_m: f64,
    pub ybeam_m: f64,
    pub xclose_m: f64,
    pub yclose_m: f64,
    pub twotheta: f64,
    pub pivot: NbPivot,
    pub curved: bool,
    pub point_pixel: bool,
    pub fmap: bool,
    pub kahn: f64,
    pub nopolar: bool,
    pub lambda0_m: f64,
    pub fluence: f64,
    pub sample: Sample,
    pub molecules: f64,
    pub sources: Vec<ListedSource>,
    /// Kept divergence directions (−1 with a source file, as printed).
    pub divsteps: i64,
    pub hdiv: Steps,
    pub vdiv: Steps,
    pub disp: Steps,
    pub oversample: usize,
    pub steps: usize,
    /// Inclusive window as the reference holds it (xmax/ymax default to one past the edge).
    pub roi: [i64; 4],
    pub phi0: f64,
    pub osc: f64,
    /// Lines the reference prints while setting up, in its order, after its banner.
    pub setup_lines: Vec<String>,
}

fn osc_for_header(osc: f64, phistep: f64, phisteps: i64) -> f64 {
    // Only the header's OSC_RANGE survives from the reference's phi-sampling rules.
    if phisteps < 0 {
        if osc < 0.0 {
            if phistep <= 0.0 {
                0.0
            } else {
                phistep
            }
        } else {
            osc
        }
    } else if osc < 0.0 {
        if phistep <= 0.0 {
            1.0 / RTD
        } else {
            phistep
        }
    } else {
        osc
    }
}

impl NonBragg {
    /// Resolve the settings as the reference does (nonBragg.c L826-1380). `table_name` is only
    /// printed.
    pub fn new(input: &NonBraggInput, table: &StolTable, table_name: &str) -> Result<NonBragg> {
        let d = input;
        let fixed = d.fixed;
        let px = d.pixel_m;
        if !(px > 0.0) || !px.is_finite() {
            return Err(Error::config("pixel_m", "the pixel size must be positive"));
        }
        let mut lines = Vec::new();
        let mut detsize_x = d.detsize_x_m;
        let mut detsize_y = d.detsize_y_m;
        if d.fpixels != 0 {
            detsize_x = px * d.fpixels as f64;
        }
        if d.spixels != 0 {
            detsize_y = px * d.spixels as f64;
        }
        let count = |size: f64, given: i64| -> f64 {
            if fixed {
                if given > 0 {
                    given as f64
                } else {
                    (size / px).round()
                }
            } else {
                (size / px).ceil()
            }
        };
        let (fcount, scount) = (count(detsize_x, d.fpixels), count(detsize_y, d.spixels));
        if !(fcount >= 1.0 && scount >= 1.0) {
            return Err(Error::config("detpixels", "the detector has no pixels"));
        }
        if fcount * scount > 2.0e9 {
            return Err(Error::config("detpixels", format!("{fcount}x{scount} pixels is too many")));
        }
        let (fpixels, spixels) = (fcount as usize, scount as usize);
        // ORGX/ORGY are pixel coordinates of the closest point; the corrected mode reads them
        // as nanoBragg reads XDS_ORGX: (ORGX − 0.5)·px.
        let org_shift = if fixed { 0.5 } else { 0.0 };
        // ORGX wins over -Xclose whatever their order, as in the reference.
        let xclose = d.orgx.map(|o| (o - org_shift) * px).or(d.xclose_m);
        let yclose = d.orgy.map(|o| (o - org_shift) * px).or(d.yclose_m);
        let (cx, cy) = if fixed { (detsize_x / 2.0, detsize_y / 2.0) } else { ((detsize_x - px) / 2.0, (detsize_y + px) / 2.0) };
        let xclose0 = xclose.unwrap_or(cx);
        let yclose0 = yclose.unwrap_or(cy);
        let xbeam0 = d.xbeam_m.unwrap_or(xclose0);
        let ybeam0 = d.ybeam_m.unwrap_or(yclose0);
        let roi = [
            if d.roi[0] < 0 { 0 } else { d.roi[0] },
            if d.roi[1] < 0 { fpixels as i64 } else { d.roi[1] },
            if d.roi[2] < 0 { 0 } else { d.roi[2] },
            if d.roi[3] < 0 { spixels as i64 } else { d.roi[3] },
        ];

        let mut fluence = d.fluence;
        if d.flux != 0.0 && d.exposure_s > 0.0 && d.beamsize_m >= 0.0 {
            fluence = d.flux * d.exposure_s / d.beamsize_m / d.beamsize_m;
        }
        let rs = d.sample.resolve(d.beamsize_m);
        if let Some(y) = rs.messages_y_clipped {
            lines.push(format!("WARNING: clipping sample ({} m high) with beam ({} m)", g(y), g(d.beamsize_m)));
        }
        if let Some(z) = rs.messages_z_clipped {
            lines.push(format!("WARNING: clipping sample ({} m wide) with beam ({} m)", g(z), g(d.beamsize_m)));
        }

        let beam = unitize(d.beam_vector).0;
        let mut fdet = unitize(d.fdet_vector).0;
        let mut sdet = unitize(d.sdet_vector).0;
        let mut odet = unitize(cross(fdet, sdet)).0;
        let polar = unitize(d.polar_vector).0;
        let vert = unitize(cross(beam, polar)).0;
        let osc = osc_for_header(d.osc, d.phistep, d.phisteps);

        let hdiv = resolve_steps(d.hdivrange, d.hdivstep, d.hdivsteps, 1.0);
        let vdiv = resolve_steps(d.vdivrange, d.vdivstep, d.vdivsteps, 1.0);
        let disp = resolve_steps(d.dispersion, -1.0, d.dispsteps, 1.0);

        let mut ratio = dot(beam, rotate_xyz(odet, d.rotx, d.roty, d.rotz));
        if ratio == 0.0 {
            ratio = f64::MIN_POSITIVE;
        }
        let mut close_distance = match d.close_distance_m {
            Some(c) => c,
            None if fixed => (ratio * d.distance_m).abs(),
            None => ratio * d.distance_m,
        };
        let distance = close_distance / ratio;
        let mut pix0: V3 = [0.0; 3];
        if d.pivot == NbPivot::Sample {
            lines.push("pivoting detector around sample".into());
            for i in 0..3 {
                pix0[i] = -xclose0 * fdet[i] - yclose0 * sdet[i] + close_distance * odet[i];
            }
            pix0 = rotate_xyz(pix0, d.rotx, d.roty, d.rotz);
            pix0 = rotate_axis(pix0, d.twotheta_axis, d.twotheta);
        }
        fdet = rotate_axis(rotate_xyz(fdet, d.rotx, d.roty, d.rotz), d.twotheta_axis, d.twotheta);
        sdet = rotate_axis(rotate_xyz(sdet, d.rotx, d.roty, d.rotz), d.twotheta_axis, d.twotheta);
        odet = rotate_axis(rotate_xyz(odet, d.rotx, d.roty, d.rotz), d.twotheta_axis, d.twotheta);
        if d.pivot == NbPivot::Beam {
            lines.push("pivoting detector around direct beam spot".into());
            for i in 0..3 {
                pix0[i] = -xbeam0 * fdet[i] - ybeam0 * sdet[i] + distance * beam[i];
            }
        }
        let xclose = -dot(pix0, fdet);
        let yclose = -dot(pix0, sdet);
        close_distance = dot(pix0, odet);
        let mut v: V3 = [0.0; 3];
        for i in 0..3 {
            v[i] = close_distance / ratio * beam[i] - pix0[i];
        }
        let xbeam = dot(fdet, v);
        let ybeam = dot(sdet, v);
        let distance = close_distance / ratio;

        lines.push(format!("reading {table_name}"));

        let mut sources = Vec::new();
        let mut divsteps: i64 = -1;
        let sd = d.source_distance_m;
        if let Some(rows) = &d.source_rows {
            if rows.is_empty() {
                return Err(Error::Input("-sourcefile: no sources in the file".into()));
            }
            for r in rows {
                let pick = |v: f64, default: f64| if v.is_nan() { default } else { v };
                sources.push(ListedSource {
                    position: [pick(r[0], -sd * beam[0]), pick(r[1], -sd * beam[1]), pick(r[2], -sd * beam[2])],
                    weight: pick(r[3], 1.0),
                    wavelength_m: pick(r[4], d.lambda0_m),
                });
            }
        } else {
            let mut points = Vec::new();
            for ih in 0..hdiv.count {
                for iv in 0..vdiv.count {
                    let h = hdiv.step * ih as f64 - hdiv.range / 2.0;
                    let v = vdiv.step * iv as f64 - vdiv.range / 2.0;
                    let mut test = (h * h - hdiv.step * hdiv.step / 4.0 * (1 - hdiv.count as i64 % 2) as f64) / hdiv.range / hdiv.range;
                    test += (v * v - vdiv.step * vdiv.step / 4.0 * (1 - vdiv.count as i64 % 2) as f64) / vdiv.range / vdiv.range;
                    if d.round_div && test * 4.0 > 1.1 {
                        continue;
                    }
                    lines.push(format!("divergence deviation: {} {}", g(h), g(v)));
                    points.push((h, v));
                }
            }
            divsteps = points.len() as i64;
            let lambdas: Vec<f64> = (0..disp.count).map(|i| d.lambda0_m * (1.0 + disp.step * i as f64 - disp.range / 2.0)).collect();
            for (i, l) in lambdas.iter().enumerate() {
                lines.push(format!("lambda{i} = {}", g_prec(*l, 15)));
            }
            for &(h, v) in &points {
                let start = [-sd * beam[0], -sd * beam[1], -sd * beam[2]];
                let position = rotate_axis(rotate_axis(start, polar, v), vert, h);
                for &l in &lambdas {
                    sources.push(ListedSource { position, weight: 1.0, wavelength_m: l });
                }
            }
        }
        if sources.is_empty() {
            return Err(Error::Input("no sources: the divergence cut left none".into()));
        }
        lines.push(format!("  created a total of {} sources:", sources.len()));
        for s in &sources {
            let p = s.position;
            lines.push(format!("{} {} {}   {} {}", g(p[0]), g(p[1]), g(p[2]), g(s.weight), g(s.wavelength_m)));
        }
        let oversample = if d.oversample <= 0 { 1 } else { d.oversample as usize };
        let steps = sources.len() * oversample * oversample;

        lines.push(format!("  {} initialized F points (will cubic-spline interpolate between them)", table.len()));
        lines.push(format!("  wave={} meters +/- {}% in {} steps", g(d.lambda0_m), g(disp.range * 100.0), disp.count));
        if d.nopolar {
            lines.push("  polarization effect disabled".into());
        } else {
            lines.push(format!("  Kahn polarization factor: {:.6}", d.kahn));
        }
        if d.curved {
            lines.push("  curved detector: all pixels same distance from origin".into());
        }
        if d.point_pixel {
            lines.push("  pixel obliquity effect disabled".into());
        }
        if d.fmap {
            lines.push("  Fmap mode: plotting structure factor at every pixel".into());
        }
        let s = rs.sample;
        lines.push(format!("  incident fluence: {} photons/m^2", g(fluence)));
        lines.push(format!(
            "  sample is {} m thick x {} m high x {} m wide, {} g/cm^3 and {} g/mol ({} molecules)",
            g(s.thickness_m),
            g(s.y_m),
            g(s.z_m),
            g(s.density_g_per_m3 / 1e6),
            g(s.molecular_weight),
            g(rs.molecules)
        ));
        lines.push(format!(
            "  distance={} detsize={}x{}  pixel={} meters ({}x{} pixels)",
            g(distance),
            g(detsize_x),
            g(detsize_y),
            g(px),
            fpixels,
            spixels
        ));
        lines.push(format!("  Xbeam={} Ybeam={}", g(xbeam), g(ybeam)));
        let v3 = |v: V3| format!("{} {} {}", g(v[0]), g(v[1]), g(v[2]));
        lines.push(format!("  detector origin: {}", v3(pix0)));
        lines.push(format!("  DIRECTION_OF_DETECTOR_X-AXIS= {}", v3(fdet)));
        lines.push(format!("  DIRECTION_OF_DETECTOR_Y-AXIS= {}", v3(sdet)));
        lines.push(format!("  INCIDENT_BEAM_DIRECTION= {}", v3(beam)));
        lines.push(format!("  POLARIZATION_PLANE_NORMAL= {}", v3(polar)));
        lines.push(format!("  roi: {} < x < {} && {} < y < {}", roi[0], roi[1], roi[2], roi[3]));
        lines.push(format!("  hdivrange={} hdivstep={}  radians", g(hdiv.range), g(hdiv.step)));
        lines.push(format!("  vdivrange={} vdivstep={}  radians", g(vdiv.range), g(vdiv.step)));
        lines.push(format!("  {divsteps} divergence steps"));
        lines.push(format!("  {} sources", sources.len()));
        lines.push(format!("  {oversample} pixel oversample steps"));

        Ok(NonBragg {
            fixed,
            fpixels,
            spixels,
            pixel_m: px,
            detsize_x_m: detsize_x,
            detsize_y_m: detsize_y,
            fdet,
            sdet,
            odet,
            pix0,
            beam,
            polar,
            distance_m: distance,
            close_distance_m: close_distance,
            xbeam_m: xbeam,
            ybeam_m: ybeam,
            xclose_m: xclose,
            yclose_m: yclose,
            twotheta: d.twotheta,
            pivot: d.pivot,
            curved: d.curved,
            point_pixel: d.point_pixel,
            fmap: d.fmap,
            kahn: d.kahn,
            nopolar: d.nopolar,
            lambda0_m: d.lambda0_m,
            fluence,
            sample: s,
            molecules: rs.molecules,
            sources,
            divsteps,
            hdiv,
            vdiv,
            disp,
            oversample,
            steps,
            roi,
            phi0: d.phi0,
            osc,
            setup_lines: lines,
        })
    }

    /// The detector frame of the background stage.
    pub fn frame(&self) -> Frame {
        Frame {
            pix0: self.pix0,
            fdet: self.fdet,
            sdet: self.sdet,
            odet: self.odet,
            beam: self.beam,
            pixel_size: self.pixel_m,
            oversample: self.oversample,
            distance: self.distance_m,
            close_distance: self.close_distance_m,
            curved: self.curved,
            point_pixel: self.point_pixel,
        }
    }

    /// Whether pixel (f, s) is inside the window.
    pub fn in_roi(&self, f: usize, s: usize) -> bool {
        let (f, s) = (f as i64, s as i64);
        !(f < self.roi[0] || f > self.roi[1] || s < self.roi[2] || s > self.roi[3])
    }

    /// Refuse a run whose images would not fit in the memory available: the float image, the
    /// copies and the integer, noise and PGM images made from it, and with `extraction` the
    /// `-img` input and its per-pixel arrays.
    pub fn check_memory(&self, extraction: bool) -> Result<()> {
        let per_pixel = 18.0 + if extraction { 28.0 } else { 0.0 };
        let bytes = self.fpixels as f64 * self.spixels as f64 * per_pixel;
        let what = format!("the image set of {} x {} pixels", self.fpixels, self.spixels);
        crate::resources::check(&[crate::resources::Need::new("detpixels", what, bytes)])
    }

    /// sin(θ)/λ (Å⁻¹) of the last sub-pixel of pixel (f, s), from the detector vectors: the
    /// printout's check against the loop's value.
    pub fn last_subpixel_stol(&self, f: usize, s: usize) -> f64 {
        let os = self.oversample as f64;
        let sub = self.pixel_m / os;
        let fd = sub * (f as f64 * os + os - 1.0) + sub / 2.0;
        let sd = sub * (s as f64 * os + os - 1.0) + sub / 2.0;
        let p: V3 = std::array::from_fn(|i| fd * self.fdet[i] + sd * self.sdet[i] + self.pix0[i]);
        let tt = (p[1] * p[1] + p[2] * p[2]).sqrt().atan2(p[0]);
        (tt / 2.0).sin() / (self.lambda0_m * 1e10)
    }

    /// The lines `-printout` prints for one pixel. The reference prints an uninitialised F
    /// and the last listed source's weight; these are the interpolated F and that weight.
    pub fn printout_lines(&self, p: &PixelPrint) -> Vec<String> {
        let weight = self.sources.last().map_or(0.0, |s| s.weight);
        vec![
            format!("{:4} {:4} : stol = {} or {}", p.fpixel, p.spixel, g(p.stol), g(self.last_subpixel_stol(p.fpixel, p.spixel))),
            format!(" F={}    I = {}", g(p.f), g(weight)),
            format!("I/steps {:>15}", g_prec(weight / self.steps as f64, 10)),
            format!("polar   {:>15}", g_prec(p.polar, 10)),
            format!("omega   {:>15}", g_prec(p.omega, 10)),
            format!("pixel   {:>15}", g_prec(p.value as f64, 10)),
        ]
    }

    /// The header both SMV images carry (nonBragg.c L1750-1762), padded to 512 bytes.
    pub fn header(&self) -> Vec<u8> {
        let px = self.pixel_m;
        let (orgx, orgy) = if self.fixed {
            (self.xclose_m / px + 0.5, self.yclose_m / px + 0.5)
        } else {
            (self.xclose_m / px, self.yclose_m / px)
        };
        let order = if self.fixed && cfg!(target_endian = "big") { "big_endian" } else { "little_endian" };
        let mut h = format!(
            "{{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER={order};\nTYPE=unsigned_short;\nSIZE1={};\nSIZE2={};\nPIXEL_SIZE={};\nDISTANCE={};\n",
            self.fpixels,
            self.spixels,
            g(px * 1000.0),
            g(self.distance_m * 1000.0)
        );
        h += &format!("WAVELENGTH={};\n", g(self.lambda0_m * 1e10));
        h += &format!("BEAM_CENTER_X={};\nBEAM_CENTER_Y={};\n", g(self.xbeam_m * 1000.0), g((self.detsize_y_m - self.ybeam_m) * 1000.0));
        h += &format!("ORGX={};\nORGY={};\n", g(orgx), g(orgy));
        h += &format!("CLOSE_DISTANCE={};\n", g(self.close_distance_m * 1000.0));
        h += &format!("PHI={};\nOSC_START={};\nOSC_RANGE={};\n", g(self.phi0 * RTD), g(self.phi0 * RTD), g(self.osc * RTD));
        h += &format!("TWOTHETA={};\n", g(self.twotheta * RTD));
        h += "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\u{c}";
        let mut b = h.into_bytes();
        while b.len() < 512 {
            b.push(b' ');
        }
        b
    }

    /// Render: the serial pixel loop of nonBragg.c L1404-1617 (serial because the table index
    /// and the polarization axis carry from pixel to pixel). `extract` switches on the `-img`
    /// F(stol) extraction. `ctl` counts finished rows and stops the render when cancelled.
    pub fn render(&self, table: &StolTable, extract: Option<&ExtractInput>, printout: Printout, ctl: &RenderControl) -> Result<Rendered> {
        let (fp, sp) = (self.fpixels, self.spixels);
        let os = self.oversample;
        let frame = self.frame();
        let mut image = vec![0f32; fp * sp];
        let srcs: Vec<BgSource> = self
            .sources
            .iter()
            .map(|s| BgSource::new(s.position, s.wavelength_m, s.weight))
            .collect();
        let pol = Polarization { kahn: self.kahn, off: self.nopolar };
        let mut axis = self.polar;
        let mut nearest = 0usize;
        let scale_steps = self.steps as f64;
        let mut out = Rendered { omega_sum: 0.0, count: 0, ..Default::default() };
        let mut extraction = extract.map(|_| Extraction { f: vec![0.0; fp * sp], bin: vec![0; fp * sp], pixels_in: vec![0; table.len()] });
        let (mut max_i, mut max_x, mut max_y) = (0.0f64, 0.0f64, 0.0f64);
        let (mut sum, mut sumsqr) = (0.0f64, 0.0f64);
        for spixel in 0..sp {
            for fpixel in 0..fp {
                let j = spixel * fp + fpixel;
                if !self.in_roi(fpixel, spixel) {
                    continue;
                }
                let mut ibg = 0.0f64;
                let mut last = crate::background::Term::default();
                let mut omega = 0.0;
                let (mut fdet_pos, mut sdet_pos) = (0.0, 0.0);
                for sub_s in 0..os {
                    for sub_f in 0..os {
                        let (pos, fd, sd) = frame.position(fpixel, spixel, sub_f, sub_s, 0.0);
                        (fdet_pos, sdet_pos) = (fd, sd);
                        let (diffracted, airpath) = unitize(pos);
                        omega = frame.omega(airpath);
                        out.omega_sum += omega;
                        let mut spx = SubPixel { diffracted };
                        for src in &srcs {
                            last = source_term(table, &mut nearest, &mut spx, src, &mut axis, pol, omega);
                            ibg += last.value;
                        }
                    }
                }
                let mut v = (0.0f64 + ibg * R_E_SQR * self.fluence * self.molecules / scale_steps) as f32;
                if self.fmap {
                    v = last.f as f32;
                }
                image[j] = v;
                if let (Some(ex), Some(inp)) = (extraction.as_mut(), extract) {
                    let value = inp.image[j];
                    let invalid = inp.ignore.iter().any(|&k| value == k as f32);
                    // (value − adc)/gain, evaluated in double and stored in a float.
                    let deviate = ((value as f64 - inp.adc) / inp.gain) as f32;
                    let sign: f32 = if deviate < 0.0 { -1.0 } else { 1.0 };
                    let deviate = deviate.abs();
                    ex.f[j] = (sign as f64
                        * (deviate as f64 / last.polar / omega / self.fluence / R_E_SQR / self.molecules * scale_steps).sqrt())
                        as f32;
                    let mut bin = 0usize;
                    if !invalid {
                        bin = nearest;
                        if last.stol > (table.x(bin) + table.x(bin + 1)) / 2.0 {
                            bin += 1;
                        }
                    }
                    if bin < ex.pixels_in.len() {
                        ex.pixels_in[bin] += 1;
                    }
                    ex.bin[j] = bin;
                }
                if v as f64 > max_i {
                    max_i = v as f64;
                    max_x = fdet_pos;
                    max_y = sdet_pos;
                }
                sum += v as f64;
                sumsqr += (v * v) as f64;
                out.count += 1;
                if printout.wants(fpixel, spixel) {
                    out.printout.push(PixelPrint {
                        fpixel,
                        spixel,
                        stol: last.stol,
                        f: last.f,
                        polar: last.polar,
                        omega,
                        value: v,
                    });
                }
            }
            ctl.rows_done.fetch_add(1, Ordering::Relaxed);
            if ctl.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
        }
        out.image = image;
        out.max_i = max_i;
        out.max_i_x = max_x;
        out.max_i_y = max_y;
        out.sum = sum;
        out.sumsqr = sumsqr;
        out.extraction = extraction;
        Ok(out)
    }
}

/// Which pixels `-printout` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Printout {
    Off,
    All,
    Pixel(usize, usize),
}

impl Printout {
    fn wants(self, f: usize, s: usize) -> bool {
        match self {
            Printout::Off => false,
            Printout::All => true,
            Printout::Pixel(pf, ps) => pf == f && ps == s,
        }
    }
}

/// The `-img` input of an F(stol) extraction: the image's pixels as floats, the values to
/// ignore, and the ADC offset and gain that invert it.
#[derive(Clone, Debug)]
pub struct ExtractInput {
    pub image: Vec<f32>,
    pub ignore: Vec<u16>,
    pub adc: f64,
    pub gain: f64,
}

/// Per-pixel values of a `-printout` pixel.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PixelPrint {
    pub fpixel: usize,
    pub spixel: usize,
    pub stol: f64,
    pub f: f64,
    pub polar: f64,
    pub omega: f64,
    pub value: f32,
}

/// The `-img` extraction's per-pixel data.
#[derive(Clone, Debug, Default)]
pub struct Extraction {
    pub f: Vec<f32>,
    pub bin: Vec<usize>,
    pub pixels_in: Vec<usize>,
}

/// A rendered image and what the loop accumulated on the way.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub image: Vec<f32>,
    pub omega_sum: f64,
    pub max_i: f64,
    pub max_i_x: f64,
    pub max_i_y: f64,
    pub sum: f64,
    pub sumsqr: f64,
    pub count: usize,
    pub extraction: Option<Extraction>,
    pub printout: Vec<PixelPrint>,
}

/// The statistics the reference prints (nonBragg.c L1684-1705, L1721).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct NbStats {
    pub max_i: f64,
    pub max_i_x: f64,
    pub max_i_y: f64,
    pub mean: f64,
    pub rms: f64,
    pub rmsd: f64,
}

/// x86's conversion of a double to a 32-bit integer (`cvttsd2si`): truncation, and the
/// "integer indefinite" value for NaN and out-of-range values. The reference's casts to
/// unsigned char and unsigned short go through it and keep the low bits.
fn x86_trunc_i32(x: f64) -> i32 {
    if x.is_nan() || x >= 2147483648.0 || x <= -2147483649.0 {
        i32::MIN
    } else {
        x as i32
    }
}

impl NonBragg {
    /// Mean, rms and the rmsd that feeds the PGM scale. `n` is the count the reference divides
    /// by: the number of window pixels (its uninitialised counter starts at 0 in practice), or
    /// with `-img` the last table bin's pixel count (quirk Q6; the corrected mode always uses
    /// the window's pixel count).
    pub fn stats(&self, r: &Rendered, n: usize) -> NbStats {
        let mut n = n as i64;
        if n <= 0 {
            n = 1;
        }
        let avg = r.sum / n as f64;
        if n <= 1 {
            n = 2;
        }
        let rms = (r.sumsqr / (n - 1) as f64).sqrt();
        let (fp, sp) = (self.fpixels, self.spixels);
        let (mut sumsqr, mut m) = (0.0f64, 0i64);
        let mut j = 0usize;
        for spixel in 0..sp {
            for fpixel in 0..fp {
                // The reference advances its index before reading (quirk Q5): each pixel's
                // deviation is its right-hand neighbour's, the last reads the zero pad.
                if !self.fixed {
                    j += 1;
                }
                let idx = j;
                if self.fixed {
                    j += 1;
                }
                if !self.in_roi(fpixel, spixel) {
                    continue;
                }
                let v = if idx < r.image.len() { r.image[idx] } else { 0.0 };
                let t = v as f64 - avg;
                sumsqr += t * t;
                m += 1;
            }
        }
        if m <= 1 {
            m = 2;
        }
        NbStats { max_i: r.max_i, max_i_x: r.max_i_x, max_i_y: r.max_i_y, mean: avg, rms, rmsd: (sumsqr / (m - 1) as f64).sqrt() }
    }

    /// The integer image: `floorf(value·scale + adc + 0.5)` clamped to [0, 65535]; 0 outside
    /// the window and for NaN.
    // The reference's two comparisons, kept as it writes them (a NaN passes both).
    #[allow(clippy::manual_clamp)]
    pub fn int_image(&self, image: &[f32], scale: f64, adc: f64) -> Vec<u16> {
        self.convert(image, |v| {
            let mut t = v as f64 * scale + adc;
            if t > 65535.0 {
                t = 65535.0;
            }
            if t < 0.0 {
                t = 0.0;
            }
            x86_trunc_i32(((t + 0.5) as f32).floor() as f64) as u16
        })
    }

    /// The PGM bytes: `value·scale`, at most 255, truncated; negative values wrap as the
    /// reference's x86 cast makes them (the corrected mode clamps them at 0).
    pub fn pgm_image(&self, image: &[f32], scale: f64) -> Vec<u8> {
        let fixed = self.fixed;
        self.convert(image, |v| {
            let mut t = v as f64 * scale;
            if t > 255.0 {
                t = 255.0;
            }
            if fixed && t < 0.0 {
                t = 0.0;
            }
            x86_trunc_i32(t) as u8
        })
    }

    fn convert<T: Default + Copy>(&self, image: &[f32], f: impl Fn(f32) -> T) -> Vec<T> {
        let fp = self.fpixels;
        let mut out = vec![T::default(); image.len()];
        for (j, o) in out.iter_mut().enumerate() {
            if self.in_roi(j % fp, j / fp) {
                *o = f(image[j]);
            }
        }
        out
    }

    /// The noise image: one Poisson deviate per window pixel in order from `-seed` (the
    /// reference's seed variable, already negated), plus `adc`, overloads clamped to 65535
    /// and counted. Returns (pixels, photon sum, overloads).
    pub fn noise_image(&self, image: &[f32], seed: i64, adc: f64) -> (Vec<u16>, f64, usize) {
        let mut dev = Deviates::new(Ran1Table::default());
        let mut idum = seed;
        let (mut sum, mut overloads) = (0.0f64, 0usize);
        let fp = self.fpixels;
        let mut out = vec![0u16; image.len()];
        for (j, o) in out.iter_mut().enumerate() {
            if !self.in_roi(j % fp, j / fp) {
                continue;
            }
            let n = dev.poidev(image[j], &mut idum) as f64;
            sum += n;
            let mut t = n + adc;
            if t > 65535.0 {
                t = 65535.0;
                overloads += 1;
            }
            *o = x86_trunc_i32(t) as u16;
        }
        (out, sum, overloads)
    }

    /// The `-stolout` text and the warnings printed for thin bins (nonBragg.c L1622-1681), and
    /// the count its statistics then divide by (the last data bin's). The median and MAD
    /// columns are uninitialised in the reference (0 in its optimised build, printed as 0);
    /// the corrected mode computes them.
    pub fn stolout(&self, table: &StolTable, ex: &Extraction) -> (String, Vec<String>, usize) {
        let stols = table.len();
        let mut values: Vec<Vec<f32>> = vec![Vec::new(); stols];
        for (j, &b) in ex.bin.iter().enumerate() {
            if b >= 2 && b < stols - 2 && self.in_roi(j % self.fpixels, j / self.fpixels) {
                values[b].push(ex.f[j]);
            }
        }
        let mult = table.multiplier();
        let (mut text, mut warnings) = (String::new(), Vec::new());
        let mut lines = 0;
        let mut last_n = 0usize;
        for (bin, vals) in values.iter().enumerate().take(stols - 2).skip(2) {
            let n = ex.pixels_in[bin];
            let (avg, rmsd) = mean_rmsd(vals);
            let (median, mad) = if self.fixed { median_mad(vals) } else { (0.0, 0.0) };
            let stol = table.x(bin) / mult;
            if n > 100 {
                text += &format!("{} {} {}   {} {}  {}\n", g(stol), g(avg as f64), g(rmsd as f64), g(median as f64), g(mad as f64), n);
                lines += 1;
            } else {
                warnings.push(format!(
                    "WARNING: not enough pixels in bin= {bin} n={n} stol= {} median= {} avg_arej= {}",
                    g(stol),
                    g(median as f64),
                    g(avg as f64)
                ));
            }
            last_n = n;
        }
        let _ = lines;
        (text, warnings, last_n)
    }
}

/// Mean and rms deviation in single precision, summed in order (the reference's
/// `fmean_with_rejection` with its cut-off at infinity: nothing is rejected). Empty: (0, 0).
fn mean_rmsd(v: &[f32]) -> (f32, f32) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mut sum = 0f32;
    for &x in v {
        sum += x;
    }
    let avg = sum / v.len() as f32;
    let mut sumd = 0f32;
    for &x in v {
        let d = ((x - avg) as f64).abs() as f32;
        sumd += d * d;
    }
    (avg, ((sumd / v.len() as f32) as f64).sqrt() as f32)
}

/// Median and median absolute deviation (the corrected mode's stolout columns 4 and 5).
fn median_mad(v: &[f32]) -> (f32, f32) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let med = |mut w: Vec<f32>| {
        w.sort_by(|a, b| a.total_cmp(b));
        let n = w.len();
        if n % 2 == 1 {
            w[n / 2]
        } else {
            (w[n / 2 - 1] + w[n / 2]) / 2.0
        }
    };
    let m = med(v.to_vec());
    (m, med(v.iter().map(|x| (x - m).abs()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::background::Abscissa;

    fn unity() -> StolTable {
        StolTable::from_rows(&[(0.0, 1.0), (0.5, 1.0), (1.0, 1.0), (2.0, 1.0)], Abscissa::Stol, false).unwrap()
    }

    #[test]
    fn ceil_pixel_count_and_asymmetric_centre() {
        let input = NonBraggInput { fpixels: 13, spixels: 13, pixel_m: 0.1e-3, ..Default::default() };
        let nb = NonBragg::new(&input, &unity(), "t").unwrap();
        assert_eq!((nb.fpixels, nb.spixels), (14, 14));
        let fixed = NonBragg::new(&NonBraggInput { fixed: true, ..input }, &unity(), "t").unwrap();
        assert_eq!((fixed.fpixels, fixed.spixels), (13, 13));
        let input = NonBraggInput { fpixels: 64, spixels: 64, pixel_m: 0.1e-3, ..Default::default() };
        let nb = NonBragg::new(&input, &unity(), "t").unwrap();
        assert!((nb.xbeam_m - 3.15e-3).abs() < 1e-15 && (nb.ybeam_m - 3.25e-3).abs() < 1e-15);
    }

    #[test]
    fn unity_table_image_is_polarization_times_solid_angle() {
        let input = NonBraggInput { fpixels: 8, spixels: 8, pixel_m: 1e-3, distance_m: 0.05, ..Default::default() };
        let nb = NonBragg::new(&input, &unity(), "t").unwrap();
        let r = nb.render(&unity(), None, Printout::Off, &RenderControl::default()).unwrap();
        let scale = R_E_SQR * nb.fluence * nb.molecules;
        let j = 3 * 8 + 2;
        let f = (2.0 + 0.5) * 1e-3;
        let s = (3.0 + 0.5) * 1e-3;
        // Default vectors: position = (distance, Ybeam − S, F − Xbeam).
        let p = [0.05, nb.ybeam_m - s, f - nb.xbeam_m];
        let rr = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        let c = p[0] / rr;
        let expect = scale * 0.5 * (1.0 + c * c) * 1e-6 / rr / rr * 0.05 / rr;
        assert!((r.image[j] as f64 / expect - 1.0).abs() < 1e-6, "{} {}", r.image[j], expect);
    }

    #[test]
    fn corrected_pgm_clamps_negative_values() {
        let input = NonBraggInput { fpixels: 2, spixels: 1, pixel_m: 1e-3, ..Default::default() };
        let img = [-40.5f32, 300.0];
        let nb = NonBragg::new(&input, &unity(), "t").unwrap();
        assert_eq!(nb.pgm_image(&img, 1.0), vec![216, 255]);
        let nb = NonBragg::new(&NonBraggInput { fixed: true, ..input }, &unity(), "t").unwrap();
        assert_eq!(nb.pgm_image(&img, 1.0), vec![0, 255]);
    }

    #[test]
    fn x86_casts() {
        assert_eq!(x86_trunc_i32(f64::NAN) as u8, 0);
        assert_eq!(x86_trunc_i32(-40.5) as u8, 216);
    }
}
