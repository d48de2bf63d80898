//! Resolve a [`Config`] into a [`Setup`]: the typed stages (beam, crystal, detector,
//! sampling) the pixel loop and the writers need, each resolved in its own module, composed
//! here in the reference's order (its messages and its random draws depend on that order).

use crate::beam::{self, Beam};
use crate::config::Config;
use crate::crystal::{self, Crystal};
use crate::detector::{self, Detector, Panel};
use crate::error::{Error, Result};
use crate::hkl::HklTable;
use crate::rng::Ran1Table;
use crate::sampling::{self, Sampling};
use serde::Serialize;
use std::sync::Arc;

pub use crate::beam::DEFAULT_FLUENCE;
pub use crate::sampling::{resolve_phi, PhiSteps, Thickness};

/// Degrees per radian, as the reference defines it (angles are divided by it).
pub const RTD: f64 = 180.0 * std::f64::consts::FRAC_1_PI;
/// Thomson cross-section r_e² (m²).
pub const R_E_SQR: f64 = 7.94079248018965e-30;
const AVOGADRO: f64 = 6.02214179e23;
const WATER_F: f64 = 2.57;
const WATER_MW: f64 = 18.0;

/// The water droplet around the crystal: a constant background added to every pixel's sum.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Water {
    /// Droplet size (m); 0 for none.
    pub size_m: f64,
    /// Its term in each pixel's sum before scaling.
    pub i_bg: f64,
}

impl Water {
    fn new(water_um: f64, fluence: f64) -> Water {
        let size_m = water_um / 1e6;
        let i_bg = WATER_F * WATER_F * R_E_SQR * fluence * size_m * size_m * size_m * 1e6 * AVOGADRO / WATER_MW;
        Water { size_m, i_bg }
    }
}

/// Everything resolved from a configuration, ready to render: one part per stage.
#[derive(Clone, Debug, Serialize)]
pub struct Setup {
    pub beam: Beam,
    pub crystal: Crystal,
    pub detector: Detector,
    pub sampling: Sampling,
    pub water: Water,
    pub fix_quirks: bool,
    /// Shared random-number state after the misset and mosaic streams; noise continues it.
    #[serde(skip)]
    pub rng: Ran1Table,
    /// Messages the reference would print while setting up, in its order.
    pub messages: Vec<String>,
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

        // Beam first: the wavelength, the fluence, and the beam clipping the crystal.
        let lambda0 = beam::wavelength(bc);
        let fluence = beam::fluence(bc);
        let sample = crystal::sample_size(cc, beam::beamsize(bc), &mut messages);

        let detector = detector::resolve(config, mask)?;

        // Every table a user sizes is estimated before it is allocated (resources.rs); the
        // image was checked on its own in detector::resolve, before the mask.
        let g = &detector.panel().geometry;
        let mut needs = vec![detector::image_need(dc, g.fpixels, g.spixels)];

        // Sampling: spindle steps (nanoBragg.c L1380-1429) and sensor layers.
        let phi = resolve_phi(sc.phi_deg / RTD, sc.osc_deg.map(|x| x / RTD), sc.phistep_deg.map(|x| x / RTD), sc.phisteps);
        let thickness = sampling::resolve_thickness(dc.thickness_um * 1e-6, dc.attenuation_depth_um, dc.thicksteps, fix, &mut messages);

        // Crystal: domains and interpolation are decided before N comes from the crystal size.
        let (mosaic_spread, domains) = crystal::mosaic_domains(cc, &mut messages);
        let mut interpolate = crystal::interpolation(cc, &mut messages);

        // Random draw 1: a random misset, from the shared generator.
        let mut rng = Ran1Table::default();
        let (misset, misset_random_rad) = crystal::misset(cc, &mut rng);
        let (lattice, [a0, b0, c0]) = crystal::orient(cc, lambda0, misset, fix, &mut messages);
        let (n_cells, crystal_size_m) = crystal::cell_counts(cc, sample, [a0, b0, c0]);

        let g = &detector.panel().geometry;
        let xtalsize_max = crystal_size_m.iter().cloned().fold(crystal_size_m[0], f64::max);
        let reciprocal_pixel_size = lambda0 * g.distance / g.pixel_size;
        let (oversample, recommended_oversample) = sampling::oversample(sc, xtalsize_max, reciprocal_pixel_size, &mut messages)?;

        let hkl_count = hkl.as_ref().map_or(0, |t| t.count());
        if hkl_count == 0 {
            interpolate = false;
        }

        let (hdiv, vdiv, disp) = beam::spread(bc);
        needs.push(match &bc.sources {
            Some(rows) => crate::resources::listed_sources(rows.len()),
            None => crate::resources::generated_sources(hdiv.count, vdiv.count, disp.count),
        });
        needs.push(crate::resources::orientations(domains as usize, phi.count));
        crate::resources::check(&needs)?;

        let beam = beam::resolve(bc, &detector.lab, lambda0, fluence, &mut messages)?;

        // Random draw 2: the mosaic domains continue the same generator.
        let mosaic_umats = crystal::mosaic_rotations(cc, mosaic_spread, domains, &mut rng);

        let steps = [mosaic_umats.len(), phi.count, oversample, oversample]
            .iter()
            .try_fold(beam.sources.len(), |n, &m| n.checked_mul(m))
            .ok_or_else(|| Error::config("sampling.oversample", "sources x mosaic domains x phi steps x oversample² overflows"))?;
        let water = Water::new(cc.water_um, fluence);
        detector::check_roi(config, &detector)?;

        Ok(Setup {
            beam,
            crystal: Crystal {
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
                mosaic_spread,
                mosaic_umats,
                misset_random_rad,
            },
            detector,
            sampling: Sampling {
                phi,
                oversample,
                recommended_oversample,
                oversample_thick: sc.oversample_thick,
                oversample_polar: sc.oversample_polar,
                oversample_omega: sc.oversample_omega,
                thickness,
                dmin: sc.dmin_A * 1e-10,
                steps,
            },
            water,
            fix_quirks: fix,
            rng,
            messages,
        })
    }

    /// The panel a render draws (a detector today has one).
    #[inline]
    pub fn panel(&self) -> &Panel {
        self.detector.panel()
    }
}

/// A seed from the clock, as the reference's `-time(NULL)` default.
pub fn clock_seed() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(1)
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
    let g = &s.panel().geometry;
    let px = g.pixel_size;
    HeaderValues {
        SIZE1: g.fpixels,
        SIZE2: g.spixels,
        PIXEL_SIZE: px * 1000.0,
        DISTANCE: g.distance * 1000.0,
        WAVELENGTH: s.beam.lambda0 * 1e10,
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
        PHI: s.sampling.phi.phi0 * RTD,
        OSC_START: s.sampling.phi.phi0 * RTD,
        OSC_RANGE: s.sampling.phi.osc * RTD,
        TWOTHETA: g.twotheta * RTD,
    }
}
