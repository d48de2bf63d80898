//! Resolve a [`Config`] into a [`Setup`]: every derived quantity the pixel loop and the
//! output writers need, computed in the order and with the arithmetic of nanoBragg.c.

use crate::config::{Config, Shape};
use crate::crystal::{build_lattice, Lattice, LatticeInput};
use crate::detector::{build_geometry, Convention, DetectorInput, Geometry};
use crate::error::{Error, Result};
use crate::hkl::HklTable;
use crate::rng::{mosaic_rotation_umat, umat2misset, Ran1Table};
use crate::sources::{generate_sources, resolve_steps, sources_from_rows, Source, SpreadInput, Steps};
use crate::vec3::{norm, scale, M3, V3, IDENTITY};
use serde::Serialize;
use std::sync::Arc;

/// Degrees per radian, as the reference defines it (angles are divided by it).
pub const RTD: f64 = 180.0 * std::f64::consts::FRAC_1_PI;
/// Thomson cross-section r_e² (m²).
pub const R_E_SQR: f64 = 7.94079248018965e-30;
/// The reference's default fluence (photons/m²), about 1/r_e².
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;
const AVOGADRO: f64 = 6.02214179e23;
const WATER_F: f64 = 2.57;
const WATER_MW: f64 = 18.0;

/// Spindle sampling (radians).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PhiSteps {
    pub phi0: f64,
    pub osc: f64,
    pub step: f64,
    pub count: usize,
}

impl PhiSteps {
    /// Angle of step `i`: left end points, phi0 + step·i.
    pub fn angle(&self, i: usize) -> f64 {
        self.phi0 + self.step * i as f64
    }
}

/// Sensor layers (metres, 1/m).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Thickness {
    pub thickness: f64,
    pub step: f64,
    pub layers: usize,
    pub mu: f64,
}

/// Everything resolved from a configuration, ready to render.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub config: Config,
    pub geometry: Geometry,
    pub lattice: Lattice,
    /// Unrotated real-space cell vectors (m) at phi = 0 without mosaic.
    pub a0: V3,
    pub b0: V3,
    pub c0: V3,
    /// Cells along a, b, c after the crystal size and the clamp to at least 1.
    pub n_cells: [f64; 3],
    /// Crystal size along a, b, c (m).
    pub crystal_size_m: [f64; 3],
    pub shape: Shape,
    pub fudge: f64,
    pub default_f: f64,
    pub interpolate: bool,
    #[serde(skip)]
    pub hkl: Option<Arc<HklTable>>,
    pub hkl_count: usize,
    pub lambda0: f64,
    pub fluence: f64,
    pub sources: Vec<Source>,
    pub hdiv: Steps,
    pub vdiv: Steps,
    pub disp: Steps,
    /// Divergence points kept (the reference prints -1 for a source file).
    pub divergence_points: i64,
    pub polarization: f64,
    pub nopolar: bool,
    pub phi: PhiSteps,
    /// Mosaic spread (radians) and one rotation per domain, domain 0 the identity.
    pub mosaic_spread: f64,
    pub mosaic_umats: Vec<M3>,
    /// Random misset angles (radians) when one was drawn.
    pub misset_random_rad: Option<[f64; 3]>,
    pub oversample: usize,
    pub recommended_oversample: i64,
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    pub thickness: Thickness,
    /// Every pixel at the same distance from the sample.
    pub curved: bool,
    /// Solid angle as 1/R².
    pub point_pixel: bool,
    /// Rendered window, inclusive pixel indices: fast min, fast max, slow min, slow max.
    pub roi: [usize; 4],
    /// The reference's ROI numbers as it prints them (xmax defaults to fpixels).
    pub roi_printed: [i64; 4],
    #[serde(skip)]
    pub mask: Option<Arc<[u16]>>,
    pub dmin: f64,
    pub water_size: f64,
    /// Constant background term added to every pixel's sum before scaling.
    pub i_bg: f64,
    /// Sub-steps the sum is divided by: sources x domains x phi steps x oversample².
    pub steps: usize,
    pub fix_quirks: bool,
    /// Shared random-number state after the misset and mosaic streams; noise continues it.
    #[serde(skip)]
    pub rng: Ran1Table,
    /// Messages the reference would print while setting up, in its order.
    pub messages: Vec<String>,
}

fn opt_or(x: Option<f64>, unset: f64) -> f64 {
    x.unwrap_or(unset)
}

impl Setup {
    /// Resolve `config` with an optional structure-factor table and pixel mask (one value per
    /// detector pixel, row-major; 0 skips the pixel).
    pub fn new(config: &Config, hkl: Option<Arc<HklTable>>, mask: Option<Arc<[u16]>>) -> Result<Setup> {
        config.validate()?;
        let fix = config.fix_quirks;
        let (cc, bc, dc, sc) = (&config.crystal, &config.beam, &config.detector, &config.sampling);
        let mut messages = Vec::new();

        if hkl.is_none() && cc.default_f == 0.0 {
            return Err(Error::config(
                "crystal.default_F",
                "no structure factors: give an HKL table (or an Fdump.bin) or a nonzero default_F",
            ));
        }

        let lambda0 = match bc.energy_eV {
            Some(e) => (12398.42 / e) / 1.0e10,
            None => bc.wavelength_A / 1.0e10,
        };

        // Fluence from flux, then the beam clips the crystal's y and z.
        let beamsize = bc.beamsize_mm / 1000.0;
        let mut fluence = bc.fluence_ph_per_m2.unwrap_or(DEFAULT_FLUENCE);
        if bc.flux_ph_per_s != 0.0 && bc.exposure_s > 0.0 && beamsize >= 0.0 {
            fluence = bc.flux_ph_per_s * bc.exposure_s / beamsize / beamsize;
        }
        let mut sample = [0.0; 3];
        for (i, s) in cc.size_mm.iter().enumerate() {
            sample[i] = s.map_or(0.0, |mm| mm / 1000.0);
        }
        if beamsize >= 0.0 {
            if beamsize < sample[1] {
                messages.push(format!(
                    "WARNING: clipping sample ({} m high) with beam ({} m)",
                    crate::fmt::g(sample[1]),
                    crate::fmt::g(beamsize)
                ));
                sample[1] = beamsize;
            }
            if beamsize < sample[2] {
                messages.push(format!(
                    "WARNING: clipping sample ({} m wide) with beam ({} m)",
                    crate::fmt::g(sample[2]),
                    crate::fmt::g(beamsize)
                ));
                sample[2] = beamsize;
            }
        }

        let custom = dc.convention == Convention::Custom;
        let geometry = build_geometry(&DetectorInput {
            convention: dc.convention,
            pivot: dc.pivot,
            pixel_size: dc.pixel_size_mm / 1000.0,
            fpixels: dc.detpixels_f.map(|n| n as usize),
            spixels: dc.detpixels_s.map(|n| n as usize),
            detsize_f: dc.detsize_f_mm / 1000.0,
            detsize_s: dc.detsize_s_mm / 1000.0,
            distance: dc.distance_mm / 1000.0,
            close_distance: dc.close_distance_mm.map(|x| x / 1000.0),
            xbeam: dc.xbeam_mm.map(|x| x / 1000.0),
            ybeam: dc.ybeam_mm.map(|x| x / 1000.0),
            xclose: dc.xclose_mm.map(|x| x / 1000.0),
            yclose: dc.yclose_mm.map(|x| x / 1000.0),
            orgx: dc.orgx_px,
            orgy: dc.orgy_px,
            beam_vector: bc.beam_vector.filter(|_| custom),
            fdet_vector: dc.fdet_vector.filter(|_| custom),
            sdet_vector: dc.sdet_vector.filter(|_| custom),
            odet_vector: dc.odet_vector.filter(|_| custom),
            polar_vector: bc.polar_vector.filter(|_| custom),
            spindle_axis: sc.spindle_axis.filter(|_| custom),
            twotheta_axis: dc.twotheta_axis.filter(|_| custom),
            pix0_vector: dc.pix0_vector_m.filter(|_| custom),
            twotheta: dc.twotheta_deg / RTD,
            rotx: dc.rotx_deg / RTD,
            roty: dc.roty_deg / RTD,
            rotz: dc.rotz_deg / RTD,
            fixed: fix,
        });
        let (fpixels, spixels) = (geometry.fpixels, geometry.spixels);
        if fpixels == 0 || spixels == 0 {
            return Err(Error::config("detector.detsize_f_mm", "the detector has no pixels"));
        }
        // Every table a user sizes is estimated before it is allocated (resources.rs).
        let image_field = match (dc.detpixels_f, dc.detpixels_s) {
            (Some(_), _) => "detector.detpixels_f",
            (None, Some(_)) => "detector.detpixels_s",
            _ => "detector.detsize_f_mm",
        };
        let mut needs = vec![crate::resources::image(image_field, fpixels, spixels)];
        crate::resources::check(&needs)?;
        if let Some(m) = &mask {
            if m.len() < fpixels * spixels {
                return Err(Error::Input(format!(
                    "the mask has {} values but the detector has {}x{} = {} pixels",
                    m.len(),
                    fpixels,
                    spixels,
                    fpixels * spixels
                )));
            }
        }

        // Spindle steps (nanoBragg.c L1380-1429).
        let phi = resolve_phi(sc.phi_deg / RTD, sc.osc_deg.map(|x| x / RTD), sc.phistep_deg.map(|x| x / RTD), sc.phisteps);

        let hdiv = resolve_steps(
            opt_or(bc.hdivrange_mrad.map(|x| x / 1000.0), -1.0),
            opt_or(bc.hdivstep_mrad.map(|x| x / 1000.0), -1.0),
            bc.hdivsteps.unwrap_or(-1),
            1.0,
        );
        let vdiv = resolve_steps(
            opt_or(bc.vdivrange_mrad.map(|x| x / 1000.0), -1.0),
            opt_or(bc.vdivstep_mrad.map(|x| x / 1000.0), -1.0),
            bc.vdivsteps.unwrap_or(-1),
            1.0,
        );
        let disp = resolve_steps(bc.dispersion_pct / 100.0, -1.0, bc.dispsteps.unwrap_or(-1), 1.0);

        let thickness = resolve_thickness(dc.thickness_um * 1e-6, dc.attenuation_depth_um, dc.thicksteps, fix, &mut messages);

        // Mosaic domains (nanoBragg.c L1639-1673).
        let mut mosaic_spread = cc.mosaic_spread_deg.map_or(-1.0, |d| d / RTD);
        let mut domains = cc.mosaic_domains.unwrap_or(-1);
        if domains <= 0 {
            if mosaic_spread < 0.0 {
                domains = 1;
                mosaic_spread = 0.0;
            } else if mosaic_spread == 0.0 {
                domains = 1;
            } else {
                messages.push("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains".into());
                domains = 10;
            }
        } else if mosaic_spread < 0.0 {
            messages.push("WARNING: no mosaic spread specified.  setting mosaic_domains = 1".into());
            mosaic_spread = 0.0;
            domains = 1;
        } else if mosaic_spread == 0.0 {
            messages.push("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1".into());
            domains = 1;
        }

        // The reference decides interpolation before N is derived from the crystal size.
        let raw_n = cc.n_cells.map(|n| n as f64);
        let mut interpolate = match cc.interpolate {
            Some(on) => on,
            None => {
                let on = raw_n.iter().any(|&n| n <= 2.0);
                messages.push(if on {
                    "auto-selected tricubic interpolation of structure factors".into()
                } else {
                    "auto-selected no interpolation".into()
                });
                on
            }
        };

        // Orientation; a random misset draws first from the shared generator.
        let mut rng = Ran1Table::default();
        let mut misset = cc.misset_deg.map(|m| [m[0] / RTD, m[1] / RTD, m[2] / RTD]);
        let mut misset_random_rad = None;
        if cc.misset_random {
            let seed = cc.misset_seed.unwrap_or_else(clock_seed);
            let mut idum = -seed;
            let u = mosaic_rotation_umat(90.0, &mut rng, &mut idum);
            let angles = umat2misset(&u);
            misset = Some(angles);
            misset_random_rad = Some(angles);
        }
        let cell = cc.cell.map(|c| [c[0], c[1], c[2], c[3] / RTD, c[4] / RTD, c[5] / RTD]);
        let lattice = build_lattice(&LatticeInput {
            cell,
            mosflm_matrix: cc.mosflm_matrix,
            lambda0,
            misset,
            fix_triclinic: fix,
        });
        messages.extend(lattice.warnings.iter().cloned());
        let a0 = scale(lattice.a, 1e-10);
        let b0 = scale(lattice.b, 1e-10);
        let c0 = scale(lattice.c, 1e-10);

        let mut n_cells = raw_n;
        for (i, len) in [norm(a0), norm(b0), norm(c0)].into_iter().enumerate() {
            if sample[i] > 0.0 {
                n_cells[i] = (sample[i] / len).ceil();
            }
            if n_cells[i] <= 1.0 {
                n_cells[i] = 1.0;
            }
        }
        let crystal_size_m = [norm(a0) * n_cells[0], norm(b0) * n_cells[1], norm(c0) * n_cells[2]];
        let xtalsize_max = crystal_size_m.iter().cloned().fold(crystal_size_m[0], f64::max);
        let reciprocal_pixel_size = lambda0 * geometry.distance / geometry.pixel_size;
        let mut recommended_oversample = (3.0 * xtalsize_max / reciprocal_pixel_size).ceil() as i64;
        if recommended_oversample <= 0 {
            recommended_oversample = 1;
        }
        let oversample = match sc.oversample {
            Some(n) => n,
            None => {
                messages.push(format!("auto-selected {recommended_oversample}-fold oversampling"));
                recommended_oversample
            }
        };
        if oversample < recommended_oversample {
            messages.push(format!(
                "WARNING: maximum dimension of sample is {} A\n         but reciprocal pixel size is {} A\n         intensity may vary significantly across a pixel!\n         recommend -oversample {} to work around this",
                crate::fmt::g(xtalsize_max * 1e10),
                crate::fmt::g(reciprocal_pixel_size * 1e10),
                recommended_oversample
            ));
        }
        if oversample > 4096 {
            let why = match sc.oversample {
                Some(_) => String::new(),
                None => " (auto-selected from the crystal size and the detector geometry; set it explicitly)".into(),
            };
            return Err(Error::config("sampling.oversample", format!("{oversample} sub-pixels per edge is too many{why}")));
        }
        let oversample = oversample as usize;

        let hkl_count = hkl.as_ref().map_or(0, |t| t.count());
        if hkl_count == 0 {
            interpolate = false;
        }

        needs.push(match &bc.sources {
            Some(rows) => crate::resources::listed_sources(rows.len()),
            None => crate::resources::generated_sources(hdiv.count, vdiv.count, disp.count),
        });
        needs.push(crate::resources::orientations(domains as usize, phi.count));
        crate::resources::check(&needs)?;

        // Sources: a list from the user, else the divergence x dispersion grid.
        let (sources, divergence_points) = match &bc.sources {
            Some(rows) => (sources_from_rows(rows, geometry.beam, lambda0), -1),
            None => {
                let spread = SpreadInput { hdiv, vdiv, disp, round_div: bc.round_div };
                let (s, kept, msgs) = generate_sources(&spread, geometry.beam, geometry.polar, geometry.vert, lambda0);
                messages.extend(msgs);
                (s, kept as i64)
            }
        };
        if sources.is_empty() {
            return Err(Error::config("beam", "no sources survive the divergence settings"));
        }

        let mut mosaic_umats = Vec::with_capacity(domains as usize);
        let mut idum = -cc.mosaic_seed;
        for i in 0..domains {
            let u = mosaic_rotation_umat(mosaic_spread as f32, &mut rng, &mut idum);
            mosaic_umats.push(if i == 0 { IDENTITY } else { u });
        }

        let steps = [mosaic_umats.len(), phi.count, oversample, oversample]
            .iter()
            .try_fold(sources.len(), |n, &m| n.checked_mul(m))
            .ok_or_else(|| Error::config("sampling.oversample", "sources x mosaic domains x phi steps x oversample² overflows"))?;
        let water_size = cc.water_um / 1e6;
        let i_bg = WATER_F * WATER_F * R_E_SQR * fluence * water_size * water_size * water_size * 1e6 * AVOGADRO
            / WATER_MW;

        let roi_printed = match dc.roi {
            Some([a, b, c, d]) => [a, b, c, d],
            None => [0, fpixels as i64, 0, spixels as i64],
        };
        let clamp = |v: i64, n: usize| (v.max(0) as usize).min(n - 1);
        let roi = [
            clamp(roi_printed[0], fpixels),
            clamp(roi_printed[1], fpixels),
            clamp(roi_printed[2], spixels),
            clamp(roi_printed[3], spixels),
        ];
        if dc.roi.is_some() && (roi_printed[0] as usize >= fpixels || roi_printed[2] as usize >= spixels) {
            return Err(Error::config("detector.roi", format!("the window starts outside the {fpixels}x{spixels} detector")));
        }

        Ok(Setup {
            config: config.clone(),
            geometry,
            lattice,
            a0,
            b0,
            c0,
            n_cells,
            crystal_size_m,
            shape: cc.shape,
            fudge: cc.fudge,
            default_f: cc.default_f,
            interpolate,
            hkl,
            hkl_count,
            lambda0,
            fluence,
            sources,
            hdiv,
            vdiv,
            disp,
            divergence_points,
            polarization: bc.polarization,
            nopolar: bc.nopolar,
            phi,
            mosaic_spread,
            mosaic_umats,
            misset_random_rad,
            oversample,
            recommended_oversample,
            oversample_thick: sc.oversample_thick,
            oversample_polar: sc.oversample_polar,
            oversample_omega: sc.oversample_omega,
            thickness,
            curved: dc.curved,
            point_pixel: dc.point_pixel,
            roi,
            roi_printed,
            mask,
            dmin: sc.dmin_A * 1e-10,
            water_size,
            i_bg,
            steps,
            fix_quirks: fix,
            rng,
            messages,
        })
    }

    /// Whether pixel (fast, slow) is rendered: inside the window and not masked.
    #[inline]
    pub fn renders(&self, fpixel: usize, spixel: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        if fpixel < x0 || fpixel > x1 || spixel < y0 || spixel > y1 {
            return false;
        }
        match &self.mask {
            Some(m) => m[spixel * self.geometry.fpixels + fpixel] != 0,
            None => true,
        }
    }

    /// Whether pixel (fast, slow) is inside the window (the integer images' and rmsd's test).
    #[inline]
    pub fn in_roi(&self, fpixel: usize, spixel: usize) -> bool {
        let [x0, x1, y0, y1] = self.roi;
        fpixel >= x0 && fpixel <= x1 && spixel >= y0 && spixel <= y1
    }
}

/// A seed from the clock, as the reference's `-time(NULL)` default.
pub fn clock_seed() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(1)
}

/// nanoBragg.c L1380-1429: phi0, osc, step size and count from what was given.
pub fn resolve_phi(phi0: f64, osc: Option<f64>, step: Option<f64>, count: Option<i64>) -> PhiSteps {
    let mut osc = osc.unwrap_or(-1.0);
    let mut step = step.unwrap_or(-1.0);
    let mut count = count.unwrap_or(-1);
    if count < 0 {
        if osc < 0.0 {
            if step <= 0.0 {
                count = 1;
                osc = 0.0;
                step = 0.0;
            } else {
                osc = step;
                count = 2;
            }
        } else if step <= 0.0 {
            count = 2;
            step = osc / 2.0;
        } else {
            count = (osc / step).ceil() as i64;
        }
    } else {
        if count == 0 {
            count = 1;
        }
        if osc < 0.0 {
            if step <= 0.0 {
                osc = 1.0 / RTD;
                step = osc / count as f64;
            } else {
                osc = step;
                count = 2;
            }
        } else if step < 0.0 {
            step = osc / count as f64;
        }
    }
    PhiSteps { phi0, osc, step, count: count.max(1) as usize }
}

/// nanoBragg.c L1583-1637 and L1691-1695: sensor layers. `fixed` makes n layers cover the
/// thickness (not n/(n-1) of it, notes Q4) and reads a zero absorption as no sensor model (Q31).
fn resolve_thickness(
    mut thick: f64,
    attenuation_um: Option<f64>,
    layers: Option<i64>,
    fixed: bool,
    messages: &mut Vec<String>,
) -> Thickness {
    let mut mu = -1.0;
    if let Some(a) = attenuation_um {
        if a.is_infinite() || a == 0.0 {
            mu = 0.0;
        } else {
            mu = 1.0 / (a * 1e-6);
        }
    }
    if fixed && mu == 0.0 {
        thick = 0.0;
    }
    let mut n = layers.unwrap_or(-1);
    let mut step;
    if n <= 0 {
        n = 2;
        step = thick / n as f64;
    } else {
        if n <= 1 && !fixed {
            n = 2;
        }
        step = if fixed { thick / n as f64 } else { thick / (n - 1) as f64 };
    }
    if thick > 0.0 && mu < 0.0 {
        mu = 1.0 / thick;
        messages.push(format!("WARNING: setting detector attenuation depth to {} m", crate::fmt::g(mu)));
    }
    if thick <= 0.0 || step <= 0.0 || n <= 0 {
        n = 1;
        thick = 0.0;
        step = 0.0;
    }
    Thickness { thickness: thick, step, layers: n as usize, mu }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_rules() {
        let deg = 1.0 / RTD;
        // osc only: two steps of osc/2
        let p = resolve_phi(0.0, Some(1.0 * deg), None, None);
        assert_eq!((p.count, p.step), (2, 0.5 * deg));
        // steps only: osc 1 degree
        let p = resolve_phi(0.0, None, None, Some(4));
        assert_eq!(p.count, 4);
        assert!((p.osc - deg).abs() < 1e-18);
        // steps and step size: the count is discarded
        let p = resolve_phi(0.0, None, Some(0.2 * deg), Some(7));
        assert_eq!(p.count, 2);
        // osc and step: ceil
        let p = resolve_phi(10.0 * deg, Some(2.0 * deg), Some(0.5 * deg), None);
        assert_eq!(p.count, 4);
    }

    #[test]
    fn thickness_layers() {
        let mut m = Vec::new();
        let t = resolve_thickness(450e-6, Some(300.0), Some(3), false, &mut m);
        assert_eq!(t.layers, 3);
        assert!((t.step - 225e-6).abs() < 1e-18);
        let t = resolve_thickness(450e-6, Some(300.0), Some(3), true, &mut m);
        assert!((t.step - 150e-6).abs() < 1e-18);
        let t = resolve_thickness(200e-6, None, None, false, &mut m);
        assert_eq!((t.layers, t.step), (2, 100e-6));
        assert!((t.mu - 5000.0).abs() < 1e-9);
        // Q31: no absorption with a thickness renders nothing, unless fixed.
        let t = resolve_thickness(200e-6, Some(f64::INFINITY), None, false, &mut m);
        assert_eq!((t.layers, t.mu), (2, 0.0));
        let t = resolve_thickness(200e-6, Some(f64::INFINITY), None, true, &mut m);
        assert_eq!(t.layers, 1);
    }
}

/// The numbers of the reference's SMV header, computed with its expressions (mm, Å, degrees).
#[derive(Clone, Debug, Serialize)]
#[allow(non_snake_case)]
pub struct HeaderValues {
    pub SIZE1: usize,
    pub SIZE2: usize,
    pub PIXEL_SIZE: f64,
    pub DISTANCE: f64,
    pub WAVELENGTH: f64,
    pub BEAM_CENTER_X: f64,
    pub BEAM_CENTER_Y: f64,
    pub ADXV_CENTER_X: f64,
    pub ADXV_CENTER_Y: f64,
    pub MOSFLM_CENTER_X: f64,
    pub MOSFLM_CENTER_Y: f64,
    pub DENZO_X_BEAM: f64,
    pub DENZO_Y_BEAM: f64,
    pub DIALS_ORIGIN: [f64; 3],
    pub XDS_ORGX: f64,
    pub XDS_ORGY: f64,
    pub CLOSE_DISTANCE: f64,
    pub PHI: f64,
    pub OSC_START: f64,
    pub OSC_RANGE: f64,
    pub TWOTHETA: f64,
}

/// Header values of an image rendered with `s`.
pub fn header_values(s: &Setup) -> HeaderValues {
    let g = &s.geometry;
    let px = g.pixel_size;
    HeaderValues {
        SIZE1: g.fpixels,
        SIZE2: g.spixels,
        PIXEL_SIZE: px * 1000.0,
        DISTANCE: g.distance * 1000.0,
        WAVELENGTH: s.lambda0 * 1e10,
        BEAM_CENTER_X: g.xbeam * 1000.0,
        BEAM_CENTER_Y: g.ybeam * 1000.0,
        ADXV_CENTER_X: g.fbeam * 1000.0,
        ADXV_CENTER_Y: (g.detsize_s - g.sbeam) * 1000.0,
        MOSFLM_CENTER_X: (g.sbeam - 0.5 * px) * 1000.0,
        MOSFLM_CENTER_Y: (g.fbeam - 0.5 * px) * 1000.0,
        DENZO_X_BEAM: (g.sbeam - 0.0 * px) * 1000.0,
        DENZO_Y_BEAM: (g.fbeam - 0.0 * px) * 1000.0,
        DIALS_ORIGIN: g.dials_origin,
        XDS_ORGX: g.orgx,
        XDS_ORGY: g.orgy,
        CLOSE_DISTANCE: g.close_distance * 1000.0,
        PHI: s.phi.phi0 * RTD,
        OSC_START: s.phi.phi0 * RTD,
        OSC_RANGE: s.phi.osc * RTD,
        TWOTHETA: g.twotheta * RTD,
    }
}
