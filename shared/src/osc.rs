//! OSC messages as JSON, for the WebSocket bridge (`/v1/osc/ws`).
//!
//! A client sends `{"address": "/patch/", "args": []}`; arguments are
//! `{"type": "f", "value": 440.0}` with the OSC type tag as the type. The
//! server answers with [`OscTraffic`] frames: `reply` for the answers to
//! this client, `in` and `out` for all OSC traffic the server sees.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum OscArg {
    #[serde(rename = "i")]
    Int(i32),
    #[serde(rename = "f")]
    Float(f32),
    #[serde(rename = "s")]
    String(String),
    #[serde(rename = "S")]
    Symbol(String),
    #[serde(rename = "b")]
    Blob(Vec<u8>),
    #[serde(rename = "h")]
    Long(i64),
    #[serde(rename = "d")]
    Double(f64),
    #[serde(rename = "t")]
    Time(u64),
    #[serde(rename = "c")]
    Char(char),
    #[serde(rename = "r")]
    Color(u32),
    #[serde(rename = "m")]
    Midi([u8; 4]),
    #[serde(rename = "T")]
    True,
    #[serde(rename = "F")]
    False,
    #[serde(rename = "N")]
    Nil,
    #[serde(rename = "I")]
    Impulse,
    #[serde(rename = "[")]
    Array(Vec<OscArg>),
    #[serde(rename = "C")]
    Complex([f32; 2]),
    #[serde(rename = "v")]
    Samples(Vec<f32>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OscJson {
    pub address: String,
    #[serde(default)]
    pub args: Vec<OscArg>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OscTraffic {
    /// `reply` (to this WebSocket), `in` or `out` (any client's traffic).
    pub direction: String,
    /// Who sent or receives it: `udp:127.0.0.1:5000`, `websocket` ...
    pub peer: String,
    pub message: OscJson,
}
