//! The reference's random numbers, reproduced draw for draw.
//!
//! nanoBragg.c uses the Numerical Recipes generator `ran1` (Park-Miller with a Bays-Durham
//! shuffle). Its shuffle table is a static shared by every stream (random misset, mosaic
//! domains, noise); a stream re-seeds the table on its first call because seeds are stored
//! negated. A positive seed on first use does not re-seed and continues the table left by
//! the previous stream. [`Ran1Table`] is that shared state; each stream keeps its own `idum`.
//! The deviates are single precision where the reference's are.

use crate::vec3::M3;

const IA: i64 = 16807;
const IM: i64 = 2147483647;
const AM: f64 = 1.0 / IM as f64;
const IQ: i64 = 127773;
const IR: i64 = 2836;
const NTAB: usize = 32;
const NDIV: i64 = 1 + (IM - 1) / NTAB as i64;
const RNMX: f64 = 1.0 - 1.2e-7;

/// The shuffle table and last output shared by all streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran1Table {
    iy: i64,
    iv: [i64; NTAB],
}

impl Default for Ran1Table {
    fn default() -> Self {
        Ran1Table { iy: 0, iv: [0; NTAB] }
    }
}

impl Ran1Table {
    /// One uniform deviate in (0, 1) from the stream whose state is `idum`.
    pub fn ran1(&mut self, idum: &mut i64) -> f32 {
        if *idum <= 0 || self.iy == 0 {
            *idum = if -*idum < 1 { 1 } else { -*idum };
            for j in (0..NTAB + 8).rev() {
                let k = *idum / IQ;
                *idum = IA * (*idum - k * IQ) - IR * k;
                if *idum < 0 {
                    *idum += IM;
                }
                if j < NTAB {
                    self.iv[j] = *idum;
                }
            }
            self.iy = self.iv[0];
        }
        let k = *idum / IQ;
        *idum = IA * (*idum - k * IQ) - IR * k;
        if *idum < 0 {
            *idum += IM;
        }
        let j = (self.iy / NDIV) as usize;
        self.iy = self.iv[j];
        self.iv[j] = *idum;
        let temp = (AM * self.iy as f64) as f32;
        if temp as f64 > RNMX {
            RNMX as f32
        } else {
            temp
        }
    }
}

/// ln Gamma(xx) by the Lanczos series, double inside and single precision out.
pub fn gammln(xx: f32) -> f32 {
    const COF: [f64; 6] = [
        76.18009172947146,
        -86.50532032941677,
        24.01409824083091,
        -1.231739572450155,
        0.1208650973866179e-2,
        -0.5395239384953e-5,
    ];
    let x = xx as f64;
    let mut y = x;
    let mut tmp = x + 5.5;
    tmp -= (x + 0.5) * tmp.ln();
    let mut ser = 1.000000000190015;
    for c in COF {
        y += 1.0;
        ser += c / y;
    }
    (-tmp + (2.5066282746310005 * ser / x).ln()) as f32
}

/// Poisson and Gaussian deviates with the reference's cached state.
#[derive(Clone, Debug)]
pub struct Deviates {
    pub table: Ran1Table,
    // poidev's statics
    sq: f32,
    alxm: f32,
    g: f32,
    oldm: f32,
    // gaussdev's spare deviate
    gauss_spare: Option<f32>,
}

impl Deviates {
    /// Deviates drawing from `table` (which may carry state from earlier streams).
    pub fn new(table: Ran1Table) -> Self {
        Deviates { table, sq: 0.0, alxm: 0.0, g: 0.0, oldm: -1.0, gauss_spare: None }
    }

    /// A standard normal deviate (polar Box-Muller; returns one and keeps its twin).
    pub fn gaussdev(&mut self, idum: &mut i64) -> f32 {
        if let Some(spare) = self.gauss_spare.take() {
            return spare;
        }
        let (v1, v2, rsq) = loop {
            let v1 = (2.0 * self.table.ran1(idum) as f64 - 1.0) as f32;
            let v2 = (2.0 * self.table.ran1(idum) as f64 - 1.0) as f32;
            let rsq = v1 * v1 + v2 * v2;
            if !(rsq >= 1.0 || rsq == 0.0) {
                break (v1, v2, rsq);
            }
        };
        let fac = (-2.0 * (rsq as f64).ln() / rsq as f64).sqrt() as f32;
        self.gauss_spare = Some(v1 * fac);
        v2 * fac
    }

    /// A Poisson deviate of mean `xm` (a Gaussian approximation above 1e6).
    pub fn poidev(&mut self, xm: f32, idum: &mut i64) -> f32 {
        if xm > 1.0e6 {
            return (xm as f64 + (xm as f64).sqrt() * self.gaussdev(idum) as f64) as f32;
        }
        if xm < 12.0 {
            if xm != self.oldm {
                self.oldm = xm;
                self.g = (-(xm as f64)).exp() as f32;
            }
            let mut em: f32 = -1.0;
            let mut t: f32 = 1.0;
            loop {
                em += 1.0;
                t *= self.table.ran1(idum);
                // `!(t > g)` rather than `t <= g`: a NaN mean must end the loop as in C.
                if !(t > self.g) {
                    break;
                }
            }
            em
        } else {
            if xm != self.oldm {
                self.oldm = xm;
                self.sq = (2.0 * xm as f64).sqrt() as f32;
                self.alxm = (xm as f64).ln() as f32;
                self.g = xm * self.alxm - gammln((xm as f64 + 1.0) as f32);
            }
            loop {
                let (mut em, y) = loop {
                    let y = (std::f64::consts::PI * self.table.ran1(idum) as f64).tan() as f32;
                    let em = self.sq * y + xm;
                    if !(em < 0.0) {
                        break (em, y);
                    }
                };
                em = (em as f64).floor() as f32;
                let e = em * self.alxm - gammln((em as f64 + 1.0) as f32) - self.g;
                let t = (0.9 * (1.0 + (y * y) as f64) * (e as f64).exp()) as f32;
                if !(self.table.ran1(idum) > t) {
                    return em;
                }
            }
        }
    }
}

/// A random rotation within a spherical cap of angular radius `mosaicity` (radians; the
/// reference passes it in single precision). 90 radians covers the sphere.
pub fn mosaic_rotation_umat(mosaicity: f32, table: &mut Ran1Table, idum: &mut i64) -> M3 {
    let r1 = 2.0 * table.ran1(idum) as f64 - 1.0;
    let r2 = 2.0 * table.ran1(idum) as f64 - 1.0;
    let r3 = 2.0 * table.ran1(idum) as f64 - 1.0;
    let xyrad = (1.0 - r2 * r2).sqrt();
    let rot = (mosaicity * ((1.0 - r3 * r3) as f32).powf((1.0f64 / 3.0) as f32)) as f64;
    let v1 = xyrad * (std::f64::consts::PI * r1).sin();
    let v2 = xyrad * (std::f64::consts::PI * r1).cos();
    let v3 = r2;
    let c = rot.cos();
    let t = 1.0 - c;
    let s = rot.sin();
    let t6 = t * v1;
    let t7 = t6 * v2;
    let t9 = s * v3;
    let t11 = t6 * v3;
    let t12 = s * v2;
    let t19 = t * v2 * v3;
    let t20 = s * v1;
    [
        c + t * (v1 * v1),
        t7 - t9,
        t11 + t12,
        t7 + t9,
        c + t * (v2 * v2),
        t19 - t20,
        t11 - t12,
        t19 + t20,
        c + t * (v3 * v3),
    ]
}

/// Rotation angles about x, y, z (radians) that reproduce the rotation matrix `u`.
pub fn umat2misset(u: &M3) -> [f64; 3] {
    let [mut uxx, mut uxy, mut uxz, mut uyx, mut uyy, mut uyz, mut uzx, mut uzy, mut uzz] = *u;
    let norm3 = |a: f64, b: f64, c: f64| (a * a + b * b + c * c).sqrt();
    let mx = norm3(uxx, uxy, uxz);
    let my = norm3(uyx, uyy, uyz);
    let mz = norm3(uzx, uzy, uzz);
    if mx > 0.0 {
        uxx /= mx;
        uxy /= mx;
        uxz /= mx;
    }
    if my > 0.0 {
        uyx /= my;
        uyy /= my;
        uyz /= my;
    }
    if mz > 0.0 {
        uzx /= mz;
        uzy /= mz;
        uzz /= mz;
    }
    if mx >= 0.0 && my <= 0.0 && mz <= 0.0 {
        (uyx, uyy, uyz) = (0.0, 1.0, 0.0);
        (uzx, uzy, uzz) = (0.0, 0.0, 1.0);
    }
    if mx <= 0.0 && my >= 0.0 && mz <= 0.0 {
        (uxx, uxy, uxz) = (1.0, 0.0, 0.0);
        (uzx, uzy, uzz) = (0.0, 0.0, 1.0);
    }
    if mx <= 0.0 && my <= 0.0 && mz >= 0.0 {
        (uxx, uxy, uxz) = (1.0, 0.0, 0.0);
        (uyx, uyy, uyz) = (0.0, 1.0, 0.0);
    }
    let unit = |a: f64, b: f64, c: f64| {
        let m = norm3(a, b, c);
        if m > 0.0 {
            (a / m, b / m, c / m)
        } else {
            (a, b, c)
        }
    };
    // Twice, as the reference does: replace empty rows by the cross product of the others.
    for _ in 0..2 {
        let xcy = unit(uxy * uyz - uxz * uyy, uxz * uyx - uxx * uyz, uxx * uyy - uxy * uyx);
        let ycz = unit(uyy * uzz - uyz * uzy, uyz * uzx - uyx * uzz, uyx * uzy - uyy * uzx);
        let zcx = unit(uzy * uxz - uzz * uxy, uzz * uxx - uzx * uxz, uzx * uxy - uzy * uxx);
        if mx <= 0.0 {
            (uxx, uxy, uxz) = ycz;
        }
        if my <= 0.0 {
            (uyx, uyy, uyz) = zcx;
        }
        if mz <= 0.0 {
            (uzx, uzy, uzz) = xcy;
        }
    }
    (uxx, uxy, uxz) = unit(uxx, uxy, uxz);
    (uyx, uyy, uyz) = unit(uyx, uyy, uyz);
    (uzx, uzy, uzz) = unit(uzx, uzy, uzz);
    let _ = (uxz, uyz);
    if uzx * uzx < 1.0 {
        [
            uzy.atan2(uzz),
            (-uzx).atan2((uzy * uzy + uzz * uzz).sqrt()),
            uyx.atan2(uxx),
        ]
    } else {
        [1f64.atan2(1.0) * 4.0, 1f64.atan2(1.0) * 2.0, uxy.atan2(-uyy)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ran1_runs_the_park_miller_minimal_standard() {
        // Park & Miller (1988): from x0 = 1 the 10000th value of x <- 16807 x mod (2^31 - 1) is
        // 1043618065. Seeding takes 40 steps, then each call one more.
        let mut t = Ran1Table::default();
        let mut idum = -1;
        for _ in 0..(10000 - 40) {
            let u = t.ran1(&mut idum);
            assert!(u > 0.0 && u < 1.0);
        }
        assert_eq!(idum, 1043618065);
    }

    #[test]
    fn positive_seed_continues_the_shared_table() {
        let mut t = Ran1Table::default();
        let mut a = -7;
        t.ran1(&mut a);
        let snapshot = t.clone();
        let mut b = 5; // positive: no re-seed while the table is initialised
        let x = t.ran1(&mut b);
        let mut t2 = snapshot;
        let mut b2 = 5;
        assert_eq!(x, t2.ran1(&mut b2));
        assert_ne!(b, 1);
    }

    #[test]
    fn poisson_mean_is_close() {
        let mut d = Deviates::new(Ran1Table::default());
        let mut idum = -99;
        for &m in &[0.5f32, 5.0, 30.0, 2.0e6] {
            let n = 4000;
            let mean: f64 = (0..n).map(|_| d.poidev(m, &mut idum) as f64).sum::<f64>() / n as f64;
            assert!((mean - m as f64).abs() < 5.0 * (m as f64 / n as f64).sqrt() + 1e-9, "{m} {mean}");
        }
    }

    #[test]
    fn mosaic_umat_is_a_rotation() {
        let mut t = Ran1Table::default();
        let mut idum = -12345678;
        let u = mosaic_rotation_umat(0.3, &mut t, &mut idum);
        for r in 0..3 {
            let n = u[3 * r] * u[3 * r] + u[3 * r + 1] * u[3 * r + 1] + u[3 * r + 2] * u[3 * r + 2];
            assert!((n - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn umat2misset_inverts_rotate_xyz() {
        let angles = [0.3, -0.2, 1.1];
        // Columns of R = Rz Ry Rx are the rotated unit vectors.
        let ex = crate::vec3::rotate_xyz([1.0, 0.0, 0.0], angles[0], angles[1], angles[2]);
        let ey = crate::vec3::rotate_xyz([0.0, 1.0, 0.0], angles[0], angles[1], angles[2]);
        let ez = crate::vec3::rotate_xyz([0.0, 0.0, 1.0], angles[0], angles[1], angles[2]);
        let u = [ex[0], ey[0], ez[0], ex[1], ey[1], ez[1], ex[2], ey[2], ez[2]];
        let back = umat2misset(&u);
        for i in 0..3 {
            assert!((back[i] - angles[i]).abs() < 1e-12);
        }
    }
}
