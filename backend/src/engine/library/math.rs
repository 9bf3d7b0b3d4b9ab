//! Control-rate arithmetic, comparison, logic, math functions and unit
//! conversions. Binary operators follow Pd's hot/cold convention: `a`
//! (left, active) triggers, `b` (right, passive) is stored; the argument
//! sets `b`'s first value.

use super::{Args, TypeEntry};
use crate::engine::transform::{control_fn, Built, PortSpec};
use crate::engine::value::{Value, ValueType as T};

type Bin = fn(f64, f64) -> Value;
type Unary = fn(f64) -> f64;

fn num(x: f64) -> Value {
    Value::Float(x)
}
fn int(x: f64) -> i64 {
    x as i64
}

fn binary(name: &'static str, doc: &'static str, out: T, f: Bin) -> TypeEntry {
    TypeEntry::new(name, "math", doc, move |args: &Args| {
        let b = args.f(0, 0.0)?;
        let ports = vec![
            PortSpec::hot("a", T::Float, "Left operand; a value here computes and outputs").order(1),
            PortSpec::cold("b", T::Float, "Right operand, stored until the next `a`").order(0),
            PortSpec::outlet("out", out, "The result"),
        ];
        Ok(Built::new(ports).init("b", Value::Float(b)).control(control_fn(move |_, ctx| {
            let r = f(ctx.f(0), ctx.f(1));
            ctx.emit(2, r);
        })))
    })
}

fn unary(name: &'static str, doc: &'static str, f: Unary) -> TypeEntry {
    TypeEntry::new(name, "math", doc, move |_: &Args| {
        let ports = vec![
            PortSpec::hot("in", T::Float, "The operand"),
            PortSpec::outlet("out", T::Float, "The result"),
        ];
        Ok(Built::new(ports).control(control_fn(move |_, ctx| {
            let r = f(ctx.f(0));
            ctx.emit(1, Value::Float(r));
        })))
    })
}

pub(crate) fn mtof(m: f64) -> f64 {
    if m <= -1500.0 {
        0.0
    } else {
        440.0 * ((m.min(1499.0) - 69.0) / 12.0).exp2()
    }
}
pub(crate) fn ftom(f: f64) -> f64 {
    if f > 0.0 {
        69.0 + 12.0 * (f / 440.0).log2()
    } else {
        -1500.0
    }
}
/// Pd's convention: 100 dB is an RMS of 1, 0 dB or less is silence.
pub(crate) fn dbtorms(db: f64) -> f64 {
    if db <= 0.0 {
        0.0
    } else {
        10f64.powf((db.min(485.0) - 100.0) / 20.0)
    }
}
pub(crate) fn rmstodb(rms: f64) -> f64 {
    if rms <= 0.0 {
        0.0
    } else {
        (100.0 + 20.0 * rms.log10()).max(0.0)
    }
}

/// Γ(x) by the Lanczos approximation (g = 7, 9 terms), with reflection below 1/2.
pub(crate) fn gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..].iter().enumerate().fold(G[0], |s, (i, g)| s + g / (x + i as f64 + 1.0));
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * sum
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    let mut list = vec![
        binary("+", "Adds b to a", T::Float, |a, b| num(a + b)),
        binary("-", "Subtracts b from a", T::Float, |a, b| num(a - b)),
        binary("*", "Multiplies a by b", T::Float, |a, b| num(a * b)),
        binary("/", "Divides a by b (0 when b is 0, as in Pd)", T::Float, |a, b| {
            num(if b == 0.0 { 0.0 } else { a / b })
        }),
        binary("%", "Integer remainder of a by b, never negative (0 when b is 0)", T::Integer, |a, b| {
            Value::Integer(int(a).checked_rem_euclid(int(b)).unwrap_or(0))
        }),
        binary("<", "True when a is less than b", T::Boolean, |a, c| Value::Boolean(a < c)),
        binary(">", "True when a is greater than b", T::Boolean, |a, c| Value::Boolean(a > c)),
        binary("<=", "True when a is at most b", T::Boolean, |a, c| Value::Boolean(a <= c)),
        binary(">=", "True when a is at least b", T::Boolean, |a, c| Value::Boolean(a >= c)),
        binary("==", "True when a equals b", T::Boolean, |a, c| Value::Boolean(a == c)),
        binary("!=", "True when a differs from b", T::Boolean, |a, c| Value::Boolean(a != c)),
        binary("&&", "Logical and: true when a and b are both nonzero", T::Boolean, |a, c| {
            Value::Boolean(a != 0.0 && c != 0.0)
        }),
        binary("||", "Logical or: true when a or b is nonzero", T::Boolean, |a, c| {
            Value::Boolean(a != 0.0 || c != 0.0)
        }),
        binary("^", "Bitwise exclusive or of a and b as integers", T::Integer, |a, b| {
            Value::Integer(int(a) ^ int(b))
        }),
        binary(">>", "Shifts a right by b bits (as integers, b from 0 to 63)", T::Integer, |a, b| {
            Value::Integer(int(a) >> int(b).clamp(0, 63))
        }),
        binary("<<", "Shifts a left by b bits (as integers, b from 0 to 63)", T::Integer, |a, b| {
            Value::Integer(int(a).wrapping_shl(int(b).clamp(0, 63) as u32))
        }),
        binary("Atan2", "The angle of the point (b, a): atan2(a, b), in radians", T::Float, |a, b| {
            num(a.atan2(b))
        }),
        binary("Pow", "a raised to the power b", T::Float, |a, b| num(a.powf(b))),
        binary("Min", "The smaller of a and b", T::Float, |a, b| num(a.min(b))),
        binary("Max", "The larger of a and b", T::Float, |a, b| num(a.max(b))),
        TypeEntry::new("!", "math", "Logical not: true when the input is zero", |_: &Args| {
            let ports = vec![
                PortSpec::hot("in", T::Float, "The operand"),
                PortSpec::outlet("out", T::Boolean, "Not in"),
            ];
            Ok(Built::new(ports).control(control_fn(|_, ctx| {
                let r = ctx.f(0) == 0.0;
                ctx.emit(1, Value::Boolean(r));
            })))
        }),
        TypeEntry::new("Clip", "math", "Limits the input to [lo, hi] (arguments: lo hi)", |args: &Args| {
            let (lo, hi) = (args.f(0, 0.0)?, args.f(1, 1.0)?);
            let ports = vec![
                PortSpec::hot("in", T::Float, "The value to limit"),
                PortSpec::cold("lo", T::Float, "Lower bound"),
                PortSpec::cold("hi", T::Float, "Upper bound"),
                PortSpec::outlet("out", T::Float, "in, limited to [lo, hi]"),
            ];
            Ok(Built::new(ports).init("lo", Value::Float(lo)).init("hi", Value::Float(hi)).control(
                control_fn(|_, ctx| {
                    let r = ctx.f(0).max(ctx.f(1)).min(ctx.f(2));
                    ctx.emit(3, Value::Float(r));
                }),
            ))
        }),
        TypeEntry::new(
            "Scale",
            "math",
            "Maps [inlo, inhi] linearly onto [outlo, outhi] (arguments: inlo inhi outlo outhi)",
            |args: &Args| {
                let d = [args.f(0, 0.0)?, args.f(1, 1.0)?, args.f(2, 0.0)?, args.f(3, 1.0)?];
                let ports = vec![
                    PortSpec::hot("in", T::Float, "The value to map"),
                    PortSpec::cold("inlo", T::Float, "Input range start"),
                    PortSpec::cold("inhi", T::Float, "Input range end"),
                    PortSpec::cold("outlo", T::Float, "Output range start"),
                    PortSpec::cold("outhi", T::Float, "Output range end"),
                    PortSpec::outlet("out", T::Float, "The mapped value"),
                ];
                let mut built = Built::new(ports);
                for (i, v) in d.into_iter().enumerate() {
                    built.values[i + 1] = Value::Float(v);
                }
                Ok(built.control(control_fn(|_, ctx| {
                    let (x, a, b, c, d) = (ctx.f(0), ctx.f(1), ctx.f(2), ctx.f(3), ctx.f(4));
                    let r = if a == b { c } else { c + (x - a) * (d - c) / (b - a) };
                    ctx.emit(5, Value::Float(r));
                })))
            },
        ),
    ];
    let unaries: [(&'static str, &'static str, Unary); 23] = [
        ("Abs", "Absolute value", f64::abs),
        ("Acos", "Arc cosine, in radians", f64::acos),
        ("Asin", "Arc sine, in radians", f64::asin),
        ("Atan", "Arc tangent, in radians", f64::atan),
        ("Cos", "Cosine of an angle in radians", f64::cos),
        ("Sin", "Sine of an angle in radians", f64::sin),
        ("Tan", "Tangent of an angle in radians", f64::tan),
        ("Exp", "e raised to the input", f64::exp),
        ("Log", "Natural logarithm", f64::ln),
        ("Log10", "Base-10 logarithm", f64::log10),
        ("Log2", "Base-2 logarithm", f64::log2),
        ("Sqrt", "Square root", f64::sqrt),
        ("Gamma", "The gamma function, Γ(n) = (n-1)!", gamma),
        ("Floor", "Largest integer not above the input", f64::floor),
        ("Ceil", "Smallest integer not below the input", f64::ceil),
        ("Round", "Nearest integer, halves away from zero", f64::round),
        ("Tanh", "Hyperbolic tangent (a soft limit to ±1)", f64::tanh),
        ("Sign", "-1, 0 or 1 by the sign of the input", |x| if x == 0.0 { 0.0 } else { x.signum() }),
        ("Negate", "The input times -1", |x| -x),
        ("mtof", "MIDI note number to frequency in Hz (69 is 440 Hz)", mtof),
        ("ftom", "Frequency in Hz to MIDI note number", ftom),
        ("dbtorms", "Decibels to RMS amplitude, Pd's scale (100 dB is 1)", dbtorms),
        ("rmstodb", "RMS amplitude to decibels, Pd's scale (1 is 100 dB)", rmstodb),
    ];
    list.extend(unaries.into_iter().map(|(n, d, f)| unary(n, d, f)));
    list
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::engine::Value;

    /// Sends `a` (after `b`) into a math transform and reads `out`.
    fn apply(ty: &str, a: f64, b: Option<f64>) -> Value {
        let (mut e, _audio) = one(ty, "");
        if let Some(b) = b {
            set(&mut e, "b", Value::Float(b));
        }
        set(&mut e, if b.is_some() { "a" } else { "in" }, Value::Float(a));
        get(&e, "out")
    }

    #[test]
    fn binary_operators_compute_golden_values() {
        let cases: &[(&str, f64, f64, Value)] = &[
            ("+", 2.0, 3.5, Value::Float(5.5)),
            ("-", 2.0, 3.5, Value::Float(-1.5)),
            ("*", 2.0, 3.5, Value::Float(7.0)),
            ("/", 7.0, 2.0, Value::Float(3.5)),
            ("/", 7.0, 0.0, Value::Float(0.0)),
            ("%", -7.0, 3.0, Value::Integer(2)),
            ("%", 7.0, 0.0, Value::Integer(0)),
            ("<", 1.0, 2.0, Value::Boolean(true)),
            (">", 1.0, 2.0, Value::Boolean(false)),
            ("<=", 2.0, 2.0, Value::Boolean(true)),
            (">=", 1.0, 2.0, Value::Boolean(false)),
            ("==", 2.0, 2.0, Value::Boolean(true)),
            ("!=", 2.0, 2.0, Value::Boolean(false)),
            ("&&", 1.0, 0.0, Value::Boolean(false)),
            ("||", 1.0, 0.0, Value::Boolean(true)),
            ("^", 6.0, 3.0, Value::Integer(5)),
            (">>", 16.0, 2.0, Value::Integer(4)),
            ("<<", 1.0, 4.0, Value::Integer(16)),
            ("<<", 1.0, 99.0, Value::Integer(i64::MIN)),
            ("Atan2", 1.0, 1.0, Value::Float(std::f64::consts::FRAC_PI_4)),
            ("Pow", 2.0, 10.0, Value::Float(1024.0)),
            ("Min", 2.0, -1.0, Value::Float(-1.0)),
            ("Max", 2.0, -1.0, Value::Float(2.0)),
        ];
        for (ty, a, b, want) in cases {
            assert_eq!(&apply(ty, *a, Some(*b)), want, "{a} {ty} {b}");
        }
    }

    #[test]
    fn unary_functions_compute_golden_values() {
        let cases: &[(&str, f64, f64)] = &[
            ("Abs", -2.5, 2.5),
            ("Acos", 1.0, 0.0),
            ("Asin", 1.0, std::f64::consts::FRAC_PI_2),
            ("Atan", 1.0, std::f64::consts::FRAC_PI_4),
            ("Cos", 0.0, 1.0),
            ("Sin", std::f64::consts::FRAC_PI_2, 1.0),
            ("Tan", std::f64::consts::FRAC_PI_4, 1.0),
            ("Exp", 1.0, std::f64::consts::E),
            ("Log", std::f64::consts::E, 1.0),
            ("Log10", 1000.0, 3.0),
            ("Log2", 8.0, 3.0),
            ("Sqrt", 16.0, 4.0),
            ("Gamma", 5.0, 24.0),
            ("Gamma", 0.5, std::f64::consts::PI.sqrt()),
            ("Floor", -1.5, -2.0),
            ("Ceil", -1.5, -1.0),
            ("Round", 2.5, 3.0),
            ("Tanh", 0.0, 0.0),
            ("Sign", -3.0, -1.0),
            ("Negate", 3.0, -3.0),
            ("mtof", 69.0, 440.0),
            ("mtof", 81.0, 880.0),
            ("ftom", 220.0, 57.0),
            ("dbtorms", 100.0, 1.0),
            ("dbtorms", 80.0, 0.1),
            ("dbtorms", 0.0, 0.0),
            ("rmstodb", 1.0, 100.0),
            ("rmstodb", 0.01, 60.0),
        ];
        for (ty, x, want) in cases {
            let got = apply(ty, *x, None).as_f64().unwrap();
            assert!((got - want).abs() < 1e-9 * want.abs().max(1.0), "{ty}({x}) = {got}, want {want}");
        }
        assert_eq!(apply("!", 0.0, None), Value::Boolean(true));
        assert_eq!(apply("!", 2.0, None), Value::Boolean(false));
    }

    #[test]
    fn clip_and_scale_use_their_arguments() {
        let (mut e, _a) = one("Clip", "-1 1");
        set(&mut e, "in", Value::Float(5.0));
        assert_eq!(get(&e, "out"), Value::Float(1.0));
        set(&mut e, "in", Value::Float(-0.5));
        assert_eq!(get(&e, "out"), Value::Float(-0.5));
        let (mut e, _a) = one("Scale", "0 127 0 1");
        set(&mut e, "in", Value::Float(63.5));
        assert_eq!(get(&e, "out"), Value::Float(0.5));
    }

    #[test]
    fn the_cold_inlet_does_not_output() {
        let (mut e, _a) = one("+", "1");
        set(&mut e, "b", Value::Float(10.0));
        assert_eq!(get(&e, "out"), Value::Float(0.0));
        set(&mut e, "a", Value::Integer(2));
        assert_eq!(get(&e, "out"), Value::Float(12.0));
    }
}
