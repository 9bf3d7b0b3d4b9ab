//! Where a canvas draws a lab: each PC and switch at the place the server
//! keeps for it (GNS3's `x`, `y`), a node nobody placed yet on a ring about
//! the middle (PCs outside, switches inside), and a line per link. I/O-free,
//! so the layout is tested here and the page only draws it.

use std::collections::HashMap;

use uuid::Uuid;

use crate::api::VmStatus;
use crate::lab_delta::Nodes;
use crate::topology::{self, Attachment};

/// The canvas a lab starts on; it grows with nodes placed beyond it.
pub const CANVAS: (f64, f64) = (640.0, 360.0);
/// How close to a node's centre a pointer counts as on it.
pub const NODE_RADIUS: f64 = 24.0;

/// One node as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// The PC's or switch's id.
    pub id: Uuid,
    /// Its name (the canvas's `data-node`).
    pub name: String,
    /// A switch, or else a PC.
    pub switch: bool,
    /// Started or not.
    pub started: bool,
    /// A PC whose traffic is being captured.
    pub capturing: bool,
    /// Its centre.
    pub x: f64,
    /// See [`NodeView::x`].
    pub y: f64,
    /// Where a new link from or to it would attach, if anywhere is free.
    pub free: Option<Attachment>,
}

/// One link as drawn, between the centres of its two nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    /// Its two ends.
    pub ends: (Attachment, Attachment),
    /// `A:B`, the two nodes' names (the canvas's `data-link`).
    pub label: String,
    /// The first end's centre.
    pub from: (f64, f64),
    /// The second end's centre.
    pub to: (f64, f64),
    /// Traffic on it is being captured (at a PC end).
    pub capturing: bool,
}

/// A lab laid out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabView {
    /// PCs first, then switches, in the server's order.
    pub nodes: Vec<NodeView>,
    /// Every link whose two ends are drawn.
    pub links: Vec<LinkView>,
    /// The canvas's size: [`CANVAS`], or more to hold every node.
    pub size: (f64, f64),
}

impl LabView {
    /// Lays out `nodes`; `moved` holds places being dragged, ahead of the server.
    pub fn of(nodes: &Nodes, moved: &HashMap<Uuid, (f64, f64)>) -> LabView {
        let free: HashMap<Uuid, Attachment> = topology::free_attachments(&nodes.vms, &nodes.switches)
            .into_iter()
            .map(|(a, _)| (a.node(), a))
            .collect();
        // A node nobody placed keeps its own seat on its ring, wherever the others went.
        let place = |id: Uuid, x: i32, y: i32, seat: (f64, f64)| match moved.get(&id) {
            Some(&at) => at,
            None if x == 0 && y == 0 => seat,
            None => (f64::from(x), f64::from(y)),
        };
        let pcs = nodes.vms.iter().zip(ring(nodes.vms.len(), 130.0)).map(|(v, seat)| {
            let (x, y) = place(v.vm_id, v.x, v.y, seat);
            let (started, capturing) = (v.status == VmStatus::Started, v.capture_file_path.is_some());
            let free = free.get(&v.vm_id).copied();
            NodeView { id: v.vm_id, name: v.name.clone(), switch: false, started, capturing, x, y, free }
        });
        let switches = nodes.switches.iter().zip(ring(nodes.switches.len(), 50.0)).map(|(s, seat)| {
            let (x, y) = place(s.vm_id, s.x, s.y, seat);
            let (started, free) = (s.status == VmStatus::Started, free.get(&s.vm_id).copied());
            NodeView {
                id: s.vm_id,
                name: s.name.clone(),
                switch: true,
                started,
                capturing: false,
                x,
                y,
                free,
            }
        });
        let out: Vec<NodeView> = pcs.chain(switches).collect();
        let at: HashMap<Uuid, &NodeView> = out.iter().map(|n| (n.id, n)).collect();
        let links = nodes
            .links()
            .into_iter()
            .filter_map(|(a, b)| {
                let (na, nb) = (at.get(&a.node())?, at.get(&b.node())?);
                Some(LinkView {
                    ends: (a, b),
                    label: format!("{}:{}", na.name, nb.name),
                    from: (na.x, na.y),
                    to: (nb.x, nb.y),
                    capturing: na.capturing || nb.capturing,
                })
            })
            .collect();
        let margin = NODE_RADIUS * 2.0;
        let size = out.iter().fold(CANVAS, |(w, h), n| (w.max(n.x + margin), h.max(n.y + margin)));
        LabView { nodes: out, links, size }
    }

    /// The node whose circle holds `(x, y)`, the topmost (last drawn) first.
    pub fn node_at(&self, x: f64, y: f64) -> Option<&NodeView> {
        self.nodes.iter().rev().find(|n| (n.x - x).hypot(n.y - y) <= NODE_RADIUS)
    }

    /// The two attachments a link dragged from `from` to `to` would use,
    /// or why there is none.
    pub fn link_ends(&self, from: Uuid, to: Uuid) -> Result<(Attachment, Attachment), String> {
        let node = |id| self.nodes.iter().find(|n| n.id == id).ok_or("that node is gone".to_owned());
        let (a, b) = (node(from)?, node(to)?);
        if a.id == b.id {
            return Err(format!("{} cannot be linked to itself", a.name));
        }
        let free = |n: &NodeView| {
            n.free.ok_or_else(|| {
                if n.switch {
                    format!("every port of {} is linked", n.name)
                } else {
                    format!("{} is linked already: unlink it first", n.name)
                }
            })
        };
        Ok((free(a)?, free(b)?))
    }
}

/// `count` places evenly on a circle of `radius` about the canvas's middle,
/// the first at the top (one alone sits in the middle).
fn ring(count: usize, radius: f64) -> impl Iterator<Item = (f64, f64)> {
    let radius = if count == 1 { 0.0 } else { radius };
    let (cx, cy) = (CANVAS.0 / 2.0, CANVAS.1 / 2.0);
    (0..count).map(move |i| {
        let angle = std::f64::consts::TAU * i as f64 / count as f64 - std::f64::consts::FRAC_PI_2;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Nio;
    use crate::fixtures::{pc, switch};

    fn lab() -> Nodes {
        let project = Uuid::new_v4();
        let mut pc1 = pc(project, "PC1", Some(Nio::udp(10000, "127.0.0.1", 10001)));
        (pc1.x, pc1.y) = (100, 80);
        let pc2 = pc(project, "PC2", None);
        let sw = switch(project, "SW1", vec![Some(Nio::udp(10001, "127.0.0.1", 10000)), None]);
        Nodes { vms: vec![pc1, pc2], switches: vec![sw] }
    }

    #[test]
    fn placed_nodes_stay_put_and_the_others_share_a_ring() {
        let view = LabView::of(&lab(), &HashMap::new());
        let names: Vec<_> = view.nodes.iter().map(|n| (n.name.as_str(), n.switch)).collect();
        assert_eq!(names, [("PC1", false), ("PC2", false), ("SW1", true)]);
        assert_eq!((view.nodes[0].x, view.nodes[0].y), (100.0, 80.0));
        // PC2 keeps the second seat of the PCs' ring (the bottom), whoever moved PC1;
        // a switch alone sits in the middle.
        assert_eq!((view.nodes[1].x, view.nodes[1].y), (320.0, 180.0 + 130.0));
        assert_eq!((view.nodes[2].x, view.nodes[2].y), (320.0, 180.0));
        assert_eq!(view.size, CANVAS);
    }

    #[test]
    fn links_join_the_centres_of_their_nodes_and_are_named_by_them() {
        let view = LabView::of(&lab(), &HashMap::new());
        assert_eq!(view.links.len(), 1);
        assert_eq!(view.links[0].label, "PC1:SW1");
        assert_eq!(view.links[0].from, (100.0, 80.0));
        assert_eq!(view.links[0].to, (320.0, 180.0));
        assert!(!view.links[0].capturing);
        let mut capturing = lab();
        capturing.vms[0].capture_file_path = Some("/tmp/x.pcap".into());
        let view = LabView::of(&capturing, &HashMap::new());
        assert!(view.nodes[0].capturing && view.links[0].capturing);
    }

    #[test]
    fn a_node_being_dragged_is_drawn_where_the_pointer_has_it_and_the_canvas_grows() {
        let lab = lab();
        let moved = HashMap::from([(lab.vms[1].vm_id, (900.0, 500.0))]);
        let view = LabView::of(&lab, &moved);
        assert_eq!((view.nodes[1].x, view.nodes[1].y), (900.0, 500.0));
        assert_eq!(view.size, (900.0 + 2.0 * NODE_RADIUS, 500.0 + 2.0 * NODE_RADIUS));
        assert_eq!(view.node_at(905.0, 490.0).map(|n| n.name.as_str()), Some("PC2"));
        assert_eq!(view.node_at(700.0, 300.0), None);
    }

    #[test]
    fn a_dragged_link_uses_the_free_ends_or_says_why_it_cannot() {
        let lab = lab();
        let view = LabView::of(&lab, &HashMap::new());
        let (pc1, pc2, sw) = (lab.vms[0].vm_id, lab.vms[1].vm_id, lab.switches[0].vm_id);
        assert_eq!(view.link_ends(pc2, sw), Ok((Attachment::Pc(pc2), Attachment::SwitchPort(sw, 1))));
        assert_eq!(view.link_ends(pc1, sw), Err("PC1 is linked already: unlink it first".into()));
        assert_eq!(view.link_ends(pc2, pc2), Err("PC2 cannot be linked to itself".into()));
    }
}
