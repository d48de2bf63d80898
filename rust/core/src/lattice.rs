//! Lattice transforms |F_latt| of a finite crystal and the polarization factor.

use crate::config::Shape;
use crate::vec3::{cross, dot, unitize, V3};

/// sin(N x)/sin(x): the transform of N unit cells along one axis (N at x = 0).
#[inline(always)]
pub fn sincg(x: f64, n: f64) -> f64 {
    if x == 0.0 {
        n
    } else {
        (x * n).sin() / x.sin()
    }
}

/// 3 (sin x / x - cos x) / x²: the transform of a sphere (1 at x = 0).
#[inline(always)]
pub fn sinc3(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        3.0 * (x.sin() / x - x.cos()) / (x * x)
    }
}

/// Everything the lattice transform needs besides the fractional indices.
#[derive(Clone, Copy, Debug)]
pub struct LatticeShape {
    pub shape: Shape,
    pub n: [f64; 3],
    pub fudge: f64,
    /// Unrotated reciprocal vectors (Å⁻¹); the gauss and tophat shapes measure in them.
    pub a_star: V3,
    pub b_star: V3,
    pub c_star: V3,
}

/// Per-axis factors of the square shape (1 where N <= 1), for tracing.
#[inline(always)]
pub fn square_factors(s: &LatticeShape, h: f64, k: f64, l: f64) -> [f64; 3] {
    let pi = std::f64::consts::PI;
    let f = |x: f64, n: f64| if n > 1.0 { sincg(pi * x, n) } else { 1.0 };
    [f(h, s.n[0]), f(k, s.n[1]), f(l, s.n[2])]
}

/// F_latt at fractional indices (h, k, l) nearest to integers (h0, k0, l0).
#[inline(always)]
pub fn f_latt(s: &LatticeShape, h: f64, k: f64, l: f64, h0: i32, k0: i32, l0: i32) -> f64 {
    let [na, nb, nc] = s.n;
    match s.shape {
        Shape::Square => {
            let pi = std::f64::consts::PI;
            let mut f = 1.0;
            if na > 1.0 {
                f *= sincg(pi * h, na);
            }
            if nb > 1.0 {
                f *= sincg(pi * k, nb);
            }
            if nc > 1.0 {
                f *= sincg(pi * l, nc);
            }
            f
        }
        Shape::Round => {
            let (dh, dk, dl) = (h - h0 as f64, k - k0 as f64, l - l0 as f64);
            let hrad_sqr = dh * dh * na * na + dk * dk * nb * nb + dl * dl * nc * nc;
            na * nb * nc * 0.723601254558268 * sinc3(std::f64::consts::PI * (hrad_sqr * s.fudge).sqrt())
        }
        Shape::Gauss | Shape::Tophat => {
            let (dh, dk, dl) = (h - h0 as f64, k - k0 as f64, l - l0 as f64);
            let dx = dh * s.a_star[0] + dk * s.b_star[0] + dl * s.c_star[0];
            let dy = dh * s.a_star[1] + dk * s.b_star[1] + dl * s.c_star[1];
            let dz = dh * s.a_star[2] + dk * s.b_star[2] + dl * s.c_star[2];
            let rad_star_sqr = (dx * dx + dy * dy + dz * dz) * na * na * nb * nb * nc * nc;
            if s.shape == Shape::Gauss {
                na * nb * nc * (-(rad_star_sqr / 0.63 * s.fudge)).exp()
            } else {
                na * nb * nc * if rad_star_sqr * s.fudge < 0.3969 { 1.0 } else { 0.0 }
            }
        }
    }
}

/// Kahn polarization factor for incident and diffracted unit vectors and the E-vector axis.
#[inline]
pub fn polarization_factor(kahn: f64, incident: V3, diffracted: V3, axis: V3) -> f64 {
    polarization_of_units(kahn, unitize(incident).0, unitize(diffracted).0, unitize(axis).0)
}

/// [`polarization_factor`] of vectors already unitized the way it unitizes them.
#[inline]
pub fn polarization_of_units(kahn: f64, incident: V3, diffracted: V3, axis: V3) -> f64 {
    let c = dot(incident, diffracted);
    let c2 = c * c;
    let s2 = 1.0 - c2;
    let mut psi = 0.0;
    if kahn != 0.0 {
        let b_in = unitize(cross(axis, incident)).0;
        let e_in = unitize(cross(incident, b_in)).0;
        psi = -dot(diffracted, b_in).atan2(dot(diffracted, e_in));
    }
    0.5 * (1.0 + c2 - kahn * (2.0 * psi).cos() * s2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincg_limits() {
        assert_eq!(sincg(0.0, 5.0), 5.0);
        assert!((sincg(1e-9, 5.0) - 5.0).abs() < 1e-9);
        // A full period later the transform peaks again (up to sign).
        assert!((sincg(std::f64::consts::PI, 4.0).abs() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn unpolarized_factor() {
        // (1 + cos² 2θ)/2 for K = 0.
        let inc = [1.0, 0.0, 0.0];
        let d = unitize([1.0, 1.0, 0.0]).0;
        let p = polarization_factor(0.0, inc, d, [0.0, 0.0, 1.0]);
        assert!((p - 0.75).abs() < 1e-15);
        // Fully polarized along z, scattering in the x-y plane keeps everything.
        let p = polarization_factor(1.0, inc, d, [0.0, 0.0, 1.0]);
        assert!((p - 1.0).abs() < 1e-12, "{p}");
    }
}
