//! The beam stage: wavelength, fluence, divergence and dispersion, and the list of sources
//! with its polarization, resolved as nanoBragg.c does.

use crate::config::BeamConfig;
use crate::detector::LabFrame;
use crate::error::{Error, Result};
use crate::sources::{generate_sources, resolve_steps, sources_from_rows, Source, SpreadInput, Steps};
use serde::Serialize;

/// The reference's default fluence (photons/m²), about 1/r_e².
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;

/// The incident beam as the pixel loop sees it.
#[derive(Clone, Debug, Serialize)]
pub struct Beam {
    /// Nominal wavelength (m).
    pub lambda0: f64,
    /// Photons per m² over the exposure.
    pub fluence: f64,
    pub sources: Vec<Source>,
    pub hdiv: Steps,
    pub vdiv: Steps,
    pub disp: Steps,
    /// Divergence points kept (the reference prints -1 for a source file).
    pub divergence_points: i64,
    /// Kahn factor.
    pub polarization: f64,
    pub nopolar: bool,
}

/// The nominal wavelength (m), from the energy if one is given.
pub fn wavelength(bc: &BeamConfig) -> f64 {
    match bc.energy_eV {
        Some(e) => (12398.42 / e) / 1.0e10,
        None => bc.wavelength_A / 1.0e10,
    }
}

/// Beam size (m); negative when not given.
pub fn beamsize(bc: &BeamConfig) -> f64 {
    bc.beamsize_mm / 1000.0
}

/// Fluence (photons/m²): given, or from flux, exposure and beam size.
pub fn fluence(bc: &BeamConfig) -> f64 {
    let beamsize = beamsize(bc);
    let mut fluence = bc.fluence_ph_per_m2.unwrap_or(DEFAULT_FLUENCE);
    if bc.flux_ph_per_s != 0.0 && bc.exposure_s > 0.0 && beamsize >= 0.0 {
        fluence = bc.flux_ph_per_s * bc.exposure_s / beamsize / beamsize;
    }
    fluence
}

/// Horizontal and vertical divergence and dispersion steps (radians, fraction).
pub fn spread(bc: &BeamConfig) -> (Steps, Steps, Steps) {
    let or_unset = |x: Option<f64>| x.unwrap_or(-1.0);
    let hdiv = resolve_steps(
        or_unset(bc.hdivrange_mrad.map(|x| x / 1000.0)),
        or_unset(bc.hdivstep_mrad.map(|x| x / 1000.0)),
        bc.hdivsteps.unwrap_or(-1),
        1.0,
    );
    let vdiv = resolve_steps(
        or_unset(bc.vdivrange_mrad.map(|x| x / 1000.0)),
        or_unset(bc.vdivstep_mrad.map(|x| x / 1000.0)),
        bc.vdivsteps.unwrap_or(-1),
        1.0,
    );
    let disp = resolve_steps(bc.dispersion_pct / 100.0, -1.0, bc.dispsteps.unwrap_or(-1), 1.0);
    (hdiv, vdiv, disp)
}

/// The whole beam: a source list from the user, else the divergence x dispersion grid about
/// the lab frame's beam direction.
pub fn resolve(bc: &BeamConfig, lab: &LabFrame, lambda0: f64, fluence: f64, messages: &mut Vec<String>) -> Result<Beam> {
    let (hdiv, vdiv, disp) = spread(bc);
    let (sources, divergence_points) = match &bc.sources {
        Some(rows) => (sources_from_rows(rows, lab.beam, lambda0), -1),
        None => {
            let spread = SpreadInput { hdiv, vdiv, disp, round_div: bc.round_div };
            let (s, kept, msgs) = generate_sources(&spread, lab.beam, lab.polar, lab.vert, lambda0);
            messages.extend(msgs);
            (s, kept as i64)
        }
    };
    if sources.is_empty() {
        return Err(Error::config("beam", "no sources survive the divergence settings"));
    }
    Ok(Beam {
        lambda0,
        fluence,
        sources,
        hdiv,
        vdiv,
        disp,
        divergence_points,
        polarization: bc.polarization,
        nopolar: bc.nopolar,
    })
}
