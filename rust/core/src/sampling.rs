//! The sampling stage: how each pixel's sum is sampled (spindle steps, sub-pixels, sensor
//! layers) and the number of sub-steps it is divided by.

use crate::config::SamplingConfig;
use crate::error::{Error, Result};
use crate::setup::RTD;
use serde::Serialize;

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

/// How each pixel is sampled.
#[derive(Clone, Debug, Serialize)]
pub struct Sampling {
    pub phi: PhiSteps,
    /// Sub-pixels per pixel edge.
    pub oversample: usize,
    pub recommended_oversample: i64,
    /// Apply capture fraction, polarization, solid angle per sub-step (else once per pixel).
    pub oversample_thick: bool,
    pub oversample_polar: bool,
    pub oversample_omega: bool,
    /// Sensor layers.
    pub thickness: Thickness,
    /// Resolution cut (m); 0 for none.
    pub dmin: f64,
    /// Sub-steps the sum is divided by: sources x domains x phi steps x oversample².
    pub steps: usize,
}

/// The reference's suggested oversampling: three sub-pixels per reciprocal pixel across the
/// crystal's largest dimension, at least 1.
pub fn recommended_oversample(xtalsize_max: f64, reciprocal_pixel_size: f64) -> i64 {
    let n = (3.0 * xtalsize_max / reciprocal_pixel_size).ceil() as i64;
    n.max(1)
}

/// Sub-pixels per edge: given, or the recommendation (with the reference's warnings).
pub fn oversample(
    sc: &SamplingConfig,
    xtalsize_max: f64,
    reciprocal_pixel_size: f64,
    messages: &mut Vec<String>,
) -> Result<(usize, i64)> {
    let recommended = recommended_oversample(xtalsize_max, reciprocal_pixel_size);
    let oversample = match sc.oversample {
        Some(n) => n,
        None => {
            messages.push(format!("auto-selected {recommended}-fold oversampling"));
            recommended
        }
    };
    if oversample < recommended {
        messages.push(format!(
            "WARNING: maximum dimension of sample is {} A\n         but reciprocal pixel size is {} A\n         intensity may vary significantly across a pixel!\n         recommend -oversample {} to work around this",
            crate::fmt::g(xtalsize_max * 1e10),
            crate::fmt::g(reciprocal_pixel_size * 1e10),
            recommended
        ));
    }
    if oversample > 4096 {
        let why = match sc.oversample {
            Some(_) => String::new(),
            None => " (auto-selected from the crystal size and the detector geometry; set it explicitly)".into(),
        };
        return Err(Error::config("sampling.oversample", format!("{oversample} sub-pixels per edge is too many{why}")));
    }
    Ok((oversample as usize, recommended))
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
pub fn resolve_thickness(
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

