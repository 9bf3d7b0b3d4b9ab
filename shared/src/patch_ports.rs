//! Every transform's ports, as a canvas needs them, kept current by the
//! engine's change events like the patch file beside it (`patch_delta`).
//!
//! `GET /v1/engine/ports` gives the map once; an `added` event carries the
//! new transform's ports. A subpatch's ports are its Inlet and Outlet
//! members, so adding, renaming or deleting one of those changes its
//! parent's ports too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Change, PortInfo, Ports};
use crate::patch_delta::Applied;

/// Transform address (`/patch/sub/g`) to its ports, for the whole tree.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PortMap(pub BTreeMap<String, Ports>);

impl PortMap {
    /// Applies one change; `Refetch` when it cannot be placed (a patch
    /// loaded, or an event about a transform the map does not know).
    pub fn apply(&mut self, change: &Change) -> Applied {
        let done = match change {
            Change::Added { path, type_name, ports, .. } => self.add(path, type_name, ports),
            Change::Deleted { path } => self.delete(path),
            Change::Renamed { from, to } => self.rename(from, to),
            Change::Loaded => None,
            Change::Connected { .. }
            | Change::Disconnected { .. }
            | Change::Value { .. }
            | Change::Moved { .. } => Some(()),
        };
        match done {
            Some(()) => Applied::Done,
            None => Applied::Refetch,
        }
    }

    /// The ports of the transform at `path`.
    pub fn get(&self, path: &str) -> Option<&Ports> {
        self.0.get(path)
    }

    fn add(&mut self, path: &str, type_name: &str, ports: &Ports) -> Option<()> {
        if self.0.contains_key(path) {
            return None;
        }
        let (parent, name) = path.rsplit_once('/')?;
        let border = match type_name {
            // Inside, an Inlet member only feeds and an Outlet is only fed.
            "Inlet" => Some((true, ports.outlets.first()?.audio)),
            "Outlet" => Some((false, ports.inlets.first()?.audio)),
            _ => None,
        };
        if let Some((inlet, audio)) = border {
            let outer = self.0.get_mut(parent)?;
            let list = if inlet { &mut outer.inlets } else { &mut outer.outlets };
            let at = list.partition_point(|p| p.name.as_str() < name);
            list.insert(at, PortInfo { name: name.to_owned(), audio });
        }
        self.0.insert(path.to_owned(), ports.clone());
        Some(())
    }

    fn delete(&mut self, path: &str) -> Option<()> {
        self.0.remove(path)?;
        let inside = format!("{path}/");
        self.0.retain(|p, _| !p.starts_with(&inside));
        let (parent, name) = path.rsplit_once('/')?;
        if let Some(outer) = self.0.get_mut(parent) {
            // Only a border member's name is a port of its subpatch.
            outer.inlets.retain(|p| p.name != name);
            outer.outlets.retain(|p| p.name != name);
        }
        Some(())
    }

    fn rename(&mut self, from: &str, to: &str) -> Option<()> {
        let (parent, old) = from.rsplit_once('/')?;
        let (_, new) = to.rsplit_once('/')?;
        if self.0.contains_key(from) {
            // A transform: it and everything inside it move.
            let inside = format!("{from}/");
            let moved: Vec<String> =
                self.0.keys().filter(|p| *p == from || p.starts_with(&inside)).cloned().collect();
            for path in moved {
                let ports = self.0.remove(&path)?;
                self.0.insert(format!("{to}{}", &path[from.len()..]), ports);
            }
            // A border member renamed renames its subpatch's port, which keeps name order.
            if let Some(outer) = self.0.get_mut(parent) {
                for list in [&mut outer.inlets, &mut outer.outlets] {
                    if let Some(at) = list.iter().position(|p| p.name == old) {
                        let mut port = list.remove(at);
                        port.name = new.to_owned();
                        let at = list.partition_point(|p| p.name.as_str() < new);
                        list.insert(at, port);
                    }
                }
            }
            return Some(());
        }
        // A port (`set-name`): renamed where it is, its order kept.
        let owner = self.0.get_mut(parent)?;
        let port = owner.inlets.iter_mut().chain(owner.outlets.iter_mut()).find(|p| p.name == old);
        if let Some(port) = port {
            port.name = new.to_owned();
        }
        // A state is renamed too, and it is not drawn: nothing to change.
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, audio: bool) -> PortInfo {
        PortInfo { name: name.into(), audio }
    }

    fn added(path: &str, type_name: &str, inlets: Vec<PortInfo>, outlets: Vec<PortInfo>) -> Change {
        Change::Added {
            path: path.into(),
            type_name: type_name.into(),
            args: String::new(),
            values: BTreeMap::new(),
            ports: Ports { inlets, outlets },
        }
    }

    fn border(path: &str, type_name: &str, audio: bool) -> Change {
        match type_name {
            "Inlet" => added(path, type_name, vec![], vec![port("out", audio)]),
            _ => added(path, type_name, vec![port("in", audio)], vec![]),
        }
    }

    fn names(list: &[PortInfo]) -> Vec<&str> {
        list.iter().map(|p| p.name.as_str()).collect()
    }

    fn subpatch() -> PortMap {
        let mut map = PortMap::default();
        for change in [
            added("/patch/sub", "Patch", vec![], vec![]),
            border("/patch/sub/right", "Inlet", false),
            border("/patch/sub/left", "Inlet", true),
            added(
                "/patch/sub/g",
                "Gain~",
                vec![port("samplesIn", true), port("gain", false)],
                vec![port("samplesOut", true)],
            ),
            border("/patch/sub/out0", "Outlet", true),
        ] {
            assert_eq!(map.apply(&change), Applied::Done, "{change:?}");
        }
        map
    }

    #[test]
    fn border_members_are_their_subpatchs_ports_in_name_order() {
        let mut map = subpatch();
        let sub = map.get("/patch/sub").unwrap().clone();
        assert_eq!(names(&sub.inlets), ["left", "right"]);
        assert_eq!(sub.inlets[0], port("left", true), "an audio Inlet makes an audio port");
        assert_eq!(names(&sub.outlets), ["out0"]);
        assert_eq!(map.apply(&border("/patch/sub/left", "Inlet", true)), Applied::Refetch, "added twice");
    }

    #[test]
    fn renames_move_transforms_and_their_members_and_rename_ports() {
        let mut map = subpatch();
        let rename = |from: &str, to: &str| Change::Renamed { from: from.into(), to: to.into() };
        assert_eq!(map.apply(&rename("/patch/sub", "/patch/fx")), Applied::Done);
        assert!(map.get("/patch/sub/g").is_none());
        assert_eq!(names(&map.get("/patch/fx/g").unwrap().inlets), ["samplesIn", "gain"]);
        assert_eq!(map.apply(&rename("/patch/fx/left", "/patch/fx/z")), Applied::Done);
        assert_eq!(names(&map.get("/patch/fx").unwrap().inlets), ["right", "z"]);
        assert_eq!(map.apply(&rename("/patch/fx/g/gain", "/patch/fx/g/level")), Applied::Done);
        assert_eq!(names(&map.get("/patch/fx/g").unwrap().inlets), ["samplesIn", "level"], "order kept");
        assert_eq!(map.apply(&rename("/patch/nowhere/x", "/patch/nowhere/y")), Applied::Refetch);
    }

    #[test]
    fn deleting_takes_members_and_border_ports_with_it() {
        let mut map = subpatch();
        assert_eq!(map.apply(&Change::Deleted { path: "/patch/sub/right".into() }), Applied::Done);
        assert_eq!(names(&map.get("/patch/sub").unwrap().inlets), ["left"]);
        assert_eq!(map.apply(&Change::Deleted { path: "/patch/sub".into() }), Applied::Done);
        assert!(map.0.is_empty());
        assert_eq!(map.apply(&Change::Loaded), Applied::Refetch);
    }
}
