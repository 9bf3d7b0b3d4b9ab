//! The namespace as OSCQuery JSON (the vidvox proposal): the same nodes the
//! OSW queries answer from, so the two cannot disagree. Containers carry
//! CONTENTS, states TYPE, VALUE, ACCESS and RANGE (where a port says
//! which values mean something: advisory, a value outside is kept), methods TYPE and ACCESS 2, and
//! every node FULL_PATH and DESCRIPTION (its `documentation`).
//!
//! Two choices for strict clients (python-oscquery refuses both otherwise):
//! a node with a value has no CONTENTS, so a state's OSW methods (`connect`,
//! `get-effects` ...) and `/main_clock/seconds` are left out of the tree
//! (each is still served at its own path); and a method, write-only, has a
//! VALUE of one null per argument, with an argument-less one typed `I` (an
//! impulse: "do it").
//!
//! A whole tree is bounded in depth and in nodes, so one request for `/`
//! costs at most [`MAX_NODES`] lookups however large the lab grows.

use serde_json::{json, Map, Value as Json};

use super::{segments, values::value_args, Namespace, Node};
use crate::osc::codec::Arg;

/// Deepest level of a tree served in one answer (the engine's patches nest
/// deeper only by hand; the lab is 6 deep).
pub(crate) const MAX_DEPTH: usize = 32;
/// Most nodes in one answer: a larger tree is refused with a pointer to its subtrees.
pub(crate) const MAX_NODES: usize = 50_000;

/// The attributes a node may be asked for one at a time (`/path?VALUE`).
pub(crate) const ATTRIBUTES: [&str; 7] =
    ["FULL_PATH", "CONTENTS", "TYPE", "VALUE", "RANGE", "ACCESS", "DESCRIPTION"];

/// ACCESS values of the proposal.
const NO_VALUE: u8 = 0;
const READ: u8 = 1;
const WRITE: u8 = 2;
const READ_WRITE: u8 = 3;

/// Why a tree could not be given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TreeError {
    /// No node at that path.
    NotFound,
    /// More than [`MAX_NODES`] nodes under it.
    TooLarge,
}

impl Namespace<'_> {
    /// The OSCQuery node at `path` with everything under it.
    pub(crate) fn oscquery_tree(&self, path: &str) -> Result<Json, TreeError> {
        let path = normalize(path);
        let mut budget = MAX_NODES;
        self.oscquery_node(&path, 0, &mut budget)?.ok_or(TreeError::NotFound)
    }

    /// The value at `path` as OSC arguments, for OSCQuery's LISTEN; `None`
    /// when nothing readable is there.
    pub(crate) fn oscquery_value(&self, path: &str) -> Option<Vec<Arg>> {
        match self.node(path)? {
            Node::State { value, .. } => Some(value_args(&value)),
            Node::Reading { arg, .. } => Some(vec![arg]),
            _ => None,
        }
    }

    fn oscquery_node(&self, path: &str, depth: usize, budget: &mut usize) -> Result<Option<Json>, TreeError> {
        *budget = budget.checked_sub(1).ok_or(TreeError::TooLarge)?;
        let node = match self.node(if path == "/" { "" } else { path }) {
            Some(node) => node,
            None => match self.method(path) {
                Some((_, _, doc, tags)) => Node::Method { doc: doc.into(), tags },
                None => return Ok(None),
            },
        };
        let mut out = Map::new();
        out.insert("FULL_PATH".into(), json!(path));
        let children: Vec<String> = match node {
            Node::Container { doc, children, .. } => {
                out.insert("DESCRIPTION".into(), json!(doc));
                // Said, not left out: python-oscquery takes a missing ACCESS for a value's.
                out.insert("ACCESS".into(), json!(NO_VALUE));
                children
            }
            Node::State { doc, value, ty, range, .. } => {
                out.insert("DESCRIPTION".into(), json!(doc));
                // The declared type, as `type-signature` gives it (a value
                // not yet set is null under it).
                out.insert("TYPE".into(), json!(super::type_tag(ty, &value)));
                let mut values: Vec<Json> = value_args(&value).iter().map(arg_json).collect();
                if values.is_empty() {
                    values.push(Json::Null); // an empty list: nil, as its N type says
                }
                out.insert("VALUE".into(), Json::Array(values));
                if let Some((min, max)) = range {
                    out.insert("RANGE".into(), json!([{"MIN": min, "MAX": max}]));
                }
                let writable = segments(path).first() == Some(&"patch");
                out.insert("ACCESS".into(), json!(if writable { READ_WRITE } else { READ }));
                vec![]
            }
            Node::Reading { doc, arg, tag, .. } => {
                out.insert("DESCRIPTION".into(), json!(doc));
                out.insert("TYPE".into(), json!(tag));
                out.insert("VALUE".into(), json!([arg_json(&arg)]));
                out.insert("ACCESS".into(), json!(READ));
                vec![]
            }
            Node::Method { doc, tags } => {
                out.insert("DESCRIPTION".into(), json!(doc));
                let tags = if tags.is_empty() { "I" } else { tags };
                out.insert("TYPE".into(), json!(tags));
                out.insert("VALUE".into(), Json::Array(vec![Json::Null; tags.len()]));
                out.insert("ACCESS".into(), json!(WRITE));
                vec![]
            }
        };
        let mut names = children;
        if !out.contains_key("VALUE") {
            names.extend(self.methods_of(path).into_iter().map(|(n, _, _)| n.to_owned()));
            names.extend(super::builtins::children_of(path));
        }
        names.sort();
        names.dedup();
        if !names.is_empty() && depth < MAX_DEPTH {
            let mut contents = Map::new();
            for name in names {
                let child = if path == "/" { format!("/{name}") } else { format!("{path}/{name}") };
                if let Some(node) = self.oscquery_node(&child, depth + 1, budget)? {
                    contents.insert(name, node);
                }
            }
            out.insert("CONTENTS".into(), Json::Object(contents));
        }
        Ok(Some(Json::Object(out)))
    }
}

/// `/a/b/` and `a/b` as `/a/b`; the root as `/`.
fn normalize(path: &str) -> String {
    let inner = path.trim_matches('/');
    if inner.is_empty() {
        "/".into()
    } else {
        format!("/{inner}")
    }
}

/// An OSC argument as OSCQuery's JSON value: numbers, strings, booleans;
/// nil, impulses and blobs as null (the TYPE says which), a time tag in seconds.
fn arg_json(a: &Arg) -> Json {
    match a {
        Arg::Int(i) => json!(i),
        Arg::Long(i) => json!(i),
        Arg::Float(f) => json!(f),
        Arg::Double(f) => json!(f),
        Arg::Str(s) | Arg::Symbol(s) => json!(s),
        Arg::True => json!(true),
        Arg::False => json!(false),
        Arg::Time(t) => json!(*t as f64 / 4294967296.0),
        Arg::Samples(v) => json!(v),
        _ => Json::Null,
    }
}
