//! Point-spread functions: noisify.c's Gaussian and fiber kernels and its spreading loop.
//!
//! [`apply`] reproduces the reference bit for bit: a kernel on a disc of pixel centres, not
//! renormalised; a radius chosen per source pixel from its own value when none is given; the
//! truncated tails estimated from the continuous PSF and added back uniformly; and its edge
//! handling (one column past the right edge lands in column 0 of the next row, photons leaving
//! the image are lost). [`apply_corrected`] is the same blur without those quirks: each pixel's
//! kernel normalised over its disc, plain zero boundaries, negative values blurred too.
//!
//! Both run in parallel over bands of output rows. In the exact path every band walks the source
//! pixels in the reference's order and keeps only the contributions that land in it, so each
//! output pixel sees the same additions, in the same order, with the same single-precision
//! rounding as the serial loop.

use rayon::prelude::*;
use std::f64::consts::{LN_2, PI};

use crate::error::{Error, Result};

extern "C" {
    // The platform libm's erf, the function the reference calls (std has no stable erf).
    fn erf(x: f64) -> f64;
}

fn c_erf(x: f64) -> f64 {
    // SAFETY: erf is a pure libm function of one double.
    unsafe { erf(x) }
}

/// The PSF's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsfKind {
    /// A 2-D Gaussian of the given FWHM.
    Gauss,
    /// A fiber-optic taper's PSF, g/(2π)·(g²+r²)^(-3/2), of the given FWHM.
    Fiber,
}

/// One PSF: its shape, its FWHM in pixels and the radius to render it to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Psf {
    pub kind: PsfKind,
    /// FWHM in pixels (noisify.c: the single-precision FWHM in metres over the pixel size).
    pub fwhm_px: f64,
    /// Rendering radius in pixels; 0 chooses it from the image, as the reference does.
    pub radius_px: i32,
}

/// What the PSF pass reports (the reference prints these).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsfReport {
    /// The image maximum, when the radius was chosen automatically.
    pub max_input: Option<f64>,
    /// The automatic radius, before the cap to the image size.
    pub auto_radius: Option<i32>,
    /// The image had no positive pixel: the reference returns an all-zero image.
    pub no_photons: bool,
    /// Photons estimated lost in the truncated tails and added back uniformly.
    pub lost_photons: f64,
    /// The kernel radius actually used (after the cap).
    pub kernel_radius: i32,
}

/// C's conversion of a double to `int` as x86-64 does it: NaN and out-of-range values become
/// `INT_MIN` (the "integer indefinite" value).
fn c_int(x: f64) -> i32 {
    if x.is_nan() || x >= 2147483648.0 || x <= -2147483649.0 {
        i32::MIN
    } else {
        x as i32
    }
}

const LN16: f64 = 4.0 * LN_2;
const LN4: f64 = 2.0 * LN_2;
/// The fiber parameter g per pixel of FWHM.
const FIBER_G_PER_FWHM: f64 = 0.652383013252053;
/// Lost photons are judged against sqrt(photons) / this.
const PHOTONLOSS_FACTOR: f64 = 10.0;

/// Integral of a unit-volume Gaussian of FWHM 1 from the origin to (x, y), times 4.
fn gauss_corner(x: f64, y: f64) -> f64 {
    // sqrt(ln16/ln2) is exactly 2; written as the reference writes it.
    0.125 * (c_erf(2.0 * x * LN_2.sqrt()) * c_erf(y * LN16.sqrt()) * (LN16 / LN_2).sqrt())
}

/// The fiber PSF's integral from the origin to (x, y).
fn fiber_corner(x: f64, y: f64, g: f64) -> f64 {
    ((x * y) / (g * (g * g + x * x + y * y).sqrt())).atan() / 2.0 / PI
}

/// The PSF integrated over the pixel at offset (dx, dy), as the reference evaluates it.
pub fn kernel_element(kind: PsfKind, fwhm_px: f64, dx: i32, dy: i32) -> f64 {
    match kind {
        PsfKind::Gauss => {
            let (x, y, pix) = (dx as f64 / fwhm_px, dy as f64 / fwhm_px, 1.0 / fwhm_px);
            gauss_corner(x + pix / 2.0, y + pix / 2.0) - gauss_corner(x + pix / 2.0, y - pix / 2.0)
                - gauss_corner(x - pix / 2.0, y + pix / 2.0)
                + gauss_corner(x - pix / 2.0, y - pix / 2.0)
        }
        PsfKind::Fiber => {
            let g = fwhm_px * FIBER_G_PER_FWHM;
            let (x, y) = (dx as f64, dy as f64);
            fiber_corner(x + 0.5, y + 0.5, g) - fiber_corner(x + 0.5, y - 0.5, g) - fiber_corner(x - 0.5, y + 0.5, g)
                + fiber_corner(x - 0.5, y - 0.5, g)
        }
    }
}

/// The (2r+1)² kernel, row dy, column dx, centre at (r, r); 0 outside the disc dx²+dy² ≤ r².
fn kernel(kind: PsfKind, fwhm_px: f64, r: i32) -> Vec<f64> {
    let size = (2 * r + 1) as usize;
    let r2 = r as i64 * r as i64;
    let mut k = vec![0.0; size * size];
    k.par_chunks_mut(size).enumerate().for_each(|(row, out)| {
        let dy = row as i32 - r;
        for (col, o) in out.iter_mut().enumerate() {
            let dx = col as i32 - r;
            if (dx as i64 * dx as i64 + dy as i64 * dy as i64) <= r2 {
                *o = kernel_element(kind, fwhm_px, dx, dy);
            }
        }
    });
    k
}

/// The automatic radius from the image maximum (the reference's first formula).
fn global_auto_radius(kind: PsfKind, fwhm_px: f64, max: f64) -> i32 {
    let lost = max.sqrt() / PHOTONLOSS_FACTOR;
    match kind {
        PsfKind::Gauss => c_int(1.0 + ((-(lost / max).ln() / LN4 / 2.0).sqrt() * fwhm_px).ceil()),
        PsfKind::Fiber => c_int(1.0 + (fwhm_px * FIBER_G_PER_FWHM * (max / lost)).ceil()),
    }
}

/// The automatic radius of one source pixel of value `v` (the reference's second formula).
fn pixel_auto_radius(kind: PsfKind, fwhm_px: f64, v: f32) -> i32 {
    let lost = (v as f64).sqrt() / PHOTONLOSS_FACTOR;
    match kind {
        PsfKind::Gauss => c_int(1.0 + ((-(lost / v as f64).ln() / LN16).sqrt() * fwhm_px).ceil()),
        PsfKind::Fiber => c_int(1.0 + (fwhm_px * FIBER_G_PER_FWHM * (v as f64 / lost)).ceil()),
    }
}

/// The continuous PSF's mass beyond radius `r`, for `v` photons.
fn tail(kind: PsfKind, fwhm_px: f64, v: f32, r: i32) -> f64 {
    match kind {
        PsfKind::Gauss => {
            let mut q = r as f64;
            q /= fwhm_px;
            q *= q;
            v as f64 * (-LN16 * q).exp()
        }
        PsfKind::Fiber => {
            let g = fwhm_px * FIBER_G_PER_FWHM;
            v as f64 * g / (g * g + (r as i64 * r as i64) as f64).sqrt()
        }
    }
}

/// Rows per band so that there are several bands per worker.
fn band_rows(height: usize) -> usize {
    let bands = rayon::current_num_threads().max(1) * 8;
    height.div_ceil(bands).max(1)
}

/// noisify.c's `apply_psf`, exactly. `image` is `width`·`height` photons, fast index fastest.
///
/// Errors where the reference crashes: an automatic radius that is not a number (a Gaussian
/// PSF on values between 0 and 0.01, or a NaN pixel) or out of the `int` range.
pub fn apply(image: &[f32], width: usize, height: usize, psf: &Psf) -> Result<(Vec<f32>, PsfReport)> {
    let mut report = PsfReport::default();
    let pixels = width * height;
    assert_eq!(image.len(), pixels, "image size");
    if pixels == 0 || psf.fwhm_px <= 0.0 || psf.fwhm_px.is_nan() {
        // The reference returns its input unchanged (with a message).
        return Ok((image.to_vec(), report));
    }
    let (kind, fwhm) = (psf.kind, psf.fwhm_px);
    let maxwidth = width.max(height).min(i32::MAX as usize) as i32;
    let user = psf.radius_px;
    let mut radius = user;
    if radius <= 0 {
        let max = image.iter().fold(0.0f64, |m, &v| if m < v as f64 { v as f64 } else { m });
        report.max_input = Some(max);
        if max <= 0.0 {
            report.no_photons = true;
            return Ok((vec![0.0; pixels], report));
        }
        radius = global_auto_radius(kind, fwhm, max);
        report.auto_radius = Some(radius);
        if radius == 0 {
            radius = 1;
        }
    }
    radius = radius.min(maxwidth);
    if radius < 0 {
        return Err(Error::Input(
            "-psf: the automatic PSF radius is undefined for this image (the reference crashes here); give -psf_radius".into(),
        ));
    }
    report.kernel_radius = radius;
    let kr = radius;
    let kern = kernel(kind, fwhm, kr);

    // Each source pixel's radius (negative: nothing to spread), in parallel; then the lost
    // photons, summed in the reference's order.
    let radii: Vec<i32> = image
        .par_iter()
        .map(|&v| {
            if v <= 0.0 {
                return i32::MIN + 1;
            }
            let r = if user != 0 { user } else { pixel_auto_radius(kind, fwhm, v) };
            if r == i32::MIN {
                return i32::MIN;
            }
            // 0 becomes 1; a negative -psf_radius stays negative (nothing is spread).
            (if r == 0 { 1 } else { r }).min(maxwidth)
        })
        .collect();
    if radii.par_iter().any(|&r| r == i32::MIN || r > kr) {
        return Err(Error::Input(
            "-psf: the automatic PSF radius is undefined for a pixel of this image (a Gaussian PSF on values between 0 and 0.01 photons, or NaN; the reference crashes here); give -psf_radius".into(),
        ));
    }
    let total_lost = image.iter().zip(&radii).fold(0.0f64, |acc, (&v, &r)| if v > 0.0 { acc + tail(kind, fwhm, v, r) } else { acc });
    report.lost_photons = total_lost;

    let mut out: Vec<f32> = spread(image, width, height, &radii, &kern, kr, Edges::Reference);
    let each = total_lost / pixels as f64;
    out.par_iter_mut().for_each(|p| *p = (*p as f64 + each) as f32);
    Ok((out, report))
}

/// How the spreading loop treats the image's edges and rounding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edges {
    /// The reference: x = width lands in column 0 of the next row, y = height past the image;
    /// each addition rounded to single precision; the kernel as it is.
    Reference,
    /// Zero boundaries, double-precision sums, each pixel's kernel normalised over its disc.
    Corrected,
}

/// An output pixel of the spreading loop: single precision, every addition rounded as the
/// reference rounds it (`float(double(out) + double(v)·k)`), or a double-precision sum.
trait Cell: Copy + Default + Send + Sync {
    fn add(&mut self, x: f64);
    fn value(self) -> f64;
}

impl Cell for f32 {
    #[inline(always)]
    fn add(&mut self, x: f64) {
        *self = (*self as f64 + x) as f32;
    }
    fn value(self) -> f64 {
        self as f64
    }
}

impl Cell for f64 {
    #[inline(always)]
    fn add(&mut self, x: f64) {
        *self += x;
    }
    fn value(self) -> f64 {
        self
    }
}

/// For each radius up to `kr` that occurs: the largest |dx| with dx² + dy² ≤ r², for each dy.
fn half_widths(radii: &[i32], kr: i64) -> Vec<Vec<i64>> {
    let mut used = vec![false; (kr + 1) as usize];
    for &r in radii {
        if r >= 0 && (r as i64) <= kr {
            used[r as usize] = true;
        }
    }
    used.iter()
        .enumerate()
        .map(|(r, &u)| {
            let r = r as i64;
            if !u {
                return Vec::new();
            }
            (-r..=r)
                .map(|dy| {
                    let m = r * r - dy * dy;
                    let mut h = (m as f64).sqrt() as i64;
                    while (h + 1) * (h + 1) <= m {
                        h += 1;
                    }
                    while h * h > m {
                        h -= 1;
                    }
                    h
                })
                .collect()
        })
        .collect()
}

/// Spread every source pixel `i` with radius `radii[i]` (negative: nothing to spread) over its
/// disc of the kernel `kern` (radius `kr`). Parallel over bands of output rows: each band walks
/// the sources in the reference's order (pixel index, then dx, then dy) and keeps what lands in
/// it, so every output pixel receives its additions in the serial loop's order.
///
/// A source whose disc cannot reach past the right edge (where the reference's wrap into the
/// next row could hit one target twice) gives each target at most one addition, so the order
/// within it does not matter: its disc is added row segment by row segment, contiguous in the
/// kernel and the image (a loop the compiler vectorises).
fn spread<C: Cell>(image: &[f32], width: usize, height: usize, radii: &[i32], kern: &[f64], kr: i32, edges: Edges) -> Vec<C> {
    spread_on(image, width, height, radii, kern, kr, edges, wide_vectors())
}

/// [`spread`] on the AVX2 build (`wide`, where the CPU has it) or the baseline one.
#[allow(clippy::too_many_arguments)]
fn spread_on<C: Cell>(image: &[f32], width: usize, height: usize, radii: &[i32], kern: &[f64], kr: i32, edges: Edges, wide: bool) -> Vec<C> {
    let (w, h, kr64) = (width as i64, height as i64, kr as i64);
    let ks = 2 * kr64 + 1;
    // The kernel's sum over the disc of each radius, for the corrected normalisation.
    let norms: Vec<f64> = if edges == Edges::Corrected {
        let mut by_d2 = vec![0.0f64; (kr64 * kr64 + 1) as usize];
        for dy in -kr64..=kr64 {
            for dx in -kr64..=kr64 {
                let d2 = dx * dx + dy * dy;
                if d2 <= kr64 * kr64 {
                    by_d2[d2 as usize] += kern[((kr64 + dy) * ks + kr64 + dx) as usize];
                }
            }
        }
        let mut cumulative = Vec::with_capacity(by_d2.len());
        let mut acc = 0.0;
        for v in by_d2 {
            acc += v;
            cumulative.push(acc);
        }
        (0..=kr64).map(|r| cumulative[(r * r) as usize]).collect()
    } else {
        Vec::new()
    };
    let widths = half_widths(radii, kr64);
    let rows = band_rows(height);
    let mut out = vec![C::default(); width * height];
    let bands = Bands { image, radii, kern, widths: &widths, norms: &norms, w, h, kr: kr64, edges };
    let wide = wide && cfg!(target_arch = "x86_64") && crate::simd::Isa::Avx2.supported();
    out.par_chunks_mut(rows * width).enumerate().for_each(|(band, o)| {
        let b0 = (band * rows) as i64;
        #[cfg(target_arch = "x86_64")]
        if wide {
            // SAFETY: `wide` holds only where this CPU has AVX2 (checked above).
            unsafe { spread_band_avx2(&bands, b0, o) };
            return;
        }
        let _ = wide;
        spread_band(&bands, b0, o);
    });
    out
}

/// What every band of [`spread`] reads.
struct Bands<'a> {
    image: &'a [f32],
    radii: &'a [i32],
    kern: &'a [f64],
    widths: &'a [Vec<i64>],
    norms: &'a [f64],
    w: i64,
    h: i64,
    kr: i64,
    edges: Edges,
}

/// Whether the spreading loop runs its AVX2 build (4 doubles per vector instead of SSE2's 2;
/// the same IEEE operations, so the same bits). `NANOBRAGG_ISA=scalar` or `exact` keeps the
/// baseline build.
fn wide_vectors() -> bool {
    matches!(crate::simd::Isa::detect(), crate::simd::Isa::Avx2 | crate::simd::Isa::Avx512)
}

/// The band's loop built for AVX2 (no FMA: a fused multiply-add would round differently).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn spread_band_avx2<C: Cell>(b: &Bands<'_>, b0: i64, o: &mut [C]) {
    spread_band(b, b0, o)
}

/// One band of output rows, starting at image row `b0` (see [`spread`]).
#[inline(always)]
fn spread_band<C: Cell>(b: &Bands<'_>, b0: i64, o: &mut [C]) {
    let Bands { image, radii, kern, widths, norms, w, h, kr: kr64, edges } = *b;
    let ks = 2 * kr64 + 1;
    let b1 = b0 + (o.len() / w as usize) as i64;
    let s0 = (b0 - kr64 - 1).max(0);
    let s1 = (b1 + kr64).min(h);
    for y0 in s0..s1 {
        let row_radii = &radii[(y0 * w) as usize..((y0 + 1) * w) as usize];
        for (x0, &r) in row_radii.iter().enumerate() {
            let (x0, r) = (x0 as i64, r as i64);
            // Nothing to spread, or nothing that reaches this band (the wrap adds a row).
            if r < 0 || y0 + r + 1 < b0 || y0 - r >= b1 {
                continue;
            }
            let i = (y0 * w + x0) as usize;
            let v = image[i] as f64;
            // Corrected: v·k·scale, as (v·k)·scale.
            let scale = if edges == Edges::Corrected { 1.0 / norms[r as usize] } else { 1.0 };
            // (An infinite value must skip the kernel's zeros, as the reference does: inf·0.)
            if x0 + r < w && v.is_finite() {
                let hw = &widths[r as usize];
                let lo = (-r).max(b0 - y0);
                let hi = r.min(b1 - 1 - y0);
                for dy in lo..=hi {
                    let half = hw[(dy + r) as usize];
                    let dx0 = (-half).max(-x0);
                    if dx0 > half {
                        continue;
                    }
                    let k0 = ((kr64 + dy) * ks + kr64 + dx0) as usize;
                    let krow = &kern[k0..k0 + (half - dx0 + 1) as usize];
                    let j0 = ((y0 + dy - b0) * w + x0 + dx0) as usize;
                    let orow = &mut o[j0..j0 + krow.len()];
                    match edges {
                        Edges::Reference => orow.iter_mut().zip(krow).for_each(|(c, &k)| c.add(v * k)),
                        Edges::Corrected => orow.iter_mut().zip(krow).for_each(|(c, &k)| c.add(v * k * scale)),
                    }
                }
                continue;
            }
            for dx in -r..=r {
                let x = x0 + dx;
                // The reference's bound is x > width, so x = width runs on into the next row.
                let last = if edges == Edges::Reference { w } else { w - 1 };
                if x < 0 || x > last {
                    continue;
                }
                let (row_shift, col) = if x == w { (1, 0) } else { (0, x) };
                let lo = (-r).max(b0 - row_shift - y0).max(-y0);
                let hi = r.min(b1 - 1 - row_shift - y0);
                for dy in lo..=hi {
                    let k = kern[((kr64 + dy) * ks + kr64 + dx) as usize];
                    if k == 0.0 || dx * dx + dy * dy > r * r {
                        continue;
                    }
                    let j = ((y0 + dy + row_shift - b0) * w + col) as usize;
                    match edges {
                        Edges::Reference => o[j].add(v * k),
                        Edges::Corrected => o[j].add(v * k * scale),
                    }
                }
            }
        }
    }
}

/// The PSF without the reference's quirks. Each pixel keeps the reference's radius (the given
/// one, or the automatic radius from its own value, which stays defined below 0.01 photons),
/// but its kernel is normalised over its disc: the photons beyond the radius stay near the
/// pixel instead of being estimated and spread over the whole image. Photons leaving the image
/// are lost at every edge (no wrap into the next row), negative values are blurred like any
/// other, sums are in double precision. With a fixed radius this is a plain convolution.
pub fn apply_corrected(image: &[f32], width: usize, height: usize, psf: &Psf) -> Result<(Vec<f32>, PsfReport)> {
    let mut report = PsfReport::default();
    let pixels = width * height;
    assert_eq!(image.len(), pixels, "image size");
    if psf.radius_px < 0 {
        return Err(Error::config("psf.radius_px", "must be 0 (automatic) or positive"));
    }
    if !psf.fwhm_px.is_finite() || psf.fwhm_px <= 0.0 {
        return Err(Error::config("psf.fwhm_px", "must be positive"));
    }
    if pixels == 0 {
        return Ok((Vec::new(), report));
    }
    let (kind, fwhm) = (psf.kind, psf.fwhm_px);
    let maxwidth = width.max(height).min(i32::MAX as usize) as i32;
    // Below 0.01 photons the reference's Gaussian formula has no solution: one pixel is enough.
    let auto = |v: f64| -> i32 {
        let r = if kind == PsfKind::Gauss && v <= 0.01 { 1 } else { pixel_auto_radius(kind, fwhm, v as f32) };
        if r == i32::MIN { maxwidth } else { r.max(1) }
    };
    let radii: Vec<i32> = image
        .par_iter()
        .map(|&v| {
            let a = (v as f64).abs();
            if v.is_nan() {
                0 // stays where it is
            } else if a == 0.0 {
                -1
            } else if psf.radius_px > 0 {
                psf.radius_px.min(maxwidth)
            } else {
                auto(a).min(maxwidth)
            }
        })
        .collect();
    let kr = radii.iter().copied().max().unwrap_or(-1).max(1);
    if psf.radius_px == 0 {
        let max = image.iter().fold(0.0f64, |m, &v| if m < (v as f64).abs() { (v as f64).abs() } else { m });
        report.max_input = Some(max);
        report.auto_radius = Some(kr);
    }
    report.kernel_radius = kr;
    let kern = kernel(kind, fwhm, kr);
    if psf.radius_px > 0 && use_fft(image, width, height, &radii, kr) {
        // One radius for every pixel: a plain convolution with the disc's normalised kernel.
        let norm: f64 = kern.iter().sum();
        let unit: Vec<f64> = kern.iter().map(|&k| k / norm).collect();
        let out = super::fft::convolve(image, width, height, &unit, kr as usize);
        return Ok((out.into_par_iter().map(|p| p as f32).collect(), report));
    }
    let out: Vec<f64> = spread(image, width, height, &radii, &kern, kr, Edges::Corrected);
    Ok((out.into_par_iter().map(|p| p.value() as f32).collect(), report))
}

/// Direct additions per unit of FFT work at which the FFT path pays (measured on a 2463x2527
/// frame, see benches/README.md).
const FFT_BREAK_EVEN: f64 = 4.0;

/// Whether the corrected PSF with one radius `kr` for every pixel goes faster by FFT: the
/// direct sum costs one addition per pixel that spreads per kernel tap. Infinite or NaN values
/// stay on the direct path (in a transform they would spoil every pixel).
fn use_fft(image: &[f32], width: usize, height: usize, radii: &[i32], kr: i32) -> bool {
    if std::env::var_os("NANOBRAGG_PSF_DIRECT").is_some() {
        return false;
    }
    let r = kr as i64;
    let taps = (-r..=r).map(|dy| (-r..=r).filter(|dx| dx * dx + dy * dy <= r * r).count()).sum::<usize>();
    let spreading = radii.par_iter().filter(|&&x| x > 0).count();
    let direct = spreading as f64 * taps as f64;
    direct > FFT_BREAK_EVEN * super::fft::cost(width, height, kr as usize) && image.par_iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's loop, written serially as it is, for comparison with the banded one.
    fn serial(image: &[f32], w: usize, h: usize, psf: &Psf) -> Vec<f32> {
        let (_, rep) = apply(image, w, h, psf).unwrap();
        let kr = rep.kernel_radius;
        let ks = (2 * kr + 1) as i64;
        let kern = kernel(psf.kind, psf.fwhm_px, kr);
        let n = w * h;
        let mut out = vec![0f32; n + 10];
        let mut lost = 0.0;
        let maxw = w.max(h) as i32;
        // The pixel index is also the source of the pixel's coordinates.
        #[allow(clippy::needless_range_loop)]
        for i in 0..n {
            let (x0, y0) = ((i % w) as i64, (i / w) as i64);
            let v = image[i];
            if v <= 0.0 {
                continue;
            }
            let mut r = if psf.radius_px != 0 { psf.radius_px } else { pixel_auto_radius(psf.kind, psf.fwhm_px, v) };
            if r == 0 {
                r = 1;
            }
            r = r.min(maxw);
            lost += tail(psf.kind, psf.fwhm_px, v, r);
            let r = r as i64;
            for dx in -r..=r {
                for dy in -r..=r {
                    let k = kern[(ks * (kr as i64 + dy) + kr as i64 + dx) as usize];
                    if k == 0.0 || dx * dx + dy * dy > r * r {
                        continue;
                    }
                    let (x, y) = (x0 + dx, y0 + dy);
                    if x < 0 || x > w as i64 || y < 0 || y > h as i64 {
                        continue;
                    }
                    let j = y * w as i64 + x;
                    if j > n as i64 {
                        continue;
                    }
                    out[j as usize] = (out[j as usize] as f64 + v as f64 * k) as f32;
                }
            }
        }
        let each = lost / n as f64;
        out.truncate(n);
        out.iter_mut().for_each(|p| *p = (*p as f64 + each) as f32);
        out
    }

    fn test_image(w: usize, h: usize) -> Vec<f32> {
        let mut s = 12345u64;
        (0..w * h)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (s >> 40) as f32 / (1u64 << 24) as f32;
                if u < 0.3 { 0.0 } else { (u * 40.0).powi(2) }
            })
            .collect()
    }

    fn direct_and_fft(img: &[f32], w: usize, h: usize, kind: PsfKind, fwhm: f64, r: i32) -> (Vec<f64>, Vec<f64>) {
        let radii: Vec<i32> = img.iter().map(|&v| if v == 0.0 { -1 } else { r }).collect();
        let kern = kernel(kind, fwhm, r);
        let direct: Vec<f64> = spread(img, w, h, &radii, &kern, r, Edges::Corrected);
        let norm: f64 = kern.iter().sum();
        let unit: Vec<f64> = kern.iter().map(|&k| k / norm).collect();
        (direct, super::super::fft::convolve(img, w, h, &unit, r as usize))
    }

    #[test]
    fn fft_path_agrees_with_the_direct_sum() {
        for &(w, h, kind, fwhm, r) in &[(120usize, 90usize, PsfKind::Gauss, 3.0, 9), (64, 101, PsfKind::Fiber, 1.5, 12), (30, 30, PsfKind::Fiber, 4.0, 40)] {
            let img: Vec<f32> = test_image(w, h).iter().enumerate().map(|(i, &v)| if i % 7 == 0 { -v } else { v }).collect();
            let (direct, fft) = direct_and_fft(&img, w, h, kind, fwhm, r.min(w.max(h) as i32));
            // The corpus's rule: |a - b| <= 1e-5 |b| + 1e-7 max |b|.
            let max = direct.iter().fold(0.0f64, |m, &v| m.max(v.abs()));
            for (i, (&a, &b)) in fft.iter().zip(&direct).enumerate() {
                assert!((a - b).abs() <= 1e-5 * b.abs() + 1e-7 * max, "{kind:?} r={r} pixel {i}: {a} vs {b}");
                assert!((a - b).abs() <= 1e-9 * max, "{kind:?} r={r} pixel {i}: {a} vs {b}");
            }
        }
        // The choice: a dense image and a wide kernel go by FFT, a sparse one or a small kernel not.
        let dense = vec![1.0f32; 200 * 200];
        let radii = vec![20; 200 * 200];
        assert!(use_fft(&dense, 200, 200, &radii, 20));
        assert!(!use_fft(&dense, 200, 200, &vec![2; 200 * 200], 2));
        let mut sparse = vec![0.0f32; 200 * 200];
        sparse[5000] = 1.0;
        let sr: Vec<i32> = sparse.iter().map(|&v| if v == 0.0 { -1 } else { 20 }).collect();
        assert!(!use_fft(&sparse, 200, 200, &sr, 20));
        let mut bad = dense.clone();
        bad[7] = f32::NAN;
        assert!(!use_fft(&bad, 200, 200, &radii, 20));
    }

    #[test]
    fn big_auto_radius_equals_the_serial_loop() {
        let (w, h) = (700usize, 300usize);
        let mut img: Vec<f32> = test_image(w, h).iter().map(|v| (v / 400.0).floor()).collect();
        img[150 * w + 350] = 2700.0;
        img[10 * w + 20] = 900.0;
        let psf = Psf { kind: PsfKind::Fiber, fwhm_px: 0.46, radius_px: 0 };
        let (fast, _) = apply(&img, w, h, &psf).unwrap();
        let slow = serial(&img, w, h, &psf);
        let bad: Vec<usize> = (0..w * h).filter(|&i| fast[i].to_bits() != slow[i].to_bits()).collect();
        assert!(bad.is_empty(), "{} differ, first {:?}", bad.len(), &bad[..bad.len().min(5)]);
    }

    #[test]
    fn kernel_values_match_the_reference() {
        // Values the reference's outputs show (noisify notes, §5.1).
        let g = |dx, dy| kernel_element(PsfKind::Gauss, 2.0, dx, dy);
        assert!((g(0, 0) - 0.197083).abs() < 1e-6);
        assert!((g(1, 0) - 0.106253).abs() < 1e-6);
        assert!((g(1, 1) - 0.057284).abs() < 1e-6);
        let f = |dx, dy| kernel_element(PsfKind::Fiber, 1.0, dx, dy);
        assert!((f(0, 0) - 0.241312).abs() < 1e-6);
        assert!((f(1, 0) - 0.067711).abs() < 1e-6);
        assert!((f(2, 0) - 0.011953).abs() < 1e-6);
        let c = kernel_element(PsfKind::Gauss, 1.0, 0, 0);
        assert!((c - c_erf(LN_2.sqrt()).powi(2)).abs() < 1e-12);
    }

    #[test]
    fn banded_loop_equals_the_serial_loop() {
        for &(w, h, kind, fwhm, r) in &[
            (37usize, 23usize, PsfKind::Fiber, 1.3, 0),
            (16, 40, PsfKind::Gauss, 2.5, 0),
            (20, 20, PsfKind::Fiber, 4.0, 30), // radius wider than the image: double hits
            (9, 31, PsfKind::Gauss, 1.0, 3),
            // Tall bands: sources inside them take the precomputed-taps path.
            (300, 200, PsfKind::Gauss, 1.5, 2),
            (256, 256, PsfKind::Fiber, 0.3, 0),
            // Row segments clipped at the left edge and at band edges; one row; one column.
            (150, 90, PsfKind::Fiber, 0.46, 0),
            (150, 90, PsfKind::Gauss, 3.0, 7),
            (64, 1, PsfKind::Gauss, 1.5, 3),
            (1, 50, PsfKind::Fiber, 1.0, 2),
        ] {
            let img = test_image(w, h);
            let psf = Psf { kind, fwhm_px: fwhm, radius_px: r };
            let (fast, rep) = apply(&img, w, h, &psf).unwrap();
            let slow = serial(&img, w, h, &psf);
            assert_eq!(fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), slow.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            // Both builds of the loop (AVX2 where the CPU has it, and the baseline) give the same bits.
            let kr = rep.kernel_radius;
            let radii: Vec<i32> = img
                .iter()
                .map(|&v| if v <= 0.0 { -1 } else if r != 0 { r.min(w.max(h) as i32) } else { pixel_auto_radius(kind, fwhm, v).max(1).min(w.max(h) as i32) })
                .collect();
            let kern = kernel(kind, fwhm, kr);
            let a: Vec<f32> = spread_on(&img, w, h, &radii, &kern, kr, Edges::Reference, true);
            let b: Vec<f32> = spread_on(&img, w, h, &radii, &kern, kr, Edges::Reference, false);
            assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn right_edge_wraps_into_the_next_row() {
        let (w, h) = (8usize, 8usize);
        let mut img = vec![0f32; w * h];
        img[3 * w + 7] = 1000.0;
        let (out, _) = apply(&img, w, h, &Psf { kind: PsfKind::Gauss, fwhm_px: 1.0, radius_px: 1 }).unwrap();
        assert!(out[4 * w] > 50.0, "column 0 of the next row receives the spill");
        let (fixed, _) = apply_corrected(&img, w, h, &Psf { kind: PsfKind::Gauss, fwhm_px: 1.0, radius_px: 1 }).unwrap();
        assert!(fixed[4 * w] == 0.0);
    }

    #[test]
    fn corrected_psf_conserves_photons_away_from_edges() {
        let (w, h) = (41usize, 41usize);
        let mut img = vec![0f32; w * h];
        img[20 * w + 20] = 1.0e4;
        for kind in [PsfKind::Gauss, PsfKind::Fiber] {
            // A radius of one FWHM cuts the tails: the reference's kernel keeps less than the
            // photons and its continuous-tail estimate does not make up the difference.
            let psf = Psf { kind, fwhm_px: 2.0, radius_px: 2 };
            let (out, _) = apply_corrected(&img, w, h, &psf).unwrap();
            let total: f64 = out.iter().map(|&v| v as f64).sum();
            assert!((total - 1.0e4).abs() < 1e-2, "{kind:?} {total}");
            let (quirky, _) = apply(&img, w, h, &psf).unwrap();
            let qt: f64 = quirky.iter().map(|&v| v as f64).sum();
            assert!((qt - 1.0e4).abs() > 10.0, "{kind:?}: the reference's total {qt}");
        }
    }

    #[test]
    fn undefined_radius_is_an_error() {
        let img = vec![0.005f32; 16];
        assert!(apply(&img, 4, 4, &Psf { kind: PsfKind::Gauss, fwhm_px: 1.0, radius_px: 0 }).is_err());
        assert!(apply(&img, 4, 4, &Psf { kind: PsfKind::Gauss, fwhm_px: 1.0, radius_px: 2 }).is_ok());
        assert!(apply_corrected(&img, 4, 4, &Psf { kind: PsfKind::Gauss, fwhm_px: 1.0, radius_px: 0 }).is_ok());
    }
}
