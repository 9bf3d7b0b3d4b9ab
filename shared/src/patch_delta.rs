//! A patch file kept current by the engine's change events, so that a
//! client fetches `GET /v1/engine/patch` once and then follows every edit
//! anyone makes (OSC, HTTP, another page) without fetching it again.
//!
//! Every change names absolute addresses (`/patch/sub/lp/in`), while the
//! file keeps its transforms in a tree and its connections relative to the
//! patch they are in. A change the file cannot place (an address it does not
//! know, a whole new patch loaded) answers [`Applied::Refetch`]: the client
//! missed something and fetches the file again, rather than guess.

use std::collections::BTreeMap;

use crate::engine::{Body, Change, ConnectionFile, PatchFile, TransformFile};
use crate::value::Value;

/// The root patch's address.
const ROOT: &str = "/patch";

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The file now shows the change.
    Done,
    /// The file cannot show it; fetch the file again.
    Refetch,
}

/// One patch's members: the root's or a subpatch's.
struct Members<'a> {
    transforms: &'a mut Vec<TransformFile>,
    connections: &'a mut Vec<ConnectionFile>,
}

impl PatchFile {
    /// Applies one change event to the file, as the server's own file would
    /// show it after the change (transforms in name order, connections in
    /// the order they were made).
    pub fn apply(&mut self, change: &Change) -> Applied {
        let done = match change {
            Change::Added { path, type_name, args, values, .. } => self.add(path, type_name, args, values),
            Change::Deleted { path } => self.delete(path),
            Change::Renamed { from, to } => self.rename(from, to),
            Change::Connected { from, to } => self.connect(from, to),
            Change::Disconnected { from, to } => self.disconnect(from, to),
            Change::Moved { path, layout } => self.transform_mut(path).map(|t| t.layout = Some(*layout)),
            Change::Loaded => None,
            Change::Value { path, value } => self.set_value(path, value),
        };
        match done {
            Some(()) => Applied::Done,
            None => Applied::Refetch,
        }
    }

    /// The transform at `path`, if the file has it.
    pub fn transform(&self, path: &str) -> Option<&TransformFile> {
        let mut names = relative(path)?.split('/');
        let first = names.next()?;
        let mut found = self.transforms.iter().find(|t| t.name == first)?;
        for name in names {
            found = found.patch.as_ref()?.transforms.iter().find(|t| t.name == name)?;
        }
        Some(found)
    }

    fn root(&mut self) -> Members<'_> {
        Members { transforms: &mut self.transforms, connections: &mut self.connections }
    }

    /// The members of the patch at `path` (`/patch` or a subpatch's address).
    fn members(&mut self, path: &str) -> Option<Members<'_>> {
        if path == ROOT {
            return Some(self.root());
        }
        let mut at = self.root();
        for name in relative(path)?.split('/') {
            let t = at.transforms.iter_mut().find(|t| t.name == name)?;
            let body = t.patch.as_mut()?;
            at = Members { transforms: &mut body.transforms, connections: &mut body.connections };
        }
        Some(at)
    }

    fn transform_mut(&mut self, path: &str) -> Option<&mut TransformFile> {
        let (parent, name) = path.rsplit_once('/')?;
        self.members(parent)?.transforms.iter_mut().find(|t| t.name == name)
    }

    fn add(
        &mut self,
        path: &str,
        type_name: &str,
        args: &str,
        values: &BTreeMap<String, Value>,
    ) -> Option<()> {
        let (parent, name) = path.rsplit_once('/')?;
        let transforms = self.members(parent)?.transforms;
        let Err(at) = transforms.binary_search_by(|t| t.name.as_str().cmp(name)) else {
            return None; // already there: the file is not what we think
        };
        let transform = TransformFile {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            args: args.to_owned(),
            renamed: BTreeMap::new(),
            values: values.clone(),
            patch: (type_name == "Patch").then(Body::default),
            layout: None,
        };
        transforms.insert(at, transform);
        Some(())
    }

    fn delete(&mut self, path: &str) -> Option<()> {
        let (parent, name) = path.rsplit_once('/')?;
        let transforms = self.members(parent)?.transforms;
        let at = transforms.iter().position(|t| t.name == name)?;
        transforms.remove(at);
        // Its connections go with it, wherever they were (a subpatch's
        // Inlet is wired from the enclosing patch).
        let inside = format!("{path}/");
        self.each_patch(&mut |prefix, connections| {
            connections.retain(|c| {
                ![&c.from, &c.to].iter().any(|end| format!("{prefix}/{end}").starts_with(&inside))
            })
        });
        Some(())
    }

    /// `set-name` on a transform or on one of its ports.
    fn rename(&mut self, from: &str, to: &str) -> Option<()> {
        let (parent, old) = from.rsplit_once('/')?;
        let (_, new) = to.rsplit_once('/')?;
        if self.transform(from).is_some() {
            let transforms = self.members(parent)?.transforms;
            if transforms.iter().any(|t| t.name == new) {
                return None;
            }
            let mut moved = transforms.remove(transforms.iter().position(|t| t.name == old)?);
            moved.name = new.to_owned();
            let at = transforms.partition_point(|t| t.name.as_str() < new);
            transforms.insert(at, moved);
            let (old_prefix, new_prefix) = (format!("{from}/"), format!("{to}/"));
            self.rewrite_ends(&|end| end.strip_prefix(&old_prefix).map(|rest| format!("{new_prefix}{rest}")));
            return Some(());
        }
        // A port: the file keeps its type's name for it, and its value.
        let owner = self.transform_mut(parent)?;
        let original = owner
            .renamed
            .iter()
            .find(|(_, now)| now.as_str() == old)
            .map(|(original, _)| original.clone())
            .unwrap_or_else(|| old.to_owned());
        if original == new {
            owner.renamed.remove(&original);
        } else {
            owner.renamed.insert(original, new.to_owned());
        }
        if let Some(value) = owner.values.remove(old) {
            owner.values.insert(new.to_owned(), value);
        }
        self.rewrite_ends(&|end| (end == from).then(|| to.to_owned()));
        Some(())
    }

    fn connect(&mut self, from: &str, to: &str) -> Option<()> {
        let (patch, connection) = self.placed(from, to)?;
        let connections = self.members(&patch)?.connections;
        if connections.contains(&connection) {
            return None;
        }
        connections.push(connection);
        Some(())
    }

    fn disconnect(&mut self, from: &str, to: &str) -> Option<()> {
        let (patch, connection) = self.placed(from, to)?;
        let connections = self.members(&patch)?.connections;
        let at = connections.iter().position(|c| *c == connection)?;
        connections.remove(at);
        Some(())
    }

    /// The patch a connection between two ports is in, and the connection
    /// as that patch's file writes it: both ends relative to that patch.
    fn placed(&self, from: &str, to: &str) -> Option<(String, ConnectionFile)> {
        let patch = self.patch_facing(from)?;
        if self.patch_facing(to)? != patch {
            return None;
        }
        let rel = |end: &str| end[patch.len() + 1..].to_owned();
        Some((patch.to_owned(), ConnectionFile { from: rel(from), to: rel(to) }))
    }

    /// The patch a port (`owner/port`) is wired in: its owner's, except
    /// for the outer faces of a subpatch's border members (an Inlet's `in`,
    /// an Outlet's `out`, by their own names even when renamed), which face
    /// the patch around the subpatch.
    fn patch_facing<'p>(&self, end: &'p str) -> Option<&'p str> {
        let (owner, port) = end.rsplit_once('/')?;
        let (patch, _) = owner.rsplit_once('/')?;
        let t = self.transform(owner)?;
        let own_name = t.renamed.iter().find(|(_, new)| *new == port).map_or(port, |(old, _)| old.as_str());
        let outer = matches!((t.type_name.as_str(), own_name), ("Inlet", "in") | ("Outlet", "out"));
        if outer {
            Some(patch.rsplit_once('/')?.0)
        } else {
            Some(patch)
        }
    }

    fn set_value(&mut self, path: &str, value: &Value) -> Option<()> {
        let (owner, port) = path.rsplit_once('/')?;
        let transform = self.transform_mut(owner)?;
        // As the file keeps values: a bang or nothing is not kept.
        if matches!(value, Value::Nil | Value::Bang) {
            transform.values.remove(port);
        } else {
            transform.values.insert(port.to_owned(), value.clone());
        }
        Some(())
    }

    /// Rewrites every connection end for which `rename` gives a new
    /// absolute address.
    fn rewrite_ends(&mut self, rename: &dyn Fn(&str) -> Option<String>) {
        self.each_patch(&mut |prefix, connections| {
            for c in connections.iter_mut() {
                for end in [&mut c.from, &mut c.to] {
                    if let Some(new) = rename(&format!("{prefix}/{end}")) {
                        if let Some(rest) = new.strip_prefix(&format!("{prefix}/")) {
                            *end = rest.to_owned();
                        }
                    }
                }
            }
        });
    }

    /// Calls `visit` with each patch's address and connections, iteratively
    /// (a hostile file's depth was bounded when the server loaded it, but
    /// this code runs on whatever the page fetched).
    fn each_patch(&mut self, visit: &mut dyn FnMut(&str, &mut Vec<ConnectionFile>)) {
        visit(ROOT, &mut self.connections);
        let mut stack: Vec<(String, &mut Vec<TransformFile>)> = vec![(ROOT.to_owned(), &mut self.transforms)];
        while let Some((prefix, transforms)) = stack.pop() {
            for t in transforms.iter_mut() {
                if let Some(body) = t.patch.as_mut() {
                    let here = format!("{prefix}/{}", t.name);
                    visit(&here, &mut body.connections);
                    stack.push((here, &mut body.transforms));
                }
            }
        }
    }
}

/// `a/b` of `/patch/a/b`.
fn relative(path: &str) -> Option<&str> {
    path.strip_prefix(ROOT)?.strip_prefix('/').filter(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{FORMAT, VERSION};

    fn empty() -> PatchFile {
        PatchFile { format: FORMAT.into(), version: VERSION, transforms: vec![], connections: vec![] }
    }

    fn added(path: &str, type_name: &str) -> Change {
        Change::Added {
            path: path.into(),
            type_name: type_name.into(),
            args: String::new(),
            values: BTreeMap::new(),
            ports: Default::default(),
        }
    }

    fn wire(from: &str, to: &str) -> Change {
        Change::Connected { from: from.into(), to: to.into() }
    }

    fn names(file: &PatchFile) -> Vec<&str> {
        file.transforms.iter().map(|t| t.name.as_str()).collect()
    }

    fn connections(body: &[ConnectionFile]) -> Vec<(String, String)> {
        body.iter().map(|c| (c.from.clone(), c.to.clone())).collect()
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    /// sine0 -> lp -> out, in a file built only from changes.
    fn chain() -> PatchFile {
        let mut file = empty();
        for change in [
            added("/patch/sine0", "Sinewave"),
            added("/patch/out", "AudioOutput"),
            added("/patch/lp", "Lowpass"),
            wire("/patch/sine0/samplesOut", "/patch/lp/samplesIn"),
            wire("/patch/lp/samplesOut", "/patch/out/mix"),
        ] {
            assert_eq!(file.apply(&change), Applied::Done, "{change:?}");
        }
        file
    }

    #[test]
    fn added_transforms_are_kept_in_name_order_as_the_server_saves_them() {
        let file = chain();
        assert_eq!(names(&file), ["lp", "out", "sine0"]);
        assert_eq!(
            connections(&file.connections),
            [pair("sine0/samplesOut", "lp/samplesIn"), pair("lp/samplesOut", "out/mix")]
        );
    }

    #[test]
    fn a_deleted_transform_takes_its_connections_with_it() {
        let mut file = chain();
        assert_eq!(file.apply(&Change::Deleted { path: "/patch/lp".into() }), Applied::Done);
        assert_eq!(names(&file), ["out", "sine0"]);
        assert!(file.connections.is_empty());
    }

    #[test]
    fn a_moved_transform_keeps_its_layout_and_an_unknown_one_asks_for_the_file() {
        let mut file = chain();
        let layout = crate::engine::Layout { x: 12.0, y: 34.0 };
        assert_eq!(file.apply(&Change::Moved { path: "/patch/lp".into(), layout }), Applied::Done);
        assert_eq!(file.transform("/patch/lp").unwrap().layout, Some(layout));
        assert_eq!(file.apply(&Change::Moved { path: "/patch/ghost".into(), layout }), Applied::Refetch);
    }

    #[test]
    fn a_renamed_transform_keeps_its_place_and_its_wires() {
        let mut file = chain();
        let rename = Change::Renamed { from: "/patch/lp".into(), to: "/patch/filter".into() };
        assert_eq!(file.apply(&rename), Applied::Done);
        assert_eq!(names(&file), ["filter", "out", "sine0"]);
        assert_eq!(
            connections(&file.connections),
            [pair("sine0/samplesOut", "filter/samplesIn"), pair("filter/samplesOut", "out/mix")]
        );
    }

    #[test]
    fn a_renamed_port_is_kept_under_its_types_name_with_its_value_and_wires() {
        let mut file = chain();
        let set = Change::Value { path: "/patch/lp/cutoff".into(), value: Value::Float(800.0) };
        assert_eq!(file.apply(&set), Applied::Done);
        let rename = |from: &str, to: &str| Change::Renamed { from: from.into(), to: to.into() };
        assert_eq!(file.apply(&rename("/patch/lp/cutoff", "/patch/lp/corner")), Applied::Done);
        assert_eq!(file.apply(&rename("/patch/lp/samplesIn", "/patch/lp/audio")), Applied::Done);
        let lp = file.transform("/patch/lp").unwrap();
        assert_eq!(lp.renamed.get("cutoff").map(String::as_str), Some("corner"));
        assert_eq!(lp.values.get("corner"), Some(&Value::Float(800.0)));
        assert_eq!(connections(&file.connections)[0], pair("sine0/samplesOut", "lp/audio"));
        // Back to its own name: nothing to remember.
        assert_eq!(file.apply(&rename("/patch/lp/corner", "/patch/lp/cutoff")), Applied::Done);
        assert!(!file.transform("/patch/lp").unwrap().renamed.contains_key("cutoff"));
    }

    #[test]
    fn a_disconnection_removes_exactly_that_wire() {
        let mut file = chain();
        let cut = Change::Disconnected { from: "/patch/lp/samplesOut".into(), to: "/patch/out/mix".into() };
        assert_eq!(file.apply(&cut), Applied::Done);
        assert_eq!(connections(&file.connections), [pair("sine0/samplesOut", "lp/samplesIn")]);
        // Twice: the file is not what the server has.
        assert_eq!(file.apply(&cut), Applied::Refetch);
    }

    #[test]
    fn subpatch_members_and_their_wires_go_to_the_subpatch() {
        let mut file = chain();
        for change in [
            added("/patch/voice", "Patch"),
            added("/patch/voice/osc", "Sinewave"),
            added("/patch/voice/amp", "Gain"),
            wire("/patch/voice/osc/samplesOut", "/patch/voice/amp/samplesIn"),
        ] {
            assert_eq!(file.apply(&change), Applied::Done, "{change:?}");
        }
        let voice = file.transform("/patch/voice").unwrap().patch.as_ref().unwrap();
        assert_eq!(voice.transforms.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["amp", "osc"]);
        assert_eq!(connections(&voice.connections), [pair("osc/samplesOut", "amp/samplesIn")]);
        // Renaming the subpatch rewrites nothing inside it: its wires are relative.
        let rename = Change::Renamed { from: "/patch/voice".into(), to: "/patch/v1".into() };
        assert_eq!(file.apply(&rename), Applied::Done);
        assert!(file.transform("/patch/v1/osc").is_some());
        let set = Change::Value { path: "/patch/v1/osc/freq".into(), value: Value::Float(220.0) };
        assert_eq!(file.apply(&set), Applied::Done);
        assert_eq!(file.transform("/patch/v1/osc").unwrap().values["freq"], Value::Float(220.0));
    }

    #[test]
    fn what_the_file_cannot_place_asks_for_a_refetch() {
        let mut file = chain();
        for change in [
            Change::Loaded,
            added("/patch/lp", "Lowpass"),         // already there
            added("/patch/nowhere/x", "Sinewave"), // no such subpatch
            added("/patch/sine0/x", "Sinewave"),   // not a subpatch
            Change::Deleted { path: "/patch/ghost".into() },
            Change::Value { path: "/patch/ghost/freq".into(), value: Value::Float(1.0) },
            wire("/patch/ghost/samplesOut", "/patch/out/mix"),
            Change::Renamed { from: "/patch/ghost/a".into(), to: "/patch/ghost/b".into() },
            Change::Deleted { path: "elsewhere".into() },
        ] {
            assert_eq!(file.apply(&change), Applied::Refetch, "{change:?}");
        }
        assert_eq!(names(&file), ["lp", "out", "sine0"], "a refused change changes nothing");
    }

    #[test]
    fn wires_through_a_subpatchs_border_are_kept_in_the_patch_each_face_is_in() {
        let mut file = empty();
        file.apply(&added("/patch/sub", "Patch"));
        file.apply(&added("/patch/sub/in1", "Inlet"));
        file.apply(&added("/patch/sub/out1", "Outlet"));
        file.apply(&added("/patch/sub/g", "Gain~"));
        file.apply(&added("/patch/src", "Metro"));
        file.apply(&added("/patch/dst", "Print"));
        for change in [
            wire("/patch/src/out", "/patch/sub/in1/in"),
            wire("/patch/sub/in1/out", "/patch/sub/g/samplesIn"),
            wire("/patch/sub/g/samplesOut", "/patch/sub/out1/in"),
            wire("/patch/sub/out1/out", "/patch/dst/in"),
        ] {
            assert_eq!(file.apply(&change), Applied::Done, "{change:?}");
        }
        assert_eq!(
            connections(&file.connections),
            [pair("src/out", "sub/in1/in"), pair("sub/out1/out", "dst/in")]
        );
        let inner = &file.transform("/patch/sub").unwrap().patch.as_ref().unwrap().connections;
        assert_eq!(connections(inner), [pair("in1/out", "g/samplesIn"), pair("g/samplesOut", "out1/in")]);
        // Across faces that are not in one patch: not a connection the engine makes.
        assert_eq!(file.apply(&wire("/patch/src/out", "/patch/sub/g/samplesIn")), Applied::Refetch);
    }

    #[test]
    fn values_are_kept_as_the_file_keeps_them() {
        let mut file = chain();
        let set = |value| Change::Value { path: "/patch/out/onoff".into(), value };
        assert_eq!(file.apply(&set(Value::Boolean(true))), Applied::Done);
        assert_eq!(file.transform("/patch/out").unwrap().values["onoff"], Value::Boolean(true));
        assert_eq!(file.apply(&set(Value::Nil)), Applied::Done);
        assert!(file.transform("/patch/out").unwrap().values.is_empty());
    }
}
