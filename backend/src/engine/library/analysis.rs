//! Analysis: audio in, control values out. The audio side writes what it
//! measures into lock-free cells ([`Meter`]); `current-value` reads them
//! and a bang sends them on as control values.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::FftPlanner;

use super::{Args, TypeEntry};
use crate::engine::simd;
use crate::engine::transform::{control_fn, Built, DspNode, Meter, PortSpec};
use crate::engine::value::{Value, ValueType as T};

/// One measurement per block, written to a meter.
struct Measure {
    meter: Arc<Meter>,
    kind: Measured,
    /// Running mean square (RMS) or crossing rate (per second), smoothed.
    state: f64,
    rate: f64,
    prev: f32,
}

#[derive(Clone, Copy)]
enum Measured {
    Peak,
    Rms,
    Snapshot,
    ZeroCrossings,
}

/// Smoothing per block for RMS and crossing rate: a 50 ms time constant.
fn smoothing(block: usize, rate: f64) -> f64 {
    1.0 - (-(block as f64) / (0.05 * rate)).exp()
}

impl DspNode for Measure {
    fn process(&mut self, inputs: &[f32], _out: &mut [f32]) {
        let k = smoothing(inputs.len(), self.rate);
        let value = match self.kind {
            Measured::Peak => simd::peak(inputs) as f64,
            Measured::Rms => {
                let ms = inputs.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>() / inputs.len() as f64;
                self.state += k * (ms - self.state);
                self.state.sqrt()
            }
            Measured::Snapshot => *inputs.last().unwrap_or(&0.0) as f64,
            Measured::ZeroCrossings => {
                let mut prev = self.prev;
                let mut n = 0;
                for &x in inputs {
                    n += ((prev < 0.0) != (x < 0.0)) as u32;
                    prev = x;
                }
                self.prev = prev;
                let per_second = n as f64 * self.rate / inputs.len() as f64;
                self.state += k * (per_second - self.state);
                self.state
            }
        };
        self.meter.set(value as f32);
    }
}

fn measure(
    name: &'static str,
    doc: &'static str,
    reading: &'static str,
    reading_doc: &'static str,
    kind: Measured,
) -> TypeEntry {
    TypeEntry::new(name, "analysis", doc, move |args: &Args| {
        let ports = vec![
            PortSpec::cold("samplesIn", T::Samples, "The signal to measure"),
            PortSpec::hot("bang", T::Bang, "Outputs the current measurement"),
            PortSpec::reading(reading, T::Float, reading_doc),
            PortSpec::outlet("out", T::Float, "The measurement, on each bang"),
        ];
        let meter = Meter::shared();
        let node = Measure { meter: meter.clone(), kind, state: 0.0, rate: args.setup.rate, prev: 0.0 };
        Ok(Built::new(ports).dsp(node).meter(reading, meter).control(control_fn(|_, ctx| {
            let v = ctx.meter(2) as f64;
            ctx.emit(3, Value::Float(v));
        })))
    })
}

/// Magnitude spectrum of the last N samples (Hann window), every N samples.
struct Spectrum {
    fft: Arc<dyn rustfft::Fft<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    filled: usize,
    buf: Vec<Complex32>,
    scratch: Vec<Complex32>,
    bins: Arc<[Meter]>,
    strongest: Arc<Meter>,
    bin_hz: f32,
}

impl DspNode for Spectrum {
    fn process(&mut self, inputs: &[f32], _out: &mut [f32]) {
        for &x in inputs {
            self.input[self.filled] = x;
            self.filled += 1;
            if self.filled == self.input.len() {
                self.filled = 0;
                self.analyse();
            }
        }
    }
}

impl Spectrum {
    fn analyse(&mut self) {
        for ((b, x), w) in self.buf.iter_mut().zip(&self.input).zip(&self.window) {
            *b = Complex32::new(x * w, 0.0);
        }
        // No allocation: the plan and the scratch were made on the control side.
        self.fft.process_with_scratch(&mut self.buf, &mut self.scratch);
        let scale = 2.0 / self.window.iter().sum::<f32>();
        let mut best = (0, 0.0f32);
        for (i, (bin, c)) in self.bins.iter().zip(&self.buf).enumerate() {
            let m = c.norm() * scale;
            bin.set(m);
            if m > best.1 {
                best = (i, m);
            }
        }
        self.strongest.set(best.0 as f32 * self.bin_hz);
    }
}

/// The last N samples, for scopes.
struct Scope {
    cells: Arc<[Meter]>,
    at: usize,
    /// Where the oldest sample is, for the view (written after each block).
    oldest: Arc<AtomicUsize>,
}

impl DspNode for Scope {
    fn process(&mut self, inputs: &[f32], _out: &mut [f32]) {
        for &x in inputs {
            self.cells[self.at].set(x);
            self.at = (self.at + 1) % self.cells.len();
        }
        self.oldest.store(self.at, Ordering::Relaxed);
    }
}

/// Most points a `view` gives: what a display draws, whatever N is, so a
/// client polling it gets at most a few kilobytes a time.
pub(crate) const MAX_VIEW: usize = 1024;

/// A scope's picture: its samples oldest first, evenly picked down to [`MAX_VIEW`].
fn scope_view(cells: &[Meter], oldest: usize) -> Value {
    let n = cells.len();
    let step = n.div_ceil(MAX_VIEW);
    Value::Table((0..n).step_by(step).map(|i| cells[(oldest + i) % n].get()).collect())
}

/// A spectrum's picture: its bins, each point the largest of [`MAX_VIEW`]
/// equal groups when there are more (a peak is never lost).
fn spectrum_view(bins: &[Meter]) -> Value {
    let step = bins.len().div_ceil(MAX_VIEW);
    Value::Table(bins.chunks(step).map(|g| g.iter().map(Meter::get).fold(0.0, f32::max)).collect())
}

fn table_of(cells: &[Meter]) -> Value {
    Value::Table(cells.iter().map(Meter::get).collect())
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        measure("Peak", "Peak level of the last block", "peak", "Largest absolute sample of the last block", Measured::Peak),
        measure("RMS", "RMS level, smoothed over about 50 ms", "rms", "Root mean square level", Measured::Rms),
        measure("Snapshot", "Audio to control: the last sample of the last block", "value", "The sample", Measured::Snapshot),
        measure(
            "ZeroCrossings",
            "Zero-crossing rate per second, smoothed over about 50 ms (twice the frequency of a pure tone)",
            "rate",
            "Crossings per second",
            Measured::ZeroCrossings,
        ),
        TypeEntry::new(
            "FFTMagnitude",
            "analysis",
            "Magnitude spectrum of the last N samples with a Hann window (argument: N, a power of two from 64 to 16384)",
            |args: &Args| {
                let n = args.count(0, 1024, 16384)?;
                if !n.is_power_of_two() || n < 64 {
                    return Err("N must be a power of two from 64 to 16384".into());
                }
                let fft = FftPlanner::new().plan_fft_forward(n);
                let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
                let bins: Arc<[Meter]> = (0..n / 2).map(|_| Meter::default()).collect();
                let strongest = Meter::shared();
                let node = Spectrum {
                    fft,
                    window: (0..n).map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos()).collect(),
                    input: vec![0.0; n],
                    filled: 0,
                    buf: vec![Complex32::default(); n],
                    scratch,
                    bins: bins.clone(),
                    strongest: strongest.clone(),
                    bin_hz: (args.setup.rate / n as f64) as f32,
                };
                let ports = vec![
                    PortSpec::cold("samplesIn", T::Samples, "The signal"),
                    PortSpec::hot("bang", T::Bang, "Outputs the spectrum"),
                    PortSpec::reading("peak_frequency", T::Float, "Centre frequency of the strongest bin, Hz"),
                    PortSpec::outlet("out", T::Table, "N/2 magnitudes, bin k at k·rate/N Hz (a full-scale sine reads 1)"),
                    PortSpec::reading(
                        "view",
                        T::Table,
                        "The magnitudes now, for a display: at most 1,024 points (each the largest of its group of bins)",
                    ),
                ];
                let shown = bins.clone();
                Ok(Built::new(ports)
                    .dsp(node)
                    .meter("peak_frequency", strongest)
                    .view("view", move || spectrum_view(&shown))
                    .control(control_fn(move |_, ctx| {
                        ctx.emit(3, table_of(&bins));
                    })))
            },
        ),
        TypeEntry::new("Scope", "analysis", "Keeps the last N samples for display (argument: N, default 512)", |args: &Args| {
            let n = args.count(0, 512, 65536)?;
            let cells: Arc<[Meter]> = (0..n).map(|_| Meter::default()).collect();
            let ports = vec![
                PortSpec::cold("samplesIn", T::Samples, "The signal"),
                PortSpec::hot("bang", T::Bang, "Outputs the last N samples"),
                PortSpec::outlet("out", T::Table, "The samples, in ring order"),
                PortSpec::reading(
                    "view",
                    T::Table,
                    "The last N samples oldest first, for a display: at most 1,024 of them (evenly picked)",
                ),
            ];
            let oldest = Arc::new(AtomicUsize::new(0));
            let node = Scope { cells: cells.clone(), at: 0, oldest: oldest.clone() };
            let shown = cells.clone();
            Ok(Built::new(ports)
                .dsp(node)
                .view("view", move || scope_view(&shown, oldest.load(Ordering::Relaxed)))
                .control(control_fn(move |_, ctx| ctx.emit(2, table_of(&cells)))))
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::{Engine, Value};

    fn analysing(ty: &str, args: &str, source: &str) -> (Engine, crate::engine::AudioSide) {
        let (mut e, mut a) = one(ty, args);
        e.add_transform("/patch", "Sinewave", "src", source).unwrap();
        e.connect("/patch/src/samplesOut", "/patch/t/samplesIn").unwrap();
        render(&mut e, &mut a, "none", 0.5);
        (e, a)
    }

    #[test]
    fn peak_rms_snapshot_and_zero_crossings_of_a_440_hz_sine() {
        let (e, _a) = analysing("Peak", "", "440");
        assert!((f(&e, "peak") - 1.0).abs() < 0.01);
        let (e, _a) = analysing("RMS", "", "440");
        assert!((f(&e, "rms") - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01, "{}", f(&e, "rms"));
        let (e, _a) = analysing("ZeroCrossings", "", "440");
        assert!((f(&e, "rate") - 880.0).abs() < 20.0, "{}", f(&e, "rate"));
        let (mut e, _a) = analysing("Snapshot", "", "440");
        // After 0.5 s (24000 samples, a whole number of 440 Hz periods plus 0): sin(2π·440·(23999/48000)).
        let want = (std::f64::consts::TAU * 440.0 * 23999.0 / 48000.0).sin();
        assert!((f(&e, "value") - want).abs() < 1e-3);
        set(&mut e, "bang", Value::Bang);
        assert!((f(&e, "out") - want).abs() < 1e-3);
    }

    #[test]
    fn the_spectrum_of_a_sine_peaks_at_its_frequency_with_unit_magnitude() {
        let (mut e, _a) = analysing("FFTMagnitude", "1024", "1500");
        assert!((f(&e, "peak_frequency") - 1500.0).abs() <= 48000.0 / 1024.0);
        set(&mut e, "bang", Value::Bang);
        let Value::Table(bins) = get(&e, "out") else { panic!("a table") };
        assert_eq!(bins.len(), 512);
        let top = bins.iter().cloned().fold(0.0f32, f32::max);
        assert!((0.8..=1.01).contains(&top), "a full-scale sine reads about 1: {top}");
        let far = bins[100]; // 4.7 kHz
        assert!(far < 1e-3, "{far}");
    }

    #[test]
    fn the_scope_holds_the_last_samples() {
        let (mut e, _a) = analysing("Scope", "64", "440");
        set(&mut e, "bang", Value::Bang);
        let Value::Table(s) = get(&e, "out") else { panic!("a table") };
        assert_eq!(s.len(), 64);
        assert!(s.iter().any(|x| *x > 0.5) && s.iter().any(|x| *x < -0.5));
    }

    #[test]
    fn the_views_are_in_time_order_and_bounded() {
        // 0.5 s of a 440 Hz sine into 1,900 samples (the ring's oldest is at
        // 24,000 mod 1,900 = 1,200): the view is every second sample, oldest
        // first, so no step is larger than a 440 Hz sine's at 24 kHz (in ring
        // order, the newest would meet the oldest: a jump).
        let (e, _a) = analysing("Scope", "1900", "440");
        let Value::Table(view) = get(&e, "view") else { panic!("a table") };
        assert_eq!(view.len(), 950);
        let step = std::f64::consts::TAU * 440.0 * 2.0 / 48000.0;
        for pair in view.windows(2) {
            assert!((pair[1] - pair[0]).abs() as f64 <= step * 1.01, "a jump: {pair:?}: not in time order");
        }
        let (e, _a) = analysing("FFTMagnitude", "16384", "1500");
        let Value::Table(view) = get(&e, "view") else { panic!("a table") };
        assert_eq!(view.len(), super::MAX_VIEW, "8,192 bins shown as 1,024 points");
        let top = view.iter().cloned().fold(0.0f32, f32::max);
        assert!((0.8..=1.01).contains(&top), "the peak survives: {top}");
        let at = view.iter().position(|&m| m == top).unwrap();
        assert_eq!(at, (1500.0 / (48000.0 / 16384.0) / 8.0) as usize, "at 1.5 kHz");
    }
}
