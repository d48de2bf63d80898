//! C `printf("%g")` formatting, for messages that match the reference's text.

/// Format `x` as C's `%g` (six significant digits).
pub fn g(x: f64) -> String {
    g_prec(x, 6)
}

/// Format `x` as C's `%.<prec>g`.
pub fn g_prec(x: f64, prec: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let p = prec.max(1);
    if x == 0.0 {
        return if x.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Rust's exponent formatting rounds correctly, as glibc does; it decides the style.
    let e_repr = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = e_repr.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("integer exponent");
    if exp < -4 || exp >= p as i32 {
        let m = strip_zeros(mantissa);
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, x)).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_c_printf() {
        // Values and their glibc printf("%g") text.
        let cases = [
            (0.0, "0"),
            (100.0, "100"),
            (1e-10, "1e-10"),
            (1.25932015286227e29, "1.25932e+29"),
            (0.0129, "0.0129"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-3.3, "-3.3"),
            (92.8113207547, "92.8113"),
            (999999.5, "1e+06"),
        ];
        for (x, want) in cases {
            assert_eq!(g(x), want, "{x}");
        }
        assert_eq!(g_prec(1e-10, 15), "1e-10");
        assert_eq!(g_prec(1.05e-10, 15), "1.05e-10");
    }
}
