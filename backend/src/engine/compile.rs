//! Turns the patch tree into a flat [`Program`] for the audio side.
//!
//! DSP nodes run in dependency order (Kahn's algorithm, ties by node id, so
//! the order is deterministic). Connections that appeared since the last
//! program fade in over one block, removed ones fade out, and deleted nodes
//! play one last fading block: edits during playback do not click.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::graph::{Dsp, Graph, NodeId, Shape};
use super::program::{Edge, Fade, Program, Slot};

/// An audio connection: `(from node, outlet port, to node, inlet port)`.
pub(crate) type AudioEdge = (NodeId, usize, NodeId, usize);

/// A deleted node whose DSP half still sits in the last program.
pub(crate) struct Dying {
    pub id: NodeId,
    pub shape: Shape,
}

/// What the compiler remembers of the program it sent last.
#[derive(Default)]
pub(crate) struct Layout {
    /// Slot of each node.
    pub slot_of: HashMap<NodeId, usize>,
    pub edges: HashSet<AudioEdge>,
    /// Whether the last program still carries dying nodes or fading-out edges.
    pub needs_cleanup: bool,
}

/// Audio connections of the graph as it is now.
fn audio_edges(graph: &Graph) -> Vec<AudioEdge> {
    let mut edges: Vec<AudioEdge> = graph
        .connections()
        .filter(|c| graph.nodes[&c.from.0].ports[c.from.1].is_audio())
        .filter(|c| graph.nodes[&c.from.0].has_dsp() && graph.nodes[&c.to.0].has_dsp())
        .map(|c| (c.from.0, c.from.1, c.to.0, c.to.1))
        .collect();
    edges.sort_unstable();
    edges
}

/// Builds the next program, taking pending DSP nodes out of `graph`.
pub(crate) fn compile(
    graph: &mut Graph,
    last: &Layout,
    dying: Vec<Dying>,
    block: usize,
) -> (Program, Layout) {
    let mut shapes: HashMap<NodeId, Shape> =
        graph.nodes.values().filter(|n| n.has_dsp()).map(|n| (n.id, n.shape.clone())).collect();
    let current = audio_edges(graph);
    let current_set: HashSet<AudioEdge> = current.iter().copied().collect();
    let dying_ids: HashSet<NodeId> =
        dying.iter().filter(|d| last.slot_of.contains_key(&d.id)).map(|d| d.id).collect();
    for d in dying.into_iter().filter(|d| dying_ids.contains(&d.id)) {
        shapes.insert(d.id, d.shape);
    }
    // Removed connections between nodes that are still (or for one more block) there.
    let mut fading: Vec<AudioEdge> = last
        .edges
        .iter()
        .filter(|e| !current_set.contains(e) && shapes.contains_key(&e.0) && shapes.contains_key(&e.2))
        .copied()
        .collect();
    fading.sort_unstable();
    let order = topological(&shapes, current.iter().chain(&fading)).unwrap_or_else(|| {
        // Old and new edges together loop (a connection reversed): drop the fades.
        fading.clear();
        topological(&shapes, current.iter()).expect("the graph's audio connections are acyclic")
    });

    let fused = fuse(&shapes, &current, &fading, last, &dying_ids);
    let mut slots = Vec::with_capacity(order.len());
    let mut out_at = 0;
    let mut slot_of = HashMap::new();
    for (i, &id) in order.iter().enumerate() {
        let shape = &shapes[&id];
        let n_out = shape.audio_out.len() + shape.extra;
        slot_of.insert(id, i);
        let push = fused.sources.get(&id).copied();
        slots.push(Slot {
            node: None,
            out_at,
            n_out,
            n_audio_out: shape.audio_out.len(),
            inlets: 0..0,
            dying: dying_ids.contains(&id),
            sink: shape.sink,
            push: push.map(|k| k * block),
        });
        if push.is_none() {
            out_at += n_out * block;
        }
    }
    // Fused sources all write the same block, summed away at once.
    for slot in slots.iter_mut().filter(|s| s.push.is_some()) {
        slot.out_at = out_at;
    }

    // Each inlet's connections, in a fixed order.
    let mut incoming: HashMap<(NodeId, usize), Vec<Edge>> = HashMap::new();
    let fades = current.iter().map(|e| (e, if last.edges.contains(e) { Fade::Steady } else { Fade::In }));
    for (&(to, tport), &k) in &fused.inlets {
        incoming.entry((to, tport)).or_default().push(Edge { buf: k * block, fade: Fade::Steady, acc: true });
    }
    for (&(from, fport, to, tport), fade) in fades.chain(fading.iter().map(|e| (e, Fade::Out))) {
        if fused.sources.contains_key(&from) {
            continue;
        }
        let (from_shape, from_slot) = (&shapes[&from], &slots[slot_of[&from]]);
        let k = from_shape.audio_out.iter().position(|&p| p == fport).expect("audio outlet");
        let fade = if dying_ids.contains(&from) || dying_ids.contains(&to) { Fade::Out } else { fade };
        incoming.entry((to, tport)).or_default().push(Edge {
            buf: from_slot.out_at + k * block,
            fade,
            acc: false,
        });
    }
    let (mut inlets, mut edges) = (vec![], vec![]);
    for (i, &id) in order.iter().enumerate() {
        let start = inlets.len();
        for &port in &shapes[&id].audio_in {
            let list = incoming.remove(&(id, port)).unwrap_or_default();
            inlets.push(edges.len()..edges.len() + list.len());
            edges.extend(list);
        }
        slots[i].inlets = start..inlets.len();
    }

    let mut adopt = vec![];
    for (i, &id) in order.iter().enumerate() {
        match last.slot_of.get(&id) {
            Some(&old) => adopt.push((i, old)),
            None => {
                let node = graph.nodes.get_mut(&id).expect("a new node is in the graph");
                if let Dsp::Pending(dsp) = std::mem::replace(&mut node.dsp, Dsp::Live) {
                    slots[i].node = Some(dsp);
                }
            }
        }
    }
    // Once fades are done, compile again: to drop what died, and to fuse
    // fan-ins whose connections have become steady.
    let fresh = current.iter().any(|e| !last.edges.contains(e));
    let needs_cleanup = !dying_ids.is_empty() || !fading.is_empty() || fresh;
    let layout = Layout { slot_of, edges: current_set, needs_cleanup };
    (Program::new(block, slots, inlets, edges, adopt, fused.inlets.len()), layout)
}

/// Fan-ins worth fusing: sources and their accumulator, inlets and theirs.
struct Fused {
    sources: HashMap<NodeId, usize>,
    inlets: HashMap<(NodeId, usize), usize>,
}

/// Finds inlets fed by two or more steady connections from nodes whose only
/// output is that one connection: those nodes add into an accumulator as
/// they run, instead of each keeping a block for the inlet to gather later.
fn fuse(
    shapes: &HashMap<NodeId, Shape>,
    current: &[AudioEdge],
    fading: &[AudioEdge],
    last: &Layout,
    dying: &HashSet<NodeId>,
) -> Fused {
    let mut out_edges: HashMap<NodeId, usize> = HashMap::new();
    for e in current.iter().chain(fading) {
        *out_edges.entry(e.0).or_default() += 1;
    }
    let mut groups: HashMap<(NodeId, usize), Vec<NodeId>> = HashMap::new();
    for e in current {
        let shape = &shapes[&e.0];
        let simple = shape.audio_out.len() == 1 && shape.extra == 0 && out_edges[&e.0] == 1;
        let steady = last.edges.contains(e) && !dying.contains(&e.0) && !dying.contains(&e.2);
        if simple && steady {
            groups.entry((e.2, e.3)).or_default().push(e.0);
        }
    }
    let mut fused = Fused { sources: HashMap::new(), inlets: HashMap::new() };
    let mut keys: Vec<_> = groups.into_iter().filter(|(_, g)| g.len() >= 2).collect();
    keys.sort();
    for (k, (inlet, sources)) in keys.into_iter().enumerate() {
        fused.inlets.insert(inlet, k);
        fused.sources.extend(sources.into_iter().map(|s| (s, k)));
    }
    fused
}

/// Kahn's algorithm over `nodes`; `None` if the edges loop.
fn topological<'a>(
    nodes: &HashMap<NodeId, Shape>,
    edges: impl Iterator<Item = &'a AudioEdge>,
) -> Option<Vec<NodeId>> {
    let mut indegree: HashMap<NodeId, usize> = nodes.keys().map(|&n| (n, 0)).collect();
    let mut next: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
    for &(from, _, to, _) in edges {
        next.entry(from).or_default().push(to);
        *indegree.get_mut(&to).expect("edge ends are nodes") += 1;
    }
    let mut ready: BTreeSet<NodeId> = indegree.iter().filter(|(_, d)| **d == 0).map(|(n, _)| *n).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for to in next.get(&n).into_iter().flatten() {
            let d = indegree.get_mut(to).unwrap();
            *d -= 1;
            if *d == 0 {
                ready.insert(*to);
            }
        }
    }
    (order.len() == nodes.len()).then_some(order)
}
