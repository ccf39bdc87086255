//! Branch-free `f32` transcendentals that the compiler can vectorise.
//!
//! [`fast_exp`]: range reduction to `x = n ln2 + r` with `|r| <= ln2 / 2`, a degree-6 polynomial for
//! `exp(r)`, and `2^n` built from the exponent bits; relative error about 1e-7 over the normal range.
//! [`softplus_sigmoid`]: `softplus(z) = max(z, 0) + ln(1 + w)` with `w = exp(-|z|)`, the logarithm from
//! the `atanh` series in `s = w / (2 + w) <= 1/3`, and the sigmoid from the same `w`.

/// Below this input the exact result is subnormal (< 1.2e-38); [`fast_exp`] returns 0 there.
pub const EXP_MIN_INPUT: f32 = -87.33;
/// Above this input [`fast_exp`] returns +inf (2^n must stay a normal float; the exact result is
/// already within a factor 1.5 of `f32::MAX` there).
pub const EXP_MAX_INPUT: f32 = 88.37;

/// `exp(x)` in `f32`, vectorisable (no calls, no data-dependent branches besides selects).
///
/// Accurate to about 2 ulp for `x` in `[EXP_MIN_INPUT, EXP_MAX_INPUT]`; returns 0 below that range,
/// +inf above it, and NaN for NaN.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    // Clamp so that n stays in [-126, 127] and 2^n is a normal float.
    let out = exp_in_range(x.clamp(EXP_MIN_INPUT, EXP_MAX_INPUT));
    let out = if x < EXP_MIN_INPUT { 0.0 } else { out };
    let out = if x > EXP_MAX_INPUT {
        f32::INFINITY
    } else {
        out
    };
    if x.is_nan() { f32::NAN } else { out }
}

/// `exp(x)` for `x <= 0` (or NaN), as [`fast_exp`] but without its overflow and NaN selects, which
/// cannot fire there (NaN propagates through the arithmetic): the decays `exp(dt a)` of the scan,
/// with `dt > 0` and `a < 0`, and the `exp(-|z|)` of softplus, sigmoid and SiLU. Results for
/// `x > 0` are unspecified.
#[inline(always)]
pub fn fast_exp_nonpositive(x: f32) -> f32 {
    // A comparison, not `max`, so that NaN stays NaN.
    let out = exp_in_range(if x < EXP_MIN_INPUT { EXP_MIN_INPUT } else { x });
    if x < EXP_MIN_INPUT { 0.0 } else { out }
}

/// `exp(x)` for `x` in `[EXP_MIN_INPUT, EXP_MAX_INPUT]` (NaN propagates): range reduction to
/// `x = n ln2 + r`, [`exp_poly`] of `r`, times `2^n` built from the exponent bits.
#[inline(always)]
fn exp_in_range(x: f32) -> f32 {
    let (r, n) = reduce(x);
    exp_poly(r) * f32::from_bits((n.wrapping_add(127) as u32) << 23)
}

/// Range reduction `x = n ln2 + r`, `|r| <= ln2 / 2`: returns `(r, n)`.
#[inline(always)]
fn reduce(x: f32) -> (f32, i32) {
    // 1.5 * 2^23: adding it rounds to the nearest integer and leaves that integer in the low mantissa bits.
    const ROUND_MAGIC: f32 = 12_582_912.0;
    // ln 2 split in a part exactly representable with few bits and a small correction.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let shifted = x.mul_add(std::f32::consts::LOG2_E, ROUND_MAGIC);
    let n = shifted - ROUND_MAGIC;
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    (r, n_int)
}

/// `exp(r)` for `|r| <= ln2 / 2`: `1 + r + r^2 p(r)`, `p` the minimax polynomial for
/// `(exp(r) - 1 - r) / r^2` (Cephes expf coefficients), in fused multiply-adds.
#[inline(always)]
fn exp_poly(r: f32) -> f32 {
    let mut p = 1.987_569_2e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    p.mul_add(r * r, r) + 1.0
}

/// `(softplus(z), sigmoid(z))` in `f32`, vectorisable, both accurate to about 2e-7 relative
/// (softplus is 0 for `z < EXP_MIN_INPUT`, where the exact value is below 1e-37).
#[inline(always)]
pub fn softplus_sigmoid(z: f32) -> (f32, f32) {
    let w = fast_exp_nonpositive(-z.abs());
    // ln(1 + w) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = w / (2 + w) in [0, 1/3].
    let s = w / (2.0 + w);
    let s2 = s * s;
    let mut p = 1.0 / 13.0_f32;
    p = p.mul_add(s2, 1.0 / 11.0);
    p = p.mul_add(s2, 1.0 / 9.0);
    p = p.mul_add(s2, 1.0 / 7.0);
    p = p.mul_add(s2, 1.0 / 5.0);
    p = p.mul_add(s2, 1.0 / 3.0);
    p = p.mul_add(s2, 1.0);
    let softplus = (2.0 * s).mul_add(p, z.max(0.0));
    let inv = 1.0 / (1.0 + w);
    let sigmoid = if z >= 0.0 { inv } else { w * inv };
    (softplus, sigmoid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softplus_sigmoid_match_f64_within_relative_3e_7() {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..=100_000 {
            let z = -80.0 + 160.0 * i as f32 / 100_000.0;
            let zd = z as f64;
            let sp = zd.max(0.0) + (-zd.abs()).exp().ln_1p();
            let sg = 1.0 / (1.0 + (-zd).exp());
            let (gsp, gsg) = softplus_sigmoid(z);
            worst.0 = worst.0.max(((gsp as f64 - sp) / sp).abs());
            worst.1 = worst.1.max(((gsg as f64 - sg) / sg).abs());
        }
        assert!(
            worst.0 < 3e-7 && worst.1 < 3e-7,
            "worst relative errors {worst:?}"
        );
    }

    #[test]
    fn matches_std_exp_within_relative_3e_7() {
        let mut worst = 0.0f64;
        let steps = 200_000;
        for i in 0..=steps {
            let x = (EXP_MIN_INPUT + (EXP_MAX_INPUT - EXP_MIN_INPUT) * i as f32 / steps as f32)
                .min(EXP_MAX_INPUT);
            let want = (x as f64).exp();
            let got = fast_exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
    }

    #[test]
    fn nonpositive_variant_equals_fast_exp_bitwise_on_its_domain() {
        let steps = 400_000;
        for i in 0..=steps {
            let x = -100.0 * i as f32 / steps as f32;
            assert_eq!(
                fast_exp_nonpositive(x).to_bits(),
                fast_exp(x).to_bits(),
                "x = {x}"
            );
        }
        assert_eq!(fast_exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(fast_exp_nonpositive(f32::NAN).is_nan());
        assert!(fast_exp_nonpositive(-0.0) == 1.0);
    }

    #[test]
    fn edge_values() {
        assert_eq!(fast_exp(0.0), 1.0);
        assert_eq!(fast_exp(-100.0), 0.0);
        assert_eq!(fast_exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(fast_exp(100.0), f32::INFINITY);
        assert!(fast_exp(f32::NAN).is_nan());
        assert!((fast_exp(1.0) - std::f32::consts::E).abs() < 1e-6);
    }
}
