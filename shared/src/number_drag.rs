//! A number changed by dragging it up or down, as Pd's number boxes are: a
//! pixel is one unit (a hundredth with Shift held), up is more, and a whole
//! number stays whole.

use crate::value::Value;

/// What `start` becomes after the pointer moved `pixels_up` (negative:
/// down); `None` for a value that is not a number.
pub fn dragged(start: &Value, pixels_up: f64, fine: bool) -> Option<Value> {
    let step = if fine { 0.01 } else { 1.0 };
    match start {
        // Whole steps from where it was (0.5 goes to 1.5, 2.5 ...), rid of
        // the binary noise a hundredth leaves (0.57, not 0.5700000000000001).
        Value::Float(v) => Some(Value::Float(((v + pixels_up.round() * step) * 1e9).round() / 1e9)),
        Value::Integer(v) => Some(Value::Integer(v.saturating_add((pixels_up * step).round() as i64))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_is_more_a_pixel_a_unit() {
        assert_eq!(dragged(&Value::Float(440.0), 10.0, false), Some(Value::Float(450.0)));
        assert_eq!(dragged(&Value::Float(440.0), -30.0, false), Some(Value::Float(410.0)));
        assert_eq!(dragged(&Value::Integer(3), 2.0, false), Some(Value::Integer(5)));
        assert_eq!(dragged(&Value::Integer(3), -5.0, false), Some(Value::Integer(-2)));
    }

    #[test]
    fn shift_moves_by_hundredths_and_whole_numbers_stay_whole() {
        assert_eq!(dragged(&Value::Float(0.5), 7.0, true), Some(Value::Float(0.57)));
        assert_eq!(dragged(&Value::Float(0.5), 7.4, false), Some(Value::Float(7.5)));
        assert_eq!(dragged(&Value::Float(0.25), -3.0, true), Some(Value::Float(0.22)));
        assert_eq!(dragged(&Value::Integer(3), 40.0, true), Some(Value::Integer(3)));
        assert_eq!(dragged(&Value::Integer(3), 150.0, true), Some(Value::Integer(5)));
        assert_eq!(dragged(&Value::Integer(i64::MAX), 10.0, false), Some(Value::Integer(i64::MAX)));
    }

    #[test]
    fn only_numbers_drag() {
        for v in [Value::Boolean(true), Value::String("a".into()), Value::Bang, Value::Nil] {
            assert_eq!(dragged(&v, 10.0, false), None);
        }
    }
}
