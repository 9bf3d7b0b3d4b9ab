//! Hot block kernels, compiled twice and chosen at run time: once for the
//! default x86-64 target (SSE2) and once with AVX2+FMA.
//!
//! Why unsafe is allowed here, and only here: calling a
//! `#[target_feature]` function is unsafe in Rust, and runtime dispatch is
//! what makes the default build fast. Measured on this machine (issue 4,
//! BENCHMARKS.md): the sine block takes ~1.9 ns per sample built for SSE2
//! (no vector `floor`) and ~0.2 ns with AVX2. Every call is guarded by
//! `is_x86_feature_detected!`, which is the whole safety argument.
#![allow(unsafe_code)]

/// `dst[i] += src[i]`.
#[inline]
pub fn add(dst: &mut [f32], src: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { add_avx2(dst, src) };
    }
    add_generic(dst, src)
}

/// Fills `out` with `sin(2π(phase + i·inc))` and returns the phase after the block.
/// Phases are in turns (0..1).
#[inline]
pub fn sine(out: &mut [f32], phase: f64, inc: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { sine_avx2(out, phase, inc) };
    }
    sine_generic(out, phase, inc)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2() -> bool {
    // std caches the CPUID answer in an atomic: this is a load and a test.
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_avx2(dst: &mut [f32], src: &[f32]) {
    add_generic(dst, src)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sine_avx2(out: &mut [f32], phase: f64, inc: f64) -> f64 {
    sine_generic(out, phase, inc)
}

#[inline(always)]
fn add_generic(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

#[inline(always)]
fn sine_generic(out: &mut [f32], phase: f64, inc: f64) -> f64 {
    let (p0, dp) = (phase as f32, inc as f32);
    for (i, o) in out.iter_mut().enumerate() {
        *o = sin_turns(p0 + i as f32 * dp);
    }
    (phase + inc * out.len() as f64).rem_euclid(1.0)
}

/// `sin(2πx)` for any `x`, to within 5e-6: reduce to a quarter turn, then an
/// odd Taylor polynomial of degree 9. Branch-free, so it vectorizes.
#[inline(always)]
pub fn sin_turns(x: f32) -> f32 {
    // x in [-0.5, 0.5)
    let x = x - (x + 0.5).floor();
    // Fold into [-0.25, 0.25]: sin(2π(±0.5 ∓ x)) = sin(2πx).
    let x = if x > 0.25 { 0.5 - x } else { x };
    let x = if x < -0.25 { -0.5 - x } else { x };
    const C1: f32 = std::f32::consts::TAU;
    const C3: f32 = -41.3417; // -(2π)^3/3!
    const C5: f32 = 81.605_25; // (2π)^5/5!
    const C7: f32 = -76.705_86; // -(2π)^7/7!
    const C9: f32 = 42.058_693; // (2π)^9/9!
    let x2 = x * x;
    x * (C1 + x2 * (C3 + x2 * (C5 + x2 * (C7 + x2 * C9))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polynomial_sine_is_within_5e_6_everywhere() {
        let worst = (0..100_000)
            .map(|i| -3.0 + i as f64 * 6e-5)
            .map(|x| (sin_turns(x as f32) as f64 - (std::f64::consts::TAU * x).sin()).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-6, "worst error {worst}");
    }

    #[test]
    fn both_builds_of_the_sine_block_agree_with_libm() {
        let mut fast = [0.0f32; 64];
        let next = sine(&mut fast, 0.9, 0.013);
        let mut plain = [0.0f32; 64];
        assert_eq!(sine_generic(&mut plain, 0.9, 0.013), next);
        for (i, (a, b)) in fast.iter().zip(&plain).enumerate() {
            let exact = (std::f64::consts::TAU * (0.9 + i as f64 * 0.013)).sin();
            assert!((*a as f64 - exact).abs() < 1e-5 && (*b as f64 - exact).abs() < 1e-5);
        }
        assert!((next - (0.9 + 64.0 * 0.013f64).fract()).abs() < 1e-12);
    }

    #[test]
    fn add_adds() {
        let mut d = vec![1.0f32; 67];
        let s: Vec<f32> = (0..67).map(|i| i as f32).collect();
        add(&mut d, &s);
        assert!(d.iter().enumerate().all(|(i, x)| *x == 1.0 + i as f32));
    }
}
