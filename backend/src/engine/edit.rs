//! Editing the patch tree: transforms added, deleted and renamed, connections
//! made and broken, and whole patches swapped in (loading a file).

use super::compile::Dying;
use super::graph::{check_name, Dsp, End, Kind, Node, NodeId, Shape, Target, ROOT};
use super::{library, Change, Engine, EngineError, ValueType};
use patchbay_shared::engine::Layout;

impl Engine {
    pub(super) fn patch_node(&self, path: &str) -> Result<NodeId, EngineError> {
        match self.graph.resolve(path)? {
            Target::Node(id) if self.graph.nodes[&id].is_container() => Ok(id),
            _ => Err(EngineError::NotAPatch),
        }
    }

    /// `add-transform TYPE NAME [ARGS]` on the patch at `patch`. An empty
    /// name picks the first free `typeN`.
    pub fn add_transform(
        &mut self,
        patch: &str,
        type_name: &str,
        name: &str,
        args: &str,
    ) -> Result<String, EngineError> {
        let pid = self.patch_node(patch)?;
        let entry = library::get(type_name).ok_or_else(|| EngineError::UnknownType(type_name.to_owned()))?;
        let name = match name {
            "" => self.auto_name(pid, type_name),
            n => n.to_owned(),
        };
        check_name(&name)?;
        if self.graph.nodes[&pid].children.contains_key(&name) || library::RESERVED.contains(&name.as_str()) {
            return Err(EngineError::NameTaken(name));
        }
        let kind = match type_name {
            "Patch" => Kind::Patch,
            "Inlet" => Kind::Inlet,
            "Outlet" => Kind::Outlet,
            _ => Kind::Transform,
        };
        if matches!(kind, Kind::Inlet | Kind::Outlet) && pid == ROOT {
            return Err(EngineError::BorderAtRoot);
        }
        let mut lib_args = library::Args::parse(args, self.setup).in_dir(&self.files);
        lib_args.input = self.input.clone();
        let built =
            (entry.build)(&lib_args).map_err(|e| EngineError::BadArguments(type_name.to_owned(), e))?;
        let id = self.graph.alloc_id();
        let shape = Shape {
            audio_in: (0..built.ports.len())
                .filter(|&i| built.ports[i].is_inlet() && built.ports[i].is_audio())
                .collect(),
            audio_out: (0..built.ports.len())
                .filter(|&i| built.ports[i].is_outlet() && built.ports[i].is_audio())
                .collect(),
            extra: built.dsp.as_ref().map_or(0, |d| d.extra_outputs()),
            sink: built.dsp.as_ref().is_some_and(|d| d.is_sink()),
        };
        let dsp = match built.dsp {
            Some(d) => {
                self.dirty = true;
                Dsp::Pending(d)
            }
            None => Dsp::None,
        };
        let node = Node {
            id,
            name: name.clone(),
            type_name: entry.name.to_owned(),
            args: args.to_owned(),
            parent: Some(pid),
            kind,
            ports: built.ports,
            values: built.values,
            control: built.control,
            dsp,
            shape,
            meters: built.meters,
            taps: built.taps,
            views: built.views,
            children: Default::default(),
            renamed: Default::default(),
            timer: None,
            layout: None,
            fresh: 0,
        };
        let values = super::patch_file::saved_values(&node);
        self.graph.nodes.insert(id, node);
        self.graph.nodes.get_mut(&pid).unwrap().children.insert(name.clone(), id);
        self.changes.push(Change::Added {
            path: self.graph.path(id),
            type_name: entry.name.to_owned(),
            args: args.to_owned(),
            values,
            ports: self.graph.ports(id),
        });
        Ok(name)
    }

    pub(super) fn auto_name(&self, pid: NodeId, type_name: &str) -> String {
        let stem: String =
            type_name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase();
        let stem = if stem.is_empty() { "op".to_owned() } else { stem };
        let children = &self.graph.nodes[&pid].children;
        (0..).map(|i| format!("{stem}{i}")).find(|n| !children.contains_key(n)).unwrap()
    }

    /// `delete-transform NAME` on the patch at `patch`.
    pub fn delete_transform(&mut self, patch: &str, name: &str) -> Result<(), EngineError> {
        let pid = self.patch_node(patch)?;
        let id = *self.graph.nodes[&pid].children.get(name).ok_or(EngineError::InvalidAddress)?;
        let path = self.graph.path(id);
        self.remove_node(id);
        self.changes.push(Change::Deleted { path });
        Ok(())
    }

    pub(super) fn remove_node(&mut self, id: NodeId) {
        for node in self.graph.remove(id) {
            match node.dsp {
                Dsp::Live => {
                    self.dying.push(Dying { id: node.id, shape: node.shape });
                    self.dirty = true;
                }
                Dsp::Pending(_) => self.dirty = true,
                Dsp::None => {}
            }
        }
    }

    /// `set-name`: renames a transform (its address changes).
    pub fn rename(&mut self, path: &str, new_name: &str) -> Result<(), EngineError> {
        let Target::Node(id) = self.graph.resolve(path)? else { return Err(EngineError::InvalidAddress) };
        let parent = self.graph.nodes[&id].parent.ok_or(EngineError::InvalidAddress)?;
        check_name(new_name)?;
        let siblings = &mut self.graph.nodes.get_mut(&parent).unwrap().children;
        if siblings.contains_key(new_name) || library::RESERVED.contains(&new_name) {
            return Err(EngineError::NameTaken(new_name.to_owned()));
        }
        let old = std::mem::replace(&mut self.graph.nodes.get_mut(&id).unwrap().name, new_name.to_owned());
        let siblings = &mut self.graph.nodes.get_mut(&parent).unwrap().children;
        siblings.remove(&old);
        siblings.insert(new_name.to_owned(), id);
        let to = self.graph.path(id);
        let from = format!("{}/{old}", to.rsplit_once('/').map_or("", |(p, _)| p));
        self.changes.push(Change::Renamed { from, to });
        Ok(())
    }

    /// Places a transform or subpatch on the canvas (`set-layout X Y`); the
    /// patch file keeps it, and every client's canvas follows.
    pub fn set_layout(&mut self, path: &str, x: f64, y: f64) -> Result<(), EngineError> {
        let Target::Node(id) = self.graph.resolve(path)? else { return Err(EngineError::InvalidAddress) };
        if id == ROOT {
            return Err(EngineError::InvalidAddress);
        }
        let layout = Layout::new(x, y).ok_or(EngineError::BadLayout)?;
        self.graph.nodes.get_mut(&id).unwrap().layout = Some(layout);
        self.changes.push(Change::Moved { path: self.graph.path(id), layout });
        Ok(())
    }

    /// Renames a state, inlet or outlet of one transform (the seed's
    /// `set-name` on a state). Its connections and value stay; the patch
    /// file keeps the rename. The new name may not be another port's, a
    /// member's or a method's.
    pub fn rename_port(&mut self, path: &str, new_name: &str) -> Result<(), EngineError> {
        let Target::Port(id, port) = self.graph.resolve(path)? else {
            return Err(EngineError::InvalidAddress);
        };
        check_name(new_name)?;
        let node = self.graph.nodes.get_mut(&id).unwrap();
        if node.port(new_name).is_some()
            || node.children.contains_key(new_name)
            || library::RESERVED.contains(&new_name)
        {
            return Err(EngineError::NameTaken(new_name.to_owned()));
        }
        let old = std::mem::replace(&mut node.ports[port].name, new_name.to_owned());
        node.renamed.entry(port).or_insert_with(|| old.clone());
        if node.renamed.get(&port).is_some_and(|original| original == new_name) {
            node.renamed.remove(&port); // back to its own name
        }
        let base = self.graph.path(id);
        self.changes
            .push(Change::Renamed { from: format!("{base}/{old}"), to: format!("{base}/{new_name}") });
        Ok(())
    }

    /// The endpoint an address names as a connection source or target.
    pub(super) fn endpoint(&self, path: &str, source: bool) -> Result<End, EngineError> {
        let end = match self.graph.resolve(path)? {
            Target::Port(id, port) => (id, port),
            Target::Node(id) => match self.graph.nodes[&id].kind {
                Kind::Inlet | Kind::Outlet => (id, if source { 1 } else { 0 }),
                _ => {
                    return Err(if source {
                        EngineError::NotAnOutlet(path.into())
                    } else {
                        EngineError::NotAnInlet(path.into())
                    })
                }
            },
        };
        let node = &self.graph.nodes[&end.0];
        let border = matches!(node.kind, Kind::Inlet | Kind::Outlet);
        let ok = if source {
            node.ports[end.1].is_outlet() || border && end.1 == 1
        } else {
            node.ports[end.1].is_inlet()
        };
        match (ok, source) {
            (true, _) => Ok(end),
            (false, true) => Err(EngineError::NotAnOutlet(path.into())),
            (false, false) => Err(EngineError::NotAnInlet(path.into())),
        }
    }

    /// Connects an outlet to an inlet of the same patch, checking types.
    pub fn connect(&mut self, from: &str, to: &str) -> Result<(), EngineError> {
        let (a, b) = (self.endpoint(from, true)?, self.endpoint(to, false)?);
        if self.graph.patch_of(a) != self.graph.patch_of(b) {
            return Err(EngineError::DifferentPatches { from: from.into(), to: to.into() });
        }
        let (ta, tb) = (self.graph.nodes[&a.0].ports[a.1].ty, self.graph.nodes[&b.0].ports[b.1].ty);
        if !ta.connects_to(tb) {
            return Err(EngineError::TypeMismatch { from: ta, to: tb });
        }
        if self.graph.outgoing.get(&a).is_some_and(|l| l.iter().any(|c| c.to == b)) {
            return Err(EngineError::AlreadyConnected);
        }
        if ta == ValueType::Samples {
            if a.0 == b.0 || self.graph.audio_reaches(b.0, a.0) {
                return Err(EngineError::AudioLoop);
            }
            self.dirty = true;
        }
        self.graph.add_connection(a, b);
        self.changes.push(Change::Connected { from: self.graph.port_path(a), to: self.graph.port_path(b) });
        Ok(())
    }

    /// Removes the connection from the outlet `from` to the inlet `to`.
    pub fn disconnect(&mut self, from: &str, to: &str) -> Result<(), EngineError> {
        let (a, b) = (self.endpoint(from, true)?, self.endpoint(to, false)?);
        if !self.graph.remove_connection(a, b) {
            return Err(EngineError::NotConnected);
        }
        if self.graph.nodes[&a.0].ports[a.1].is_audio() {
            self.dirty = true;
        }
        self.changes
            .push(Change::Disconnected { from: self.graph.port_path(a), to: self.graph.port_path(b) });
        Ok(())
    }

    /// Removes everything in `/patch`.
    pub fn clear(&mut self) {
        let children: Vec<NodeId> = self.graph.nodes[&ROOT].children.values().copied().collect();
        for id in children {
            self.remove_node(id);
        }
    }

    /// An empty engine to build a patch in before it replaces this one's
    /// ([`Engine::replace_graph`]). It keeps this engine's time, so that the
    /// timers set while building are due when they should be here, and its
    /// files, input and node ids.
    pub(crate) fn scratch(&self) -> Engine {
        let (mut scratch, _audio) = Engine::new(self.setup);
        scratch.clock = self.clock.clone();
        scratch.files = self.files.clone();
        scratch.input = self.input.clone();
        scratch.graph.continue_ids_after(&self.graph);
        scratch
    }

    /// Takes over a patch built in a scratch engine (loading a file): what
    /// plays now fades out, the new patch starts at the next program. What
    /// it printed while being built is printed here.
    pub(crate) fn replace_graph(&mut self, scratch: Engine) {
        let old = std::mem::replace(&mut self.graph, scratch.graph);
        for node in old.nodes.into_values() {
            if matches!(node.dsp, Dsp::Live) {
                self.dying.push(Dying { id: node.id, shape: node.shape });
            }
        }
        self.timers = scratch.timers;
        for line in scratch.log {
            self.print(line);
        }
        self.warnings.extend(scratch.warnings);
        self.dirty = true;
        self.changes.push(Change::Loaded);
    }
}
