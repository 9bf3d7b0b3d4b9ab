//! The patch tree: nodes (transforms and patches), their connections, and
//! the addresses (`/patch/sine0/freq`) that name them.
//!
//! Pure data: no audio, no clocks. [`super::Engine`] drives it.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::transform::{Control, DspNode, Meter, PortSpec, Tap, View};
use super::value::Value;
use super::EngineError;
use patchbay_shared::engine::Layout;

pub(crate) type NodeId = u64;

/// The root patch's id and name: `/patch`.
pub(crate) const ROOT: NodeId = 0;
pub(crate) const ROOT_NAME: &str = "patch";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transform,
    Patch,
    /// A subpatch's inlet: port 0 `in` is fed from outside, port 1 `out` inside.
    Inlet,
    /// A subpatch's outlet: port 0 `in` is fed inside, port 1 `out` feeds outside.
    Outlet,
}

/// How a node's DSP half looks from the compiler, kept after the box has
/// gone to the audio side.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    /// Port indices of the audio inlets and outlets, in order.
    pub audio_in: Vec<usize>,
    pub audio_out: Vec<usize>,
    pub extra: usize,
    pub sink: bool,
}

pub(crate) enum Dsp {
    None,
    /// Built, not yet sent: the control side still owns the node.
    Pending(Box<dyn DspNode>),
    /// On the audio side.
    Live,
}

pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub type_name: String,
    pub args: String,
    pub parent: Option<NodeId>,
    pub kind: Kind,
    pub ports: Vec<PortSpec>,
    pub values: Vec<Value>,
    pub(crate) control: Option<Box<dyn Control>>,
    pub(crate) dsp: Dsp,
    pub(crate) shape: Shape,
    pub(crate) meters: Vec<(usize, Arc<Meter>)>,
    /// Audio ports whose last block the DSP node keeps (see `Built::tap`).
    pub(crate) taps: Vec<(usize, Arc<Tap>)>,
    /// Reading ports computed when read (see `Built::view`).
    pub(crate) views: Vec<(usize, View)>,
    /// A patch's members by name.
    pub children: BTreeMap<String, NodeId>,
    /// Ports renamed with `set-name`: their index and the name their type gave them.
    pub renamed: BTreeMap<usize, String>,
    pub(crate) timer: Option<f64>,
    /// Where a canvas draws it (`set-layout`), saved with the patch.
    pub layout: Option<Layout>,
    /// Active inlets that received a value since the last activation (co-activation).
    pub(crate) fresh: u64,
}

impl Node {
    pub fn port(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name == name)
    }
    pub fn has_dsp(&self) -> bool {
        !matches!(self.dsp, Dsp::None)
    }
    pub fn is_container(&self) -> bool {
        self.kind == Kind::Patch
    }
    /// The live value of a port: meters for what the audio side measures.
    pub fn value(&self, port: usize) -> Value {
        if let Some((_, tap)) = self.taps.iter().find(|(p, _)| *p == port) {
            return tap.read().map_or(Value::Nil, Value::Samples);
        }
        if let Some((_, view)) = self.views.iter().find(|(p, _)| *p == port) {
            return view();
        }
        match self.meters.iter().find(|(p, _)| *p == port) {
            Some((_, m)) => Value::Float(m.get() as f64),
            None => self.values[port].clone(),
        }
    }
}

/// An endpoint of a connection.
pub(crate) type End = (NodeId, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub from: End,
    pub to: End,
    /// Creation order: ties between inlets of equal order go oldest first.
    pub seq: u64,
}

/// What an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    Port(NodeId, usize),
}

/// Nodes and connections of every patch.
pub struct Graph {
    pub nodes: FxHashMap<NodeId, Node>,
    /// Connections by source outlet.
    pub outgoing: FxHashMap<End, Vec<Connection>>,
    next_id: NodeId,
    next_seq: u64,
}

impl Graph {
    pub fn new() -> Graph {
        let root = Node {
            id: ROOT,
            name: ROOT_NAME.to_owned(),
            type_name: "Patch".to_owned(),
            args: String::new(),
            parent: None,
            kind: Kind::Patch,
            ports: vec![],
            values: vec![],
            control: None,
            dsp: Dsp::None,
            shape: Shape::default(),
            meters: vec![],
            taps: vec![],
            views: vec![],
            children: BTreeMap::new(),
            renamed: BTreeMap::new(),
            timer: None,
            layout: None,
            fresh: 0,
        };
        let nodes = FxHashMap::from_iter([(ROOT, root)]);
        Graph { nodes, outgoing: FxHashMap::default(), next_id: 1, next_seq: 0 }
    }

    pub fn node(&self, id: NodeId) -> Result<&Node, EngineError> {
        self.nodes.get(&id).ok_or(EngineError::InvalidAddress)
    }

    pub fn node_mut(&mut self, id: NodeId) -> Result<&mut Node, EngineError> {
        self.nodes.get_mut(&id).ok_or(EngineError::InvalidAddress)
    }

    /// Numbers new nodes after all of `other`'s, so a graph built aside can replace it.
    pub fn continue_ids_after(&mut self, other: &Graph) {
        self.next_id = self.next_id.max(other.next_id);
    }

    pub(crate) fn alloc_id(&mut self) -> NodeId {
        self.next_id += 1;
        self.next_id - 1
    }

    /// The address of a node: `/patch/sub/sine0`.
    pub fn path(&self, mut id: NodeId) -> String {
        let mut parts = vec![];
        while let Some(n) = self.nodes.get(&id) {
            parts.push(n.name.as_str());
            match n.parent {
                Some(p) => id = p,
                None => break,
            }
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    pub fn port_path(&self, (id, port): End) -> String {
        format!("{}/{}", self.path(id), self.nodes[&id].ports[port].name)
    }

    /// Resolves `/patch/a/b/port`: children first, then ports of the last node.
    pub fn resolve(&self, path: &str) -> Result<Target, EngineError> {
        // Split by a set of one char, not by the char '/': the char pattern compared
        // each match through `memcmp`, a visible cost per OSC set-value (perf).
        let mut parts = path.split(['/']).filter(|p| !p.is_empty()).peekable();
        if parts.next() != Some(ROOT_NAME) {
            return Err(EngineError::InvalidAddress);
        }
        let mut at = ROOT;
        while let Some(part) = parts.next() {
            let node = &self.nodes[&at];
            if let Some(&child) = node.children.get(part) {
                at = child;
            } else if let (Some(port), true) = (node.port(part), parts.peek().is_none()) {
                return Ok(Target::Port(at, port));
            } else {
                return Err(EngineError::InvalidAddress);
            }
        }
        Ok(Target::Node(at))
    }

    /// The patch a connection endpoint belongs to: a subpatch border port
    /// (an Inlet's `in`, an Outlet's `out`) belongs to the enclosing patch.
    pub fn patch_of(&self, (id, port): End) -> Option<NodeId> {
        let node = &self.nodes[&id];
        let outer = matches!((node.kind, port), (Kind::Inlet, 0) | (Kind::Outlet, 1));
        let parent = node.parent?;
        if outer {
            self.nodes[&parent].parent
        } else {
            Some(parent)
        }
    }

    pub fn add_connection(&mut self, from: End, to: End) -> Connection {
        let c = Connection { from, to, seq: self.next_seq };
        self.next_seq += 1;
        self.outgoing.entry(from).or_default().push(c);
        c
    }

    pub fn remove_connection(&mut self, from: End, to: End) -> bool {
        let Some(list) = self.outgoing.get_mut(&from) else { return false };
        let before = list.len();
        list.retain(|c| c.to != to);
        let removed = list.len() != before;
        if list.is_empty() {
            self.outgoing.remove(&from);
        }
        removed
    }

    pub fn connections(&self) -> impl Iterator<Item = &Connection> {
        self.outgoing.values().flatten()
    }

    /// Connections out of an outlet, in delivery order: the inlets' activation
    /// order, then creation order.
    pub fn targets(&self, from: End) -> Vec<End> {
        let mut list: Vec<(i32, u64, End)> = self
            .outgoing
            .get(&from)
            .into_iter()
            .flatten()
            .map(|c| (self.nodes[&c.to.0].ports[c.to.1].order, c.seq, c.to))
            .collect();
        list.sort();
        list.into_iter().map(|(_, _, to)| to).collect()
    }

    /// Whether audio can flow from `from` to `to` already (so `to -> from` would loop).
    pub fn audio_reaches(&self, from: NodeId, to: NodeId) -> bool {
        let mut stack = vec![from];
        let mut seen = std::collections::HashSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if !seen.insert(n) {
                continue;
            }
            let node = &self.nodes[&n];
            for port in (0..node.ports.len()).filter(|&p| node.ports[p].is_audio()) {
                stack.extend(self.outgoing.get(&(n, port)).into_iter().flatten().map(|c| c.to.0));
            }
        }
        false
    }

    /// All nodes under `id`, `id` last (children before parents).
    pub fn subtree(&self, id: NodeId) -> Vec<NodeId> {
        let mut out = vec![];
        for &child in self.nodes[&id].children.values() {
            out.extend(self.subtree(child));
        }
        out.push(id);
        out
    }

    /// Removes a node, its subtree and every connection touching them.
    pub fn remove(&mut self, id: NodeId) -> Vec<Node> {
        let ids = self.subtree(id);
        let gone: std::collections::HashSet<NodeId> = ids.iter().copied().collect();
        self.outgoing.retain(|from, list| {
            list.retain(|c| !gone.contains(&c.to.0));
            !gone.contains(&from.0) && !list.is_empty()
        });
        if let Some(parent) = self.nodes[&id].parent {
            let name = self.nodes[&id].name.clone();
            self.nodes.get_mut(&parent).unwrap().children.remove(&name);
        }
        ids.iter().filter_map(|n| self.nodes.remove(n)).collect()
    }
}

impl Default for Graph {
    fn default() -> Self {
        Graph::new()
    }
}

/// Names are path segments: no slashes, no OSC pattern characters, no spaces.
pub(crate) fn check_name(name: &str) -> Result<(), EngineError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/?*[]{}!,#".contains(c);
    if name.is_empty() || name.len() > 64 || name.chars().any(bad) {
        return Err(EngineError::BadName(name.to_owned()));
    }
    Ok(())
}
