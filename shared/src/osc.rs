//! OSC messages as JSON, for the WebSocket bridge (`/v1/osc/ws`).
//!
//! A client sends `{"address": "/patch/", "args": []}`; arguments are
//! `{"type": "f", "value": 440.0}` with the OSC type tag as the type. The
//! server answers with [`OscTraffic`] frames: `reply` for the answers to
//! this client, `in` and `out` for all OSC traffic the server sees.

use serde::{Deserialize, Serialize};

/// One OSC argument, tagged with its OSC type tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value")]
pub enum OscArg {
    /// `i`: 32-bit integer.
    #[serde(rename = "i")]
    Int(i32),
    /// `f`: 32-bit float.
    #[serde(rename = "f")]
    Float(f32),
    /// `s`: string.
    #[serde(rename = "s")]
    String(String),
    /// `S`: symbol.
    #[serde(rename = "S")]
    Symbol(String),
    /// `b`: blob.
    #[serde(rename = "b")]
    Blob(Vec<u8>),
    /// `h`: 64-bit integer.
    #[serde(rename = "h")]
    Long(i64),
    /// `d`: 64-bit float.
    #[serde(rename = "d")]
    Double(f64),
    /// `t`: NTP time tag.
    #[serde(rename = "t")]
    Time(u64),
    /// `c`: character.
    #[serde(rename = "c")]
    Char(char),
    /// `r`: RGBA colour.
    #[serde(rename = "r")]
    Color(u32),
    /// `m`: MIDI message (port, status, data1, data2).
    #[serde(rename = "m")]
    Midi([u8; 4]),
    /// `T`: true.
    #[serde(rename = "T")]
    True,
    /// `F`: false.
    #[serde(rename = "F")]
    False,
    /// `N`: nil.
    #[serde(rename = "N")]
    Nil,
    /// `I`: impulse (a bang).
    #[serde(rename = "I")]
    Impulse,
    /// `[` ... `]`: an array.
    #[serde(rename = "[")]
    Array(Vec<OscArg>),
    /// `C`: complex number (OSW's extension).
    #[serde(rename = "C")]
    Complex([f32; 2]),
    /// `v`: a block of samples (OSW's extension).
    #[serde(rename = "v")]
    Samples(Vec<f32>),
}

/// An OSC message as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OscJson {
    /// The OSC address or pattern.
    pub address: String,
    /// Its arguments, in order.
    #[serde(default)]
    pub args: Vec<OscArg>,
}

/// One frame the bridge sends: a message and where it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OscTraffic {
    /// `reply` (to this WebSocket), `in` or `out` (any client's traffic).
    pub direction: String,
    /// Who sent or receives it: `udp:127.0.0.1:5000`, `websocket` ...
    pub peer: String,
    /// The message.
    pub message: OscJson,
}
