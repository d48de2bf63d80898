//! Amorphous background: the diffuse scattering of water, air, ice … from a table of F
//! against sin(θ)/λ, as nonBragg.c (upstream bl831/nanoBragg) renders it.
//!
//! This module holds what any render with a background needs: reading a table the way the
//! reference reads it, its padding, the reference's four-point interpolation with the table
//! index carried from lookup to lookup, the number of molecules in the illuminated sample, and
//! one sub-pixel/source term. The program `nonBragg` itself (its command line's detector,
//! sources and outputs) is `crate::nonbragg`.

use crate::error::{Error, Result};
use crate::lattice::polarization_of_units;
use crate::vec3::{unitize, V3};
use serde::{Deserialize, Serialize};

/// Avogadro's number as the reference spells it.
pub const AVOGADRO: f64 = 6.02214179e23;

/// What the first column of a table measures (the flag that named the file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Abscissa {
    /// sin(θ)/λ in Å⁻¹ (`-stol`).
    #[default]
    Stol,
    /// 4·sin(θ)/λ in Å⁻¹ (`-4stol`).
    FourStol,
    /// q = 4π·sin(θ)/λ in Å⁻¹ (`-Q`).
    Q,
}

impl Abscissa {
    /// Factor taking the file's first column to sin(θ)/λ in m⁻¹, evaluated as the reference does.
    pub fn multiplier(self) -> f64 {
        match self {
            Abscissa::Stol => 1e10,
            Abscissa::FourStol => 1e10 / 4.0,
            Abscissa::Q => 1e10 / std::f64::consts::PI / 4.0,
        }
    }
}

const DELIMITERS: &[u8] = b" \t,;:!";
const NUMBER_CHARS: &[u8] = b"0123456789-+.EGeg";

/// The value C's `atof` gives for the start of `s` (leading white space, sign, decimal
/// digits with point and exponent, `inf`, `infinity`, `nan`); 0 when no number starts there.
pub fn atof(s: &[u8]) -> f64 {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let start = i;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let rest = &s[i..];
    let lower: Vec<u8> = rest.iter().take(8).map(|c| c.to_ascii_lowercase()).collect();
    let negative = s.get(start) == Some(&b'-');
    if lower.starts_with(b"inf") {
        return if negative { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    if lower.starts_with(b"nan") {
        return if negative { -f64::NAN } else { f64::NAN };
    }
    let digits = |j: &mut usize| {
        let from = *j;
        while *j < s.len() && s[*j].is_ascii_digit() {
            *j += 1;
        }
        *j - from
    };
    let mut n = digits(&mut i);
    if i < s.len() && s[i] == b'.' {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return 0.0;
    }
    let mut end = i;
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        if digits(&mut j) > 0 {
            end = j;
        }
    }
    std::str::from_utf8(&s[start..end]).ok().and_then(|t| t.parse().ok()).unwrap_or(0.0)
}

fn span(s: &[u8], set: &[u8]) -> usize {
    s.iter().take_while(|c| set.contains(c)).count()
}

fn cspan(s: &[u8], set: &[u8]) -> usize {
    s.iter().take_while(|c| !set.contains(c)).count()
}

/// Rows of `ncols` numbers from a text file, read as the reference's `read_text_file` reads
/// them: lines that are empty after leading delimiters (space, tab, `,;:!`) are skipped, every
/// other line is a row; a token that is not a number reads as 0 (so a `#` comment line is a
/// row of zeros), missing columns are NaN, except on a last line without a newline, where
/// they are 0. Columns beyond `ncols` are ignored.
pub fn read_columns(text: &[u8], ncols: usize) -> Vec<Vec<f64>> {
    let mut rows = Vec::new();
    for raw in text.split_inclusive(|&c| c == b'\n') {
        let mut tok = &raw[span(raw, DELIMITERS)..];
        if tok == b"\n" {
            continue;
        }
        let mut row = vec![f64::NAN; ncols];
        let mut i = 0;
        loop {
            row[i] = atof(tok);
            tok = &tok[span(tok, NUMBER_CHARS)..];
            if tok == b"\n" {
                break;
            }
            tok = &tok[cspan(tok, DELIMITERS)..];
            tok = &tok[span(tok, DELIMITERS)..];
            if tok == b"\n" {
                break;
            }
            i += 1;
            if i >= ncols {
                break;
            }
        }
        rows.push(row);
    }
    rows
}

/// An F(sin θ/λ) table, padded as the reference pads it: two rows far below the first
/// abscissa carrying the first F, two far above carrying the last, so that its four-point
/// interpolation is defined everywhere.
#[derive(Clone, Debug, Serialize)]
pub struct StolTable {
    /// sin(θ)/λ (m⁻¹), padded; two NaN slots follow, as the reference's arrays have.
    x: Vec<f64>,
    /// F (electrons per molecule, an amplitude), padded.
    f: Vec<f64>,
    /// Factor that took the file's first column to m⁻¹.
    multiplier: f64,
    /// Lookups use a fresh binary search, clamp F at 0 and hold the end values beyond the
    /// table (the corrected mode); otherwise the reference's carried search and polynomial.
    fixed: bool,
    /// The polynomial's four denominators for the window starting at each entry (they depend
    /// on the table only; the same values the reference computes on every call).
    den: Vec<[f64; 4]>,
}

impl StolTable {
    /// A table from its data rows (abscissa in the file's unit, F). With `fixed`, rows are
    /// sorted by abscissa and rows sharing an abscissa merged into their mean F.
    pub fn from_rows(rows: &[(f64, f64)], abscissa: Abscissa, fixed: bool) -> Result<StolTable> {
        if rows.is_empty() {
            return Err(Error::Input("no data in the F(stol) table".into()));
        }
        let mult = abscissa.multiplier();
        let mut data: Vec<(f64, f64)> = rows.to_vec();
        if fixed {
            data.retain(|r| r.0.is_finite());
            data.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut merged: Vec<(f64, f64, usize)> = Vec::new();
            for &(x, f) in &data {
                let f = if f.is_nan() { 0.0 } else { f };
                match merged.last_mut() {
                    Some(last) if last.0 == x => {
                        last.1 += f;
                        last.2 += 1;
                    }
                    _ => merged.push((x, f, 1)),
                }
            }
            data = merged.into_iter().map(|(x, f, n)| (x, f / n as f64)).collect();
            if data.is_empty() {
                return Err(Error::Input("no finite rows in the F(stol) table".into()));
            }
        }
        let n = data.len();
        let stols = n + 4;
        let mut x = vec![f64::NAN; stols + 3];
        let mut f = vec![f64::NAN; stols + 3];
        // From the top down, as the reference does: F_low ends as the first valid F, F_high
        // is the last one. With no valid F at all the reference reads an uninitialised
        // variable; here the low pad is NaN.
        let (mut f_low, mut f_high) = (f64::NAN, f64::NAN);
        for i in (2..stols - 2).rev() {
            x[i] = data[i - 2].0 * mult;
            f[i] = data[i - 2].1;
            if !f[i].is_nan() {
                f_low = f[i];
                if f_high.is_nan() {
                    f_high = f[i];
                }
            } else {
                f[i] = 0.0;
            }
        }
        x[0] = -1e99;
        x[1] = -1e98;
        f[0] = f_low;
        f[1] = f_low;
        x[stols - 2] = 1e98;
        x[stols - 1] = 1e99;
        f[stols - 2] = f_high;
        f[stols - 1] = f_high;
        let den = (0..x.len())
            .map(|i| {
                let a = |k: usize| x.get(i + k).copied().unwrap_or(f64::NAN);
                let (a0, a1, a2, a3) = (a(0), a(1), a(2), a(3));
                [
                    (a0 - a1) * (a0 - a2) * (a0 - a3),
                    (a1 - a0) * (a1 - a2) * (a1 - a3),
                    (a2 - a0) * (a2 - a1) * (a2 - a3),
                    (a3 - a0) * (a3 - a1) * (a3 - a2),
                ]
            })
            .collect();
        Ok(StolTable { x, f, multiplier: mult, fixed, den })
    }

    /// A table from the text of a two-column file (see [`read_columns`]); with `fixed`, lines
    /// whose first token is not a number (comments) are skipped instead of read as (0, 0).
    pub fn parse(text: &[u8], abscissa: Abscissa, fixed: bool) -> Result<StolTable> {
        let mut rows = Vec::new();
        for (raw, row) in text
            .split_inclusive(|&c| c == b'\n')
            .filter(|l| &l[span(l, DELIMITERS)..] != b"\n")
            .zip(read_columns(text, 2))
        {
            if fixed {
                let tok = &raw[span(raw, DELIMITERS)..];
                let starts_number = tok.first().is_some_and(|c| c.is_ascii_digit() || b"+-.".contains(c));
                if !starts_number {
                    continue;
                }
            }
            rows.push((row[0], row[1]));
        }
        StolTable::from_rows(&rows, abscissa, fixed)
    }

    /// Entries including the four pads (the reference's `stols`).
    pub fn len(&self) -> usize {
        self.x.len() - 3
    }

    /// Always false: a table has at least one row and its pads.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Abscissa of entry `i` (m⁻¹).
    pub fn x(&self, i: usize) -> f64 {
        self.x[i]
    }

    /// F of entry `i`.
    pub fn f(&self, i: usize) -> f64 {
        self.f[i]
    }

    /// The factor from the file's unit to m⁻¹.
    pub fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// F at `stol` (m⁻¹). `nearest` is the reference's table index, carried from call to call
    /// (it starts at 0); the result depends on it for tables that are not increasing.
    #[inline]
    pub fn interpolate(&self, stol: f64, nearest: &mut usize) -> f64 {
        let stols = self.len();
        if self.fixed {
            let (lo, hi) = (self.x[2], self.x[stols - 3]);
            if stol <= lo {
                *nearest = 2;
                return self.f[2].max(0.0);
            }
            if stol >= hi {
                *nearest = stols - 3;
                return self.f[stols - 3].max(0.0);
            }
            if stol.is_nan() {
                return f64::NAN;
            }
            // The last entry not above stol: x[n] <= stol < x[n+1].
            let n = self.x[2..stols - 2].partition_point(|&v| v <= stol) + 1;
            *nearest = n;
            return self.polint_at(n - 1, stol).max(0.0);
        }
        let mut n = *nearest;
        while n < self.x.len() && stol > self.x[n] && n <= stols {
            n += 1;
        }
        while n < self.x.len() && stol < self.x[n] && n >= 2 {
            n -= 1;
        }
        *nearest = n;
        if n == 0 || n + 3 > self.x.len() {
            // Reads outside the reference's arrays (only for a NaN or infinite stol).
            return f64::NAN;
        }
        self.polint_at(n - 1, stol)
    }

    /// The reference's four-point Lagrange polynomial (its `polint`) through entries
    /// i … i+3 at x: each term's products left to right, the terms summed in index order; the
    /// denominators precomputed (the same values).
    #[inline(always)]
    fn polint_at(&self, i: usize, x: f64) -> f64 {
        let (xa, ya, d) = (&self.x[i..i + 4], &self.f[i..i + 4], &self.den[i]);
        let t0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0] / d[0];
        let t1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1] / d[1];
        let t2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2] / d[2];
        let t3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3] / d[3];
        t0 + t1 + t2 + t3
    }
}

/// The illuminated amorphous sample (SI units: m, g/m³, g/mol).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sample {
    /// Along the beam ("thick"); the reference's sample_x.
    pub thickness_m: f64,
    /// The reference's sample_y (set by `-sample_width`, printed as "high").
    pub y_m: f64,
    /// The reference's sample_z (set by `-sample_height`, printed as "wide").
    pub z_m: f64,
    pub density_g_per_m3: f64,
    pub molecular_weight: f64,
    /// A molecule count that overrides the density (0: use the density).
    pub molecules: f64,
}

impl Default for Sample {
    fn default() -> Self {
        Sample { thickness_m: 1e-4, y_m: 1e-4, z_m: 1e-4, density_g_per_m3: 1e6, molecular_weight: 18.0, molecules: 0.0 }
    }
}

/// The sample after the reference's clipping by the beam and its molecule count.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ResolvedSample {
    pub sample: Sample,
    pub molecules: f64,
    pub messages_y_clipped: Option<f64>,
    pub messages_z_clipped: Option<f64>,
}

impl Sample {
    /// Clip the cross-section to a beam of `beamsize` (m; negative: no clipping) and count
    /// the molecules in the illuminated volume, in the reference's order of operations.
    pub fn resolve(&self, beamsize: f64) -> ResolvedSample {
        let mut s = *self;
        let (mut cy, mut cz) = (None, None);
        if beamsize >= 0.0 {
            if beamsize < s.y_m {
                cy = Some(s.y_m);
                s.y_m = beamsize;
            }
            if beamsize < s.z_m {
                cz = Some(s.z_m);
                s.z_m = beamsize;
            }
        }
        let volume = s.thickness_m * s.y_m * s.z_m;
        if s.molecules != 0.0 {
            s.density_g_per_m3 = s.molecules / volume / AVOGADRO * s.molecular_weight;
        }
        let molecules = volume * s.density_g_per_m3 * AVOGADRO / s.molecular_weight;
        ResolvedSample { sample: s, molecules, messages_y_clipped: cy, messages_z_clipped: cz }
    }
}

/// One precomputed source for background terms.
#[derive(Clone, Copy, Debug)]
pub struct BgSource {
    /// unit(−position): the incident direction the scattering vector uses.
    pub incident: V3,
    /// unit(incident), as the reference's polarization call re-unitizes it.
    pub incident_again: V3,
    pub wavelength_m: f64,
    pub weight: f64,
}

impl BgSource {
    /// A source at `position` (any length unit; the beam comes from there).
    pub fn new(position: V3, wavelength_m: f64, weight: f64) -> BgSource {
        let incident = unitize([-position[0], -position[1], -position[2]]).0;
        BgSource { incident, incident_again: unitize(incident).0, wavelength_m, weight }
    }
}

/// Per-sub-pixel state the reference keeps while it loops over sources: the diffracted
/// direction, which its polarization call re-normalises in place, so later sources see it
/// re-normalised.
pub struct SubPixel {
    pub diffracted: V3,
}

/// What one source contributes at one sub-pixel: `sign·F²·P·Ω·weight` (before the
/// r_e²·fluence·molecules/steps scale), with F, stol and the polarization factor for the
/// bookkeeping of `-img` and `-printout`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Term {
    pub value: f64,
    pub f: f64,
    pub stol: f64,
    pub polar: f64,
}

/// Polarization settings of a background render.
#[derive(Clone, Copy, Debug)]
pub struct Polarization {
    /// Kahn factor.
    pub kahn: f64,
    /// `-nopolar`: factor 1.
    pub off: bool,
}

/// The term of one source at one sub-pixel of solid angle `omega`, as nonBragg.c evaluates
/// it (L1487-1529). `axis` is the E-vector axis, which the reference also re-normalises in
/// place on every call.
#[inline]
pub fn source_term(
    table: &StolTable,
    nearest: &mut usize,
    px: &mut SubPixel,
    src: &BgSource,
    axis: &mut V3,
    pol: Polarization,
    omega: f64,
) -> Term {
    let (stol, polar) = source_geometry(px, src, axis, pol);
    material_term(table, nearest, stol, polar, omega, src.weight)
}

/// What a source's term needs that does not depend on the material: sin(θ)/λ (m⁻¹) and the
/// polarization factor (re-normalising the diffracted direction and the axis in place, as the
/// reference's polarization call does).
#[inline]
pub fn source_geometry(px: &mut SubPixel, src: &BgSource, axis: &mut V3, pol: Polarization) -> (f64, f64) {
    let d = px.diffracted;
    let inc = src.incident;
    let lambda = src.wavelength_m;
    let s = [(d[0] - inc[0]) / lambda, (d[1] - inc[1]) / lambda, (d[2] - inc[2]) / lambda];
    let stol = 0.5 * (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
    let polar = if pol.off {
        1.0
    } else {
        // The reference unitizes d and the axis in place inside the call: compute each once.
        let d1 = unitize(d).0;
        let a1 = unitize(*axis).0;
        px.diffracted = d1;
        *axis = a1;
        polarization_of_units(pol.kahn, src.incident_again, d1, a1)
    };
    (stol, polar)
}

/// One material's term at sin(θ)/λ `stol`: `sign·F²·P·Ω·weight`, in the reference's order.
#[inline]
pub fn material_term(table: &StolTable, nearest: &mut usize, stol: f64, polar: f64, omega: f64, weight: f64) -> Term {
    let f = table.interpolate(stol, nearest);
    let sign = if f < 0.0 { -1.0 } else { 1.0 };
    Term { value: sign * f * f * polar * omega * weight * 1.0, f, stol, polar }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atof_like_c() {
        assert_eq!(atof(b"2.5e3xyz"), 2500.0);
        assert_eq!(atof(b"#Curve"), 0.0);
        assert_eq!(atof(b"  -.5"), -0.5);
        assert_eq!(atof(b"1e"), 1.0);
        assert!(atof(b"nan").is_nan());
        assert_eq!(atof(b"-inf"), f64::NEG_INFINITY);
    }

    #[test]
    fn comment_lines_are_zero_rows_and_missing_columns_nan() {
        let rows = read_columns(b"#Curve 0, 1000 points\n\n  \n0.5 2 i\n0.7\n0.9", 2);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0], vec![0.0, 0.0]);
        assert_eq!(rows[1], vec![0.5, 2.0]);
        assert!(rows[2][1].is_nan());
        // A last line without a newline reads its missing column as 0.
        assert_eq!(rows[3], vec![0.9, 0.0]);
    }

    #[test]
    fn padding_and_linear_extrapolation() {
        // shortwater's last rows: 0.436 -> 3.77, 0.5 -> 3.17 extrapolate linearly (notes §5.5).
        let t = StolTable::from_rows(&[(0.3, 4.0), (0.436, 3.77), (0.5, 3.17)], Abscissa::Stol, false).unwrap();
        assert_eq!(t.len(), 7);
        let mut n = 0;
        let f = t.interpolate(1.0e10, &mut n);
        assert!((f - (3.17 + (3.17 - 3.77) / 0.064 * 0.5)).abs() < 1e-9, "{f}");
        let mut n = 0;
        assert!((t.interpolate(0.436e10, &mut n) - 3.77).abs() < 1e-12);
    }

    #[test]
    fn carried_index_depends_on_history_for_unsorted_tables() {
        let rows = [(0.0, 1.0), (0.1, 2.0), (0.2, 3.0), (0.18, 5.0), (0.3, 1.0), (0.4, 1.0)];
        let t = StolTable::from_rows(&rows, Abscissa::Stol, false).unwrap();
        let (mut a, mut b) = (0, 0);
        let _ = t.interpolate(0.35e10, &mut b);
        assert_ne!(t.interpolate(0.19e10, &mut a), t.interpolate(0.19e10, &mut b));
        // Sorted in the corrected mode: independent of history and never negative.
        let t = StolTable::from_rows(&rows, Abscissa::Stol, true).unwrap();
        let (mut a, mut b) = (0, 0);
        let _ = t.interpolate(0.35e10, &mut b);
        assert_eq!(t.interpolate(0.19e10, &mut a), t.interpolate(0.19e10, &mut b));
        assert_eq!(t.interpolate(9e10, &mut a), 1.0);
    }

    #[test]
    fn default_sample_is_a_water_cube() {
        let r = Sample::default().resolve(1e-4);
        assert!((r.molecules / 3.34563e16 - 1.0).abs() < 1e-5);
        let r = Sample { molecules: 1e13, ..Sample::default() }.resolve(1e-4);
        assert!((r.molecules / 1e13 - 1.0).abs() < 1e-12);
    }
}

/// The flat-detector frame the background needs: pixel grid origin and axes, and what the
/// curved detector and the solid angle use.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub pix0: V3,
    pub fdet: V3,
    pub sdet: V3,
    pub odet: V3,
    pub beam: V3,
    pub pixel_size: f64,
    pub oversample: usize,
    pub distance: f64,
    pub close_distance: f64,
    pub curved: bool,
    pub point_pixel: bool,
}

impl Frame {
    /// Lab position of sub-pixel (sub_f, sub_s) of pixel (fpixel, spixel) at depth `odet_m`,
    /// in nanoBragg's and nonBragg's common term order (curved: every pixel at `distance`).
    #[inline]
    pub fn position(&self, fpixel: usize, spixel: usize, sub_f: usize, sub_s: usize, odet_m: f64) -> (V3, f64, f64) {
        let os = self.oversample;
        let sub = self.pixel_size / os as f64;
        let fdet = sub * (fpixel * os + sub_f) as f64 + sub / 2.0;
        let sdet = sub * (spixel * os + sub_s) as f64 + sub / 2.0;
        let mut p: [f64; 3] = std::array::from_fn(|i| fdet * self.fdet[i] + sdet * self.sdet[i] + odet_m * self.odet[i] + self.pix0[i]);
        if self.curved {
            let d = self.distance;
            let v = [d * self.beam[0], d * self.beam[1], d * self.beam[2]];
            let v = crate::vec3::rotate_axis(v, self.sdet, p[1] / d);
            p = crate::vec3::rotate_axis(v, self.fdet, p[2] / d);
        }
        (p, fdet, sdet)
    }

    /// Solid angle of a pixel seen at distance `r` (whole-pixel area, obliquity by the
    /// close distance), or 1/r² for point pixels.
    #[inline]
    pub fn omega(&self, r: f64) -> f64 {
        if self.point_pixel {
            1.0 / r / r
        } else {
            self.pixel_size * self.pixel_size / r / r * self.close_distance / r
        }
    }
}

/// One amorphous material in the beam: its table and the molecules illuminated.
pub struct Layer<'a> {
    pub table: &'a StolTable,
    pub molecules: f64,
}

/// Add the scattering of `layers` to a rendered image (photons per pixel, row-major): for
/// every rendered pixel (`renders(f, s)`), sub-pixel and source, as nonBragg computes it, each
/// layer scaled by r_e²·fluence·molecules/(sources·oversample²). Rows run in parallel, each
/// starting its own table search (the same values as nonBragg's serial loop for increasing
/// tables).
#[allow(clippy::too_many_arguments)]
pub fn add_layers(
    frame: &Frame,
    sources: &[BgSource],
    pol: Polarization,
    polar_axis: V3,
    fluence: f64,
    layers: &[Layer<'_>],
    renders: &(dyn Fn(usize, usize) -> bool + Sync),
    fpixels: usize,
    image: &mut [f32],
) {
    use rayon::prelude::*;
    const R_E_SQR: f64 = 7.94079248018965e-30;
    let os = frame.oversample;
    let steps = (sources.len() * os * os) as f64;
    // The geometry (stol, polarization, with its in-place re-normalisations) is the same for
    // every material: computed once per sub-pixel and source, then one lookup per material.
    image.par_chunks_mut(fpixels.max(1)).enumerate().for_each(|(spixel, row)| {
        let mut nearest = vec![0usize; layers.len()];
        let mut axis = polar_axis;
        let mut sums = vec![0.0f64; layers.len()];
        for (fpixel, value) in row.iter_mut().enumerate() {
            if !renders(fpixel, spixel) {
                continue;
            }
            sums.iter_mut().for_each(|s| *s = 0.0);
            for sub_s in 0..os {
                for sub_f in 0..os {
                    let (p, _, _) = frame.position(fpixel, spixel, sub_f, sub_s, 0.0);
                    let (d, r) = unitize(p);
                    let omega = frame.omega(r);
                    let mut px = SubPixel { diffracted: d };
                    for src in sources {
                        let (stol, polar) = source_geometry(&mut px, src, &mut axis, pol);
                        for (k, layer) in layers.iter().enumerate() {
                            sums[k] += material_term(layer.table, &mut nearest[k], stol, polar, omega, src.weight).value;
                        }
                    }
                }
            }
            let mut v = *value;
            for (k, layer) in layers.iter().enumerate() {
                v += (sums[k] * R_E_SQR * fluence * layer.molecules / steps) as f32;
            }
            *value = v;
        }
    });
}

/// Add amorphous `layers` to an image rendered with `setup` (a nanoBragg render): the same
/// detector, sub-pixels, sources, polarization and window, the background computed as
/// nonBragg computes it (polarization and solid angle per sub-pixel and source, one sensor
/// layer). Generated sources weigh 1 each, a source file's weights are applied, as in nonBragg.
pub fn add_to_render(setup: &crate::Setup, layers: &[Layer<'_>], image: &mut [f32]) {
    let panel = setup.panel();
    let g = &panel.geometry;
    let frame = Frame {
        pix0: g.pix0,
        fdet: g.fdet,
        sdet: g.sdet,
        odet: g.odet,
        beam: g.beam,
        pixel_size: g.pixel_size,
        oversample: setup.sampling.oversample,
        distance: g.distance,
        close_distance: g.close_distance,
        curved: panel.curved,
        point_pixel: panel.point_pixel,
    };
    let from_file = setup.beam.divergence_points < 0;
    let sources: Vec<BgSource> = setup
        .beam
        .sources
        .iter()
        .map(|s| BgSource::new(s.position, s.wavelength_m, if from_file { s.weight } else { 1.0 }))
        .collect();
    let pol = Polarization { kahn: setup.beam.polarization, off: setup.beam.nopolar };
    add_layers(&frame, &sources, pol, g.polar, setup.beam.fluence, layers, &|f, s| panel.renders(f, s), g.fpixels, image);
}
