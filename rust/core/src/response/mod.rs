//! The response stage: what the detector records from the photons that reach it, the ADC
//! offset, clamping and rounding of the reference's integer, noise and PGM images and of the
//! data sets' photon counts. Every writer goes through here; the detector's point-spread
//! function, gain and readout noise are here too:
//!
//! `psf` spreads photons over neighbouring pixels (noisify.c's Gaussian and fiber kernels);
//! `counting` draws the calibration, flicker and Poisson noise and turns photons into ADU
//! (gain, offset, read-out noise, 16- or 32-bit pixels, the 8-bit preview).
//!
//! Each conversion works on a block of whole rows (so a writer can stream an image in blocks),
//! in parallel over rows, with the reference's rounding; pixels outside the rendered window
//! are 0.

pub mod counting;
pub mod fft;
pub mod psf;

use rayon::prelude::*;

/// The rendered window: fast min, fast max, slow min, slow max (inclusive).
pub type Roi = [usize; 4];

/// The window's columns in row `i` of a block that starts at image row `row0`; `None` for a
/// row outside the window.
fn window_columns(width: usize, row0: usize, roi: Roi, i: usize) -> Option<std::ops::RangeInclusive<usize>> {
    let row = row0 + i;
    (row >= roi[2] && row <= roi[3]).then(|| roi[0]..=roi[1].min(width - 1))
}

/// Convert `block` into `out` (as long as `block`), leaving pixels outside the window as they are.
fn convert_into<T: Copy + Send>(out: &mut [T], block: &[f32], width: usize, row0: usize, roi: Roi, f: impl Fn(f32) -> T + Sync) {
    assert_eq!(out.len(), block.len(), "output and image blocks differ in size");
    out.par_chunks_mut(width.max(1)).zip(block.par_chunks(width.max(1))).enumerate().for_each(|(i, (o, b))| {
        if let Some(columns) = window_columns(width, row0, roi, i) {
            convert_row(&mut o[columns.clone()], &b[columns], &f);
        }
    });
}

/// `out[i] = f(row[i])`, with AVX2 where the CPU has it: the same operations (no fused
/// multiply-add is formed), eight pixels at a time instead of one.
fn convert_row<T: Copy>(out: &mut [T], row: &[f32], f: &impl Fn(f32) -> T) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { convert_row_avx2(out, row, f) };
    }
    convert_row_baseline(out, row, f)
}

#[inline(always)]
fn convert_row_baseline<T: Copy>(out: &mut [T], row: &[f32], f: &impl Fn(f32) -> T) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o = f(v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn convert_row_avx2<T: Copy>(out: &mut [T], row: &[f32], f: &impl Fn(f32) -> T) {
    convert_row_baseline(out, row, f)
}

/// `-intfile` pixels: value·scale + adc clamped to [0, 65535] and rounded as
/// `floorf((float)(t + 0.5))`; a NaN becomes 0.
pub fn int_pixels(block: &[f32], width: usize, row0: usize, roi: Roi, scale: f64, adc: f64) -> Vec<u16> {
    let mut out = vec![0; block.len()];
    int_pixels_into(&mut out, block, width, row0, roi, scale, adc);
    out
}

/// `int_pixels` into `out` (zeros outside the window: pass a zeroed buffer).
pub fn int_pixels_into(out: &mut [u16], block: &[f32], width: usize, row0: usize, roi: Roi, scale: f64, adc: f64) {
    convert_into(out, block, width, row0, roi, |v| int_pixel(v, scale, adc));
}

#[inline(always)]
fn int_pixel(v: f32, scale: f64, adc: f64) -> u16 {
    let t = v as f64 * scale + adc;
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 65535.0) };
    // floorf of a value in [0.5, 65535.5] is its truncation, which `as` does inline (floor
    // is a libm call per pixel on x86-64 without SSE4.1).
    ((t + 0.5) as f32) as u16
}

/// `-noisefile` pixels from Poisson photons: photons + adc, clamped to [0, 65535] and
/// truncated; also the number of pixels over 65535 (the reference's overloads).
pub fn noise_pixels(block: &[f32], width: usize, row0: usize, roi: Roi, adc: f64) -> (Vec<u16>, usize) {
    let mut out = vec![0; block.len()];
    let over = noise_pixels_into(&mut out, block, width, row0, roi, adc);
    (out, over)
}

/// `noise_pixels` into `out` (a zeroed buffer); returns the overloads.
pub fn noise_pixels_into(out: &mut [u16], block: &[f32], width: usize, row0: usize, roi: Roi, adc: f64) -> usize {
    convert_into(out, block, width, row0, roi, |v| noise_pixel(v, adc));
    block
        .par_chunks(width.max(1))
        .enumerate()
        .filter_map(|(i, b)| window_columns(width, row0, roi, i).map(|c| b[c].iter().filter(|&&v| v as f64 + adc > 65535.0).count()))
        .sum()
}

/// `-pgmfile` pixels: value·scale truncated, at most 255; a NaN becomes 0.
pub fn pgm_pixels(block: &[f32], width: usize, row0: usize, roi: Roi, scale: f64) -> Vec<u8> {
    let mut out = vec![0; block.len()];
    pgm_pixels_into(&mut out, block, width, row0, roi, scale);
    out
}

/// `pgm_pixels` into `out` (a zeroed buffer).
pub fn pgm_pixels_into(out: &mut [u8], block: &[f32], width: usize, row0: usize, roi: Roi, scale: f64) {
    convert_into(out, block, width, row0, roi, |v| pgm_pixel(v, scale));
}

#[inline(always)]
fn noise_pixel(v: f32, adc: f64) -> u16 {
    let t = v as f64 + adc;
    if t.is_nan() {
        0
    } else {
        t.clamp(0.0, 65535.0) as u16
    }
}

#[inline(always)]
fn pgm_pixel(v: f32, scale: f64) -> u8 {
    let t = v as f64 * scale;
    if t.is_nan() {
        0
    } else {
        t.clamp(0.0, 255.0) as u8
    }
}

/// Whole photon counts: rounded to the nearest integer (ties to even), clamped to
/// [0, saturation]; a NaN becomes 0. The data sets' frames (no rescaling, so frames compare).
pub fn count_pixels(values: &[f64], saturation: u32) -> Vec<u32> {
    let top = saturation as f64;
    values
        .par_iter()
        .map(|&v| if v.is_nan() { 0 } else { v.round_ties_even().clamp(0.0, top) as u32 })
        .collect()
}

/// `-noisefile` pixels of values rounded first to whole photons (ties to even): the data
/// sets' SMV frames, whose values are expected photons or Poisson counts.
pub fn rounded_noise_pixels(block: &[f32], width: usize, row0: usize, roi: Roi, adc: f64) -> (Vec<u16>, usize) {
    let rounded: Vec<f32> = block.par_iter().map(|v| v.round_ties_even()).collect();
    noise_pixels(&rounded, width, row0, roi, adc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_conversions_equal_the_baseline_ones() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return; // nothing to compare: this CPU runs only the baseline loop
        }
        let mut row: Vec<f32> = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -1.0, -0.0, 0.0, 1e-40, 0.49999997, 0.5,
                                     254.5, 255.49998, 65534.5, 65535.0, 65535.5, 65536.0, 1e30, 3.4e38];
        row.extend((0..4000).map(|i| ((i as f32) * 0.7371).sin().abs() * 1.0e5 / (1 + i % 7) as f32));
        fn check(row: &[f32], f: impl Fn(f32) -> u16) {
            let (mut a, mut b) = (vec![0u16; row.len()], vec![0u16; row.len()]);
            convert_row_baseline(&mut a, row, &f);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { convert_row_avx2(&mut b, row, &f) };
            assert_eq!(a, b);
        }
        for (scale, adc) in [(1.0, 40.0), (0.731, 10.0), (55000.0 / 3.1e4, 0.0)] {
            check(&row, |v| int_pixel(v, scale, adc));
            check(&row, |v| noise_pixel(v, adc));
            check(&row, |v| pgm_pixel(v, scale) as u16);
        }
    }

    #[test]
    fn integer_pixels_round_as_floorf_does() {
        // Values around every half-integer step, the clamp's ends and their f32 neighbours.
        let mut img = vec![0.0f32, 65534.5, 65535.0, 65535.49, 65535.5, 65536.0, 1e30, -0.0, -1e-30];
        for k in 0..2000 {
            let x = k as f32 * 0.25 + 0.5;
            img.extend([x, f32::from_bits(x.to_bits() - 1), f32::from_bits(x.to_bits() + 1)]);
        }
        let floorf = |v: f32, scale: f64, adc: f64| {
            let t = v as f64 * scale + adc;
            let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 65535.0) };
            ((t + 0.5) as f32).floor() as u16
        };
        for (scale, adc) in [(1.0, 0.0), (1.0, 40.0), (0.37, 0.5), (3.0, 0.0)] {
            let got = int_pixels(&img, img.len(), 0, [0, img.len() - 1, 0, 0], scale, adc);
            let want: Vec<u16> = img.iter().map(|&v| floorf(v, scale, adc)).collect();
            assert_eq!(got, want, "scale {scale} adc {adc}");
        }
    }

    #[test]
    fn rounding_and_window() {
        let img = [0.49f32, 1.5, 70000.0, f32::NAN, -3.0, 2.25];
        let roi = [0, 2, 0, 1];
        assert_eq!(int_pixels(&img, 3, 0, roi, 1.0, 0.0), vec![0, 2, 65535, 0, 0, 2]);
        // Outside the window (fast index > 1) stays 0.
        assert_eq!(int_pixels(&img, 3, 0, [0, 1, 0, 1], 1.0, 40.0)[2], 0);
        let (n, over) = noise_pixels(&img, 3, 0, roi, 40.0);
        assert_eq!((n[2], over), (65535, 1));
        assert_eq!(pgm_pixels(&img, 3, 0, roi, 100.0), vec![49, 150, 255, 0, 0, 225]);
        // A block's row offset moves the window.
        assert_eq!(int_pixels(&img[3..], 3, 5, [0, 2, 0, 4], 1.0, 0.0), vec![0, 0, 0]);
        assert_eq!(count_pixels(&[0.5, 1.5, 2.5, -4.0, f64::NAN, 1e12], 1000), vec![0, 2, 2, 0, 0, 1000]);
        let (r, _) = rounded_noise_pixels(&[0.5, 1.5, 2.5], 3, 0, [0, 2, 0, 0], 40.0);
        assert_eq!(r, vec![40, 42, 42]);
    }
}
