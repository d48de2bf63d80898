//! Unit cell and orientation: reciprocal vectors from a cell or a MOSFLM matrix, missetting,
//! the user-cell rescale, and the real-space vectors the pixel loop uses.

use crate::config::{CrystalConfig, Shape};
use crate::hkl::HklTable;
use crate::rng::{mosaic_rotation_umat, umat2misset, Ran1Table};
use crate::vec3::{cross, dot, norm, rescale, rotate_xyz, scale, IDENTITY, M3, V3};
use std::sync::Arc;
use serde::Serialize;

const RTD: f64 = 180.0 * std::f64::consts::FRAC_1_PI;

/// Orientation and metric of the crystal, as the reference derives them (lengths in Å).
#[allow(non_snake_case)] // unit as written: Å³
#[derive(Clone, Debug, Serialize)]
pub struct Lattice {
    /// Real-space cell vectors (Å).
    pub a: V3,
    pub b: V3,
    pub c: V3,
    /// Reciprocal vectors regenerated from a, b, c (Å⁻¹); the gauss and tophat shapes use them.
    pub a_star: V3,
    pub b_star: V3,
    pub c_star: V3,
    /// Cell volume (Å³).
    pub volume_A3: f64,
    /// a, b, c (Å) and α, β, γ (degrees) recomputed from the vectors, as printed.
    pub cell: [f64; 6],
    /// a*, b*, c* (Å⁻¹) and α*, β*, γ* (degrees), as printed.
    pub reciprocal_cell: [f64; 6],
    /// Warnings the derivation produced (impossible volume, odd angles).
    pub warnings: Vec<String>,
}

/// Reciprocal vectors in the reference's default orientation for a cell (Å, radians):
/// a* along x, b* in the xy plane. Returns (a*, b*, c*, V).
///
/// The reference's z component of c* is right only when V = abc·sinα·sinβ·sinγ, so triclinic
/// cells come out with slightly wrong angles (notes Q12); `fixed` uses the exact 1/(V a* b* sinγ*).
pub fn reciprocal_from_cell(
    cell: [f64; 6],
    fixed: bool,
    warnings: &mut Vec<String>,
) -> (V3, V3, V3, f64) {
    let [a, b, c, alpha, beta, gamma] = cell;
    let aavg = (alpha + beta + gamma) / 2.0;
    let mut skew = aavg.sin() * (aavg - alpha).sin() * (aavg - beta).sin() * (aavg - gamma).sin();
    if skew < 0.0 {
        skew = -skew;
    }
    let mut v_cell = 2.0 * a * b * c * skew.sqrt();
    if v_cell <= 0.0 {
        warnings.push(format!("WARNING: impossible unit cell volume: {}", crate::fmt::g(v_cell)));
        v_cell = f64::MIN_POSITIVE;
    }
    let v_star = 1.0 / v_cell;
    let mut a_s = b * c * alpha.sin() * v_star;
    let mut b_s = c * a * beta.sin() * v_star;
    let mut c_s = a * b * gamma.sin() * v_star;
    if a_s <= 0.0 || b_s <= 0.0 || c_s <= 0.0 {
        warnings.push(format!(
            "WARNING: impossible reciprocal cell lengths: {} {} {}",
            crate::fmt::g(a_s),
            crate::fmt::g(b_s),
            crate::fmt::g(c_s)
        ));
        for x in [&mut a_s, &mut b_s, &mut c_s] {
            *x = x.abs();
            if *x <= 0.0 {
                *x = f64::MIN_POSITIVE;
            }
        }
    }
    let sin_as = a * v_star / b_s / c_s;
    let sin_bs = b * v_star / a_s / c_s;
    let sin_gs = c * v_star / a_s / b_s;
    let cos_as = (beta.cos() * gamma.cos() - alpha.cos()) / (beta.sin() * gamma.sin());
    let cos_bs = (gamma.cos() * alpha.cos() - beta.cos()) / (gamma.sin() * alpha.sin());
    let cos_gs = (alpha.cos() * beta.cos() - gamma.cos()) / (alpha.sin() * beta.sin());
    let (sin_as, sin_bs, sin_gs) = (clamp_sin(sin_as), clamp_sin(sin_bs), clamp_sin(sin_gs));
    let (cos_as, cos_bs, cos_gs) = (clamp_cos(cos_as), clamp_cos(cos_bs), clamp_cos(cos_gs));
    let _ = (sin_as, sin_bs);
    let c_star_z = if fixed {
        1.0 / (v_cell * a_s * b_s * sin_gs)
    } else {
        c_s * v_cell / (a * b * c * sin_gs)
    };
    (
        [a_s, 0.0, 0.0],
        [b_s * cos_gs, b_s * sin_gs, 0.0],
        [c_s * cos_bs, c_s * (cos_as - cos_bs * cos_gs) / sin_gs, c_star_z],
        v_cell,
    )
}

fn clamp_sin(s: f64) -> f64 {
    s.clamp(-1.0, 1.0)
}

/// The reference sets a cosine to +1 whenever its square exceeds 1 (even below -1).
fn clamp_cos(c: f64) -> f64 {
    if c * c > 1.0 {
        1.0
    } else {
        c
    }
}

/// Lengths and angles (degrees) of the cell spanned by `x`, given the lengths of its dual
/// vectors `dual` and its volume `v`, as the reference prints them: sin α = |x*|·V/(|y||z|),
/// cos α = y·z/(|y||z|), clamped, then atan2. The same form serves the reciprocal cell.
fn cell_parameters(x: [V3; 3], dual: [f64; 3], v: f64) -> [f64; 6] {
    let len = [norm(x[0]), norm(x[1]), norm(x[2])];
    let angle = |i: usize, j: usize, k: usize| {
        let s = dual[i] * v / len[j] / len[k];
        let c = dot(x[j], x[k]) / len[j] / len[k];
        clamp_sin(s).atan2(clamp_cos(c)) * RTD
    };
    [len[0], len[1], len[2], angle(0, 1, 2), angle(1, 0, 2), angle(2, 0, 1)]
}

/// Inputs that fix the lattice, already in the reference's internal units.
pub struct LatticeInput {
    /// a, b, c (Å), α, β, γ (radians) from `-cell`, with the reference's defaults applied.
    pub cell: Option<[f64; 6]>,
    /// MOSFLM A matrix numbers in file order (a*x b*x c*x / a*y b*y c*y / a*z b*z c*z).
    pub mosflm_matrix: Option<[f64; 9]>,
    /// Wavelength (m), divides the MOSFLM matrix.
    pub lambda0: f64,
    /// Missetting rotations about x, y, z (radians).
    pub misset: Option<[f64; 3]>,
    /// Correct the triclinic c* formula (notes Q12).
    pub fix_triclinic: bool,
}

/// Derive the orientation exactly as nanoBragg.c L1792-2062 does.
pub fn build_lattice(input: &LatticeInput) -> Lattice {
    let mut warnings = Vec::new();
    let mut a_star: V3 = [0.0; 3];
    let mut b_star: V3 = [0.0; 3];
    let mut c_star: V3 = [0.0; 3];
    let mut user_v_cell = 0.0;
    if let Some(cell) = input.cell {
        let (x, y, z, v) = reciprocal_from_cell(cell, input.fix_triclinic, &mut warnings);
        (a_star, b_star, c_star, user_v_cell) = (x, y, z, v);
    }
    if let Some(m) = input.mosflm_matrix {
        let s = 1e-10 / input.lambda0;
        a_star = scale([m[0], m[3], m[6]], s);
        b_star = scale([m[1], m[4], m[7]], s);
        c_star = scale([m[2], m[5], m[8]], s);
    }
    if let Some([rx, ry, rz]) = input.misset {
        a_star = rotate_xyz(a_star, rx, ry, rz);
        b_star = rotate_xyz(b_star, rx, ry, rz);
        c_star = rotate_xyz(c_star, rx, ry, rz);
    }
    let mut a_star_x_b_star = cross(a_star, b_star);
    let mut b_star_x_c_star = cross(b_star, c_star);
    let mut c_star_x_a_star = cross(c_star, a_star);
    let mut v_star = dot(a_star, b_star_x_c_star);
    if let Some(cell) = input.cell {
        b_star_x_c_star = rescale(b_star_x_c_star, cell[0] / user_v_cell);
        c_star_x_a_star = rescale(c_star_x_a_star, cell[1] / user_v_cell);
        a_star_x_b_star = rescale(a_star_x_b_star, cell[2] / user_v_cell);
        v_star = 1.0 / user_v_cell;
    }
    let v_cell = 1.0 / v_star;
    let a = scale(b_star_x_c_star, v_cell);
    let b = scale(c_star_x_a_star, v_cell);
    let c = scale(a_star_x_b_star, v_cell);
    let a_star = scale(cross(b, c), v_star);
    let b_star = scale(cross(c, a), v_star);
    let c_star = scale(cross(a, b), v_star);

    let cell = cell_parameters([a, b, c], [norm(a_star), norm(b_star), norm(c_star)], v_cell);
    let reciprocal_cell = cell_parameters([a_star, b_star, c_star], [norm(a), norm(b), norm(c)], v_star);
    Lattice { a, b, c, a_star, b_star, c_star, volume_A3: v_cell, cell, reciprocal_cell, warnings }
}

// --- the crystal stage -------------------------------------------------------------------

/// The crystal as the pixel loop sees it: orientation, size in cells, shape, mosaic domains
/// and structure factors.
#[derive(Clone, Debug, Serialize)]
pub struct Crystal {
    pub lattice: Lattice,
    /// Unrotated real-space cell vectors (m) at phi = 0 without mosaic.
    pub a0: V3,
    pub b0: V3,
    pub c0: V3,
    /// Cells along a, b, c after the crystal size and the clamp to at least 1.
    pub n_cells: [f64; 3],
    /// Crystal size along a, b, c (m).
    pub crystal_size_m: [f64; 3],
    pub shape: Shape,
    pub fudge: f64,
    pub default_f: f64,
    /// Tricubic interpolation of F (off without a table).
    pub interpolate: bool,
    #[serde(skip)]
    pub hkl: Option<Arc<HklTable>>,
    pub hkl_count: usize,
    /// Mosaic spread (radians) and one rotation per domain, domain 0 the identity.
    pub mosaic_spread: f64,
    pub mosaic_umats: Vec<M3>,
    /// Random misset angles (radians) when one was drawn.
    pub misset_random_rad: Option<[f64; 3]>,
}

/// The crystal's size (m) along a, b, c as given, clipped by the beam in y and z.
pub fn sample_size(cc: &CrystalConfig, beamsize: f64, messages: &mut Vec<String>) -> [f64; 3] {
    let mut sample = [0.0; 3];
    for (i, s) in cc.size_mm.iter().enumerate() {
        sample[i] = s.map_or(0.0, |mm| mm / 1000.0);
    }
    if beamsize >= 0.0 {
        if beamsize < sample[1] {
            messages.push(format!(
                "WARNING: clipping sample ({} m high) with beam ({} m)",
                crate::fmt::g(sample[1]),
                crate::fmt::g(beamsize)
            ));
            sample[1] = beamsize;
        }
        if beamsize < sample[2] {
            messages.push(format!(
                "WARNING: clipping sample ({} m wide) with beam ({} m)",
                crate::fmt::g(sample[2]),
                crate::fmt::g(beamsize)
            ));
            sample[2] = beamsize;
        }
    }
    sample
}

/// Mosaic spread (radians) and number of domains (nanoBragg.c L1639-1673).
pub fn mosaic_domains(cc: &CrystalConfig, messages: &mut Vec<String>) -> (f64, i64) {
    let mut spread = cc.mosaic_spread_deg.map_or(-1.0, |d| d / RTD);
    let mut domains = cc.mosaic_domains.unwrap_or(-1);
    if domains <= 0 {
        if spread < 0.0 {
            domains = 1;
            spread = 0.0;
        } else if spread == 0.0 {
            domains = 1;
        } else {
            messages.push("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains".into());
            domains = 10;
        }
    } else if spread < 0.0 {
        messages.push("WARNING: no mosaic spread specified.  setting mosaic_domains = 1".into());
        spread = 0.0;
        domains = 1;
    } else if spread == 0.0 {
        messages.push("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1".into());
        domains = 1;
    }
    (spread, domains)
}

/// Whether F is interpolated; the reference decides before N is derived from the crystal size.
pub fn interpolation(cc: &CrystalConfig, messages: &mut Vec<String>) -> bool {
    match cc.interpolate {
        Some(on) => on,
        None => {
            let on = cc.n_cells.iter().any(|&n| n as f64 <= 2.0);
            messages.push(if on {
                "auto-selected tricubic interpolation of structure factors".into()
            } else {
                "auto-selected no interpolation".into()
            });
            on
        }
    }
}

/// Misset angles (radians): given, or drawn (the first draw from the shared generator).
/// Returns (the angles used, the drawn angles if drawn).
pub fn misset(cc: &CrystalConfig, rng: &mut Ran1Table) -> (Option<[f64; 3]>, Option<[f64; 3]>) {
    if cc.misset_random {
        let seed = cc.misset_seed.unwrap_or_else(crate::setup::clock_seed);
        let mut idum = -seed;
        let u = mosaic_rotation_umat(90.0, rng, &mut idum);
        let angles = umat2misset(&u);
        return (Some(angles), Some(angles));
    }
    (cc.misset_deg.map(|m| [m[0] / RTD, m[1] / RTD, m[2] / RTD]), None)
}

/// The lattice and its unrotated real-space vectors (m).
pub fn orient(cc: &CrystalConfig, lambda0: f64, misset: Option<[f64; 3]>, fixed: bool, messages: &mut Vec<String>) -> (Lattice, [V3; 3]) {
    let cell = cc.cell.map(|c| [c[0], c[1], c[2], c[3] / RTD, c[4] / RTD, c[5] / RTD]);
    let lattice = build_lattice(&LatticeInput { cell, mosflm_matrix: cc.mosflm_matrix, lambda0, misset, fix_triclinic: fixed });
    messages.extend(lattice.warnings.iter().cloned());
    let v = [scale(lattice.a, 1e-10), scale(lattice.b, 1e-10), scale(lattice.c, 1e-10)];
    (lattice, v)
}

/// Cells along a, b, c (from the crystal size where given, at least 1) and the crystal's size
/// along them (m).
pub fn cell_counts(cc: &CrystalConfig, sample: [f64; 3], abc: [V3; 3]) -> ([f64; 3], [f64; 3]) {
    let mut n_cells = cc.n_cells.map(|n| n as f64);
    let lengths = abc.map(norm);
    for (i, len) in lengths.into_iter().enumerate() {
        if sample[i] > 0.0 {
            n_cells[i] = (sample[i] / len).ceil();
        }
        if n_cells[i] <= 1.0 {
            n_cells[i] = 1.0;
        }
    }
    (n_cells, [lengths[0] * n_cells[0], lengths[1] * n_cells[1], lengths[2] * n_cells[2]])
}

/// One rotation per mosaic domain, drawn from the shared generator; domain 0 is the identity.
pub fn mosaic_rotations(cc: &CrystalConfig, spread: f64, domains: i64, rng: &mut Ran1Table) -> Vec<M3> {
    let mut umats = Vec::with_capacity(domains as usize);
    let mut idum = -cc.mosaic_seed;
    for i in 0..domains {
        let u = mosaic_rotation_umat(spread as f32, rng, &mut idum);
        umats.push(if i == 0 { IDENTITY } else { u });
    }
    umats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell_rad(c: [f64; 6]) -> [f64; 6] {
        [c[0], c[1], c[2], c[3] / RTD, c[4] / RTD, c[5] / RTD]
    }

    #[test]
    fn cubic_cell() {
        let l = build_lattice(&LatticeInput {
            cell: Some(cell_rad([50.0, 50.0, 50.0, 90.0, 90.0, 90.0])),
            mosflm_matrix: None,
            lambda0: 1e-10,
            misset: None,
            fix_triclinic: false,
        });
        assert!((l.volume_A3 - 125000.0).abs() < 1e-6);
        assert!((l.a[0] - 50.0).abs() < 1e-12 && (l.a_star[0] - 0.02).abs() < 1e-15);
    }

    #[test]
    fn triclinic_angles_off_unless_fixed() {
        let input = |fixed| LatticeInput {
            cell: Some(cell_rad([70.0, 80.0, 90.0, 75.0, 85.0, 95.0])),
            mosflm_matrix: None,
            lambda0: 1e-10,
            misset: None,
            fix_triclinic: fixed,
        };
        let quirky = build_lattice(&input(false));
        // The reference prints 75.0391 85.0136 95.0081 for this cell (notes Q12).
        assert!((quirky.cell[3] - 75.0391).abs() < 1e-4, "{:?}", quirky.cell);
        let fixed = build_lattice(&input(true));
        for (got, want) in fixed.cell.iter().zip([70.0, 80.0, 90.0, 75.0, 85.0, 95.0]) {
            assert!((got - want).abs() < 1e-9, "{:?}", fixed.cell);
        }
    }

    #[test]
    fn mosflm_matrix_is_divided_by_the_wavelength() {
        // Notes §3.2: 0.02/0.025/0.03 with lambda 2 Å gives a cell of 100, 80, 66.67 Å.
        let l = build_lattice(&LatticeInput {
            cell: None,
            mosflm_matrix: Some([0.02, 0.0, 0.0, 0.0, 0.025, 0.0, 0.0, 0.0, 0.03]),
            lambda0: 2e-10,
            misset: None,
            fix_triclinic: false,
        });
        assert!((l.cell[0] - 100.0).abs() < 1e-9);
        assert!((l.cell[1] - 80.0).abs() < 1e-9);
        assert!((l.cell[2] - 200.0 / 3.0).abs() < 1e-9);
    }
}
