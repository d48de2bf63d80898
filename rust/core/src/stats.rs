//! The statistics the reference prints and scales its integer images by, summed in its
//! serial order so the printed values and the derived scales agree exactly.

use crate::setup::Setup;
use serde::Serialize;

/// Image statistics over rendered pixels.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Stats {
    /// Largest pixel value, and the detector position (m) of that pixel's last sub-pixel.
    #[serde(rename = "max_I")]
    pub max_i: f64,
    #[serde(rename = "max_I_x")]
    pub max_i_x: f64,
    #[serde(rename = "max_I_y")]
    pub max_i_y: f64,
    pub mean: f64,
    /// Root mean square (not about the mean), over n - 1.
    pub rms: f64,
    /// Root mean square deviation from the mean over the window (mask ignored).
    pub rmsd: f64,
    /// Number of rendered pixels.
    pub count: usize,
    /// Solid angle of the detector as the reference prints it: sum of omega over steps.
    pub solid_angle_sr: f64,
}

/// The brightest rendered pixel: (max_I, its detector position fast and slow (m)), the first
/// in serial order among equals, as the reference finds it; rows are searched in parallel.
pub fn max_pixel(setup: &Setup, image: &[f32]) -> (f64, f64, f64) {
    use rayon::prelude::*;
    let panel = setup.panel();
    let f = panel.geometry.fpixels;
    let [x0, x1, y0, y1] = panel.roi;
    // Per row: the first strict maximum above 0 (the reference's running max starts at 0).
    // Comparing as f32 orders as the reference's float-to-double comparison does.
    let best = (y0..=y1)
        .into_par_iter()
        .map(|spixel| {
            let window = spixel * f + x0..=spixel * f + x1;
            let row = &image[window.clone()];
            let (mut v_best, mut i_best) = (0.0f32, usize::MAX);
            match &panel.mask {
                None => {
                    for (i, &v) in row.iter().enumerate() {
                        if v > v_best {
                            (v_best, i_best) = (v, i);
                        }
                    }
                }
                Some(mask) => {
                    for (i, (&v, &m)) in row.iter().zip(&mask[window]).enumerate() {
                        if m != 0 && v > v_best {
                            (v_best, i_best) = (v, i);
                        }
                    }
                }
            }
            (i_best != usize::MAX).then_some((v_best, spixel, x0 + i_best))
        })
        .reduce(|| None, |a, b| match (a, b) {
            (Some(x), Some(y)) => Some(if y.0 > x.0 || (y.0 == x.0 && y.1 < x.1) { y } else { x }),
            (x, None) => x,
            (None, y) => y,
        });
    let os = setup.sampling.oversample;
    let sub = setup.panel().geometry.pixel_size / os as f64;
    match best {
        Some((v, spixel, fpixel)) => (
            v as f64,
            sub * (fpixel * os + os - 1) as f64 + sub / 2.0,
            sub * (spixel * os + os - 1) as f64 + sub / 2.0,
        ),
        None => (0.0, 0.0, 0.0),
    }
}

/// Statistics of `image` (row-major, fpixels per row) rendered with `setup`.
pub fn image_stats(setup: &Setup, image: &[f32], omega_sum: f64) -> Stats {
    image_stats_with_max(setup, image, omega_sum, max_pixel(setup, image))
}

/// [`image_stats`] given the brightest pixel (`max_pixel`'s result), found already.
pub fn image_stats_with_max(setup: &Setup, image: &[f32], omega_sum: f64, max: (f64, f64, f64)) -> Stats {
    let panel = setup.panel();
    let f = panel.geometry.fpixels;
    let [x0, x1, y0, y1] = panel.roi;
    let mut st = Stats::default();
    (st.max_i, st.max_i_x, st.max_i_y) = max;
    // Serial sums in the reference's order: the printed values and the PGM scale depend on them.
    let (mut sum, mut sumsqr, mut n) = (0.0f64, 0.0f64, 0usize);
    for spixel in y0..=y1 {
        let window = spixel * f + x0..=spixel * f + x1;
        let row = &image[window.clone()];
        match &panel.mask {
            None => {
                for &v in row {
                    sum += v as f64;
                    // The reference squares in single precision.
                    sumsqr += (v * v) as f64;
                }
                n += row.len();
            }
            Some(mask) => {
                for (&v, _) in row.iter().zip(&mask[window]).filter(|(_, &m)| m != 0) {
                    sum += v as f64;
                    sumsqr += (v * v) as f64;
                    n += 1;
                }
            }
        }
    }
    st.count = n;
    st.mean = sum / n.max(1) as f64;
    st.rms = (sumsqr / (n.max(2) - 1) as f64).sqrt();
    // rmsd over the window, mask ignored, as the reference computes it.
    let (mut dev, mut m) = (0.0f64, 0usize);
    for spixel in y0..=y1 {
        for &v in &image[spixel * f + x0..=spixel * f + x1] {
            let t = v as f64 - st.mean;
            dev += t * t;
            m += 1;
        }
    }
    st.rmsd = (dev / (m.max(2) - 1) as f64).sqrt();
    st.solid_angle_sr = omega_sum / setup.sampling.steps as f64;
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::sync::Arc;

    fn setup(roi: Option<[i64; 4]>, mask: Option<Vec<u16>>) -> Setup {
        let mut c = Config::default();
        c.crystal.cell = Some([100.0, 100.0, 100.0, 90.0, 90.0, 90.0]);
        c.crystal.default_f = 1.0;
        c.detector.detpixels_f = Some(4);
        c.detector.detpixels_s = Some(3);
        c.detector.roi = roi;
        Setup::new(&c, None, mask.map(Arc::from)).unwrap()
    }

    fn position(st: &Setup, fpixel: usize, spixel: usize) -> (f64, f64) {
        let os = st.sampling.oversample;
        let sub = st.panel().geometry.pixel_size / os as f64;
        (sub * (fpixel * os + os - 1) as f64 + sub / 2.0, sub * (spixel * os + os - 1) as f64 + sub / 2.0)
    }

    #[test]
    fn max_pixel_is_the_first_maximum_in_serial_order() {
        let st = setup(None, None);
        #[rustfmt::skip]
        let image = [0.0, 1.0, 5.0, 2.0,
                     5.0, 0.5, 5.0, 0.0,
                     3.0, 4.0, 1.0, 5.0];
        let (x, y) = position(&st, 2, 0);
        assert_eq!(max_pixel(&st, &image), (5.0, x, y));
    }

    #[test]
    fn max_pixel_skips_masked_and_outside_the_window() {
        #[rustfmt::skip]
        let image = [9.0, 1.0, 2.0, 0.0,
                     0.0, 3.0, 8.0, 0.0,
                     0.0, 7.0, 1.0, 0.0];
        // The window is fast 1..=2, slow 1..=2: the 9 is outside.
        let windowed = setup(Some([1, 2, 1, 2]), None);
        let (x, y) = position(&windowed, 2, 1);
        assert_eq!(max_pixel(&windowed, &image), (8.0, x, y));
        // Masking the 8 leaves the 7.
        let mut mask = vec![1u16; 12];
        mask[6] = 0;
        let masked = setup(Some([1, 2, 1, 2]), Some(mask));
        let (x, y) = position(&masked, 1, 2);
        assert_eq!(max_pixel(&masked, &image), (7.0, x, y));
    }

    #[test]
    fn max_pixel_of_a_dark_image_is_zero() {
        let st = setup(None, None);
        assert_eq!(max_pixel(&st, &[0.0; 12]), (0.0, 0.0, 0.0));
        assert_eq!(max_pixel(&st, &[-1.0; 12]), (0.0, 0.0, 0.0));
    }
}
