//! Hot block kernels, compiled twice and chosen at run time: once for the
//! default x86-64 target (SSE2) and once with AVX2+FMA.
//!
//! Why unsafe is allowed here, and only here: calling a
//! `#[target_feature]` function is unsafe in Rust, and runtime dispatch is
//! what makes the default build fast. Measured on this machine (issue 4,
//! BENCHMARKS.md): the sine block takes ~1.9 ns per sample built for SSE2
//! (no vector `floor`) and ~0.2 ns with AVX2. Every call is guarded by
//! `is_x86_feature_detected!`, which is the whole safety argument.
//!
//! Why our own sine rather than a DSP library's: fundsp 0.23's `sine_hz`,
//! run in 64-sample blocks, took 3.5 ns per sample here against 0.32 ns for
//! [`Sine`] (`cargo bench --bench engine`, last lines; BENCHMARKS.md).
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

/// Asks the CPU to start loading the 256 bytes at `at` into cache (a DSP
/// node's state: an oscillator's is 192).
#[inline(always)]
pub fn prefetch<T: ?Sized>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let base = at as *const i8;
        // SAFETY: a prefetch is a hint: it never faults or changes memory,
        // whatever the address (SSE, part of every x86-64 CPU).
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(base);
            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(64));
            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(128));
            _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(192));
        }
    }
}

/// The largest magnitude in `x`. In eight lanes, so that it vectorizes (a
/// plain running `max` is a chain the compiler may not reorder).
pub fn peak(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for chunk in chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l = l.max(v.abs());
        }
    }
    lanes.iter().fold(tail, |m, l| m.max(*l))
}

/// Whether every sample is finite: `x * 0` is 0 for a finite `x` and NaN
/// for NaN or an infinity. Eight lanes, so that it vectorises.
pub fn all_finite(xs: &[f32]) -> bool {
    let mut lanes = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += x * 0.0;
        }
    }
    let total: f32 = lanes.iter().sum::<f32>() + rest.iter().map(|&x| x * 0.0).sum::<f32>();
    total == 0.0
}

/// A sine oscillator's state: phase and increment in turns (0..1), and
/// eight lanes of sine and cosine carried from block to block.
///
/// Within a 64-sample chunk, the groups of eight come from the first group
/// rotated by 8j·inc turns (sin(a+b) = sin a·cos b + cos a·sin b: a multiply
/// and a fused multiply-add per eight samples, independent of each other).
/// Between chunks the lanes rotate by 64·inc. Every 16 chunks, and whenever
/// the phase or frequency is set, the lanes restart from the exact phase by
/// polynomial, so rounding never builds up (error under 2e-6).
#[derive(Debug, Clone, Copy)]
pub struct Sine {
    phase: f64,
    inc: f64,
    /// cos and sin of 2π·8j·inc for j = 1..8, then of 2π·64·inc.
    rot: Rotations,
    lanes: [[f32; 8]; 2],
    /// Chunks until the next exact restart.
    fresh: u8,
}

type Rotations = [[f32; 2]; 8];
const RESYNC: u8 = 16;

impl Sine {
    /// A sine starting at `phase` (cycles) advancing `inc` cycles per sample.
    pub fn new(phase: f64, inc: f64) -> Sine {
        let mut s = Sine {
            phase: phase.rem_euclid(1.0),
            inc: 0.0,
            rot: [[1.0, 0.0]; 8],
            lanes: [[0.0; 8]; 2],
            fresh: 0,
        };
        s.set_inc(inc);
        s
    }

    /// Cycles per sample. A few libm calls: fine on the audio thread (no
    /// locks, no allocation), and only when the frequency changes.
    pub fn set_inc(&mut self, inc: f64) {
        self.inc = inc;
        for (j, r) in self.rot.iter_mut().enumerate() {
            let turn = std::f64::consts::TAU * if j < 7 { 8.0 * (j + 1) as f64 } else { 64.0 } * inc;
            *r = [turn.cos() as f32, turn.sin() as f32];
        }
        self.fresh = 0;
    }

    /// Where the next sample starts, in cycles in `[0, 1)`.
    pub fn phase(&self) -> f64 {
        self.phase
    }

    /// Jumps to `phase` cycles (wrapped into `[0, 1)`).
    pub fn set_phase(&mut self, phase: f64) {
        self.phase = phase.rem_euclid(1.0);
        self.fresh = 0;
    }

    /// Fills `out` with `sin(2π(phase + i·inc))` and advances the phase.
    #[inline]
    pub fn fill(&mut self, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { sine_avx2::<false>(self, out) };
        }
        sine_baseline::<false>(self, out)
    }

    /// Like [`Sine::fill`], but adds into `out` (a fused fan-in's accumulator).
    #[inline]
    pub fn add_to(&mut self, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { sine_avx2::<true>(self, out) };
        }
        sine_baseline::<true>(self, out)
    }
}

/// `sin(2π(phase + i·inc))` into `out`, returning the phase after it (one-off uses).
pub fn sine(out: &mut [f32], phase: f64, inc: f64) -> f64 {
    let mut s = Sine::new(phase, inc);
    s.fill(out);
    s.phase()
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn avx2() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    // 0: not asked yet, 1: no, 2: yes. One relaxed load per call after the first.
    static HAS: AtomicU8 = AtomicU8::new(0);
    #[cold]
    #[inline(never)]
    fn detect() -> bool {
        let yes = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        HAS.store(1 + yes as u8, Ordering::Relaxed);
        yes
    }
    match HAS.load(Ordering::Relaxed) {
        0 => detect(),
        v => v == 2,
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_avx2(dst: &mut [f32], src: &[f32]) {
    add_generic(dst, src)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sine_avx2<const ADD: bool>(osc: &mut Sine, out: &mut [f32]) {
    sine_generic::<true, ADD>(osc, out)
}

/// The fallback without AVX2, kept out of line: inlined, its stack frame
/// made every caller's prologue heavier on the fast path too (perf).
#[inline(never)]
fn sine_baseline<const ADD: bool>(osc: &mut Sine, out: &mut [f32]) {
    sine_generic::<false, ADD>(osc, out)
}

#[inline(always)]
fn add_generic(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

#[inline(always)]
fn sine_generic<const FMA: bool, const ADD: bool>(osc: &mut Sine, out: &mut [f32]) {
    // Writes or adds one sample.
    #[inline(always)]
    fn put<const ADD: bool>(o: &mut f32, v: f32) {
        if ADD {
            *o += v
        } else {
            *o = v
        }
    }
    let dp = osc.inc as f32;
    for chunk in out.chunks_mut(64) {
        let [mut s, mut c] = osc.lanes;
        if osc.fresh == 0 {
            let p0 = osc.phase as f32;
            for k in 0..8 {
                let p = p0 + k as f32 * dp;
                s[k] = sin_turns_with::<FMA>(p);
                c[k] = sin_turns_with::<FMA>(p + 0.25);
            }
            osc.fresh = RESYNC;
        }
        if chunk.len() == 64 {
            for k in 0..8 {
                put::<ADD>(&mut chunk[k], s[k]);
            }
            for (group, [cj, sj]) in chunk[8..].chunks_exact_mut(8).zip(osc.rot) {
                for k in 0..8 {
                    put::<ADD>(&mut group[k], mul_add::<FMA>(s[k], cj, c[k] * sj));
                }
            }
            let [c64, s64] = osc.rot[7];
            for k in 0..8 {
                let (sk, ck) = (s[k], c[k]);
                s[k] = mul_add::<FMA>(sk, c64, ck * s64);
                c[k] = mul_add::<FMA>(ck, c64, -(sk * s64));
            }
            osc.fresh -= 1;
        } else {
            // A short block: plain polynomial, and restart exactly next time.
            let p0 = osc.phase as f32;
            for (i, o) in chunk.iter_mut().enumerate() {
                put::<ADD>(o, sin_turns_with::<FMA>(p0 + i as f32 * dp));
            }
            osc.fresh = 0;
        }
        osc.lanes = [s, c];
        osc.phase += osc.inc * chunk.len() as f64;
        if !(0.0..1.0).contains(&osc.phase) {
            osc.phase = osc.phase.rem_euclid(1.0);
        }
    }
}

/// `a·b + c`, fused where the CPU has FMA (elsewhere `mul_add` is a slow libm call).
#[inline(always)]
fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `sin(2πx)` for any `x`, to within 5e-6: reduce to a quarter turn, then an
/// odd Taylor polynomial of degree 9. Branch-free, so it vectorizes.
#[inline(always)]
pub fn sin_turns(x: f32) -> f32 {
    sin_turns_with::<false>(x)
}

#[inline(always)]
fn sin_turns_with<const FMA: bool>(x: f32) -> f32 {
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
    let p = mul_add::<FMA>(x2, C9, C7);
    let p = mul_add::<FMA>(x2, p, C5);
    let p = mul_add::<FMA>(x2, p, C3);
    x * mul_add::<FMA>(x2, p, C1)
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
    fn both_builds_of_the_sine_block_agree_with_libm_over_many_blocks() {
        for (inc, len) in
            [(0.013, 64), (440.0 / 48000.0, 64), (0.4999, 64), (1e-5, 64), (0.01, 100), (0.2, 5)]
        {
            let mut fast = Sine::new(0.9, inc);
            let mut plain = fast;
            let (mut a, mut b) = (vec![0.0f32; len], vec![0.0f32; len]);
            for block in 0..200 {
                let start = fast.phase();
                fast.fill(&mut a);
                sine_generic::<false, false>(&mut plain, &mut b);
                assert!((fast.phase() - plain.phase()).abs() < 1e-9);
                for i in 0..len {
                    let exact = (std::f64::consts::TAU * (start + i as f64 * inc)).sin();
                    let (ea, eb) = ((a[i] as f64 - exact).abs(), (b[i] as f64 - exact).abs());
                    assert!(ea < 1e-5 && eb < 1e-5, "inc {inc}, block {block}, sample {i}: {ea} {eb}");
                }
            }
        }
    }

    #[test]
    fn adding_a_sine_into_a_block_equals_filling_then_adding() {
        let (mut a, mut b) = (Sine::new(0.3, 0.01), Sine::new(0.3, 0.01));
        let (mut sum, mut block) = (vec![0.5f32; 64], vec![0.0f32; 64]);
        let mut want = sum.clone();
        for _ in 0..40 {
            a.add_to(&mut sum);
            b.fill(&mut block);
            add(&mut want, &block);
        }
        for (x, y) in sum.iter().zip(&want) {
            assert!((x - y).abs() < 1e-4);
        }
    }

    #[test]
    fn peak_is_the_largest_magnitude_wherever_it_is() {
        for len in [0, 5, 64, 67] {
            for at in 0..len {
                let mut x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
                x[at] = -0.9;
                assert_eq!(peak(&x), 0.9, "len {len}, at {at}");
            }
        }
        assert_eq!(peak(&[]), 0.0);
    }

    #[test]
    fn add_adds() {
        let mut d = vec![1.0f32; 67];
        let s: Vec<f32> = (0..67).map(|i| i as f32).collect();
        add(&mut d, &s);
        assert!(d.iter().enumerate().all(|(i, x)| *x == 1.0 + i as f32));
    }
}
