//! Audio sources: oscillators (band-limited where it is cheap: PolyBLEP saw
//! and square), noise, a wavetable oscillator and a constant signal.

use super::control::Rng;
use super::{Args, TypeEntry};
use crate::engine::simd;
use crate::engine::transform::{control_fn, Built, DspNode, PortSpec, Setup};
use crate::engine::value::{Value, ValueType as T};

#[derive(Clone, Copy, PartialEq)]
enum Wave {
    Sine,
    Cosine,
    Phasor,
    Saw,
    Square,
    Triangle,
}

/// Ports: 0 `freq`, 1 `phase`, (2 `width` for Square), then `samplesOut`.
struct Oscillator {
    wave: Wave,
    rate: f64,
    phase: f64,
    inc: f64,
    width: f64,
    /// Sine and Cosine (a sine a quarter turn ahead) run on the SIMD kernel.
    sine: simd::Sine,
}

/// PolyBLEP: the residual that removes most aliasing from a step at phase 0.
fn blep(t: f64, dt: f64) -> f64 {
    if t < dt {
        let t = t / dt;
        t + t - t * t - 1.0
    } else if t > 1.0 - dt {
        let t = (t - 1.0) / dt;
        t * t + t + t + 1.0
    } else {
        0.0
    }
}

impl DspNode for Oscillator {
    fn reset(&mut self) {
        self.phase = 0.0;
        self.sine.set_phase(0.0);
    }

    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        let (inc, mut p) = (self.inc, self.phase);
        match self.wave {
            Wave::Sine | Wave::Cosine => self.sine.fill(out),
            _ => {
                let dt = inc.abs().min(0.5);
                for o in out.iter_mut() {
                    *o = match self.wave {
                        // (f32 would round the top of the ramp up to 1.0)
                        Wave::Phasor => p.min(0.999_999_94),
                        Wave::Saw => 2.0 * p - 1.0 - blep(p, dt),
                        Wave::Square => {
                            let naive = if p < self.width { 1.0 } else { -1.0 };
                            naive + blep(p, dt) - blep((p - self.width).rem_euclid(1.0), dt)
                        }
                        _ => 1.0 - 4.0 * (p - 0.5).abs(),
                    } as f32;
                    p = (p + inc).rem_euclid(1.0);
                }
                self.phase = p;
            }
        }
    }
    fn accumulate(&mut self, _inputs: &[f32], acc: &mut [f32]) -> bool {
        if matches!(self.wave, Wave::Sine | Wave::Cosine) {
            self.sine.add_to(acc);
            return true;
        }
        false
    }
    fn set(&mut self, port: usize, value: f64) {
        match port {
            0 => {
                self.inc = value / self.rate;
                self.sine.set_inc(self.inc);
            }
            1 => {
                self.phase = value.rem_euclid(1.0);
                let quarter = if self.wave == Wave::Cosine { 0.25 } else { 0.0 };
                self.sine.set_phase(self.phase + quarter);
            }
            2 => self.width = value.clamp(0.0, 1.0),
            _ => {}
        }
    }
}

fn oscillator(name: &'static str, doc: &'static str, wave: Wave) -> TypeEntry {
    TypeEntry::new(name, "source", doc, move |args: &Args| {
        let freq = args.f(0, 440.0)?;
        let mut ports = vec![
            PortSpec::hot("freq", T::Float, "Frequency in Hz"),
            PortSpec::hot("phase", T::Float, "Jumps to this phase, in turns (0 to 1)")
                .range(0.0, 1.0)
                .group(1),
        ];
        if wave == Wave::Square {
            ports.push(PortSpec::hot("width", T::Float, "Pulse width, 0 to 1").range(0.0, 1.0).group(2));
        }
        ports.push(PortSpec::outlet("samplesOut", T::Samples, "The waveform"));
        let Setup { rate, .. } = args.setup;
        let quarter = if wave == Wave::Cosine { 0.25 } else { 0.0 };
        let sine = simd::Sine::new(quarter, freq / rate);
        let osc = Oscillator { wave, rate, phase: 0.0, inc: freq / rate, width: 0.5, sine };
        let mut built = Built::new(ports).init("freq", Value::Float(freq)).dsp(osc);
        if wave == Wave::Square {
            built = built.init("width", Value::Float(0.5));
        }
        Ok(built)
    })
}

struct Noise {
    rng: Rng,
    pink: Option<[f64; 3]>,
}

impl DspNode for Noise {
    fn reset(&mut self) {
        if let Some(b) = &mut self.pink {
            *b = [0.0; 3];
        }
    }

    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        for o in out.iter_mut() {
            let white = self.rng.unit() * 2.0 - 1.0;
            *o = match &mut self.pink {
                None => white,
                // Paul Kellet's economy filter: -3 dB per octave within 0.5 dB.
                Some(b) => {
                    b[0] = 0.99765 * b[0] + white * 0.099_046;
                    b[1] = 0.963 * b[1] + white * 0.296_516_4;
                    b[2] = 0.57 * b[2] + white * 1.052_691_3;
                    (b[0] + b[1] + b[2] + white * 0.1848) * 0.15
                }
            } as f32;
        }
    }
}

/// A looping table read at `freq` cycles per second, with linear interpolation.
struct Wavetable {
    table: Box<[f32]>,
    rate: f64,
    phase: f64,
    inc: f64,
}

impl DspNode for Wavetable {
    fn reset(&mut self) {
        self.phase = 0.0;
    }

    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        let n = self.table.len();
        for o in out.iter_mut() {
            let x = self.phase * n as f64;
            let (i, frac) = (x as usize % n, x.fract() as f32);
            let (a, b) = (self.table[i], self.table[(i + 1) % n]);
            *o = a + (b - a) * frac;
            self.phase = (self.phase + self.inc).rem_euclid(1.0);
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 0 {
            self.inc = value / self.rate;
        }
    }
    fn set_data(&mut self, data: Box<[f32]>) -> Option<Box<[f32]>> {
        if data.is_empty() {
            return Some(data);
        }
        Some(std::mem::replace(&mut self.table, data))
    }
}

/// A constant signal (Pd's `sig~`).
struct Constant(f32);

impl DspNode for Constant {
    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        out.fill(self.0);
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 0 {
            self.0 = value as f32;
        }
    }
}

/// Sample values of a Table or a List of numbers.
pub(crate) fn table_data(v: &Value) -> Option<Box<[f32]>> {
    match v {
        Value::Table(t) | Value::Samples(t) => Some(t.clone().into_boxed_slice()),
        Value::List(l) => l.iter().map(|x| x.as_f64().map(|x| x as f32)).collect(),
        _ => None,
    }
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        oscillator("Sinewave", "Sine oscillator (argument: frequency, default 440)", Wave::Sine),
        oscillator("Cosine", "Cosine oscillator: a sine a quarter turn ahead (argument: frequency)", Wave::Cosine),
        oscillator("Phasor", "Ramp from 0 to 1 once per cycle (argument: frequency)", Wave::Phasor),
        oscillator("Saw", "Band-limited (PolyBLEP) sawtooth from -1 to 1 (argument: frequency)", Wave::Saw),
        oscillator("Square", "Band-limited (PolyBLEP) pulse wave with variable width (argument: frequency)", Wave::Square),
        oscillator("Triangle", "Triangle wave from -1 to 1 (argument: frequency)", Wave::Triangle),
        TypeEntry::new("WhiteNoise", "source", "Uniform white noise from -1 to 1 (argument: seed)", |args: &Args| {
            let ports = vec![PortSpec::outlet("samplesOut", T::Samples, "The noise")];
            Ok(Built::new(ports).dsp(Noise { rng: Rng::new(args.f(0, 1.0)? as u64), pink: None }))
        }),
        TypeEntry::new("PinkNoise", "source", "Pink noise, -3 dB per octave (argument: seed)", |args: &Args| {
            let ports = vec![PortSpec::outlet("samplesOut", T::Samples, "The noise")];
            Ok(Built::new(ports).dsp(Noise { rng: Rng::new(args.f(0, 1.0)? as u64), pink: Some([0.0; 3]) }))
        }),
        TypeEntry::new(
            "Wavetable",
            "source",
            "Plays one cycle of a table per period, interpolating (argument: frequency; default table: a sine)",
            |args: &Args| {
                let freq = args.f(0, 440.0)?;
                let ports = vec![
                    PortSpec::hot("freq", T::Float, "Frequency in Hz"),
                    PortSpec::hot("table", T::Table, "One cycle of the waveform (a Table or a list of numbers)").group(1),
                    PortSpec::outlet("samplesOut", T::Samples, "The waveform"),
                ];
                let sine: Vec<f32> = (0..512).map(|i| simd::sin_turns(i as f32 / 512.0)).collect();
                let rate = args.setup.rate;
                let node = Wavetable { table: sine.into_boxed_slice(), rate, phase: 0.0, inc: freq / rate };
                Ok(Built::new(ports).init("freq", Value::Float(freq)).dsp(node).control(control_fn(|inlet, ctx| {
                    if inlet == 1 {
                        if let Some(data) = table_data(&ctx.values[1]) {
                            ctx.send_data(data);
                        }
                    }
                })))
            },
        ),
        TypeEntry::new("Sig~", "source", "A constant signal of the input's value (argument: value)", |args: &Args| {
            let x = args.f(0, 0.0)?;
            let ports = vec![
                PortSpec::hot("value", T::Float, "The level"),
                PortSpec::outlet("samplesOut", T::Samples, "The constant signal"),
            ];
            Ok(Built::new(ports).init("value", Value::Float(x)).dsp(Constant(x as f32)))
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::Value;

    #[test]
    fn a_440_hz_sinewave_crosses_zero_440_times_a_second_at_rms_one_over_root_two() {
        let (mut e, mut a) = one("Sinewave", "440");
        let x = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!((frequency(&x) - 440.0).abs() <= 1.0, "{}", frequency(&x));
        assert!((rms(&x) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-3, "{}", rms(&x));
        assert!((peak(&x) - 1.0).abs() < 1e-3);
        assert_eq!(x[0], 0.0, "sine starts at phase 0");
    }

    #[test]
    fn frequency_changes_take_effect_while_playing() {
        let (mut e, mut a) = one("Sinewave", "440");
        render(&mut e, &mut a, "samplesOut", 0.1);
        set(&mut e, "freq", Value::Float(1000.0));
        let x = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!((frequency(&x) - 1000.0).abs() <= 1.0);
    }

    #[test]
    fn each_waveform_has_its_frequency_and_level() {
        // (type, rms of the ideal waveform)
        let third = (1.0f64 / 3.0).sqrt();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        for (ty, want_rms) in
            [("Cosine", h), ("Saw", third), ("Square", 1.0), ("Triangle", third), ("Wavetable", h)]
        {
            let (mut e, mut a) = one(ty, "100");
            let x = render(&mut e, &mut a, "samplesOut", 1.0);
            assert!((frequency(&x) - 100.0).abs() <= 1.0, "{ty}: {} Hz", frequency(&x));
            assert!((rms(&x) - want_rms).abs() < 0.02, "{ty}: rms {}", rms(&x));
        }
        // (The first block fades in: new connections never click.)
        let (mut e, mut a) = one("Cosine", "100");
        let x = render(&mut e, &mut a, "samplesOut", 0.01);
        for (i, v) in x.iter().enumerate().skip(64) {
            assert!((*v as f64 - (std::f64::consts::TAU * 100.0 * i as f64 / 48000.0).cos()).abs() < 1e-4);
        }
        let (mut e, mut a) = one("Phasor", "100");
        let x = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!(x.iter().all(|v| (0.0..1.0).contains(v)));
        assert!((x.iter().map(|v| *v as f64).sum::<f64>() / x.len() as f64 - 0.5).abs() < 0.01);
    }

    #[test]
    fn square_width_sets_the_duty_cycle() {
        let (mut e, mut a) = one("Square", "100");
        set(&mut e, "width", Value::Float(0.25));
        let x = render(&mut e, &mut a, "samplesOut", 1.0);
        let high = x.iter().filter(|v| **v > 0.0).count() as f64 / x.len() as f64;
        assert!((high - 0.25).abs() < 0.01, "{high}");
    }

    #[test]
    fn noises_are_full_band_white_and_quieter_pink() {
        let (mut e, mut a) = one("WhiteNoise", "");
        let white = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!((rms(&white) - (1.0f64 / 3.0).sqrt()).abs() < 0.01, "uniform noise rms {}", rms(&white));
        assert!(frequency(&white) > 5000.0);
        let (mut e, mut a) = one("PinkNoise", "");
        let pink = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!(rms(&pink) > 0.05 && peak(&pink) <= 1.5);
        // Pink has far fewer zero crossings: its energy sits low.
        assert!(frequency(&pink) < frequency(&white) / 2.0);
    }

    #[test]
    fn a_wavetable_plays_the_table_it_is_given() {
        let (mut e, mut a) = one("Wavetable", "100");
        set(&mut e, "table", Value::List(vec![Value::Float(1.0), Value::Float(-1.0)]));
        let x = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!((frequency(&x) - 100.0).abs() <= 1.0);
        assert!((peak(&x) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn sig_outputs_its_value() {
        let (mut e, mut a) = one("Sig~", "0.25");
        assert!(render(&mut e, &mut a, "samplesOut", 0.01).iter().skip(64).all(|v| *v == 0.25));
        set(&mut e, "value", Value::Float(-1.0));
        assert!(render(&mut e, &mut a, "samplesOut", 0.01).iter().all(|v| *v == -1.0));
    }
}
