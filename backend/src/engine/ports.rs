//! Each transform's inlets and outlets as a canvas draws them (the shared
//! crate's `Ports`): a transform's own ports in activation order, a
//! subpatch's Inlet and Outlet members by name.

use std::collections::BTreeMap;

use patchbay_shared::engine::{PortInfo, Ports};

use super::graph::{Graph, Kind, NodeId, ROOT};
use super::Engine;

impl Graph {
    /// The ports of the node `id`.
    pub fn ports(&self, id: NodeId) -> Ports {
        let node = &self.nodes[&id];
        let info = |i: usize| PortInfo { name: node.ports[i].name.clone(), audio: node.ports[i].is_audio() };
        match node.kind {
            Kind::Patch => {
                let mut ports = Ports::default();
                for (name, child) in &node.children {
                    let member = &self.nodes[child];
                    // A border's two ports have its one type.
                    let audio = member.ports.first().is_some_and(|p| p.is_audio());
                    let port = PortInfo { name: name.clone(), audio };
                    match member.kind {
                        Kind::Inlet => ports.inlets.push(port),
                        Kind::Outlet => ports.outlets.push(port),
                        Kind::Transform | Kind::Patch => {}
                    }
                }
                ports
            }
            // Inside its subpatch an Inlet only feeds (port 1) and an Outlet is only fed (port 0).
            Kind::Inlet => Ports { inlets: vec![], outlets: vec![info(1)] },
            Kind::Outlet => Ports { inlets: vec![info(0)], outlets: vec![] },
            Kind::Transform => {
                let ordered = |inlet: bool| {
                    let mut at: Vec<usize> = (0..node.ports.len())
                        .filter(|&i| if inlet { node.ports[i].is_inlet() } else { node.ports[i].is_outlet() })
                        .collect();
                    at.sort_by_key(|&i| (node.ports[i].order, i));
                    at.into_iter().map(info).collect()
                };
                Ports { inlets: ordered(true), outlets: ordered(false) }
            }
        }
    }
}

impl Engine {
    /// Every transform's ports, by address, for `GET /v1/engine/ports`.
    pub fn port_map(&self) -> BTreeMap<String, Ports> {
        let g = self.graph();
        g.nodes.keys().filter(|&&id| id != ROOT).map(|&id| (g.path(id), g.ports(id))).collect()
    }
}
