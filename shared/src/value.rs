//! The values that travel on connections and sit in states, and their types.
//!
//! The type set is OSW's (seed 001): Float, Integer, Boolean, String, Time,
//! Complex, Samples, List and Table, plus Bang (a bare trigger, OSC's `I`)
//! and Raw for anything else, which OSC shows as a blob and a type name.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value on a connection or in a state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum Value {
    /// No value yet (an AudioOutput's input before audio is on, seed 001).
    Nil,
    /// A trigger without data.
    Bang,
    /// A number.
    Float(f64),
    /// A whole number.
    Integer(i64),
    /// True or false.
    Boolean(bool),
    /// Text.
    String(String),
    /// Seconds.
    Time(f64),
    /// Real and imaginary parts.
    Complex(f32, f32),
    /// One block of audio.
    Samples(Vec<f32>),
    /// Values of any types, in order.
    List(Vec<Value>),
    /// A table of numbers (a wavetable, an envelope).
    Table(Vec<f32>),
    /// A value of a type Patchbay does not know, kept as its bytes.
    Raw {
        /// Its type's name.
        type_name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

/// The type of an inlet, outlet or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueType {
    /// Accepts anything (Print, Gate, FanOut ...).
    Any,
    /// [`Value::Bang`].
    Bang,
    /// [`Value::Float`].
    Float,
    /// [`Value::Integer`].
    Integer,
    /// [`Value::Boolean`].
    Boolean,
    /// [`Value::String`].
    String,
    /// [`Value::Time`].
    Time,
    /// [`Value::Complex`].
    Complex,
    /// [`Value::Samples`].
    Samples,
    /// [`Value::List`].
    List,
    /// [`Value::Table`].
    Table,
    /// [`Value::Raw`].
    Raw,
}

/// Why a value cannot go where it was sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot convert {from} to {to}")]
pub struct CastError {
    /// The value's type.
    pub from: ValueType,
    /// The type it was sent to.
    pub to: ValueType,
}

impl ValueType {
    /// OSW's type name, as `type-signature` shows it.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Any => "Any",
            ValueType::Bang => "Bang",
            ValueType::Float => "Float",
            ValueType::Integer => "Integer",
            ValueType::Boolean => "Boolean",
            ValueType::String => "String",
            ValueType::Time => "Time",
            ValueType::Complex => "Complex",
            ValueType::Samples => "Samples",
            ValueType::List => "List",
            ValueType::Table => "Table",
            ValueType::Raw => "Raw",
        }
    }

    /// Whether an outlet of type `self` may feed an inlet of type `to`.
    /// Implicit casts are the lossless or conventional ones: numbers among
    /// themselves (float to integer truncates, as in Pd and OSW), anything to
    /// a Bang inlet (it only triggers), anything to Any, one value into a List.
    pub fn connects_to(self, to: ValueType) -> bool {
        use ValueType::*;
        let numeric = |t| matches!(t, Float | Integer | Boolean | Time);
        self == to
            || to == Any
            || self == Any && to != Samples
            || to == Bang && self != Samples
            || numeric(self) && numeric(to)
            || to == List && self != Samples
            || self == List && to != Samples
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Value {
    /// Its type (Nil is `Any`: it fits everywhere).
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Nil => ValueType::Any,
            Value::Bang => ValueType::Bang,
            Value::Float(_) => ValueType::Float,
            Value::Integer(_) => ValueType::Integer,
            Value::Boolean(_) => ValueType::Boolean,
            Value::String(_) => ValueType::String,
            Value::Time(_) => ValueType::Time,
            Value::Complex(..) => ValueType::Complex,
            Value::Samples(_) => ValueType::Samples,
            Value::List(_) => ValueType::List,
            Value::Table(_) => ValueType::Table,
            Value::Raw { .. } => ValueType::Raw,
        }
    }

    /// The number in a numeric value (Booleans are 0 and 1).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(x) | Value::Time(x) => Some(x),
            Value::Integer(i) => Some(i as f64),
            Value::Boolean(b) => Some(b as u8 as f64),
            Value::List(ref l) if l.len() == 1 => l[0].as_f64(),
            _ => None,
        }
    }

    /// Whether every number in it is finite: NaN and infinities are refused
    /// at every port, so that no filter or oscillator is poisoned by one.
    /// Iterative: lists may nest.
    pub fn is_finite(&self) -> bool {
        let mut stack = vec![self];
        while let Some(v) = stack.pop() {
            let finite = match v {
                Value::Float(x) | Value::Time(x) => x.is_finite(),
                Value::Complex(re, im) => re.is_finite() && im.is_finite(),
                Value::Samples(xs) | Value::Table(xs) => xs.iter().all(|x| x.is_finite()),
                Value::List(items) => {
                    stack.extend(items);
                    true
                }
                _ => true,
            };
            if !finite {
                return false;
            }
        }
        true
    }

    /// Truthiness as control transforms see it: nonzero numbers, non-empty text.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::String(s) => !s.is_empty(),
            Value::Bang => true,
            v => v.as_f64().is_some_and(|x| x != 0.0),
        }
    }

    /// Converts for an inlet or state of type `to`, by [`ValueType::connects_to`]'s rules.
    pub fn cast(self, to: ValueType) -> Result<Value, CastError> {
        let from = self.value_type();
        let fail = || CastError { from, to };
        if from == to || to == ValueType::Any || matches!(self, Value::Nil) {
            return Ok(self);
        }
        if !from.connects_to(to) {
            return Err(fail());
        }
        Ok(match to {
            ValueType::Bang => Value::Bang,
            ValueType::List => match self {
                Value::List(l) => Value::List(l),
                v => Value::List(vec![v]),
            },
            ValueType::Float | ValueType::Integer | ValueType::Boolean | ValueType::Time => {
                let x = self.as_f64().ok_or_else(fail)?;
                match to {
                    ValueType::Float => Value::Float(x),
                    ValueType::Time => Value::Time(x),
                    ValueType::Integer => Value::Integer(x.trunc() as i64),
                    _ => Value::Boolean(x != 0.0),
                }
            }
            ValueType::Table => match self {
                Value::List(l) => Value::Table(
                    l.iter().map(|v| v.as_f64().map(|x| x as f32)).collect::<Option<_>>().ok_or_else(fail)?,
                ),
                _ => return Err(fail()),
            },
            _ => match self {
                Value::List(mut l) if l.len() == 1 => l.pop().unwrap().cast(to)?,
                _ => return Err(fail()),
            },
        })
    }

    /// Parses a word of a transform's argument string: integers, floats, else text.
    pub fn parse_word(word: &str) -> Value {
        if let Ok(i) = word.parse::<i64>() {
            Value::Integer(i)
        } else if let Ok(x) = word.parse::<f64>() {
            Value::Float(x)
        } else {
            Value::String(word.to_owned())
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bang => f.write_str("bang"),
            Value::Float(x) | Value::Time(x) => write!(f, "{x}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::String(s) => f.write_str(s),
            Value::Complex(re, im) => write!(f, "{re}{im:+}i"),
            Value::Samples(s) => write!(f, "<{} samples>", s.len()),
            Value::Table(s) => write!(f, "<table of {}>", s.len()),
            Value::List(l) => {
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                Ok(())
            }
            Value::Raw { type_name, bytes } => write!(f, "<{type_name}: {} bytes>", bytes.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_cast_conventionally() {
        assert_eq!(Value::Integer(3).cast(ValueType::Float), Ok(Value::Float(3.0)));
        assert_eq!(Value::Float(2.9).cast(ValueType::Integer), Ok(Value::Integer(2)));
        assert_eq!(Value::Float(-2.9).cast(ValueType::Integer), Ok(Value::Integer(-2)));
        assert_eq!(Value::Integer(0).cast(ValueType::Boolean), Ok(Value::Boolean(false)));
        assert_eq!(Value::Boolean(true).cast(ValueType::Float), Ok(Value::Float(1.0)));
        assert_eq!(Value::Float(1.5).cast(ValueType::List), Ok(Value::List(vec![Value::Float(1.5)])));
        assert_eq!(Value::List(vec![Value::Integer(4)]).cast(ValueType::Float), Ok(Value::Float(4.0)));
    }

    #[test]
    fn incompatible_types_are_refused() {
        let err = Value::String("440".into()).cast(ValueType::Float).unwrap_err();
        assert_eq!(err.to_string(), "cannot convert String to Float");
        assert!(Value::Samples(vec![0.0; 4]).cast(ValueType::Float).is_err());
        assert!(Value::Float(1.0).cast(ValueType::Samples).is_err());
        assert!(!ValueType::Samples.connects_to(ValueType::Float));
        assert!(!ValueType::Float.connects_to(ValueType::Samples));
        assert!(ValueType::Integer.connects_to(ValueType::Float));
        assert!(ValueType::Samples.connects_to(ValueType::Samples));
    }

    #[test]
    fn argument_words_parse_to_the_narrowest_type() {
        assert_eq!(Value::parse_word("3"), Value::Integer(3));
        assert_eq!(Value::parse_word("3.5"), Value::Float(3.5));
        assert_eq!(Value::parse_word("f"), Value::String("f".into()));
    }

    #[test]
    fn values_round_trip_through_json() {
        let v = Value::List(vec![Value::Float(1.0), Value::String("a".into()), Value::Boolean(true)]);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
    }
}
