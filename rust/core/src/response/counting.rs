//! Photons to recorded values, as noisify.c does it: photon scale, calibration error, flicker,
//! Poisson counting, the PSF, gain, ADC offset, read-out noise and the integer pixels.
//!
//! [`noisify`] runs the reference's whole pipeline in its order and with its arithmetic (double
//! steps, single-precision photon images between them), so that the same seeds give the same
//! pixels. With `fix_quirks` it corrects what the reference gets wrong (see docs/noisify.md).

use rayon::prelude::*;

use super::psf::{self, Psf, PsfReport};
use crate::error::Result;
use crate::rng::{Deviates, Ran1Table};

/// The Thomson cross section r_e² (m²) as the reference writes it.
pub const R_E_SQR: f64 = 7.94079248018965e-30;
/// The reference's default fluence (ph/m²): fluence·r_e² is exactly 1, so input values are
/// photons per pixel.
pub const DEFAULT_FLUENCE: f64 = 125932015286227086360700780544.0;
/// The reference's default calibration seed, stored as is (a positive value, so its first
/// draw starts the generator as seed 1).
pub const DEFAULT_CALIB_STATE: i64 = 123456789;

/// One detector response: everything noisify.c's flags set except files and seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// Fluence (ph/m²); photons = fluence·r_e²·scale·value.
    pub fluence_ph_per_m2: f64,
    /// Factor applied to the input values.
    pub scale: f64,
    /// Point-spread function, if any.
    pub psf: Option<Psf>,
    /// ADU per photon.
    pub gain_adu_per_photon: f64,
    /// Offset added to every pixel (ADU).
    pub adc_offset_adu: f64,
    /// Gaussian read-out noise (ADU rms), noise image only.
    pub readout_adu: f64,
    /// Fractional per-pixel source noise, noise image only.
    pub flicker: f64,
    /// Fractional per-pixel gain error, noise image only.
    pub calibration: f64,
    /// Draw the noise image; without it the ideal image is blurred by the PSF instead.
    pub noise: bool,
    /// 16 or 32 (other values: header-only files, as the reference writes them).
    pub bits: u32,
    /// Correct the reference's quirks instead of reproducing them.
    pub fix_quirks: bool,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            fluence_ph_per_m2: DEFAULT_FLUENCE,
            scale: 1.0,
            psf: None,
            gain_adu_per_photon: 1.0,
            adc_offset_adu: 40.0,
            readout_adu: 0.0,
            flicker: 0.0,
            calibration: 0.03,
            noise: true,
            bits: 16,
            fix_quirks: false,
        }
    }
}

/// The generator states of one run: noisify.c's `seed` and `calib_seed` variables (a user's
/// `-seed n` is stored as −n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub seed_state: i64,
    pub calib_state: i64,
}

impl Seeds {
    /// The states for `-seed seed` and `-calib_seed calib_seed` (None: the reference's default).
    pub fn from_flags(seed: i32, calib_seed: Option<i32>) -> Seeds {
        // The reference negates in `int`: -INT_MIN stays INT_MIN.
        Seeds { seed_state: seed.wrapping_neg() as i64, calib_state: calib_seed.map_or(DEFAULT_CALIB_STATE, |c| c.wrapping_neg() as i64) }
    }
}

/// Integer pixels of one image in both widths (the reference fills both, writes one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pixels {
    pub int16: Vec<u16>,
    pub int32: Vec<u32>,
}

/// The noise image and what the reference prints about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NoiseImage {
    pub pixels: Pixels,
    /// Photons after the Poisson draw (the float image the PSF and ADC see).
    pub photons_before_psf: f64,
    /// Photons after the PSF (the float image converted to ADU), including the add-back.
    pub photons: f64,
    pub overloads: usize,
    pub psf: Option<PsfReport>,
}

/// Everything one run produces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Largest input value (raw), and on the photon scale.
    pub max_input: f64,
    pub max_photons: f64,
    /// The PSF report for the ideal image (`-nonoise` runs only).
    pub ideal_psf: Option<PsfReport>,
    pub ideal: Pixels,
    /// The 8-bit preview of the ideal image.
    pub pgm: Vec<u8>,
    pub noise: Option<NoiseImage>,
}

/// C's `(unsigned int)` of a double on x86-64: truncation through a 64-bit integer, low 32 bits.
fn wrap_u32(adu: f64) -> u32 {
    (adu as i64) as u32
}

/// C's `(unsigned short)` of a double on x86-64: truncation through a 32-bit integer, low 16 bits.
fn wrap_u16(adu: f64) -> u16 {
    (adu as i32) as u16
}

/// Photons per pixel: float((fluence·r_e²)·scale·value).
pub fn photons(values: &[f32], fluence: f64, scale: f64) -> Vec<f32> {
    let k = fluence * R_E_SQR;
    values.par_iter().map(|&v| (k * scale * v as f64) as f32).collect()
}

/// The noiseless ADU image: photons·gain + offset, capped at 65535 in both widths (the
/// reference's 32-bit ideal image too), truncated, negative values wrapped as x86 wraps them.
/// Corrected: the 32-bit image is capped at 2147483647 and negative values become 0.
pub fn ideal_pixels(photons: &[f32], gain: f64, adc: f64, fix_quirks: bool) -> Pixels {
    let adu = |p: f32| p as f64 * gain + adc;
    let (int16, int32) = if fix_quirks {
        photons
            .par_iter()
            .map(|&p| {
                let a = adu(p);
                (a.clamp(0.0, 65535.0) as u16, a.clamp(0.0, 2147483647.0) as u32)
            })
            .unzip()
    } else {
        photons
            .par_iter()
            .map(|&p| {
                let a = adu(p).min(2147483647.0).min(65535.0);
                // `min` would turn NaN into the bound; the reference's `>` tests keep NaN.
                let a = if adu(p).is_nan() { f64::NAN } else { a };
                (wrap_u16(a), wrap_u32(a))
            })
            .unzip()
    };
    Pixels { int16, int32 }
}

/// The PGM bytes: min(16-bit ideal value, 255).
pub fn pgm_bytes(int16: &[u16]) -> Vec<u8> {
    int16.par_iter().map(|&v| v.min(255) as u8).collect()
}

/// The shared generator of a run. The reference keeps one shuffle table, one Gaussian spare and
/// one Poisson cache for both seeds; corrected, calibration has a generator of its own.
struct Generators {
    main: Deviates,
    calib: Option<Deviates>,
    seeds: Seeds,
}

impl Generators {
    fn new(seeds: Seeds, fix_quirks: bool) -> Generators {
        let mut seeds = seeds;
        if fix_quirks && seeds.calib_state > 0 {
            // A positive state would start the separate generator as 1 whatever its value.
            seeds.calib_state = -seeds.calib_state;
        }
        Generators {
            main: Deviates::new(Ran1Table::default()),
            calib: fix_quirks.then(|| Deviates::new(Ran1Table::default())),
            seeds,
        }
    }

    fn calibration_deviate(&mut self) -> f32 {
        match &mut self.calib {
            Some(d) => d.gaussdev(&mut self.seeds.calib_state),
            None => self.main.gaussdev(&mut self.seeds.calib_state),
        }
    }
}

/// Flicker, calibration error and the Poisson draw for each pixel in file order.
fn draw_photons(ideal: &[f32], r: &Response, gen: &mut Generators) -> (Vec<f32>, f64) {
    let mut out = Vec::with_capacity(ideal.len());
    let mut sum = 0.0;
    for &p in ideal {
        let mut p0 = p as f64;
        if r.flicker > 0.0 {
            p0 *= 1.0 + r.flicker * gen.main.gaussdev(&mut gen.seeds.seed_state) as f64;
        }
        if r.calibration > 0.0 {
            p0 *= 1.0 + r.calibration * gen.calibration_deviate() as f64;
        }
        let n = gen.main.poidev(p0 as f32, &mut gen.seeds.seed_state);
        sum += n as f64;
        out.push(n);
    }
    (out, sum)
}

/// The noisy ADU image: photons·gain + offset + read-out noise, capped at 2147483647 (32-bit)
/// and 65535 (16-bit), truncated; returns the pixels, the photon sum and the overloads.
fn noisy_pixels(photons: &[f32], r: &Response, gen: &mut Generators) -> (Pixels, f64, usize) {
    let n = photons.len();
    let sum = photons.iter().fold(0.0f64, |s, &p| s + p as f64);
    // Overloads: over 2147483647 ADU in 32-bit, over 65535 in 16-bit, none otherwise.
    let limit = match r.bits {
        32 => 2147483647.0,
        16 => 65535.0,
        _ => f64::INFINITY,
    };
    let pixels = |a: f64| -> (u16, u32) {
        let a32 = if a > 2147483647.0 { 2147483647.0 } else { a };
        let a16 = if a32 > 65535.0 { 65535.0 } else { a32 };
        if r.fix_quirks {
            (a16.max(0.0) as u16, a32.max(0.0) as u32)
        } else {
            (wrap_u16(a16), wrap_u32(a32))
        }
    };
    let mut int16 = vec![0u16; n];
    let mut int32 = vec![0u32; n];
    let overloads = if r.readout_adu > 0.0 {
        // Read-out noise draws from the shared generator, pixel by pixel in file order.
        let mut over = 0;
        for ((&p, o16), o32) in photons.iter().zip(int16.iter_mut()).zip(int32.iter_mut()) {
            let a = p as f64 * r.gain_adu_per_photon
                + r.adc_offset_adu
                + r.readout_adu * gen.main.gaussdev(&mut gen.seeds.seed_state) as f64;
            over += (a > limit) as usize;
            (*o16, *o32) = pixels(a);
        }
        over
    } else {
        photons
            .par_iter()
            .zip(int16.par_iter_mut())
            .zip(int32.par_iter_mut())
            .map(|((&p, o16), o32)| {
                let a = p as f64 * r.gain_adu_per_photon + r.adc_offset_adu;
                (*o16, *o32) = pixels(a);
                (a > limit) as usize
            })
            .sum()
    };
    (Pixels { int16, int32 }, sum, overloads)
}

fn blur(image: &[f32], width: usize, height: usize, p: &Psf, fix_quirks: bool) -> Result<(Vec<f32>, PsfReport)> {
    if fix_quirks {
        psf::apply_corrected(image, width, height, p)
    } else {
        psf::apply(image, width, height, p)
    }
}

/// noisify.c's pipeline on `values` (`width`·`height` input values, fast index fastest).
pub fn noisify(values: &[f32], width: usize, height: usize, r: &Response, seeds: Seeds) -> Result<Outcome> {
    let max_input = values.iter().fold(0.0f64, |m, &v| if m < v as f64 { v as f64 } else { m });
    let max_photons = max_input * r.scale * r.fluence_ph_per_m2 * R_E_SQR;
    let mut photon = photons(values, r.fluence_ph_per_m2, r.scale);
    let mut ideal_psf = None;
    if !r.noise {
        if let Some(p) = &r.psf {
            let (blurred, report) = blur(&photon, width, height, p, r.fix_quirks)?;
            photon = blurred;
            ideal_psf = Some(report);
        }
    }
    let ideal = ideal_pixels(&photon, r.gain_adu_per_photon, r.adc_offset_adu, r.fix_quirks);
    let pgm = pgm_bytes(&ideal.int16);
    let noise = if r.noise {
        let mut gen = Generators::new(seeds, r.fix_quirks);
        let (mut counted, photons_before_psf) = draw_photons(&photon, r, &mut gen);
        drop(photon);
        let mut psf_report = None;
        if let Some(p) = &r.psf {
            let (blurred, report) = blur(&counted, width, height, p, r.fix_quirks)?;
            counted = blurred;
            psf_report = Some(report);
        }
        let (pixels, photons, overloads) = noisy_pixels(&counted, r, &mut gen);
        Some(NoiseImage { pixels, photons_before_psf, photons, overloads, psf: psf_report })
    } else {
        None
    };
    Ok(Outcome { max_input, max_photons, ideal_psf, ideal, pgm, noise })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_adu_wraps_like_x86_or_clamps() {
        assert_eq!(wrap_u16(-50.7), 65486);
        assert_eq!(wrap_u32(-50.7), 4294967246);
        assert_eq!(wrap_u16(-0.5), 0);
        assert_eq!(wrap_u16(f64::NAN), 0);
        let p = ideal_pixels(&[-150.0, 100.0, 1.0e6], 1.0, 0.0, false);
        assert_eq!(p.int16, vec![65386, 100, 65535]);
        assert_eq!(p.int32, vec![4294967146, 100, 65535]);
        let f = ideal_pixels(&[-150.0, 100.0, 1.0e6], 1.0, 0.0, true);
        assert_eq!(f.int16, vec![0, 100, 65535]);
        assert_eq!(f.int32, vec![0, 100, 1000000]);
    }

    #[test]
    fn truncation_not_rounding() {
        let p = ideal_pixels(&[100.0], 0.357, 0.0, false);
        assert_eq!(p.int16, vec![35]);
    }

    #[test]
    fn default_calib_seed_acts_as_one() {
        let img = vec![100.0f32; 64];
        let r = Response::default();
        let a = noisify(&img, 8, 8, &r, Seeds::from_flags(12345, None)).unwrap();
        let b = noisify(&img, 8, 8, &r, Seeds::from_flags(12345, Some(1))).unwrap();
        let c = noisify(&img, 8, 8, &r, Seeds::from_flags(12345, Some(123456789))).unwrap();
        assert_eq!(a.noise, b.noise);
        assert_ne!(a.noise, c.noise);
        // Corrected, the default is its own seed.
        let fixed = Response { fix_quirks: true, ..r };
        let d = noisify(&img, 8, 8, &fixed, Seeds::from_flags(12345, None)).unwrap();
        let e = noisify(&img, 8, 8, &fixed, Seeds::from_flags(12345, Some(1))).unwrap();
        assert_ne!(d.noise, e.noise);
    }

    #[test]
    fn corrected_calibration_is_static_across_seeds() {
        // With its own generator the calibration pattern is the same for every -seed: at a
        // huge photon count the Poisson noise is negligible beside a 10 % calibration error.
        let img = vec![1.0e5f32; 400];
        let r = Response { calibration: 0.1, adc_offset_adu: 0.0, bits: 32, fix_quirks: true, ..Response::default() };
        let a = noisify(&img, 20, 20, &r, Seeds::from_flags(1, Some(7))).unwrap().noise.unwrap().pixels.int32;
        let b = noisify(&img, 20, 20, &r, Seeds::from_flags(2, Some(7))).unwrap().noise.unwrap().pixels.int32;
        let corr = correlation(&a, &b);
        assert!(corr > 0.9, "{corr}");
        let q = Response { fix_quirks: false, ..r };
        let a = noisify(&img, 20, 20, &q, Seeds::from_flags(1, Some(7))).unwrap().noise.unwrap().pixels.int32;
        let b = noisify(&img, 20, 20, &q, Seeds::from_flags(2, Some(7))).unwrap().noise.unwrap().pixels.int32;
        assert!(correlation(&a, &b) < 0.5);
    }

    fn correlation(a: &[u32], b: &[u32]) -> f64 {
        let n = a.len() as f64;
        let ma = a.iter().map(|&x| x as f64).sum::<f64>() / n;
        let mb = b.iter().map(|&x| x as f64).sum::<f64>() / n;
        let cov: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb)).sum();
        let va: f64 = a.iter().map(|&x| (x as f64 - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|&y| (y as f64 - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }
}
