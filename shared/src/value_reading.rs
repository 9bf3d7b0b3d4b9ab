//! A value read back with `current-value`, against the value a page's copy
//! of the patch file holds. The engine tells every client when a value is
//! set, but not when one arrives over a connection (a Value fed by another,
//! a Counter counting): a page that shows a transform's values reads them
//! (the inspector, a few times a second) and takes a reading that is news.

use crate::osc::OscArg;
use crate::value::Value;

/// The value a `current-value` reply (`[0, value]`) gives, if it is one a
/// page shows: a number, a truth or text. An error reply gives none.
pub fn reading(reply: &[OscArg]) -> Option<Value> {
    let [OscArg::Int(0), value, ..] = reply else { return None };
    Some(match value {
        OscArg::Float(f) => Value::Float(f64::from(*f)),
        OscArg::Double(f) => Value::Float(*f),
        OscArg::Int(i) => Value::Integer(i64::from(*i)),
        OscArg::Long(i) => Value::Integer(*i),
        OscArg::True => Value::Boolean(true),
        OscArg::False => Value::Boolean(false),
        OscArg::String(s) | OscArg::Symbol(s) => Value::String(s.clone()),
        _ => return None,
    })
}

/// Whether `read` tells more than `held` does. OSC carries a float in 32
/// bits: a reading that is `held` rounded to 32 bits is the same value
/// (0.1 must not turn into 0.10000000149011612 on the page).
pub fn is_news(held: Option<&Value>, read: &Value) -> bool {
    match (held, read) {
        (Some(Value::Float(h)), Value::Float(r)) => *h as f32 != *r as f32,
        (Some(Value::Integer(h)), Value::Float(r)) => *h as f32 != *r as f32,
        (Some(held), read) => held != read,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_the_values_a_page_shows() {
        assert_eq!(reading(&[OscArg::Int(0), OscArg::Float(0.5)]), Some(Value::Float(0.5)));
        assert_eq!(reading(&[OscArg::Int(0), OscArg::Double(0.1)]), Some(Value::Float(0.1)));
        assert_eq!(reading(&[OscArg::Int(0), OscArg::Int(3)]), Some(Value::Integer(3)));
        assert_eq!(reading(&[OscArg::Int(0), OscArg::True]), Some(Value::Boolean(true)));
        assert_eq!(reading(&[OscArg::Int(0), OscArg::String("a".into())]), Some(Value::String("a".into())));
        assert_eq!(reading(&[OscArg::Int(0), OscArg::Nil]), None, "a bang's nil is not shown");
        assert_eq!(reading(&[OscArg::Int(-1), OscArg::String("no such address".into())]), None);
        assert_eq!(reading(&[]), None);
    }

    #[test]
    fn a_float_rounded_to_32_bits_is_no_news() {
        let read = reading(&[OscArg::Int(0), OscArg::Float(0.1)]).unwrap();
        assert!(!is_news(Some(&Value::Float(0.1)), &read), "0.1 read back is still 0.1");
        assert!(is_news(Some(&Value::Float(0.1)), &Value::Float(0.2)));
        assert!(!is_news(Some(&Value::Integer(440)), &Value::Float(440.0)));
        assert!(is_news(Some(&Value::Boolean(false)), &Value::Boolean(true)));
        assert!(!is_news(Some(&Value::String("x".into())), &Value::String("x".into())));
        assert!(is_news(None, &Value::Float(0.0)), "a value the page did not have");
    }
}
