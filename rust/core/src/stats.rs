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
    let f = setup.panel().geometry.fpixels;
    let [x0, x1, y0, y1] = setup.panel().roi;
    // Per row: the first strict maximum above 0 (the reference's running max starts at 0).
    let best = (y0..=y1)
        .into_par_iter()
        .map(|spixel| {
            let mut best: Option<(f32, usize)> = None;
            for fpixel in x0..=x1 {
                if !setup.panel().renders(fpixel, spixel) {
                    continue;
                }
                let v = image[spixel * f + fpixel];
                if v as f64 > best.map_or(0.0, |b| b.0 as f64) {
                    best = Some((v, fpixel));
                }
            }
            best.map(|(v, fpixel)| (v, spixel, fpixel))
        })
        .reduce(|| None, |a, b| match (a, b) {
            (Some(x), Some(y)) => Some(if (y.0 as f64) > (x.0 as f64) || (y.0 == x.0 && y.1 < x.1) { y } else { x }),
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
