//! Poisson noise drawn exactly as the reference draws it.

use crate::rng::Deviates;
use crate::setup::Setup;

/// A noise image in photons (before any ADC offset) and the total photon count.
pub struct Noise {
    pub photons: Vec<f32>,
    pub total: f64,
}

/// Draw one Poisson deviate per pixel of the window, in row-major order, from seed `seed`
/// (the reference's `-seed`), continuing the random-number table the setup left behind.
/// Pixels outside the window are 0; masked pixels inside it are drawn like any other.
pub fn noise_image(setup: &Setup, image: &[f32], seed: i64) -> Noise {
    let f = setup.panel().geometry.fpixels;
    let mut dev = Deviates::new(setup.rng.clone());
    let mut idum = -seed;
    let mut photons = vec![0f32; image.len()];
    let mut total = 0.0;
    for spixel in 0..setup.panel().geometry.spixels {
        for fpixel in 0..f {
            if setup.panel().in_roi(fpixel, spixel) {
                let i = spixel * f + fpixel;
                let n = dev.poidev(image[i], &mut idum);
                total += n as f64;
                photons[i] = n;
            }
        }
    }
    Noise { photons, total }
}
