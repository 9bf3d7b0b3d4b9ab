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
//! - this file: the control side's state and what it reports (log, changes);
//! - `edit.rs`: adding, deleting, renaming and connecting transforms;
//! - `activation.rs`: control-rate propagation and timers;
//! - `audio_sync.rs`: commands and programs sent to the audio side;
//! - `error.rs`: what the engine refuses (what it announces, [`Change`], is the shared crate's);
//! - `ports.rs`: each transform's inlets and outlets, as a canvas draws them;
//! - [`value`]: values and types, with the implicit casts;
//! - [`transform`]: ports, control behaviour and DSP node traits;
//! - [`graph`]: the patch tree, connections and addresses;
//! - [`compile`] and [`program`]: the flat DSP program and the audio side;
//! - [`simd`]: block kernels with run-time CPU dispatch;
//! - [`library`]: the transform types;
//! - [`patch_file`]: saving and loading patches as JSON;
//! - [`render`] and [`device`]: the clocks (offline renderer, sound card, timer);
//! - [`clock`]: engine time, which both halves read;
//! - [`timed`] and `timeline.rs`: value changes that land on a given
//!   sample (timed bundles), and the line from wall-clock time to frames.
//!
//! No tokio and no sockets here: the OSC and HTTP layers drive this.

pub(crate) mod activation;
mod audio_sync;
pub(crate) mod clock;
pub(crate) mod compile;
pub(crate) mod device;
mod edit;
mod error;
pub(crate) mod graph;
pub(crate) mod library;
pub mod patch_file;
mod ports;
pub(crate) mod program;
pub mod render;
pub mod simd;
#[cfg(test)]
mod tests;
pub(crate) mod timed;
mod timeline;
pub(crate) mod transform;
/// Values and their types live in the shared crate: the dashboard edits them too.
pub use patchbay_shared::value;

pub use error::EngineError;
pub use patchbay_shared::engine::Change;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use activation::TimeKey;
use clock::ClockState;
use compile::{Dying, Layout};
use graph::{Graph, NodeId};
pub use library::{all as transform_types, TypeEntry};
pub use program::AudioSide;
use program::{Command, Trash};
pub use transform::Setup;
pub use value::{Value, ValueType};

const QUEUE: usize = 4096;

/// The control side of the engine.
pub struct Engine {
    graph: Graph,
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
    /// Lines the log had no room for since the host last took it.
    log_dropped: usize,
    /// Propagations stopped over budget since the host last took them: one line each.
    warnings: Vec<String>,
    /// What the event being propagated has spent.
    budget: activation::Budget,
    changes: Vec<Change>,
    /// Values set from outside since the last [`Engine::take_value_changes`]: only the latest per address.
    set_values: std::collections::HashMap<String, Value>,
    activations: Arc<AtomicU64>,
    /// Where FilePlayer and FileRecorder read and write, and nowhere else.
    files: std::path::PathBuf,
    /// What AudioInput transforms read.
    input: Arc<program::InputBus>,
    /// While set, value changes sent to the audio side take effect at
    /// this frame ([`Engine::at_frame`]).
    stamp: Option<u64>,
    timeline: timeline::Timeline,
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
            log_dropped: 0,
            warnings: vec![],
            budget: activation::Budget::new(),
            changes: vec![],
            set_values: Default::default(),
            activations: Arc::new(AtomicU64::new(0)),
            files: std::path::PathBuf::from("."),
            input,
            stamp: None,
            timeline: Default::default(),
        };
        (engine, audio)
    }

    /// Confines sound files to `dir` (relative names only, no `..`).
    pub fn set_files_dir(&mut self, dir: &std::path::Path) {
        self.files = dir.to_owned();
    }

    /// The patch tree, read-only: edits go through the methods that keep
    /// the audio side, the timers and the notifications in step.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The rate and block size the engine was built for.
    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// The clock the audio side advances, shared with the views that read the time.
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
        let mut log = std::mem::take(&mut self.log);
        if self.log_dropped > 0 {
            log.push(format!("({} more lines were not kept)", std::mem::take(&mut self.log_dropped)));
        }
        log
    }

    /// Propagations stopped since the last call, one line each, for the
    /// host to log as warnings.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Edits and value changes since the last call, for the host to announce.
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
}
