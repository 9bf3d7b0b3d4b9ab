//! Filters: RBJ-cookbook biquads, a raw biquad, a one-pole lowpass, a DC
//! blocker and a resonator bank in the spirit of CNMAT's Resonators.
//! Coefficients are recomputed on the audio side when a parameter arrives
//! (a few dozen flops, no allocation).

use super::{Args, TypeEntry};
use crate::engine::transform::{Built, DspNode, PortSpec};
use crate::engine::value::{Value, ValueType as T};
use std::f64::consts::TAU;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lowpass,
    Highpass,
    Bandpass,
    Notch,
    /// Coefficients set directly.
    Raw,
}

/// Direct form I biquad. Ports: 0 `samplesIn`, 1 `freq`, 2 `q` (Raw: 1-5 = b0 b1 b2 a1 a2), last `samplesOut`.
struct Biquad {
    kind: Kind,
    rate: f64,
    freq: f64,
    q: f64,
    /// b0 b1 b2 a1 a2, normalized by a0.
    c: [f64; 5],
    x: [f64; 2],
    y: [f64; 2],
}

impl Biquad {
    fn new(kind: Kind, rate: f64, freq: f64, q: f64) -> Biquad {
        let mut f = Biquad { kind, rate, freq, q, c: [1.0, 0.0, 0.0, 0.0, 0.0], x: [0.0; 2], y: [0.0; 2] };
        f.design();
        f
    }

    fn design(&mut self) {
        if self.kind == Kind::Raw {
            return;
        }
        let w = TAU * self.freq.clamp(1.0, self.rate * 0.49) / self.rate;
        let (cos, alpha) = (w.cos(), w.sin() / (2.0 * self.q.max(0.01)));
        let (b0, b1, b2) = match self.kind {
            Kind::Lowpass => ((1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0),
            Kind::Highpass => ((1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0),
            Kind::Bandpass => (alpha, 0.0, -alpha),
            _ => (1.0, -2.0 * cos, 1.0),
        };
        let a0 = 1.0 + alpha;
        self.c = [b0 / a0, b1 / a0, b2 / a0, -2.0 * cos / a0, (1.0 - alpha) / a0];
    }
}

impl DspNode for Biquad {
    fn reset(&mut self) {
        (self.x, self.y) = ([0.0; 2], [0.0; 2]);
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let [b0, b1, b2, a1, a2] = self.c;
        let (mut x, mut y) = (self.x, self.y);
        for (o, i) in out.iter_mut().zip(inputs) {
            let v = b0 * *i as f64 + b1 * x[0] + b2 * x[1] - a1 * y[0] - a2 * y[1];
            x = [*i as f64, x[0]];
            y = [v, y[0]];
            *o = v as f32;
        }
        // Flush denormals and runaway values from an unstable raw design.
        let clean = |v: f64| if v.is_finite() && v.abs() > 1e-30 { v } else { 0.0 };
        self.x = x.map(clean);
        self.y = y.map(clean);
    }
    fn set(&mut self, port: usize, value: f64) {
        match (self.kind, port) {
            (Kind::Raw, 1..=5) => self.c[port - 1] = value,
            (_, 1) => self.freq = value,
            (_, 2) => self.q = value,
            _ => return,
        }
        self.design();
    }
}

fn rbj(name: &'static str, doc: &'static str, kind: Kind) -> TypeEntry {
    TypeEntry::new(name, "filter", doc, move |args: &Args| {
        let (freq, q) = (args.f(0, 1000.0)?, args.f(1, std::f64::consts::FRAC_1_SQRT_2)?);
        let ports = vec![
            PortSpec::cold("samplesIn", T::Samples, "The signal"),
            PortSpec::cold("freq", T::Float, "Cutoff or centre frequency, Hz"),
            PortSpec::cold("q", T::Float, "Resonance (0.707 is flat)"),
            PortSpec::outlet("samplesOut", T::Samples, "The filtered signal"),
        ];
        Ok(Built::new(ports).init("freq", Value::Float(freq)).init("q", Value::Float(q)).dsp(Biquad::new(
            kind,
            args.setup.rate,
            freq,
            q,
        )))
    })
}

/// `y += a·(x - y)`: 6 dB per octave. Ports: 0 in, 1 freq, 2 out.
struct OnePole {
    rate: f64,
    a: f32,
    y: f32,
}

impl DspNode for OnePole {
    fn reset(&mut self) {
        self.y = 0.0;
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        for (o, x) in out.iter_mut().zip(inputs) {
            self.y += self.a * (x - self.y);
            *o = self.y;
        }
        if self.y.abs() < 1e-30 {
            self.y = 0.0;
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 1 {
            self.a = (1.0 - (-TAU * value.max(0.0) / self.rate).exp()) as f32;
        }
    }
}

/// `y = x - x1 + R·y1`: removes DC, passes audio.
struct DcBlock {
    r: f32,
    x1: f32,
    y1: f32,
}

impl DspNode for DcBlock {
    fn reset(&mut self) {
        (self.x1, self.y1) = (0.0, 0.0);
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        for (o, x) in out.iter_mut().zip(inputs) {
            let y = x - self.x1 + self.r * self.y1;
            self.x1 = *x;
            self.y1 = if y.abs() < 1e-30 { 0.0 } else { y };
            *o = y;
        }
    }
}

/// A bank of two-pole resonators, each with a frequency, a gain and a decay rate.
struct Resonators {
    modes: Vec<Mode>,
}

struct Mode {
    b0: f32,
    a1: f32,
    a2: f32,
    y: [f32; 2],
}

impl DspNode for Resonators {
    fn reset(&mut self) {
        self.modes.iter_mut().for_each(|m| m.y = [0.0; 2]);
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        out.fill(0.0);
        for m in &mut self.modes {
            let [mut y1, mut y2] = m.y;
            for (o, x) in out.iter_mut().zip(inputs) {
                let y = m.b0 * x + m.a1 * y1 - m.a2 * y2;
                y2 = y1;
                y1 = y;
                *o += y;
            }
            m.y = [y1, y2].map(|v| if v.abs() < 1e-30 { 0.0 } else { v });
        }
    }
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        rbj("Lowpass", "Two-pole lowpass, 12 dB per octave (arguments: freq q)", Kind::Lowpass),
        rbj("Highpass", "Two-pole highpass, 12 dB per octave (arguments: freq q)", Kind::Highpass),
        rbj("Bandpass", "Two-pole bandpass with 0 dB peak gain (arguments: freq q)", Kind::Bandpass),
        rbj("Notch", "Two-pole band-reject filter (arguments: freq q)", Kind::Notch),
        TypeEntry::new("Biquad", "filter", "A biquad with raw coefficients b0 b1 b2 a1 a2 (a0 = 1)", |args: &Args| {
            let names = ["b0", "b1", "b2", "a1", "a2"];
            let mut ports = vec![PortSpec::cold("samplesIn", T::Samples, "The signal")];
            ports.extend(names.iter().map(|n| PortSpec::cold(n, T::Float, "A coefficient of y = b0x + b1x1 + b2x2 - a1y1 - a2y2")));
            ports.push(PortSpec::outlet("samplesOut", T::Samples, "The filtered signal"));
            let mut f = Biquad::new(Kind::Raw, args.setup.rate, 0.0, 0.0);
            let mut built = Built::new(ports);
            for (i, n) in names.iter().enumerate() {
                let v = args.f(i, if i == 0 { 1.0 } else { 0.0 })?;
                f.c[i] = v;
                built = built.init(n, Value::Float(v));
            }
            Ok(built.dsp(f))
        }),
        TypeEntry::new("OnePole", "filter", "One-pole lowpass, 6 dB per octave (argument: freq)", |args: &Args| {
            let freq = args.f(0, 1000.0)?;
            let ports = vec![
                PortSpec::cold("samplesIn", T::Samples, "The signal"),
                PortSpec::cold("freq", T::Float, "Cutoff, Hz"),
                PortSpec::outlet("samplesOut", T::Samples, "The filtered signal"),
            ];
            let mut f = OnePole { rate: args.setup.rate, a: 0.0, y: 0.0 };
            f.set(1, freq);
            Ok(Built::new(ports).init("freq", Value::Float(freq)).dsp(f))
        }),
        TypeEntry::new("DCBlock", "filter", "Removes the constant offset of a signal (pole at 0.995)", |_: &Args| {
            let ports = vec![
                PortSpec::cold("samplesIn", T::Samples, "The signal"),
                PortSpec::outlet("samplesOut", T::Samples, "The signal without DC"),
            ];
            Ok(Built::new(ports).dsp(DcBlock { r: 0.995, x1: 0.0, y1: 0.0 }))
        }),
        TypeEntry::new(
            "Resonators",
            "filter",
            "A bank of resonant modes, as CNMAT's Resonators: arguments are triples of frequency (Hz), gain and decay rate (1/s)",
            |args: &Args| {
                let words = if args.words.is_empty() {
                    vec![440.0, 1.0, 5.0]
                } else {
                    (0..args.words.len()).map(|i| args.f(i, 0.0)).collect::<Result<_, _>>()?
                };
                if words.len() % 3 != 0 || words.len() > 3 * 256 {
                    return Err("give frequency, gain and decay rate for each mode, at most 256 modes".into());
                }
                let rate = args.setup.rate;
                let modes = words
                    .chunks(3)
                    .map(|m| {
                        let (f, g, d) = (m[0], m[1], m[2].max(0.0));
                        let r = (-d / rate).exp();
                        let w = TAU * f / rate;
                        // Peak gain of 1/(1 - 2r·cos w·z⁻¹ + r²z⁻²) is about 1/((1-r)·2 sin w): scale it to `g`.
                        let b0 = g * (1.0 - r) * 2.0 * w.sin().abs();
                        Mode { b0: b0 as f32, a1: (2.0 * r * w.cos()) as f32, a2: (r * r) as f32, y: [0.0; 2] }
                    })
                    .collect();
                let ports = vec![
                    PortSpec::cold("samplesIn", T::Samples, "The excitation"),
                    PortSpec::outlet("samplesOut", T::Samples, "The sum of the modes"),
                ];
                Ok(Built::new(ports).dsp(Resonators { modes }))
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    #[test]
    fn lowpass_and_highpass_fall_12_db_an_octave_beyond_cutoff() {
        assert!(db(gain_at("Lowpass", "1000", 100.0)).abs() < 0.5);
        let lp = db(gain_at("Lowpass", "1000", 2000.0));
        assert!((lp + 12.0).abs() < 1.5, "lowpass at 2 kHz: {lp} dB");
        assert!((db(gain_at("Lowpass", "1000", 1000.0)) + 3.0).abs() < 0.5, "-3 dB at cutoff");
        assert!(db(gain_at("Highpass", "1000", 10000.0)).abs() < 0.5);
        let hp = db(gain_at("Highpass", "1000", 500.0));
        assert!((hp + 12.0).abs() < 1.5, "highpass at 500 Hz: {hp} dB");
    }

    #[test]
    fn bandpass_peaks_and_notch_rejects_at_the_centre() {
        assert!(db(gain_at("Bandpass", "1000 2", 1000.0)).abs() < 0.5);
        assert!(db(gain_at("Bandpass", "1000 2", 4000.0)) < -12.0);
        assert!(db(gain_at("Notch", "1000 2", 1000.0)) < -30.0);
        assert!(db(gain_at("Notch", "1000 2", 4000.0)).abs() < 1.0);
    }

    #[test]
    fn raw_biquad_one_pole_and_dc_blocker() {
        // b0 = 0.5, b1 = 0.5: a two-tap average, a zero at Nyquist.
        assert!((gain_at("Biquad", "0.5 0.5 0 0 0", 100.0) - 1.0).abs() < 0.01);
        assert!(gain_at("Biquad", "0.5 0.5 0 0 0", 23000.0) < 0.07);
        let one_pole = gain_at("OnePole", "1000", 2000.0);
        assert!((one_pole - 0.447).abs() < 0.03, "one octave above: {one_pole}");
        assert!((gain_at("DCBlock", "", 1000.0) - 1.0).abs() < 0.01);
    }

    #[test]
    fn the_dc_blocker_removes_an_offset() {
        let (mut e, mut a) = one("DCBlock", "");
        e.add_transform("/patch", "Sig~", "dc", "0.5").unwrap();
        e.connect("/patch/dc/samplesOut", "/patch/t/samplesIn").unwrap();
        let x = render(&mut e, &mut a, "samplesOut", 1.0);
        assert!(x[x.len() - 1].abs() < 1e-3);
    }

    #[test]
    fn resonators_ring_at_their_modes() {
        let at = gain_at("Resonators", "1000 1 20", 1000.0);
        let off = gain_at("Resonators", "1000 1 20", 1500.0);
        assert!(at > 10.0 * off, "on mode {at}, off {off}");
    }
}
