//! Three-vectors and rotations.
//!
//! Every expression is evaluated in the same order as nanoBragg.c so that results agree with
//! the reference bit for bit (for example `dot` sums x, then y, then z).

/// A vector in the lab frame.
pub type V3 = [f64; 3];

/// Dot product, summed left to right.
#[inline(always)]
pub fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Cross product `a x b`.
#[inline(always)]
pub fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Euclidean length.
#[inline(always)]
pub fn norm(v: V3) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// Unit vector along `v` and the length of `v`; the zero vector for a zero length.
#[inline(always)]
pub fn unitize(v: V3) -> (V3, f64) {
    let mag = norm(v);
    if mag != 0.0 {
        ([v[0] / mag, v[1] / mag, v[2] / mag], mag)
    } else {
        ([0.0; 3], mag)
    }
}

/// `s * v`.
#[inline(always)]
pub fn scale(v: V3, s: f64) -> V3 {
    [s * v[0], s * v[1], s * v[2]]
}

/// `v` with its length forced to `magnitude` (a zero vector stays zero).
pub fn rescale(v: V3, magnitude: f64) -> V3 {
    let mut old = norm(v);
    if old <= 0.0 {
        old = 1.0;
    }
    [magnitude / old * v[0], magnitude / old * v[1], magnitude / old * v[2]]
}

/// Rotate about x, then y, then z (right-handed, radians); a zero angle is skipped.
pub fn rotate_xyz(v: V3, rx: f64, ry: f64, rz: f64) -> V3 {
    let [mut x, mut y, mut z] = v;
    if rx != 0.0 {
        let (s, c) = (rx.sin(), rx.cos());
        let ny = y * c + z * -s;
        let nz = y * s + z * c;
        y = ny;
        z = nz;
    }
    if ry != 0.0 {
        let (s, c) = (ry.sin(), ry.cos());
        let nx = x * c + y * 0.0 + z * s;
        let nz = x * -s + y * 0.0 + z * c;
        x = nx;
        z = nz;
    }
    if rz != 0.0 {
        let (s, c) = (rz.sin(), rz.cos());
        let nx = x * c + y * -s;
        let ny = x * s + y * c;
        x = nx;
        y = ny;
    }
    [x, y, z]
}

/// Rodrigues rotation of `v` by `phi` radians about `axis` (assumed, not forced, to be unit).
#[inline]
pub fn rotate_axis(v: V3, axis: V3, phi: f64) -> V3 {
    let (s, c) = (phi.sin(), phi.cos());
    let d = (axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2]) * (1.0 - c);
    [
        axis[0] * d + v[0] * c + (-axis[2] * v[1] + axis[1] * v[2]) * s,
        axis[1] * d + v[1] * c + (axis[2] * v[0] - axis[0] * v[2]) * s,
        axis[2] * d + v[2] * c + (-axis[1] * v[0] + axis[0] * v[1]) * s,
    ]
}

/// A 3x3 matrix stored row-major.
pub type M3 = [f64; 9];

/// The identity matrix.
pub const IDENTITY: M3 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

/// `u * v` for a row-major matrix.
#[inline(always)]
pub fn mat_vec(u: &M3, v: V3) -> V3 {
    [
        u[0] * v[0] + u[1] * v[1] + u[2] * v[2],
        u[3] * v[0] + u[4] * v[1] + u[5] * v[2],
        u[6] * v[0] + u[7] * v[1] + u[8] * v[2],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_are_right_handed() {
        let r = rotate_xyz([1.0, 0.0, 0.0], 0.0, 0.0, std::f64::consts::FRAC_PI_2);
        assert!((r[0]).abs() < 1e-15 && (r[1] - 1.0).abs() < 1e-15);
        let r = rotate_axis([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], std::f64::consts::FRAC_PI_2);
        assert!((r[0]).abs() < 1e-15 && (r[1] - 1.0).abs() < 1e-15);
    }

    #[test]
    fn zero_angle_axis_rotation_is_exact() {
        let v = [0.123, -4.5, 6.7e-10];
        assert_eq!(rotate_axis(v, [0.0, 0.6, 0.8], 0.0), v);
    }

    #[test]
    fn unitize_zero_vector() {
        assert_eq!(unitize([0.0; 3]), ([0.0; 3], 0.0));
    }
}
