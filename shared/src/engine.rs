//! The engine's wire types: the changes its notifications carry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// A change to the patch tree, for the notification stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A transform was built.
    Added {
        /// Its address, from the root: `/patch/sine0`.
        path: String,
        /// Its type: `Sine`.
        type_name: String,
        /// Its creation arguments, as typed after the type name.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        args: String,
        /// The values it starts with that a patch file keeps (its inlets'
        /// and persistent states' defaults), so a client's copy of the file
        /// matches the server's without fetching it.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        values: BTreeMap<String, Value>,
        /// Its inlets and outlets, for a canvas to draw.
        #[serde(default, skip_serializing_if = "Ports::is_empty")]
        ports: Ports,
    },
    /// A transform was deleted, with its connections.
    Deleted {
        /// Its address.
        path: String,
    },
    /// A transform was renamed (`set-name`).
    Renamed {
        /// The old address.
        from: String,
        /// The new address.
        to: String,
    },
    /// An outlet was connected to an inlet.
    Connected {
        /// The outlet's address.
        from: String,
        /// The inlet's address.
        to: String,
    },
    /// A connection was removed.
    Disconnected {
        /// The outlet's address.
        from: String,
        /// The inlet's address.
        to: String,
    },
    /// A transform was placed on the canvas (`set-layout`).
    Moved {
        /// Its address.
        path: String,
        /// Where its box's top-left corner is.
        layout: Layout,
    },
    /// A whole patch was loaded: everything may have changed.
    Loaded,
    /// A value set from outside (OSC, HTTP); the latest per address, every few ms.
    Value {
        /// The port's address.
        path: String,
        /// Its new value.
        value: Value,
    },
}

/// The `format` of a patch file.
pub const FORMAT: &str = "patchbay-patch";
/// The `version` of the patch file format this build reads and writes.
pub const VERSION: u32 = 1;

/// A patch file: `{"format": "patchbay-patch", "version": 1, "transforms": [...], "connections": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// The file format's version: [`VERSION`].
    pub version: u32,
    /// The root patch's transforms, in build order.
    #[serde(default)]
    pub transforms: Vec<TransformFile>,
    /// The root patch's connections.
    #[serde(default)]
    pub connections: Vec<ConnectionFile>,
}

/// One transform of a patch file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformFile {
    /// Its name in its patch: `sine0`.
    pub name: String,
    /// Its type (`type` in JSON): `Sine`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its creation arguments, as typed after the type name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub args: String,
    /// Ports renamed with `set-name`: the name their type gives them to theirs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub renamed: BTreeMap<String, String>,
    /// Port name to value: inlets and persistent states.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Value>,
    /// A subpatch's members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Body>,
    /// Where a canvas draws its box; a canvas places it itself when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
}

/// Where a transform's box is on a canvas: its top-left corner, in pixels
/// from the patch's top-left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Rightwards.
    pub x: f64,
    /// Downwards.
    pub y: f64,
}

impl Layout {
    /// How far from the origin a box may be put, either way.
    pub const LIMIT: f64 = 1.0e6;

    /// A layout, if both coordinates are finite and within [`Layout::LIMIT`].
    pub fn new(x: f64, y: f64) -> Option<Layout> {
        let fits = |v: f64| v.is_finite() && v.abs() <= Layout::LIMIT;
        (fits(x) && fits(y)).then_some(Layout { x, y })
    }
}

/// The members of a subpatch: transforms and connections, as in a file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// The subpatch's transforms.
    #[serde(default)]
    pub transforms: Vec<TransformFile>,
    /// The subpatch's connections.
    #[serde(default)]
    pub connections: Vec<ConnectionFile>,
}

/// Port addresses relative to the patch: `sine0/samplesOut` to `out/mix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFile {
    /// The outlet: `transform/outlet`.
    pub from: String,
    /// The inlet: `transform/inlet`.
    pub to: String,
}

/// Why a text is not a patch file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Patch file: {0}")]
pub struct PatchFileError(pub String);

impl PatchFile {
    /// Reads a patch file, checking its format and version (not what it builds:
    /// the engine checks that when it loads it).
    pub fn parse(json: &str) -> Result<PatchFile, PatchFileError> {
        let file: PatchFile = serde_json::from_str(json).map_err(|e| PatchFileError(e.to_string()))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(PatchFileError(format!(
                "not a {FORMAT} version {VERSION} file (format {:?}, version {})",
                file.format, file.version
            )));
        }
        Ok(file)
    }

    /// The file's text, pretty-printed so that diffs read well.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("patch files serialize")
    }
}

/// `GET /v1/engine`: the engine's clock and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// Samples per second.
    pub sample_rate: f64,
    /// Samples per block: the granularity of control changes.
    pub block_size: usize,
    /// `device` or `timer`.
    pub clock: String,
    /// The device's name, or why there is none.
    pub clock_detail: String,
    /// Engine time, seconds.
    pub time: f64,
    /// Transforms in the whole patch, subpatches' members included.
    pub transforms: usize,
    /// OSC datagrams and connections dropped: their source is not in `--osc-allow`.
    pub osc_refused: u64,
    /// Blocks the timer clock started more than a block late: the machine was too busy.
    #[serde(default)]
    pub late_blocks: u64,
    /// Timed (bundle) value changes that took effect at their block's start,
    /// not their sample: they arrived after it was played.
    #[serde(default)]
    pub late_changes: u64,
    /// The same, because 4,096 timed changes were already waiting.
    #[serde(default)]
    pub crowded_changes: u64,
}

/// One inlet or outlet of a transform, as a canvas draws it. Its address is
/// the transform's followed by `/name`; a subpatch's ports are its Inlet and
/// Outlet members, so their names are the members'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortInfo {
    /// The port's name: `samplesIn`, `freq`.
    pub name: String,
    /// Whether it carries audio (Samples) rather than control values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub audio: bool,
}

/// A transform's inlets and outlets, each in activation order (the order of
/// `get-inlets`; a subpatch's by member name).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ports {
    /// The inlets.
    #[serde(default)]
    pub inlets: Vec<PortInfo>,
    /// The outlets.
    #[serde(default)]
    pub outlets: Vec<PortInfo>,
}

impl Ports {
    /// True when it has no port at all.
    pub fn is_empty(&self) -> bool {
        self.inlets.is_empty() && self.outlets.is_empty()
    }
}

/// One entry of `GET /v1/engine/types`: a transform type the engine can build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeInfo {
    /// The type's name, as `new` takes it: `Sine`.
    pub name: String,
    /// `audio`, `control`, `patch` ...: the palette's groups.
    pub category: String,
    /// What it does, and its ports.
    pub documentation: String,
}
