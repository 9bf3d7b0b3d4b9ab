//! Envelopes: ADSR, AR and breakpoint segments, all at audio rate, with
//! times in milliseconds. Gates and triggers arrive at block boundaries.

use super::sources::table_data;
use super::{Args, TypeEntry};
use crate::engine::transform::{control_fn, Built, DspNode, PortSpec};
use crate::engine::value::{Value, ValueType as T};

/// A linear segment generator: heads for `target`, `step` per sample.
#[derive(Clone, Copy, Default)]
struct Ramp {
    level: f32,
    target: f32,
    step: f32,
}

impl Ramp {
    fn go(&mut self, target: f32, ms: f32, rate: f32) {
        let samples = (ms * rate / 1000.0).max(1.0);
        self.target = target;
        self.step = (target - self.level) / samples;
    }
    /// The next sample; true once the target is reached.
    #[inline]
    fn next(&mut self) -> (f32, bool) {
        let done = (self.step >= 0.0 && self.level + self.step >= self.target)
            || (self.step < 0.0 && self.level + self.step <= self.target);
        self.level = if done { self.target } else { self.level + self.step };
        (self.level, done)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Idle,
    Attack,
    Decay,
    Sustain,
    Release,
}

/// Ports: 0 `gate`, 1 `attack`, 2 `decay`, 3 `sustain`, 4 `release`, 5 `samplesOut`.
/// AR uses the same machine with sustain 1 and a trigger instead of a gate.
struct Adsr {
    rate: f32,
    p: [f32; 5],
    stage: Stage,
    ramp: Ramp,
    /// AR: after the attack, release at once.
    one_shot: bool,
}

impl DspNode for Adsr {
    fn reset(&mut self) {
        self.stage = Stage::Idle;
        self.ramp = Ramp { level: 0.0, target: 0.0, step: 0.0 };
    }

    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        for o in out.iter_mut() {
            let (level, done) = match self.stage {
                Stage::Idle | Stage::Sustain => (self.ramp.level, false),
                _ => self.ramp.next(),
            };
            *o = level;
            if done {
                match self.stage {
                    Stage::Attack if self.one_shot => {
                        self.stage = Stage::Release;
                        self.ramp.go(0.0, self.p[4], self.rate);
                    }
                    Stage::Attack => {
                        self.stage = Stage::Decay;
                        self.ramp.go(self.p[3], self.p[2], self.rate);
                    }
                    Stage::Decay => self.stage = Stage::Sustain,
                    Stage::Release => self.stage = Stage::Idle,
                    _ => {}
                }
            }
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        match port {
            0 if value > 0.0 => {
                self.stage = Stage::Attack;
                self.ramp.go(1.0, self.p[1], self.rate);
            }
            0 if !self.one_shot && self.stage != Stage::Idle => {
                self.stage = Stage::Release;
                self.ramp.go(0.0, self.p[4], self.rate);
            }
            1..=4 => self.p[port] = value.max(0.0) as f32,
            _ => {}
        }
    }
}

/// Breakpoints `level ms level ms ...` played from the current level on each trigger.
struct Segments {
    rate: f32,
    points: Box<[f32]>,
    next: usize,
    ramp: Ramp,
    running: bool,
}

impl DspNode for Segments {
    fn reset(&mut self) {
        self.running = false;
        self.ramp = Ramp { level: 0.0, target: 0.0, step: 0.0 };
    }

    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        for o in out.iter_mut() {
            if !self.running {
                *o = self.ramp.level;
                continue;
            }
            let (level, done) = self.ramp.next();
            *o = level;
            if done {
                self.advance();
            }
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 0 && value > 0.0 {
            self.next = 0;
            self.running = true;
            self.advance();
        }
    }
    fn set_data(&mut self, data: Box<[f32]>) -> Option<Box<[f32]>> {
        self.running = false;
        Some(std::mem::replace(&mut self.points, data))
    }
}

impl Segments {
    fn advance(&mut self) {
        match self.points.get(self.next..self.next + 2) {
            Some(&[level, ms]) => {
                self.ramp.go(level, ms, self.rate);
                self.next += 2;
            }
            _ => self.running = false,
        }
    }
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        TypeEntry::new(
            "ADSR",
            "envelope",
            "Attack-decay-sustain-release envelope from 0 to 1 (arguments: attack decay sustain release, ms and level)",
            |args: &Args| {
                let p = [0.0, args.f(0, 10.0)?, args.f(1, 100.0)?, args.f(2, 0.5)?, args.f(3, 200.0)?];
                let ports = vec![
                    PortSpec::hot("gate", T::Float, "Above 0 starts the attack; 0 starts the release"),
                    PortSpec::cold("attack", T::Float, "Attack time, ms"),
                    PortSpec::cold("decay", T::Float, "Decay time, ms"),
                    PortSpec::cold("sustain", T::Float, "Sustain level, 0 to 1").range(0.0, 1.0),
                    PortSpec::cold("release", T::Float, "Release time, ms"),
                    PortSpec::outlet("samplesOut", T::Samples, "The envelope"),
                ];
                let node = Adsr {
                    rate: args.setup.rate as f32,
                    p: p.map(|x| x as f32),
                    stage: Stage::Idle,
                    ramp: Ramp::default(),
                    one_shot: false,
                };
                let mut built = Built::new(ports).dsp(node);
                for (i, n) in ["attack", "decay", "sustain", "release"].iter().enumerate() {
                    built = built.init(n, Value::Float(p[i + 1]));
                }
                Ok(built)
            },
        ),
        TypeEntry::new("AR", "envelope", "Attack-release envelope fired by a trigger (arguments: attack release, ms)", |args: &Args| {
            let (attack, release) = (args.f(0, 10.0)?, args.f(1, 200.0)?);
            let ports = vec![
                PortSpec::hot("trigger", T::Float, "Above 0 fires the envelope"),
                PortSpec::cold("attack", T::Float, "Attack time, ms"),
                PortSpec::cold("decay", T::Float, "Unused by AR (kept so ports line up with ADSR)"),
                PortSpec::cold("sustain", T::Float, "Unused by AR"),
                PortSpec::cold("release", T::Float, "Release time, ms"),
                PortSpec::outlet("samplesOut", T::Samples, "The envelope"),
            ];
            let node = Adsr {
                rate: args.setup.rate as f32,
                p: [0.0, attack as f32, 0.0, 1.0, release as f32],
                stage: Stage::Idle,
                ramp: Ramp::default(),
                one_shot: true,
            };
            Ok(Built::new(ports)
                .init("attack", Value::Float(attack))
                .init("release", Value::Float(release))
                .init("sustain", Value::Float(1.0))
                .dsp(node))
        }),
        TypeEntry::new(
            "Segments",
            "envelope",
            "Line segments: on a trigger, ramps through level/time pairs (arguments: level ms level ms ...)",
            |args: &Args| {
                let points: Vec<f32> =
                    (0..args.words.len()).map(|i| args.f(i, 0.0).map(|x| x as f32)).collect::<Result<_, _>>()?;
                if !points.len().is_multiple_of(2) {
                    return Err("give level and time pairs".into());
                }
                let ports = vec![
                    PortSpec::hot("trigger", T::Float, "Above 0 starts from the first pair"),
                    PortSpec::hot("points", T::List, "New level/time pairs").group(1),
                    PortSpec::outlet("samplesOut", T::Samples, "The envelope"),
                ];
                let node = Segments {
                    rate: args.setup.rate as f32,
                    points: points.clone().into_boxed_slice(),
                    next: 0,
                    ramp: Ramp::default(),
                    running: false,
                };
                let init = Value::List(points.iter().map(|x| Value::Float(*x as f64)).collect());
                Ok(Built::new(ports).init("points", init).dsp(node).control(control_fn(|inlet, ctx| {
                    if inlet == 1 {
                        if let Some(data) = table_data(&ctx.values[1]).filter(|d| d.len().is_multiple_of(2)) {
                            ctx.send_data(data);
                        }
                    }
                })))
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::Value;

    const MS: f64 = 48.0; // samples per millisecond

    #[test]
    fn adsr_attacks_decays_sustains_and_releases() {
        let (mut e, mut a) = one("ADSR", "10 20 0.5 40");
        set(&mut e, "gate", Value::Float(1.0));
        let x = render(&mut e, &mut a, "samplesOut", 0.1);
        let at = |ms: f64| x[(ms * MS) as usize];
        assert!((at(5.0) - 0.5).abs() < 0.02, "half way up the attack: {}", at(5.0));
        assert!((at(10.5) - 1.0).abs() < 0.03, "top: {}", at(10.5));
        assert!((at(20.0) - 0.75).abs() < 0.03, "half way down the decay: {}", at(20.0));
        assert!((at(80.0) - 0.5).abs() < 1e-6, "sustain");
        set(&mut e, "gate", Value::Float(0.0));
        let y = render(&mut e, &mut a, "samplesOut", 0.1);
        assert!((y[(20.0 * MS) as usize] - 0.25).abs() < 0.03, "half way through the release");
        assert_eq!(y[y.len() - 1], 0.0);
    }

    #[test]
    fn ar_rises_then_falls_without_a_gate_off() {
        let (mut e, mut a) = one("AR", "10 10");
        set(&mut e, "trigger", Value::Float(1.0));
        let x = render(&mut e, &mut a, "samplesOut", 0.05);
        assert!((x[(10.0 * MS) as usize] - 1.0).abs() < 0.03);
        assert!((x[(15.0 * MS) as usize] - 0.5).abs() < 0.03);
        assert_eq!(x[x.len() - 1], 0.0);
    }

    #[test]
    fn segments_follow_their_breakpoints() {
        let (mut e, mut a) = one("Segments", "1 10 0.2 10");
        set(&mut e, "trigger", Value::Float(1.0));
        let x = render(&mut e, &mut a, "samplesOut", 0.05);
        assert!((x[(10.0 * MS) as usize] - 1.0).abs() < 0.03);
        assert!((x[(15.0 * MS) as usize] - 0.6).abs() < 0.03);
        assert!((x[x.len() - 1] - 0.2).abs() < 1e-6);
        set(&mut e, "points", Value::List(vec![Value::Float(0.0), Value::Float(5.0)]));
        set(&mut e, "trigger", Value::Float(1.0));
        let y = render(&mut e, &mut a, "samplesOut", 0.02);
        assert_eq!(y[y.len() - 1], 0.0);
    }
}
