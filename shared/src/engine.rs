//! Changes to the patch tree, for the notification stream.

use super::Value;

/// A change to the patch tree, for the notification stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Added {
        path: String,
        type_name: String,
    },
    Deleted {
        path: String,
    },
    Renamed {
        from: String,
        to: String,
    },
    Connected {
        from: String,
        to: String,
    },
    Disconnected {
        from: String,
        to: String,
    },
    Loaded,
    /// A value set from outside (OSC, HTTP); the latest per address, every few ms.
    Value {
        path: String,
        value: Value,
    },
}
