//! Lanes of doubles: one kernel, written once over [`Lanes`], runs on AVX-512, AVX2 or one
//! pixel at a time, chosen at run time by [`Isa::detect`]. The kernel pairs vectors with
//! [`Double`]: 32 pixels per group on AVX-512 (four vectors), 8 on AVX2 (two).
//!
//! The two vector paths do the same IEEE operations lane for lane, so AVX2 and AVX-512 renders
//! agree bit for bit; the scalar path differs from them by an ulp here and there (unfused
//! multiply-adds, a square root and a division for [`Lanes::inv_sqrt`]). [`Exact`] is the
//! scalar path that also keeps the reference's own formulas and libm functions, so it renders
//! nanoBragg.c's images bit for bit; the other paths agree with it to about 1e-12 relative.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// The most lanes any [`Lanes`] type the kernel uses has (`Double<Double<Avx512>>`); its per-lane
/// scratch arrays are this long.
pub const MAX_LANES: usize = 32;

/// First guess at 1/√a from a's bits: this constant less half the bits (within 3.5%, for
/// normal a). Four Newton steps y += y(1/2 - (a/2)y²) then reach the rounding of a double;
/// lanes outside [`INV_SQRT_RANGE`] (zero, subnormal, infinite, NaN) are computed by a
/// division instead, so every lane gets what 1/√a gives there.
#[cfg(target_arch = "x86_64")]
const INV_SQRT_GUESS: i64 = 0x5FE6_EB50_C7B5_37A9;
/// Where the Newton refinement is used: 2^-1000 <= a < 2^1000.
#[cfg(target_arch = "x86_64")]
const INV_SQRT_RANGE: (f64, f64) = (9.332636185032189e-302, 1.0715086071862673e301);

/// A vector of `N` doubles and its comparison masks.
pub trait Lanes: Copy + Send + Sync + 'static {
    const N: usize;
    /// The reference's own arithmetic (libm, its formulas and its operation order).
    const EXACT: bool = false;
    type F: Copy;
    type M: Copy;
    fn splat(x: f64) -> Self::F;
    fn from_fn(f: impl FnMut(usize) -> f64) -> Self::F;
    fn lane(v: Self::F, j: usize) -> f64;
    fn add(a: Self::F, b: Self::F) -> Self::F;
    fn sub(a: Self::F, b: Self::F) -> Self::F;
    fn mul(a: Self::F, b: Self::F) -> Self::F;
    fn div(a: Self::F, b: Self::F) -> Self::F;
    /// a·b + c, fused where the hardware fuses (the AVX paths).
    fn mul_add(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    /// a·b - c, fused where the hardware fuses.
    fn mul_sub(a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn sqrt(a: Self::F) -> Self::F;
    /// 1/√a. The scalar paths divide by the square root; the vector paths, whose divider is
    /// slow, refine a first guess with Newton's method (see [`INV_SQRT_GUESS`]), the same
    /// operations on AVX2 and AVX-512, within two ulps of 1/√a.
    #[inline(always)]
    fn inv_sqrt(a: Self::F) -> Self::F {
        Self::div(Self::splat(1.0), Self::sqrt(a))
    }
    fn ceil(a: Self::F) -> Self::F;
    /// Nearest integer, ties to even.
    fn round(a: Self::F) -> Self::F;
    fn lt(a: Self::F, b: Self::F) -> Self::M;
    fn le(a: Self::F, b: Self::F) -> Self::M;
    fn eq(a: Self::F, b: Self::F) -> Self::M;
    fn and(a: Self::M, b: Self::M) -> Self::M;
    /// a and not b.
    fn andnot(a: Self::M, b: Self::M) -> Self::M;
    fn mask_from_fn(f: impl FnMut(usize) -> bool) -> Self::M;
    fn mask_lane(m: Self::M, j: usize) -> bool;
    fn any(m: Self::M) -> bool;
    /// m ? a : b, per lane.
    fn select(m: Self::M, a: Self::F, b: Self::F) -> Self::F;
    /// `table[idx]` where `m`, else `default`. `idx` holds integral values below 2³¹.
    ///
    /// # Safety
    /// Every lane selected by `m` must index inside `table`.
    unsafe fn gather(table: &[f64], idx: Self::F, m: Self::M, default: Self::F) -> Self::F;
}

/// A lane vector with the arithmetic operators, so that formulas read as formulas:
/// `a * b + c` is `L::add(L::mul(a, b), c)`, the same operations in the same order (never
/// fused: fusing is asked for explicitly with [`Lanes::mul_add`]).
pub struct V<L: Lanes>(pub L::F);

impl<L: Lanes> Clone for V<L> {
    #[inline(always)]
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: Lanes> Copy for V<L> {}

impl<L: Lanes> V<L> {
    /// Every lane `x`.
    #[inline(always)]
    pub fn splat(x: f64) -> Self {
        V(L::splat(x))
    }
}

macro_rules! lane_operator {
    ($trait:ident, $method:ident, $lane_fn:ident) => {
        impl<L: Lanes> std::ops::$trait for V<L> {
            type Output = V<L>;
            #[inline(always)]
            fn $method(self, rhs: V<L>) -> V<L> {
                V(L::$lane_fn(self.0, rhs.0))
            }
        }
        /// With a constant: the constant in every lane.
        impl<L: Lanes> std::ops::$trait<f64> for V<L> {
            type Output = V<L>;
            #[inline(always)]
            fn $method(self, rhs: f64) -> V<L> {
                V(L::$lane_fn(self.0, L::splat(rhs)))
            }
        }
    };
}
lane_operator!(Add, add, add);
lane_operator!(Sub, sub, sub);
lane_operator!(Mul, mul, mul);
lane_operator!(Div, div, div);

macro_rules! scalar_lanes {
    ($name:ident, $exact:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug)]
        pub struct $name;

        impl Lanes for $name {
            const N: usize = 1;
            const EXACT: bool = $exact;
            type F = f64;
            type M = bool;
            #[inline(always)]
            fn splat(x: f64) -> f64 {
                x
            }
            #[inline(always)]
            fn from_fn(mut f: impl FnMut(usize) -> f64) -> f64 {
                f(0)
            }
            #[inline(always)]
            fn lane(v: f64, _: usize) -> f64 {
                v
            }
            #[inline(always)]
            fn add(a: f64, b: f64) -> f64 {
                a + b
            }
            #[inline(always)]
            fn sub(a: f64, b: f64) -> f64 {
                a - b
            }
            #[inline(always)]
            fn mul(a: f64, b: f64) -> f64 {
                a * b
            }
            #[inline(always)]
            fn div(a: f64, b: f64) -> f64 {
                a / b
            }
            #[inline(always)]
            fn mul_add(a: f64, b: f64, c: f64) -> f64 {
                // Unfused: a fused multiply-add is a slow library call without hardware FMA.
                a * b + c
            }
            #[inline(always)]
            fn mul_sub(a: f64, b: f64, c: f64) -> f64 {
                a * b - c
            }
            #[inline(always)]
            fn sqrt(a: f64) -> f64 {
                a.sqrt()
            }
            #[inline(always)]
            fn ceil(a: f64) -> f64 {
                a.ceil()
            }
            #[inline(always)]
            fn round(a: f64) -> f64 {
                a.round_ties_even()
            }
            #[inline(always)]
            fn lt(a: f64, b: f64) -> bool {
                a < b
            }
            #[inline(always)]
            fn le(a: f64, b: f64) -> bool {
                a <= b
            }
            #[inline(always)]
            fn eq(a: f64, b: f64) -> bool {
                a == b
            }
            #[inline(always)]
            fn and(a: bool, b: bool) -> bool {
                a & b
            }
            #[inline(always)]
            fn andnot(a: bool, b: bool) -> bool {
                a & !b
            }
            #[inline(always)]
            fn mask_from_fn(mut f: impl FnMut(usize) -> bool) -> bool {
                f(0)
            }
            #[inline(always)]
            fn mask_lane(m: bool, _: usize) -> bool {
                m
            }
            #[inline(always)]
            fn any(m: bool) -> bool {
                m
            }
            #[inline(always)]
            fn select(m: bool, a: f64, b: f64) -> f64 {
                if m {
                    a
                } else {
                    b
                }
            }
            #[inline(always)]
            unsafe fn gather(table: &[f64], idx: f64, m: bool, default: f64) -> f64 {
                if m {
                    *table.get_unchecked(idx as usize)
                } else {
                    default
                }
            }
        }
    };
}

scalar_lanes!(Scalar, false, "One pixel at a time with the fast formulas: the portable path.");
scalar_lanes!(Exact, true, "One pixel at a time with the reference's own arithmetic: bit-identical to nanoBragg.c.");

/// Eight pixels per AVX-512 vector.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx512 {
    const N: usize = 8;
    type F = __m512d;
    type M = __mmask8;
    #[inline(always)]
    fn splat(x: f64) -> __m512d {
        unsafe { _mm512_set1_pd(x) }
    }
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f64) -> __m512d {
        let a = [f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7)];
        unsafe { _mm512_loadu_pd(a.as_ptr()) }
    }
    #[inline(always)]
    fn lane(v: __m512d, j: usize) -> f64 {
        let mut a = [0.0; 8];
        unsafe { _mm512_storeu_pd(a.as_mut_ptr(), v) };
        a[j]
    }
    #[inline(always)]
    fn add(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_mul_pd(a, b) }
    }
    #[inline(always)]
    fn div(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_div_pd(a, b) }
    }
    #[inline(always)]
    fn mul_add(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        unsafe { _mm512_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    fn mul_sub(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        unsafe { _mm512_fmsub_pd(a, b, c) }
    }
    #[inline(always)]
    fn sqrt(a: __m512d) -> __m512d {
        unsafe { _mm512_sqrt_pd(a) }
    }
    #[inline(always)]
    fn inv_sqrt(a: __m512d) -> __m512d {
        unsafe {
            let bits = _mm512_srli_epi64::<1>(_mm512_castpd_si512(a));
            let mut y = _mm512_castsi512_pd(_mm512_sub_epi64(_mm512_set1_epi64(INV_SQRT_GUESS), bits));
            let half_a = _mm512_mul_pd(a, _mm512_set1_pd(0.5));
            for _ in 0..4 {
                let e = _mm512_fnmadd_pd(_mm512_mul_pd(half_a, y), y, _mm512_set1_pd(0.5));
                y = _mm512_fmadd_pd(y, e, y);
            }
            let inside = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(_mm512_set1_pd(INV_SQRT_RANGE.0), a)
                & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, _mm512_set1_pd(INV_SQRT_RANGE.1));
            if inside != 0xff {
                let divided = _mm512_div_pd(_mm512_set1_pd(1.0), _mm512_sqrt_pd(a));
                y = _mm512_mask_blend_pd(inside, divided, y);
            }
            y
        }
    }
    #[inline(always)]
    fn ceil(a: __m512d) -> __m512d {
        unsafe { _mm512_roundscale_pd::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(a) }
    }
    #[inline(always)]
    fn round(a: __m512d) -> __m512d {
        unsafe { _mm512_roundscale_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    }
    #[inline(always)]
    fn lt(a: __m512d, b: __m512d) -> __mmask8 {
        unsafe { _mm512_cmp_pd_mask::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn le(a: __m512d, b: __m512d) -> __mmask8 {
        unsafe { _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn eq(a: __m512d, b: __m512d) -> __mmask8 {
        unsafe { _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    fn and(a: __mmask8, b: __mmask8) -> __mmask8 {
        a & b
    }
    #[inline(always)]
    fn andnot(a: __mmask8, b: __mmask8) -> __mmask8 {
        a & !b
    }
    #[inline(always)]
    fn mask_from_fn(mut f: impl FnMut(usize) -> bool) -> __mmask8 {
        let mut m = 0u8;
        for j in 0..8 {
            m |= (f(j) as u8) << j;
        }
        m
    }
    #[inline(always)]
    fn mask_lane(m: __mmask8, j: usize) -> bool {
        (m >> j) & 1 == 1
    }
    #[inline(always)]
    fn any(m: __mmask8) -> bool {
        m != 0
    }
    #[inline(always)]
    fn select(m: __mmask8, a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_mask_blend_pd(m, b, a) }
    }
    #[inline(always)]
    unsafe fn gather(table: &[f64], idx: __m512d, m: __mmask8, default: __m512d) -> __m512d {
        let i = _mm512_cvttpd_epi64(idx);
        _mm512_mask_i64gather_pd::<8>(default, m, i, table.as_ptr())
    }
}

/// Four pixels per AVX2 vector.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Lanes for Avx2 {
    const N: usize = 4;
    type F = __m256d;
    type M = __m256d;
    #[inline(always)]
    fn splat(x: f64) -> __m256d {
        unsafe { _mm256_set1_pd(x) }
    }
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f64) -> __m256d {
        let a = [f(0), f(1), f(2), f(3)];
        unsafe { _mm256_loadu_pd(a.as_ptr()) }
    }
    #[inline(always)]
    fn lane(v: __m256d, j: usize) -> f64 {
        let mut a = [0.0; 4];
        unsafe { _mm256_storeu_pd(a.as_mut_ptr(), v) };
        a[j]
    }
    #[inline(always)]
    fn add(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_add_pd(a, b) }
    }
    #[inline(always)]
    fn sub(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_sub_pd(a, b) }
    }
    #[inline(always)]
    fn mul(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_mul_pd(a, b) }
    }
    #[inline(always)]
    fn div(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_div_pd(a, b) }
    }
    #[inline(always)]
    fn mul_add(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        unsafe { _mm256_fmadd_pd(a, b, c) }
    }
    #[inline(always)]
    fn mul_sub(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
        unsafe { _mm256_fmsub_pd(a, b, c) }
    }
    #[inline(always)]
    fn sqrt(a: __m256d) -> __m256d {
        unsafe { _mm256_sqrt_pd(a) }
    }
    #[inline(always)]
    fn inv_sqrt(a: __m256d) -> __m256d {
        unsafe {
            let bits = _mm256_srli_epi64::<1>(_mm256_castpd_si256(a));
            let mut y = _mm256_castsi256_pd(_mm256_sub_epi64(_mm256_set1_epi64x(INV_SQRT_GUESS), bits));
            let half_a = _mm256_mul_pd(a, _mm256_set1_pd(0.5));
            for _ in 0..4 {
                let e = _mm256_fnmadd_pd(_mm256_mul_pd(half_a, y), y, _mm256_set1_pd(0.5));
                y = _mm256_fmadd_pd(y, e, y);
            }
            let inside = _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_LE_OQ>(_mm256_set1_pd(INV_SQRT_RANGE.0), a),
                _mm256_cmp_pd::<_CMP_LT_OQ>(a, _mm256_set1_pd(INV_SQRT_RANGE.1)),
            );
            if _mm256_movemask_pd(inside) != 0xf {
                let divided = _mm256_div_pd(_mm256_set1_pd(1.0), _mm256_sqrt_pd(a));
                y = _mm256_blendv_pd(divided, y, inside);
            }
            y
        }
    }
    #[inline(always)]
    fn ceil(a: __m256d) -> __m256d {
        unsafe { _mm256_round_pd::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(a) }
    }
    #[inline(always)]
    fn round(a: __m256d) -> __m256d {
        unsafe { _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a) }
    }
    #[inline(always)]
    fn lt(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_cmp_pd::<_CMP_LT_OQ>(a, b) }
    }
    #[inline(always)]
    fn le(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_cmp_pd::<_CMP_LE_OQ>(a, b) }
    }
    #[inline(always)]
    fn eq(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_cmp_pd::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    fn and(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_and_pd(a, b) }
    }
    #[inline(always)]
    fn andnot(a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_andnot_pd(b, a) }
    }
    #[inline(always)]
    fn mask_from_fn(mut f: impl FnMut(usize) -> bool) -> __m256d {
        let bit = |b: bool| if b { f64::from_bits(u64::MAX) } else { 0.0 };
        let a = [bit(f(0)), bit(f(1)), bit(f(2)), bit(f(3))];
        unsafe { _mm256_loadu_pd(a.as_ptr()) }
    }
    #[inline(always)]
    fn mask_lane(m: __m256d, j: usize) -> bool {
        (unsafe { _mm256_movemask_pd(m) } >> j) & 1 == 1
    }
    #[inline(always)]
    fn any(m: __m256d) -> bool {
        unsafe { _mm256_movemask_pd(m) != 0 }
    }
    #[inline(always)]
    fn select(m: __m256d, a: __m256d, b: __m256d) -> __m256d {
        unsafe { _mm256_blendv_pd(b, a, m) }
    }
    #[inline(always)]
    unsafe fn gather(table: &[f64], idx: __m256d, m: __m256d, default: __m256d) -> __m256d {
        let i = _mm256_cvttpd_epi32(idx);
        _mm256_mask_i32gather_pd::<8>(default, table.as_ptr(), i, m)
    }
}

/// The instruction-set paths of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    /// AVX-512 (F and DQ): eight pixels per vector.
    Avx512,
    /// AVX2 with FMA: four pixels per vector.
    Avx2,
    /// One pixel at a time, any CPU.
    Scalar,
    /// One pixel at a time with the reference's own arithmetic: nanoBragg.c's bits.
    Exact,
}

impl Isa {
    /// Every path, fastest first.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Scalar, Isa::Exact];

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx512 | Isa::Avx2 => false,
            Isa::Scalar | Isa::Exact => true,
        }
    }

    /// The fastest path this CPU supports, unless `NANOBRAGG_ISA` names another.
    pub fn detect() -> Isa {
        if let Some(isa) = std::env::var("NANOBRAGG_ISA").ok().and_then(|v| Isa::parse(&v)) {
            if isa.supported() {
                return isa;
            }
        }
        Isa::ALL.into_iter().find(|i| i.supported()).unwrap_or(Isa::Scalar)
    }

    /// Parse a path name (avx512, avx2, scalar, exact).
    pub fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "avx512" => Some(Isa::Avx512),
            "avx2" => Some(Isa::Avx2),
            "scalar" => Some(Isa::Scalar),
            "exact" => Some(Isa::Exact),
            _ => None,
        }
    }

    /// The name of the path.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Scalar => "scalar",
            Isa::Exact => "exact",
        }
    }
}

/// sin(πt) for |t| <= 1/2: t·P(t²), a near-minimax fit (about 1.5 ulp), evaluated by
/// Estrin's scheme: depth 6 instead of Horner's 9, which is what bounds the kernel.
#[inline(always)]
pub fn sinpi<L: Lanes>(t: L::F) -> L::F {
    // Coefficients of u⁰ .. u⁸, u = t².
    const C: [f64; 9] = [
        std::f64::consts::PI,
        -5.167712780049969,
        2.5501640398773007,
        -0.5992645293189447,
        0.0821458865731029,
        -0.007370430505916944,
        0.0004662998161898394,
        -2.1903497074626018e-05,
        7.697826768224191e-07,
    ];
    L::mul(t, estrin8::<L>(&C, L::mul(t, t)))
}

/// cos(πt) for |t| <= 1/2: Q(t²), absolute error about 1.5 ulp of 1.
#[inline(always)]
pub fn cospi<L: Lanes>(t: L::F) -> L::F {
    const C: [f64; 9] = [
        1.0,
        -4.934802200544676,
        4.058712126416497,
        -1.335262768843447,
        0.23533063012953284,
        -0.025806888737002202,
        0.0019295562724817132,
        -0.00010456655338748738,
        4.149564353942586e-06,
    ];
    estrin8::<L>(&C, L::mul(t, t))
}

/// c₀ + c₁u + ... + c₈u⁸ by Estrin's scheme.
#[inline(always)]
fn estrin8<L: Lanes>(c: &[f64; 9], u: L::F) -> L::F {
    // No closures here: an outlined closure would lose the caller's instruction set.
    let p01 = L::mul_add(L::splat(c[1]), u, L::splat(c[0]));
    let p23 = L::mul_add(L::splat(c[3]), u, L::splat(c[2]));
    let p45 = L::mul_add(L::splat(c[5]), u, L::splat(c[4]));
    let p67 = L::mul_add(L::splat(c[7]), u, L::splat(c[6]));
    let u2 = L::mul(u, u);
    let u4 = L::mul(u2, u2);
    let q0 = L::mul_add(p23, u2, p01);
    let q1 = L::mul_add(p67, u2, p45);
    let r = L::mul_add(L::splat(c[8]), u4, q1);
    L::mul_add(r, u4, q0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / b.abs().max(f64::MIN_POSITIVE)).abs() / f64::EPSILON
    }

    #[test]
    fn sinpi_cospi_are_accurate() {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..=200_000 {
            let t = -0.5 + i as f64 / 200_000.0;
            let s = sinpi::<Scalar>(t);
            let c = cospi::<Scalar>(t);
            let pi_t = std::f64::consts::PI * t;
            if t != 0.0 {
                worst.0 = worst.0.max(ulps(s, pi_t.sin()));
            }
            // Absolute error in units of ulp(1): cos(pi t) goes to 0 at the ends.
            worst.1 = worst.1.max((c - pi_t.cos()).abs() / f64::EPSILON);
        }
        // The reference value pi*t is itself rounded, so allow a little over the fit's error.
        assert!(worst.0 < 4.0 && worst.1 < 4.0, "{worst:?}");
    }

    #[test]
    fn paths_agree_lane_by_lane() {
        let xs: Vec<f64> = (0..64).map(|i| (i as f64 * 0.37).sin() * 0.5).collect();
        for isa in Isa::ALL {
            if !isa.supported() {
                continue;
            }
            for chunk in xs.chunks(8) {
                let want: Vec<f64> = chunk.iter().map(|&t| sinpi::<Scalar>(t)).collect();
                let got: Vec<f64> = match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => unsafe { lanes_avx512(chunk) },
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => unsafe { lanes_avx2(chunk) },
                    _ => want.clone(),
                };
                for (g, w) in got.iter().zip(&want) {
                    // Fused and unfused polynomial evaluation may differ by an ulp or two.
                    assert!(ulps(*g, *w) <= 2.0, "{isa:?} {g} {w}");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn lanes_avx512(xs: &[f64]) -> Vec<f64> {
        let v = Avx512::from_fn(|j| xs[j]);
        let r = sinpi::<Avx512>(v);
        (0..8).map(|j| Avx512::lane(r, j)).collect()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes_avx2(xs: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        for c in xs.chunks(4) {
            let v = Avx2::from_fn(|j| c[j]);
            let r = sinpi::<Avx2>(v);
            out.extend((0..4).map(|j| Avx2::lane(r, j)));
        }
        out
    }

    #[test]
    fn inv_sqrt_is_within_two_ulps_and_the_same_on_both_vector_paths() {
        // Detector distances squared (m²) and far beyond, then the edge cases a division handles.
        let mut xs: Vec<f64> = (0..4096).map(|i| 10f64.powf(-8.0 + i as f64 * 16.0 / 4096.0) * (1.0 + 0.37 * (i as f64).sin())).collect();
        xs.extend([1.0, 4.0, 0.25, f64::MIN_POSITIVE, 1e-310, 0.0, -0.0, -1.0, f64::INFINITY, f64::NAN, 1e305, 1e-305]);
        while !xs.len().is_multiple_of(8) {
            xs.push(2.0);
        }
        let want: Vec<f64> = xs.iter().map(|&x| 1.0 / x.sqrt()).collect();
        let mut results = Vec::new();
        for isa in [Isa::Avx512, Isa::Avx2] {
            if !isa.supported() {
                continue;
            }
            let got: Vec<f64> = match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { inv_sqrt_avx512(&xs) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { inv_sqrt_avx2(&xs) },
                _ => unreachable!(),
            };
            for ((x, g), w) in xs.iter().zip(&got).zip(&want) {
                if w.is_finite() && *w != 0.0 {
                    assert!(ulps(*g, *w) <= 2.0, "{isa:?} 1/sqrt({x}) = {g}, not {w}");
                } else {
                    assert_eq!(g.to_bits(), w.to_bits(), "{isa:?} 1/sqrt({x})");
                }
            }
            results.push(got);
        }
        if let [a, b] = &results[..] {
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn inv_sqrt_avx512(xs: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        for c in xs.chunks(8) {
            let r = Avx512::inv_sqrt(Avx512::from_fn(|j| c[j]));
            out.extend((0..8).map(|j| Avx512::lane(r, j)));
        }
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn inv_sqrt_avx2(xs: &[f64]) -> Vec<f64> {
        let mut out = Vec::new();
        for c in xs.chunks(4) {
            let r = Avx2::inv_sqrt(Avx2::from_fn(|j| c[j]));
            out.extend((0..4).map(|j| Avx2::lane(r, j)));
        }
        out
    }
}

/// Two vectors of `L` as one: twice the pixels per group, so the loop's scalar bookkeeping
/// (counters, flags, branches) is shared by twice as many pixels.
#[derive(Clone, Copy, Debug)]
pub struct Double<L: Lanes>(std::marker::PhantomData<L>);

impl<L: Lanes> Lanes for Double<L> {
    const N: usize = 2 * L::N;
    const EXACT: bool = L::EXACT;
    type F = (L::F, L::F);
    type M = (L::M, L::M);
    #[inline(always)]
    fn splat(x: f64) -> Self::F {
        let v = L::splat(x);
        (v, v)
    }
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> f64) -> Self::F {
        let lo = L::from_fn(&mut f);
        let hi = L::from_fn(|j| f(j + L::N));
        (lo, hi)
    }
    #[inline(always)]
    fn lane(v: Self::F, j: usize) -> f64 {
        if j < L::N {
            L::lane(v.0, j)
        } else {
            L::lane(v.1, j - L::N)
        }
    }
    #[inline(always)]
    fn add(a: Self::F, b: Self::F) -> Self::F {
        (L::add(a.0, b.0), L::add(a.1, b.1))
    }
    #[inline(always)]
    fn sub(a: Self::F, b: Self::F) -> Self::F {
        (L::sub(a.0, b.0), L::sub(a.1, b.1))
    }
    #[inline(always)]
    fn mul(a: Self::F, b: Self::F) -> Self::F {
        (L::mul(a.0, b.0), L::mul(a.1, b.1))
    }
    #[inline(always)]
    fn div(a: Self::F, b: Self::F) -> Self::F {
        (L::div(a.0, b.0), L::div(a.1, b.1))
    }
    #[inline(always)]
    fn mul_add(a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        (L::mul_add(a.0, b.0, c.0), L::mul_add(a.1, b.1, c.1))
    }
    #[inline(always)]
    fn mul_sub(a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        (L::mul_sub(a.0, b.0, c.0), L::mul_sub(a.1, b.1, c.1))
    }
    #[inline(always)]
    fn sqrt(a: Self::F) -> Self::F {
        (L::sqrt(a.0), L::sqrt(a.1))
    }
    #[inline(always)]
    fn inv_sqrt(a: Self::F) -> Self::F {
        (L::inv_sqrt(a.0), L::inv_sqrt(a.1))
    }
    #[inline(always)]
    fn ceil(a: Self::F) -> Self::F {
        (L::ceil(a.0), L::ceil(a.1))
    }
    #[inline(always)]
    fn round(a: Self::F) -> Self::F {
        (L::round(a.0), L::round(a.1))
    }
    #[inline(always)]
    fn lt(a: Self::F, b: Self::F) -> Self::M {
        (L::lt(a.0, b.0), L::lt(a.1, b.1))
    }
    #[inline(always)]
    fn le(a: Self::F, b: Self::F) -> Self::M {
        (L::le(a.0, b.0), L::le(a.1, b.1))
    }
    #[inline(always)]
    fn eq(a: Self::F, b: Self::F) -> Self::M {
        (L::eq(a.0, b.0), L::eq(a.1, b.1))
    }
    #[inline(always)]
    fn and(a: Self::M, b: Self::M) -> Self::M {
        (L::and(a.0, b.0), L::and(a.1, b.1))
    }
    #[inline(always)]
    fn andnot(a: Self::M, b: Self::M) -> Self::M {
        (L::andnot(a.0, b.0), L::andnot(a.1, b.1))
    }
    #[inline(always)]
    fn mask_from_fn(mut f: impl FnMut(usize) -> bool) -> Self::M {
        let lo = L::mask_from_fn(&mut f);
        let hi = L::mask_from_fn(|j| f(j + L::N));
        (lo, hi)
    }
    #[inline(always)]
    fn mask_lane(m: Self::M, j: usize) -> bool {
        if j < L::N {
            L::mask_lane(m.0, j)
        } else {
            L::mask_lane(m.1, j - L::N)
        }
    }
    #[inline(always)]
    fn any(m: Self::M) -> bool {
        L::any(m.0) || L::any(m.1)
    }
    #[inline(always)]
    fn select(m: Self::M, a: Self::F, b: Self::F) -> Self::F {
        (L::select(m.0, a.0, b.0), L::select(m.1, a.1, b.1))
    }
    #[inline(always)]
    unsafe fn gather(table: &[f64], idx: Self::F, m: Self::M, default: Self::F) -> Self::F {
        (L::gather(table, idx.0, m.0, default.0), L::gather(table, idx.1, m.1, default.1))
    }
}
