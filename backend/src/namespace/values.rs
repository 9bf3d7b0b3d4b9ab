//! Engine values as OSC arguments and back, and the OSC type tag of a port type.

use crate::engine::{Value, ValueType};
use crate::osc::codec::Arg;

/// A value as OSC arguments.
pub(crate) fn value_args(v: &Value) -> Vec<Arg> {
    match v {
        Value::Nil => vec![Arg::Nil],
        Value::Bang => vec![Arg::Impulse],
        Value::Float(x) => vec![Arg::Float(*x as f32)],
        Value::Integer(i) => vec![i32::try_from(*i).map_or(Arg::Long(*i), Arg::Int)],
        Value::Boolean(b) => vec![if *b { Arg::True } else { Arg::False }],
        Value::String(s) => vec![Arg::Str(s.clone())],
        Value::Time(t) => vec![Arg::Time(seconds_to_ntp(*t))],
        Value::Complex(re, im) => vec![Arg::Complex(*re, *im)],
        Value::Samples(s) => vec![Arg::Samples(s.clone())],
        Value::List(l) => l.iter().flat_map(value_args).collect(),
        Value::Table(t) => {
            vec![Arg::Blob(t.iter().flat_map(|x| x.to_le_bytes()).collect()), Arg::Str("Table".into())]
        }
        Value::Raw { type_name, bytes } => vec![Arg::Blob(bytes.clone()), Arg::Str(type_name.clone())],
    }
}

fn seconds_to_ntp(t: f64) -> u64 {
    (t.max(0.0) * 4294967296.0) as u64
}

/// OSC arguments as a value: none is a bang, one is itself, more are a list.
pub(crate) fn args_value(args: &[Arg]) -> Value {
    fn one(a: &Arg) -> Value {
        match a {
            Arg::Int(i) => Value::Integer(*i as i64),
            Arg::Long(i) => Value::Integer(*i),
            Arg::Float(f) => Value::Float(*f as f64),
            Arg::Double(d) => Value::Float(*d),
            Arg::Str(s) | Arg::Symbol(s) => Value::String(s.clone()),
            Arg::Char(c) => Value::String(c.to_string()),
            Arg::True => Value::Boolean(true),
            Arg::False => Value::Boolean(false),
            Arg::Nil => Value::Nil,
            Arg::Impulse => Value::Bang,
            Arg::Time(t) => Value::Time(*t as f64 / 4294967296.0),
            Arg::Complex(re, im) => Value::Complex(*re, *im),
            Arg::Samples(s) => Value::Samples(s.clone()),
            Arg::Array(a) => Value::List(a.iter().map(one).collect()),
            Arg::Blob(b) => Value::Raw { type_name: "Blob".into(), bytes: b.clone() },
            Arg::Color(c) => Value::Integer(*c as i64),
            Arg::Midi(m) => Value::List(m.iter().map(|x| Value::Integer(*x as i64)).collect()),
        }
    }
    match args {
        [] => Value::Bang,
        [a] => one(a),
        many => Value::List(many.iter().map(one).collect()),
    }
}

/// The OSC type tag of a port type (Booleans show their current value, as the seed says).
/// A numeric argument of any width, as `f64`.
pub(super) fn arg_number(arg: &Arg) -> Option<f64> {
    match *arg {
        Arg::Int(i) => Some(f64::from(i)),
        Arg::Long(i) => Some(i as f64),
        Arg::Float(f) => Some(f64::from(f)),
        Arg::Double(f) => Some(f),
        _ => None,
    }
}

pub(super) fn type_tag(ty: ValueType, current: &Value) -> &'static str {
    match ty {
        ValueType::Float => "f",
        ValueType::Integer => "i",
        ValueType::Boolean if current.is_true() => "T",
        ValueType::Boolean => "F",
        ValueType::String => "s",
        ValueType::Time => "t",
        ValueType::Complex => "C",
        ValueType::Samples => "v",
        ValueType::Bang => "I",
        ValueType::Table | ValueType::Raw => "bs",
        ValueType::List | ValueType::Any => "N",
    }
}
