//! The engine: an Open Sound World style dataflow graph of transforms.
//!
//! Two halves. The control side ([`Engine`]) owns the patch tree, runs
//! control-rate activations depth-first, keeps timers and compiles the
//! time-domain transforms into a [`program::Program`]. The audio side
//! ([`AudioSide`]) runs that program one block per clock tick, on whatever
//! thread drives the clock: the sound card's callback, a timer thread when
//! there is no card, or the offline renderer. The halves talk through two
//! lock-free queues (rtrb): commands one way, things to free the other way.
//!
//! Layout:
//! - [`value`]: values and types, with the implicit casts;
//! - [`transform`]: ports, control behaviour and DSP node traits;
//! - [`graph`]: the patch tree, connections and addresses;
//! - [`compile`] and [`program`]: the flat DSP program and the audio side;
//! - [`simd`]: block kernels with run-time CPU dispatch;
//! - [`library`]: the transform types;
//! - [`patch_file`]: saving and loading patches as JSON;
//! - [`render`] and [`device`]: the clocks (offline renderer, sound card, timer);
//! - [`clock`]: engine time, which both halves read.
//!
//! No tokio and no sockets here: the OSC and HTTP layers drive this.

pub mod clock;
pub mod compile;
pub mod device;
pub mod graph;
pub mod library;
pub mod patch_file;
pub mod program;
pub mod render;
pub mod simd;
pub mod transform;
pub mod value;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clock::ClockState;
use compile::{Dying, Layout};
use graph::{check_name, Dsp, End, Graph, Kind, Node, NodeId, Shape, Target, ROOT};
pub use program::AudioSide;
use program::{Command, Trash};
use transform::{Ctx, Setup};
pub use value::{Value, ValueType};

/// Deepest chain of activations one event may cause (a control loop ends here).
const MAX_DEPTH: usize = 200;
const QUEUE: usize = 4096;

/// Errors, worded as seed 001's replies where it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("Invalid address")]
    InvalidAddress,
    #[error("Cannot set incompatible data type")]
    Incompatible,
    #[error("Target object is not an OSW state.")]
    NotAState,
    #[error("Address does not have a readable type")]
    NotReadable,
    #[error("State is read-only")]
    ReadOnly,
    #[error("Not a patch")]
    NotAPatch,
    #[error("Unknown transform type {0:?}")]
    UnknownType(String),
    #[error("Bad arguments for {0}: {1}")]
    BadArguments(String, String),
    #[error("Invalid name {0:?}: use letters, digits, '_', '-' or '.', at most 64")]
    BadName(String),
    #[error("The name {0:?} is already taken in this patch")]
    NameTaken(String),
    #[error("{0} is not an outlet")]
    NotAnOutlet(String),
    #[error("{0} is not an inlet")]
    NotAnInlet(String),
    #[error("Cannot connect {from} to {to}: they are in different patches")]
    DifferentPatches { from: String, to: String },
    #[error("Cannot connect a {from} outlet to a {to} inlet")]
    TypeMismatch { from: ValueType, to: ValueType },
    #[error("Already connected")]
    AlreadyConnected,
    #[error("Not connected")]
    NotConnected,
    #[error("That connection would make an audio loop")]
    AudioLoop,
    #[error("Inlet and Outlet transforms belong in a subpatch")]
    BorderAtRoot,
    #[error("Control loop: more than {MAX_DEPTH} activations deep")]
    TooDeep,
    #[error("Patch file: {0}")]
    File(String),
}

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

/// The control side of the engine.
pub struct Engine {
    pub graph: Graph,
    setup: Setup,
    clock: Arc<ClockState>,
    commands: rtrb::Producer<Command>,
    /// Commands that did not fit in the queue yet, in order.
    backlog: VecDeque<Command>,
    trash: rtrb::Consumer<Trash>,
    layout: Layout,
    dying: Vec<Dying>,
    /// The DSP part changed since the last program was sent.
    dirty: bool,
    sent_at: u64,
    timers: BinaryHeap<Reverse<(TimeKey, NodeId)>>,
    log: Vec<String>,
    changes: Vec<Change>,
    /// Values set from outside since the last [`Engine::take_value_changes`]: only the latest per address.
    set_values: std::collections::HashMap<String, Value>,
    activations: Arc<AtomicU64>,
    /// Where FilePlayer and FileRecorder read and write, and nowhere else.
    files: std::path::PathBuf,
    /// What AudioInput transforms read.
    input: Arc<program::InputBus>,
}

/// An `f64` time that sorts (timers never hold NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
struct TimeKey(f64);
impl Eq for TimeKey {}
impl PartialOrd for TimeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimeKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Engine {
    /// An empty `/patch` and the audio side that will play it.
    pub fn new(setup: Setup) -> (Engine, AudioSide) {
        let (commands, command_rx) = rtrb::RingBuffer::new(QUEUE);
        let (trash_tx, trash) = rtrb::RingBuffer::new(QUEUE);
        let clock = Arc::new(ClockState::new(setup.rate, setup.block));
        let input = program::InputBus::new(setup.block);
        let audio = AudioSide::new(setup.block, command_rx, trash_tx, clock.clone(), input.clone());
        let engine = Engine {
            graph: Graph::new(),
            setup,
            clock,
            commands,
            backlog: VecDeque::new(),
            trash,
            layout: Layout::default(),
            dying: vec![],
            dirty: false,
            sent_at: 0,
            timers: BinaryHeap::new(),
            log: vec![],
            changes: vec![],
            set_values: Default::default(),
            activations: Arc::new(AtomicU64::new(0)),
            files: std::path::PathBuf::from("."),
            input,
        };
        (engine, audio)
    }

    /// Confines sound files to `dir` (relative names only, no `..`).
    pub fn set_files_dir(&mut self, dir: &std::path::Path) {
        self.files = dir.to_owned();
    }

    pub fn setup(&self) -> Setup {
        self.setup
    }

    pub fn clock(&self) -> &Arc<ClockState> {
        &self.clock
    }

    /// Engine time in seconds: frames the audio side has processed.
    pub fn now(&self) -> f64 {
        self.clock.seconds()
    }

    /// Activations run so far (discovery reports their rate).
    pub fn activations(&self) -> u64 {
        self.activations.load(Ordering::Relaxed)
    }

    /// Lines printed by Print transforms since the last call.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Values set from outside since the last call, latest per address (a
    /// flood of set-values becomes one notification per address per call).
    pub fn take_value_changes(&mut self) -> Vec<Change> {
        let mut v: Vec<(String, Value)> = self.set_values.drain().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(path, value)| Change::Value { path, value }).collect()
    }

    fn patch_node(&self, path: &str) -> Result<NodeId, EngineError> {
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
            children: Default::default(),
            timer: None,
            fresh: 0,
        };
        self.graph.nodes.insert(id, node);
        self.graph.nodes.get_mut(&pid).unwrap().children.insert(name.clone(), id);
        self.changes.push(Change::Added { path: self.graph.path(id), type_name: entry.name.to_owned() });
        Ok(name)
    }

    fn auto_name(&self, pid: NodeId, type_name: &str) -> String {
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

    fn remove_node(&mut self, id: NodeId) {
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

    /// The endpoint an address names as a connection source or target.
    fn endpoint(&self, path: &str, source: bool) -> Result<End, EngineError> {
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

    /// A set-value: an inlet receives (and may activate), a state stores,
    /// an outlet emits. Checked against the port's type.
    pub fn set_value(&mut self, path: &str, value: Value) -> Result<(), EngineError> {
        let Target::Port(id, port) = self.graph.resolve(path)? else { return Err(EngineError::NotAState) };
        let spec = &self.graph.nodes[&id].ports[port];
        if value != Value::Nil && !value.value_type().connects_to(spec.ty) {
            return Err(EngineError::Incompatible);
        }
        if !matches!(value, Value::Samples(_)) {
            self.set_values.insert(path.to_owned(), value.clone());
        }
        if spec.is_inlet() {
            self.deliver((id, port), value, 0)
        } else if spec.is_outlet() {
            let value = value.cast(spec.ty).map_err(|_| EngineError::Incompatible)?;
            self.emit((id, port), value, 0);
            Ok(())
        } else if !spec.writable {
            Err(EngineError::ReadOnly)
        } else {
            self.store((id, port), value).map(drop)
        }
    }

    /// Sets a port without activating anything (loading a saved patch).
    pub fn restore_value(&mut self, path: &str, value: Value) -> Result<(), EngineError> {
        let Target::Port(id, port) = self.graph.resolve(path)? else { return Err(EngineError::NotAState) };
        self.store((id, port), value).map(drop)
    }

    /// `current-value`: containers and transforms have none.
    pub fn current_value(&self, path: &str) -> Result<Value, EngineError> {
        match self.graph.resolve(path)? {
            Target::Port(id, port) => Ok(self.graph.nodes[&id].value(port)),
            Target::Node(_) => Err(EngineError::NotReadable),
        }
    }

    /// Casts and stores a value, and tells the DSP half if it is a number.
    fn store(&mut self, (id, port): End, value: Value) -> Result<Value, EngineError> {
        let node = self.graph.node_mut(id)?;
        let value = value.cast(node.ports[port].ty).map_err(|_| EngineError::Incompatible)?;
        node.values[port] = value.clone();
        if node.has_dsp() {
            if let Some(x) = value.as_f64() {
                self.send_set(id, port, x);
            }
        }
        Ok(value)
    }

    fn deliver(&mut self, (id, port): End, value: Value, depth: usize) -> Result<(), EngineError> {
        if depth > MAX_DEPTH {
            return Err(EngineError::TooDeep);
        }
        let value = self.store((id, port), value)?;
        let node = &mut self.graph.nodes.get_mut(&id).unwrap();
        if matches!(node.kind, Kind::Inlet | Kind::Outlet) && port == 0 {
            self.emit((id, 1), value, depth + 1);
            return Ok(());
        }
        let spec = &node.ports[port];
        if !spec.is_active() {
            return Ok(());
        }
        // Co-activation: every active inlet of this group must be fresh.
        let group = spec.group;
        node.fresh |= 1 << port.min(63);
        let members: u64 = (0..node.ports.len().min(64))
            .filter(|&i| node.ports[i].is_active() && node.ports[i].group == group)
            .map(|i| 1 << i)
            .sum();
        if node.fresh & members != members {
            return Ok(());
        }
        node.fresh &= !members;
        self.run_control(id, depth, |control, ctx| control.activate(port, ctx))
    }

    fn emit(&mut self, (id, port): End, value: Value, depth: usize) {
        if let Some(node) = self.graph.nodes.get_mut(&id) {
            node.values[port] = value.clone();
        }
        for to in self.graph.targets((id, port)) {
            if let Err(e) = self.deliver(to, value.clone(), depth + 1) {
                let (from, to) = (self.graph.port_path((id, port)), self.graph.port_path(to));
                self.log.push(format!("{from} -> {to}: {e}"));
                if e == EngineError::TooDeep {
                    return;
                }
            }
        }
    }

    /// Runs a node's control behaviour and then propagates what it emitted, in order.
    fn run_control(
        &mut self,
        id: NodeId,
        depth: usize,
        run: impl FnOnce(&mut dyn transform::Control, &mut Ctx),
    ) -> Result<(), EngineError> {
        let now = self.now();
        let node = self.graph.nodes.get_mut(&id).unwrap();
        let Some(mut control) = node.control.take() else { return Ok(()) };
        let (mut emitted, mut printed, mut data, mut timer, mut sets) =
            (vec![], vec![], None, node.timer, vec![]);
        let mut ctx = Ctx {
            values: &mut node.values,
            now,
            emitted: &mut emitted,
            timer: &mut timer,
            printed: &mut printed,
            data: &mut data,
            sets: &mut sets,
            meters: &node.meters,
        };
        run(control.as_mut(), &mut ctx);
        node.control = Some(control);
        if timer != node.timer {
            node.timer = timer;
            if let Some(at) = timer {
                self.timers.push(Reverse((TimeKey(at), id)));
            }
        }
        self.activations.fetch_add(1, Ordering::Relaxed);
        let path = if printed.is_empty() { String::new() } else { self.graph.path(id) };
        self.log.extend(printed.into_iter().map(|l| format!("{path}: {l}")));
        for (port, value) in sets {
            self.send_set(id, port, value);
        }
        if let Some(data) = data {
            self.send_data(id, data);
        }
        for (port, value) in emitted {
            self.emit((id, port), value, depth + 1);
        }
        Ok(())
    }

    /// Fires the timers due by `now` (seconds), in time order.
    pub fn run_timers(&mut self, now: f64) {
        while let Some(&Reverse((TimeKey(at), id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let due = self.graph.nodes.get_mut(&id).filter(|n| n.timer == Some(at));
            let Some(node) = due else { continue }; // stale: rescheduled or deleted
            node.timer = None;
            let _ = self.run_control(id, 0, |control, ctx| {
                ctx.now = at;
                control.timer(ctx)
            });
        }
    }

    /// Nothing for the control thread to do until someone calls in: no
    /// timer, no command queued, no program to send, clean up or get back,
    /// nothing to announce. It then sleeps until woken (see `sound.rs`).
    pub fn settled(&self) -> bool {
        self.timers.is_empty()
            && self.backlog.is_empty()
            && !self.dirty
            && !self.layout.needs_cleanup
            && self.set_values.is_empty()
            && self.changes.is_empty()
            && self.log.is_empty()
            && self.trash.is_empty()
            && self.clock.frames() >= self.sent_at + 2 * self.setup.block as u64
    }

    /// When the next timer is due, if any.
    pub fn next_timer(&self) -> Option<f64> {
        self.timers.peek().map(|Reverse((t, _))| t.0)
    }

    fn send_set(&mut self, id: NodeId, port: usize, value: f64) {
        let node = self.graph.nodes.get_mut(&id).unwrap();
        match &mut node.dsp {
            Dsp::Pending(dsp) => dsp.set(port, value),
            Dsp::Live => {
                if let Some(&slot) = self.layout.slot_of.get(&id) {
                    self.command(Command::Set { slot, port, value });
                }
            }
            Dsp::None => {}
        }
    }

    fn send_data(&mut self, id: NodeId, data: Box<[f32]>) {
        let node = self.graph.nodes.get_mut(&id).unwrap();
        match &mut node.dsp {
            Dsp::Pending(dsp) => drop(dsp.set_data(data)),
            Dsp::Live => {
                if let Some(&slot) = self.layout.slot_of.get(&id) {
                    self.command(Command::Data { slot, data });
                }
            }
            Dsp::None => {}
        }
    }

    fn command(&mut self, command: Command) {
        if self.backlog.is_empty() {
            if let Err(rtrb::PushError::Full(command)) = self.commands.push(command) {
                self.backlog.push_back(command);
            }
            self.clock.wake();
        } else {
            self.backlog.push_back(command);
        }
    }

    /// `/advance-clock`: the audio side runs `blocks` extra blocks at its next tick.
    pub fn advance_clock(&mut self, blocks: u32) {
        self.pump();
        self.command(Command::Advance(blocks));
    }

    /// Frees what the audio side handed back, sends the new program if the
    /// patch changed, and flushes queued commands. Call it often.
    pub fn pump(&mut self) {
        while let Ok(trash) = self.trash.pop() {
            drop(trash);
        }
        let frames = self.clock.frames();
        if self.layout.needs_cleanup && frames >= self.sent_at + 2 * self.setup.block as u64 {
            self.dirty = true;
        }
        if self.dirty {
            let dying = std::mem::take(&mut self.dying);
            let (program, layout) = compile::compile(&mut self.graph, &self.layout, dying, self.setup.block);
            self.layout = layout;
            self.dirty = false;
            self.sent_at = frames;
            self.command(Command::Swap(Box::new(program)));
        }
        while let Some(command) = self.backlog.pop_front() {
            if let Err(rtrb::PushError::Full(command)) = self.commands.push(command) {
                self.backlog.push_front(command);
                break;
            }
            self.clock.wake();
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
        self.log.extend(scratch.log);
        self.dirty = true;
        self.changes.push(Change::Loaded);
    }

    /// Removes everything in `/patch`.
    pub fn clear(&mut self) {
        let children: Vec<NodeId> = self.graph.nodes[&ROOT].children.values().copied().collect();
        for id in children {
            self.remove_node(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::library::testing::SETUP;
    use super::*;

    fn engine() -> (Engine, AudioSide) {
        Engine::new(SETUP)
    }

    fn tick(e: &mut Engine, a: &mut AudioSide) -> Vec<f32> {
        render::step(e, a);
        a.channel(0).to_vec()
    }

    #[test]
    fn errors_read_as_seed_001_replies() {
        let (mut e, _a) = engine();
        e.add_transform("/patch", "Sinewave", "sine0", "").unwrap();
        let set = |e: &mut Engine, path: &str, v: Value| e.set_value(path, v).unwrap_err().to_string();
        assert_eq!(
            set(&mut e, "/patch/sine0/freq", Value::String("440.0".into())),
            "Cannot set incompatible data type"
        );
        assert_eq!(set(&mut e, "/patch", Value::Nil), "Target object is not an OSW state.");
        assert_eq!(
            e.current_value("/patch").unwrap_err().to_string(),
            "Address does not have a readable type"
        );
        assert_eq!(e.current_value("/hello/foo").unwrap_err().to_string(), "Invalid address");
        assert_eq!(e.current_value("/patch/sine0/nope").unwrap_err().to_string(), "Invalid address");
        assert_eq!(e.current_value("/patch/sine0/freq").unwrap(), Value::Float(440.0));
        e.set_value("/patch/sine0/freq", Value::Integer(220)).unwrap();
        assert_eq!(
            e.current_value("/patch/sine0/freq").unwrap(),
            Value::Float(220.0),
            "integers cast to float"
        );
    }

    #[test]
    fn connections_are_checked() {
        let (mut e, _a) = engine();
        for (ty, name) in [("Sinewave", "s"), ("+", "add"), ("Gain~", "g"), ("Patch", "sub")] {
            e.add_transform("/patch", ty, name, "").unwrap();
        }
        e.add_transform("/patch/sub", "Sinewave", "inner", "").unwrap();
        let err = |e: &mut Engine, a: &str, b: &str| e.connect(a, b).unwrap_err().to_string();
        assert_eq!(
            err(&mut e, "/patch/s/samplesOut", "/patch/add/a"),
            "Cannot connect a Samples outlet to a Float inlet"
        );
        assert_eq!(err(&mut e, "/patch/s/freq", "/patch/g/samplesIn"), "/patch/s/freq is not an outlet");
        assert_eq!(err(&mut e, "/patch/s/samplesOut", "/patch/add/out"), "/patch/add/out is not an inlet");
        assert!(
            err(&mut e, "/patch/sub/inner/samplesOut", "/patch/g/samplesIn").contains("different patches")
        );
        e.connect("/patch/s/samplesOut", "/patch/g/samplesIn").unwrap();
        assert_eq!(err(&mut e, "/patch/s/samplesOut", "/patch/g/samplesIn"), "Already connected");
        assert_eq!(
            err(&mut e, "/patch/g/samplesOut", "/patch/g/samplesIn"),
            "That connection would make an audio loop"
        );
        e.disconnect("/patch/s/samplesOut", "/patch/g/samplesIn").unwrap();
        assert_eq!(
            e.disconnect("/patch/s/samplesOut", "/patch/g/samplesIn").unwrap_err(),
            EngineError::NotConnected
        );
        e.connect("/patch/add/out", "/patch/s/freq").unwrap(); // Float to Float
        assert_eq!(
            e.add_transform("/patch", "Nope", "x", "").unwrap_err().to_string(),
            "Unknown transform type \"Nope\""
        );
        assert!(matches!(e.add_transform("/patch", "+", "add", ""), Err(EngineError::NameTaken(_))));
        assert!(matches!(e.add_transform("/patch", "+", "a b", ""), Err(EngineError::BadName(_))));
        assert!(matches!(e.add_transform("/patch", "+", "connect", ""), Err(EngineError::NameTaken(_))));
        assert_eq!(e.add_transform("/patch", "Inlet", "i", "").unwrap_err(), EngineError::BorderAtRoot);
        assert_eq!(
            e.add_transform("/patch", "+", "", "").unwrap(),
            "op0",
            "auto names: the type's letters, else op"
        );
        assert_eq!(e.add_transform("/patch", "Sinewave", "", "").unwrap(), "sinewave0");
    }

    #[test]
    fn audio_runs_in_dependency_order_whatever_the_order_of_creation() {
        let (mut e, mut a) = engine();
        // Created sink first, source last: the program must still run source first,
        // so a constant reaches the output in the very same block.
        e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
        e.add_transform("/patch", "Gain~", "g2", "2").unwrap();
        e.add_transform("/patch", "Gain~", "g1", "0.5").unwrap();
        e.add_transform("/patch", "Sig~", "src", "0.25").unwrap();
        e.connect("/patch/g2/samplesOut", "/patch/out/mix").unwrap();
        e.connect("/patch/g1/samplesOut", "/patch/g2/samplesIn").unwrap();
        e.connect("/patch/src/samplesOut", "/patch/g1/samplesIn").unwrap();
        e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
        tick(&mut e, &mut a);
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.25));
    }

    #[test]
    fn fan_in_sums_and_control_fans_out_by_activation_order() {
        let (mut e, mut a) = engine();
        e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
        e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
        for (i, v) in ["0.125", "0.25", "0.5"].iter().enumerate() {
            e.add_transform("/patch", "Sig~", &format!("s{i}"), v).unwrap();
            e.connect(&format!("/patch/s{i}/samplesOut"), "/patch/out/mix").unwrap();
        }
        tick(&mut e, &mut a);
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.875));
        // Once steady, the fan-in is fused into an accumulator: same sum.
        for _ in 0..4 {
            tick(&mut e, &mut a);
        }
        assert!(e.layout.slots.len() == 4 && !e.layout.needs_cleanup);
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.875));
        e.set_value("/patch/s1/value", Value::Float(0.0)).unwrap();
        tick(&mut e, &mut a);
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.625), "a fused source still takes parameters");
        // One outlet, two inlets: `b` (order 0) before `a` (order 1), as in Pd's right-to-left.
        e.add_transform("/patch", "Value", "v", "").unwrap();
        e.add_transform("/patch", "+", "add", "").unwrap();
        e.connect("/patch/v/out", "/patch/add/a").unwrap();
        e.connect("/patch/v/out", "/patch/add/b").unwrap();
        e.set_value("/patch/v/in", Value::Float(3.0)).unwrap();
        assert_eq!(e.current_value("/patch/add/out").unwrap(), Value::Float(6.0));
    }

    #[test]
    fn subpatches_pass_control_and_audio_through_their_borders() {
        let (mut e, mut a) = engine();
        e.add_transform("/patch", "Patch", "double", "").unwrap();
        e.add_transform("/patch/double", "Inlet", "x", "Float").unwrap();
        e.add_transform("/patch/double", "*", "times", "2").unwrap();
        e.add_transform("/patch/double", "Outlet", "y", "Float").unwrap();
        e.connect("/patch/double/x", "/patch/double/times/a").unwrap();
        e.connect("/patch/double/times/out", "/patch/double/y").unwrap();
        e.add_transform("/patch", "Value", "src", "").unwrap();
        e.add_transform("/patch", "Value", "dst", "").unwrap();
        e.connect("/patch/src/out", "/patch/double/x").unwrap();
        e.connect("/patch/double/y", "/patch/dst/in").unwrap();
        e.set_value("/patch/src/in", Value::Float(21.0)).unwrap();
        assert_eq!(e.current_value("/patch/dst/value").unwrap(), Value::Float(42.0));
        // Audio: a subpatch with a gain inside.
        e.add_transform("/patch", "Patch", "quiet", "").unwrap();
        e.add_transform("/patch/quiet", "Inlet", "in", "Samples").unwrap();
        e.add_transform("/patch/quiet", "Gain~", "g", "0.5").unwrap();
        e.add_transform("/patch/quiet", "Outlet", "out", "Samples").unwrap();
        e.connect("/patch/quiet/in", "/patch/quiet/g/samplesIn").unwrap();
        e.connect("/patch/quiet/g/samplesOut", "/patch/quiet/out").unwrap();
        e.add_transform("/patch", "Sig~", "one", "1").unwrap();
        e.add_transform("/patch", "AudioOutput", "dac", "").unwrap();
        e.connect("/patch/one/samplesOut", "/patch/quiet/in").unwrap();
        e.connect("/patch/quiet/out", "/patch/dac/mix").unwrap();
        e.set_value("/patch/dac/onoff", Value::Boolean(true)).unwrap();
        tick(&mut e, &mut a);
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.5));
        // Deleting the subpatch removes everything inside it.
        e.delete_transform("/patch", "quiet").unwrap();
        assert!(e.graph.resolve("/patch/quiet/g").is_err());
        assert_eq!(e.graph.nodes.len(), 9, "root, double (4), src, dst, one, dac");
    }

    #[test]
    fn renaming_moves_the_address_and_keeps_connections() {
        let (mut e, _a) = engine();
        e.add_transform("/patch", "Value", "a", "").unwrap();
        e.add_transform("/patch", "Value", "b", "").unwrap();
        e.connect("/patch/a/out", "/patch/b/in").unwrap();
        e.rename("/patch/a", "first").unwrap();
        assert!(e.graph.resolve("/patch/a").is_err());
        e.set_value("/patch/first/in", Value::Integer(5)).unwrap();
        assert_eq!(e.current_value("/patch/b/value").unwrap(), Value::Integer(5));
        assert!(e
            .take_changes()
            .contains(&Change::Renamed { from: "/patch/a".into(), to: "/patch/first".into() }));
    }

    #[test]
    fn edits_while_playing_fade_instead_of_clicking() {
        let (mut e, mut a) = engine();
        e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
        e.add_transform("/patch", "Sig~", "one", "1").unwrap();
        e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
        tick(&mut e, &mut a);
        // A new connection ramps in over one block.
        e.connect("/patch/one/samplesOut", "/patch/out/mix").unwrap();
        let up = tick(&mut e, &mut a);
        assert!(up[0] < 0.05 && up[63] == 1.0 && up.windows(2).all(|w| w[1] > w[0]), "{up:?}");
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 1.0));
        // Deleting the source ramps it out over one block, then silence.
        e.delete_transform("/patch", "one").unwrap();
        let down = tick(&mut e, &mut a);
        assert!(down[0] > 0.95 && down[63] == 0.0 && down.windows(2).all(|w| w[1] < w[0]), "{down:?}");
        assert!(tick(&mut e, &mut a).iter().all(|x| *x == 0.0));
        // Later the dying node is dropped for good (on the control side).
        for _ in 0..4 {
            tick(&mut e, &mut a);
        }
        assert!(!e.layout.needs_cleanup);
        assert_eq!(e.layout.slots.len(), 1);
    }

    #[test]
    fn advance_clock_runs_extra_blocks() {
        let (mut e, mut a) = engine();
        e.advance_clock(3);
        a.tick();
        assert_eq!(e.clock().frames(), 4 * 64);
    }
}
