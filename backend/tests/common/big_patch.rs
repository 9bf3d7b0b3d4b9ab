//! A patch of 500 transforms and 600 connections, for the canvas's render
//! test and the dashboard benchmark: 100 voices of two sines, a lowpass, a
//! highpass and a gain, each wired six ways.

use serde_json::{json, Value};

pub(crate) const VOICES: usize = 100;
pub(crate) const TRANSFORMS: usize = 5 * VOICES;
pub(crate) const CONNECTIONS: usize = 6 * VOICES;

pub(crate) fn big_patch() -> Value {
    let mut transforms = vec![];
    let mut connections = vec![];
    for v in 0..VOICES {
        for (name, ty) in
            [("a", "Sinewave"), ("b", "Sinewave"), ("lo", "Lowpass"), ("hi", "Highpass"), ("g", "Gain~")]
        {
            transforms.push(json!({ "name": format!("{name}{v}"), "type": ty }));
        }
        for (from, to) in [("a", "lo"), ("b", "lo"), ("lo", "hi"), ("a", "hi"), ("hi", "g"), ("b", "g")] {
            connections
                .push(json!({ "from": format!("{from}{v}/samplesOut"), "to": format!("{to}{v}/samplesIn") }));
        }
    }
    json!({ "format": "patchbay-patch", "version": 1, "transforms": transforms, "connections": connections })
}
