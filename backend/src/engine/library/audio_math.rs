//! Audio-rate math: sums, products, mixing, gain, panning, crossfades and
//! waveshapers. Control values that scale audio glide over one block so
//! that changes do not click.

use super::math::mtof;
use super::{Args, TypeEntry};
use crate::engine::transform::{Built, DspNode, PortSpec};
use crate::engine::value::{Value, ValueType as T};

/// A control value that glides to its target over one block.
#[derive(Clone, Copy)]
pub(crate) struct Smoothed {
    pub current: f32,
    pub target: f32,
}

impl Smoothed {
    pub(crate) fn new(x: f32) -> Smoothed {
        Smoothed { current: x, target: x }
    }
    /// Per-sample values for this block, by calling `f(i, value)`.
    #[inline]
    pub(crate) fn ramp(&mut self, n: usize, mut f: impl FnMut(usize, f32)) {
        if self.current == self.target {
            (0..n).for_each(|i| f(i, self.current));
        } else {
            let step = (self.target - self.current) / n as f32;
            (0..n).for_each(|i| f(i, self.current + step * (i + 1) as f32));
            self.current = self.target;
        }
    }
}

/// `out = f(a, b + value)`: ports 0 `a`, 1 `b`, 2 `value`, 3 `samplesOut`.
struct Binary {
    f: fn(f32, f32) -> f32,
    value: f32,
}

impl DspNode for Binary {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let (a, b) = inputs.split_at(out.len());
        for ((o, a), b) in out.iter_mut().zip(a).zip(b) {
            *o = (self.f)(*a, *b + self.value);
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 2 {
            self.value = value as f32;
        }
    }
}

fn binary(name: &'static str, doc: &'static str, f: fn(f32, f32) -> f32) -> TypeEntry {
    TypeEntry::new(name, "audio math", doc, move |args: &Args| {
        let value = args.f(0, 0.0)?;
        let ports = vec![
            PortSpec::cold("a", T::Samples, "First operand"),
            PortSpec::cold("b", T::Samples, "Second operand (plus value)"),
            PortSpec::cold("value", T::Float, "Added to b: the operand when b is unconnected"),
            PortSpec::outlet("samplesOut", T::Samples, "The result"),
        ];
        Ok(Built::new(ports).init("value", Value::Float(value)).dsp(Binary { f, value: value as f32 }))
    })
}

/// `out = f(in, p1, p2)`: ports 0 `samplesIn`, then parameters, then `samplesOut`.
struct Unary {
    f: fn(f32, f32, f32) -> f32,
    p: [f32; 2],
}

impl DspNode for Unary {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        for (o, x) in out.iter_mut().zip(inputs) {
            *o = (self.f)(*x, self.p[0], self.p[1]);
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        if (1..=2).contains(&port) {
            self.p[port - 1] = value as f32;
        }
    }
}

fn unary(
    name: &'static str,
    doc: &'static str,
    params: &[(&str, &str, f64)],
    f: fn(f32, f32, f32) -> f32,
) -> TypeEntry {
    let params: Vec<(String, String, f64)> =
        params.iter().map(|(n, d, v)| (n.to_string(), d.to_string(), *v)).collect();
    TypeEntry::new(name, "audio math", doc, move |args: &Args| {
        let mut ports = vec![PortSpec::cold("samplesIn", T::Samples, "The signal")];
        let mut p = [0.0f32; 2];
        let mut inits = vec![];
        for (i, (n, d, default)) in params.iter().enumerate() {
            let v = args.f(i, *default)?;
            p[i] = v as f32;
            ports.push(PortSpec::cold(n, T::Float, d));
            inits.push((n.clone(), v));
        }
        ports.push(PortSpec::outlet("samplesOut", T::Samples, "The result"));
        let mut built = Built::new(ports);
        for (n, v) in inits {
            built = built.init(&n, Value::Float(v));
        }
        Ok(built.dsp(Unary { f, p }))
    })
}

/// N inputs summed, then scaled by `gain`.
struct Mix {
    n: usize,
    gain: Smoothed,
}

impl DspNode for Mix {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let b = out.len();
        out.fill(0.0);
        for k in 0..self.n {
            crate::engine::simd::add(out, &inputs[k * b..(k + 1) * b]);
        }
        self.gain.ramp(b, |i, g| out[i] *= g);
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == self.n {
            self.gain.target = value as f32;
        }
    }
}

/// `in * gain`, gliding.
struct Gain(Smoothed);

impl DspNode for Gain {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        self.0.ramp(out.len(), |i, g| out[i] = inputs[i] * g);
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 1 {
            self.0.target = value as f32;
        }
    }
}

/// Equal-power pan to two outlets.
struct Pan(Smoothed);

impl DspNode for Pan {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let b = inputs.len();
        let (left, right) = out.split_at_mut(b);
        self.0.ramp(b, |i, p| {
            let angle = (p.clamp(-1.0, 1.0) + 1.0) * std::f32::consts::FRAC_PI_4;
            left[i] = inputs[i] * angle.cos();
            right[i] = inputs[i] * angle.sin();
        });
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 1 {
            self.0.target = value as f32;
        }
    }
}

/// Linear crossfade: `a·(1-x) + b·x`.
struct Crossfade(Smoothed);

impl DspNode for Crossfade {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let b = out.len();
        let (a, bb) = inputs.split_at(b);
        self.0.ramp(b, |i, x| {
            let x = x.clamp(0.0, 1.0);
            out[i] = a[i] * (1.0 - x) + bb[i] * x;
        });
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 2 {
            self.0.target = value as f32;
        }
    }
}

/// Holds the input while `trigger` is at or below zero, follows it above.
struct SampleHold(f32);

impl DspNode for SampleHold {
    fn reset(&mut self) {
        self.0 = 0.0;
    }

    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let b = out.len();
        let (x, trigger) = inputs.split_at(b);
        for i in 0..b {
            if trigger[i] > 0.0 {
                self.0 = x[i];
            }
            out[i] = self.0;
        }
    }
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        binary("Add~", "Adds two signals (argument: a constant added to b)", |a, b| a + b),
        binary("Subtract~", "Subtracts b from a", |a, b| a - b),
        binary("Multiply~", "Multiplies two signals (ring modulation; argument: constant)", |a, b| a * b),
        binary("Min~", "The smaller of a and b, sample by sample", f32::min),
        binary("Max~", "The larger of a and b, sample by sample", f32::max),
        unary("Abs~", "Absolute value of each sample (full-wave rectifier)", &[], |x, _, _| x.abs()),
        unary(
            "Clip~",
            "Limits each sample to [lo, hi] (arguments: lo hi)",
            &[("lo", "Lower bound", -1.0), ("hi", "Upper bound", 1.0)],
            |x, lo, hi| x.max(lo).min(hi),
        ),
        unary(
            "Tanh~",
            "Soft clipping: tanh(drive · x) (argument: drive)",
            &[("drive", "Input gain before the curve", 1.0)],
            |x, d, _| (x * d).tanh(),
        ),
        unary("Wrap~", "The fractional part of each sample, 0 to 1", &[], |x, _, _| x - x.floor()),
        unary("Mtof~", "MIDI note numbers to frequencies, sample by sample", &[], |x, _, _| {
            mtof(x as f64) as f32
        }),
        TypeEntry::new(
            "Mix~",
            "audio math",
            "Sums N signals and scales the sum by gain (arguments: N gain)",
            |args: &Args| {
                let n = args.count(0, 2, 64)?;
                let gain = args.f(1, 1.0)?;
                let mut ports: Vec<PortSpec> = (0..n)
                    .map(|i| PortSpec::cold(&format!("in{i}"), T::Samples, "A signal to mix").order(i as i32))
                    .collect();
                ports.push(PortSpec::cold("gain", T::Float, "Scale of the sum (glides over a block)"));
                ports.push(PortSpec::outlet("samplesOut", T::Samples, "The mix"));
                Ok(Built::new(ports)
                    .init("gain", Value::Float(gain))
                    .dsp(Mix { n, gain: Smoothed::new(gain as f32) }))
            },
        ),
        TypeEntry::new(
            "Gain~",
            "audio math",
            "Scales a signal, gliding on changes (argument: gain)",
            |args: &Args| {
                let gain = args.f(0, 1.0)?;
                let ports = vec![
                    PortSpec::cold("samplesIn", T::Samples, "The signal"),
                    PortSpec::cold("gain", T::Float, "The factor (glides over a block)"),
                    PortSpec::outlet("samplesOut", T::Samples, "The scaled signal"),
                ];
                Ok(Built::new(ports).init("gain", Value::Float(gain)).dsp(Gain(Smoothed::new(gain as f32))))
            },
        ),
        TypeEntry::new(
            "Pan~",
            "audio math",
            "Equal-power pan of a signal between left and right (argument: pan, -1 to 1)",
            |args: &Args| {
                let pan = args.f(0, 0.0)?;
                let ports = vec![
                    PortSpec::cold("samplesIn", T::Samples, "The signal"),
                    PortSpec::cold("pan", T::Float, "-1 left, 0 centre, 1 right").range(-1.0, 1.0),
                    PortSpec::outlet("left", T::Samples, "Left channel"),
                    PortSpec::outlet("right", T::Samples, "Right channel"),
                ];
                Ok(Built::new(ports).init("pan", Value::Float(pan)).dsp(Pan(Smoothed::new(pan as f32))))
            },
        ),
        TypeEntry::new(
            "Crossfade~",
            "audio math",
            "Fades linearly from a (x = 0) to b (x = 1)",
            |args: &Args| {
                let x = args.f(0, 0.0)?;
                let ports = vec![
                    PortSpec::cold("a", T::Samples, "Heard at x = 0"),
                    PortSpec::cold("b", T::Samples, "Heard at x = 1"),
                    PortSpec::cold("x", T::Float, "Position, 0 to 1 (glides over a block)").range(0.0, 1.0),
                    PortSpec::outlet("samplesOut", T::Samples, "The blend"),
                ];
                Ok(Built::new(ports).init("x", Value::Float(x)).dsp(Crossfade(Smoothed::new(x as f32))))
            },
        ),
        TypeEntry::new(
            "SampleHold~",
            "audio math",
            "Samples the input while trigger is positive and holds it otherwise",
            |_: &Args| {
                let ports = vec![
                    PortSpec::cold("samplesIn", T::Samples, "The signal to sample"),
                    PortSpec::cold("trigger", T::Samples, "Positive: follow; zero or negative: hold"),
                    PortSpec::outlet("samplesOut", T::Samples, "The held signal"),
                ];
                Ok(Built::new(ports).dsp(SampleHold(0.0)))
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::{Engine, Value};

    /// `t` fed by constant signals on its inlets `ins`.
    fn fed(ty: &str, args: &str, ins: &[(&str, f64)]) -> (Engine, crate::engine::AudioSide) {
        let (mut e, a) = one(ty, args);
        for (i, (port, v)) in ins.iter().enumerate() {
            e.add_transform("/patch", "Sig~", &format!("s{i}"), &v.to_string()).unwrap();
            e.connect(&format!("/patch/s{i}/samplesOut"), &format!("/patch/t/{port}")).unwrap();
        }
        (e, a)
    }

    fn steady(ty: &str, args: &str, ins: &[(&str, f64)], out: &str) -> f32 {
        let (mut e, mut a) = fed(ty, args, ins);
        let x = render(&mut e, &mut a, out, 0.01);
        x[x.len() - 1]
    }

    #[test]
    fn binary_and_unary_signal_math() {
        assert_eq!(steady("Add~", "", &[("a", 0.5), ("b", 0.25)], "samplesOut"), 0.75);
        assert_eq!(steady("Add~", "1", &[("a", 0.5)], "samplesOut"), 1.5);
        assert_eq!(steady("Subtract~", "", &[("a", 0.5), ("b", 0.25)], "samplesOut"), 0.25);
        assert_eq!(steady("Multiply~", "", &[("a", 0.5), ("b", -0.5)], "samplesOut"), -0.25);
        assert_eq!(steady("Min~", "", &[("a", 0.5), ("b", -0.5)], "samplesOut"), -0.5);
        assert_eq!(steady("Max~", "", &[("a", 0.5), ("b", -0.5)], "samplesOut"), 0.5);
        assert_eq!(steady("Abs~", "", &[("samplesIn", -0.5)], "samplesOut"), 0.5);
        assert_eq!(steady("Clip~", "-0.2 0.2", &[("samplesIn", -0.5)], "samplesOut"), -0.2);
        assert!((steady("Tanh~", "2", &[("samplesIn", 0.5)], "samplesOut") - 1f32.tanh()).abs() < 1e-6);
        assert_eq!(steady("Wrap~", "", &[("samplesIn", 1.25)], "samplesOut"), 0.25);
        assert!((steady("Mtof~", "", &[("samplesIn", 69.0)], "samplesOut") - 440.0).abs() < 1e-3);
        assert_eq!(steady("SampleHold~", "", &[("samplesIn", 0.3), ("trigger", 1.0)], "samplesOut"), 0.3);
    }

    #[test]
    fn mix_gain_pan_crossfade() {
        assert_eq!(steady("Mix~", "3 0.5", &[("in0", 0.5), ("in1", 0.25), ("in2", 0.25)], "samplesOut"), 0.5);
        assert_eq!(steady("Gain~", "0.5", &[("samplesIn", 0.5)], "samplesOut"), 0.25);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((steady("Pan~", "0", &[("samplesIn", 1.0)], "left") - h).abs() < 1e-6);
        assert!(steady("Pan~", "1", &[("samplesIn", 1.0)], "left").abs() < 1e-6);
        assert!((steady("Pan~", "1", &[("samplesIn", 1.0)], "right") - 1.0).abs() < 1e-6);
        assert!((steady("Crossfade~", "0.25", &[("a", 1.0), ("b", 0.0)], "samplesOut") - 0.75).abs() < 1e-6);
    }

    #[test]
    fn a_gain_change_glides_over_one_block_instead_of_jumping() {
        let (mut e, mut a) = fed("Gain~", "0", &[("samplesIn", 1.0)]);
        render(&mut e, &mut a, "samplesOut", 0.01);
        set(&mut e, "gain", Value::Float(1.0));
        let x = render(&mut e, &mut a, "samplesOut", 64.0 / 48000.0);
        assert!(x.windows(2).all(|w| w[1] - w[0] <= 1.0 / 64.0 + 1e-6), "no step larger than 1/64");
        assert_eq!(x[63], 1.0);
    }
}
