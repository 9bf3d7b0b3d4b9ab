//! Delay-based transforms: a delay line, feedback comb, Schroeder allpass
//! and a Freeverb-style reverb. Buffers are allocated when the transform is
//! built (control side); changing a delay time never allocates.

use super::{Args, TypeEntry};
use crate::engine::transform::{Built, DspNode, PortSpec};
use crate::engine::value::{Value, ValueType as T};

/// A circular buffer read `delay` samples behind the write head.
struct Line {
    buf: Vec<f32>,
    at: usize,
}

impl Line {
    fn new(len: usize) -> Line {
        Line { buf: vec![0.0; len.max(2)], at: 0 }
    }
    #[inline]
    fn read(&self, delay: usize) -> f32 {
        let n = self.buf.len();
        self.buf[(self.at + n - delay.min(n - 1)) % n]
    }
    fn clear(&mut self) {
        self.buf.fill(0.0);
    }
    #[inline]
    fn write(&mut self, x: f32) {
        self.buf[self.at] = if x.abs() < 1e-30 { 0.0 } else { x };
        self.at = (self.at + 1) % self.buf.len();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Delay,
    Comb,
    Allpass,
}

/// Ports: 0 `samplesIn`, 1 `time` (ms), 2 `feedback` (Comb, Allpass), last `samplesOut`.
struct Delay {
    kind: Kind,
    line: Line,
    rate: f64,
    delay: usize,
    g: f32,
}

impl DspNode for Delay {
    fn reset(&mut self) {
        self.line.clear();
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        for (o, x) in out.iter_mut().zip(inputs) {
            let d = self.line.read(self.delay);
            *o = match self.kind {
                Kind::Delay => {
                    self.line.write(*x);
                    d
                }
                Kind::Comb => {
                    self.line.write(x + self.g * d);
                    d
                }
                Kind::Allpass => {
                    let v = x + self.g * d;
                    self.line.write(v);
                    d - self.g * v
                }
            };
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        match port {
            1 => self.delay = ((value.max(0.0) * self.rate / 1000.0).round() as usize).max(1),
            2 => self.g = value.clamp(-0.999, 0.999) as f32,
            _ => {}
        }
    }
}

fn delay(name: &'static str, doc: &'static str, kind: Kind) -> TypeEntry {
    TypeEntry::new(name, "delay", doc, move |args: &Args| {
        let time = args.f(0, 100.0)?;
        let max = args.f(1, time.max(1000.0))?;
        if !(0.0..=60_000.0).contains(&max) || time > max {
            return Err("the delay time must be within the maximum, at most 60000 ms".into());
        }
        let g = args.f(2, 0.5)?;
        let mut ports = vec![
            PortSpec::cold("samplesIn", T::Samples, "The signal"),
            PortSpec::cold("time", T::Float, "Delay, ms (up to the maximum given when created)"),
        ];
        if kind != Kind::Delay {
            ports.push(
                PortSpec::cold("feedback", T::Float, "Feedback gain, -0.999 to 0.999").range(-0.999, 0.999),
            );
        }
        ports.push(PortSpec::outlet("samplesOut", T::Samples, "The delayed signal"));
        let rate = args.setup.rate;
        let mut node =
            Delay { kind, line: Line::new((max * rate / 1000.0) as usize + 2), rate, delay: 1, g: 0.0 };
        node.set(1, time);
        node.set(2, g);
        let mut built = Built::new(ports).init("time", Value::Float(time));
        if kind != Kind::Delay {
            built = built.init("feedback", Value::Float(g));
        }
        Ok(built.dsp(node))
    })
}

/// Freeverb: eight damped combs in parallel, then four allpasses in series.
struct Reverb {
    combs: Vec<(Line, usize, f32)>,
    allpasses: Vec<(Line, usize)>,
    room: f32,
    damp: f32,
    mix: f32,
}

impl DspNode for Reverb {
    fn reset(&mut self) {
        self.combs.iter_mut().for_each(|(line, _, z)| {
            line.clear();
            *z = 0.0;
        });
        self.allpasses.iter_mut().for_each(|(line, _)| line.clear());
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        for (o, x) in out.iter_mut().zip(inputs) {
            let input = x * 0.015;
            let mut wet = 0.0;
            for (line, len, store) in &mut self.combs {
                let d = line.read(*len);
                *store = d * (1.0 - self.damp) + *store * self.damp;
                line.write(input + *store * self.room);
                wet += d;
            }
            for (line, len) in &mut self.allpasses {
                let d = line.read(*len);
                line.write(wet + d * 0.5);
                wet = d - wet;
            }
            *o = x * (1.0 - self.mix) + wet * 3.0 * self.mix;
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        let v = value.clamp(0.0, 1.0) as f32;
        match port {
            1 => self.room = 0.7 + 0.28 * v,
            2 => self.damp = v * 0.4,
            3 => self.mix = v,
            _ => {}
        }
    }
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        delay("DelayLine", "Delays a signal (arguments: time max, in ms)", Kind::Delay),
        delay("Comb", "Feedback comb filter (arguments: time max feedback)", Kind::Comb),
        delay(
            "Allpass",
            "Schroeder allpass: echoes with a flat spectrum (arguments: time max feedback)",
            Kind::Allpass,
        ),
        TypeEntry::new(
            "Reverb",
            "delay",
            "A simple reverb in the style of Freeverb (arguments: room damp mix, 0 to 1)",
            |args: &Args| {
                let (room, damp, mix) = (args.f(0, 0.5)?, args.f(1, 0.5)?, args.f(2, 0.3)?);
                let scale = args.setup.rate / 44100.0;
                let len = |n: usize| (n as f64 * scale) as usize;
                let combs = [1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617]
                    .map(|n| (Line::new(len(n) + 1), len(n), 0.0));
                let allpasses = [556, 441, 341, 225].map(|n| (Line::new(len(n) + 1), len(n)));
                let ports = vec![
                    PortSpec::cold("samplesIn", T::Samples, "The dry signal"),
                    PortSpec::cold("room", T::Float, "Room size, 0 to 1 (longer tail)").range(0.0, 1.0),
                    PortSpec::cold("damp", T::Float, "High-frequency damping, 0 to 1").range(0.0, 1.0),
                    PortSpec::cold("mix", T::Float, "Wet share, 0 (dry) to 1 (wet)").range(0.0, 1.0),
                    PortSpec::outlet("samplesOut", T::Samples, "Dry and wet mixed"),
                ];
                let mut node = Reverb {
                    combs: combs.into(),
                    allpasses: allpasses.into(),
                    room: 0.0,
                    damp: 0.0,
                    mix: 0.0,
                };
                node.set(1, room);
                node.set(2, damp);
                node.set(3, mix);
                Ok(Built::new(ports)
                    .init("room", Value::Float(room))
                    .init("damp", Value::Float(damp))
                    .init("mix", Value::Float(mix))
                    .dsp(node))
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::{Engine, Value};

    /// `t`'s response to a unit step.
    fn step_response(ty: &str, args: &str, seconds: f64) -> Vec<f32> {
        let (mut e, mut a) = one(ty, args);
        add_step(&mut e);
        render(&mut e, &mut a, "samplesOut", seconds)
    }

    fn add_step(e: &mut Engine) {
        e.add_transform("/patch", "Sig~", "imp", "1").unwrap();
        e.connect("/patch/imp/samplesOut", "/patch/t/samplesIn").unwrap();
    }

    #[test]
    fn a_delay_line_shifts_the_signal_by_its_time() {
        let (mut e, mut a) = one("DelayLine", "10");
        e.add_transform("/patch", "Sinewave", "src", "100").unwrap();
        e.connect("/patch/src/samplesOut", "/patch/t/samplesIn").unwrap();
        let x = render(&mut e, &mut a, "samplesOut", 0.1);
        // 10 ms late: the output at t is the sine at t - 10 ms.
        let at = |ms: f64| x[(ms * 48.0) as usize];
        let sine = |ms: f64| (std::f64::consts::TAU * 100.0 * ms / 1000.0).sin() as f32;
        for ms in [30.0, 32.5, 41.0] {
            assert!((at(ms) - sine(ms - 10.0)).abs() < 1e-3, "{ms} ms");
        }
        assert!(x[..(10.0 * 48.0) as usize - 1].iter().all(|v| *v == 0.0), "silent before the delay");
    }

    #[test]
    fn comb_repeats_and_decays_by_its_feedback() {
        // Step input: the comb's output climbs by g^k every 10 ms
        // (read 100 samples into each period, past the first block's fade-in).
        let x = step_response("Comb", "10 100 0.5", 0.05);
        let at = |ms: f64| x[(ms * 48.0) as usize + 100];
        assert!((at(10.0) - 1.0).abs() < 1e-4);
        assert!((at(20.0) - 1.5).abs() < 1e-4);
        assert!((at(30.0) - 1.75).abs() < 1e-4);
    }

    #[test]
    fn allpass_passes_a_sine_at_unit_gain() {
        let g = gain_at("Allpass", "7 100 0.7", 440.0);
        assert!((g - 1.0).abs() < 0.02, "{g}");
    }

    #[test]
    fn reverb_has_a_tail_after_the_input_stops() {
        let (mut e, mut a) = one("Reverb", "0.8 0.2 1");
        add_step(&mut e);
        render(&mut e, &mut a, "samplesOut", 0.05);
        e.set_value("/patch/imp/value", Value::Float(0.0)).unwrap();
        let tail = render(&mut e, &mut a, "samplesOut", 0.5);
        assert!(rms(&tail[..4800]) > 1e-3, "a tail: {}", rms(&tail[..4800]));
        assert!(rms(&tail[tail.len() - 4800..]) < rms(&tail[..4800]), "that decays");
    }
}
