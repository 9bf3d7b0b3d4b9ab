//! What a transform is made of: typed, documented ports, a control-rate
//! behaviour and, for time-domain transforms, a DSP node that runs on the
//! audio side.
//!
//! In OSW inlets and outlets are kinds of state; here all three are
//! [`PortSpec`]s in one list, so a port is addressed by its index.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use super::clock::ClockState;
use super::value::{Value, ValueType};

/// Inlet, outlet or plain state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `active` inlets trigger the transform's activation; passive ones only store.
    Inlet {
        active: bool,
    },
    Outlet,
    /// `persistent` states are saved with the patch.
    State {
        persistent: bool,
    },
}

/// One named, typed, documented binding site of a transform.
#[derive(Debug, Clone)]
pub struct PortSpec {
    pub name: String,
    pub ty: ValueType,
    pub doc: String,
    pub role: Role,
    /// Lower orders activate first when several ports change at once, and
    /// connections from an outlet are served in their inlets' order.
    pub order: i32,
    /// Inlets with the same group form a co-activation set: the activation
    /// runs only once every member has received a value since the last run.
    pub group: u8,
    /// Plain states that may be set; read-only ones (meters, sample_rate) are not.
    pub writable: bool,
    /// After a patch is loaded, a true value here is delivered again, so
    /// that what was running (a Metro) runs again.
    pub resume: bool,
    /// The values that mean something, for OSCQuery's RANGE (a dial's
    /// ends); advisory, as OSW's types are: a value outside is kept.
    pub range: Option<(f64, f64)>,
}

impl PortSpec {
    fn new(name: &str, ty: ValueType, doc: &str, role: Role) -> PortSpec {
        PortSpec {
            name: name.to_owned(),
            ty,
            doc: doc.to_owned(),
            role,
            order: 0,
            group: 0,
            writable: true,
            resume: false,
            range: None,
        }
    }
    pub fn hot(name: &str, ty: ValueType, doc: &str) -> PortSpec {
        PortSpec::new(name, ty, doc, Role::Inlet { active: true })
    }
    pub fn cold(name: &str, ty: ValueType, doc: &str) -> PortSpec {
        PortSpec::new(name, ty, doc, Role::Inlet { active: false })
    }
    pub fn outlet(name: &str, ty: ValueType, doc: &str) -> PortSpec {
        PortSpec::new(name, ty, doc, Role::Outlet)
    }
    pub fn state(name: &str, ty: ValueType, doc: &str) -> PortSpec {
        PortSpec::new(name, ty, doc, Role::State { persistent: true })
    }
    /// A state the engine reports and nobody sets (meters, sample rate).
    pub fn reading(name: &str, ty: ValueType, doc: &str) -> PortSpec {
        PortSpec { writable: false, ..PortSpec::new(name, ty, doc, Role::State { persistent: false }) }
    }
    pub fn order(mut self, order: i32) -> PortSpec {
        self.order = order;
        self
    }
    pub fn resume(mut self) -> PortSpec {
        self.resume = true;
        self
    }
    pub fn range(mut self, min: f64, max: f64) -> PortSpec {
        self.range = Some((min, max));
        self
    }
    pub fn group(mut self, group: u8) -> PortSpec {
        self.group = group;
        self
    }
    pub fn is_inlet(&self) -> bool {
        matches!(self.role, Role::Inlet { .. })
    }
    pub fn is_outlet(&self) -> bool {
        self.role == Role::Outlet
    }
    pub fn is_active(&self) -> bool {
        self.role == Role::Inlet { active: true }
    }
    pub fn is_persistent(&self) -> bool {
        self.role == Role::State { persistent: true }
    }
    pub fn is_audio(&self) -> bool {
        self.ty == ValueType::Samples
    }
}

/// An `f32` the audio side writes and the control side reads, without locks.
#[derive(Debug, Default)]
pub struct Meter(AtomicU32);

impl Meter {
    pub fn shared() -> Arc<Meter> {
        Arc::new(Meter::default())
    }

    pub fn set(&self, x: f32) {
        self.0.store(x.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// The last block of an audio port, for `current-value` (the seed's `v`):
/// the audio side writes it while the transform plays, the control side
/// reads it. Relaxed stores: the audio thread never waits, and a reader may
/// see a block while the next one is being written.
#[derive(Debug)]
pub struct Tap {
    cells: Box<[Meter]>,
    written: AtomicBool,
}

impl Tap {
    /// A tap for blocks of `n` samples.
    pub fn shared(n: usize) -> Arc<Tap> {
        Arc::new(Tap { cells: (0..n).map(|_| Meter::default()).collect(), written: AtomicBool::new(false) })
    }
    pub fn write(&self, block: &[f32]) {
        self.cells.iter().zip(block).for_each(|(c, &x)| c.set(x));
        self.written.store(true, Ordering::Release);
    }
    /// The last block, or `None` before the first (the seed: Nil before audio is on).
    pub fn read(&self) -> Option<Vec<f32>> {
        self.written.load(Ordering::Acquire).then(|| self.cells.iter().map(Meter::get).collect())
    }
}

/// Fixed facts every DSP node is built for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    /// Samples per second.
    pub rate: f64,
    /// Samples per block (per tick of the clock).
    pub block: usize,
}

/// The audio-side half of a time-domain transform.
///
/// `process` runs on the audio thread: it must not allocate, lock, log or block.
pub trait DspNode: Send {
    /// `inputs` holds one block per audio inlet (in port order, summed over
    /// connections, zeros when unconnected); `outputs` one block per audio
    /// outlet followed by [`DspNode::extra_outputs`] blocks.
    fn process(&mut self, inputs: &[f32], outputs: &mut [f32]);
    /// Adds this block's output into `acc` instead of writing an output
    /// block, when the node can (a fused fan-in, see `program::Slot::push`).
    /// Returns false when it cannot; then `process` runs and its block is added.
    fn accumulate(&mut self, _inputs: &[f32], _acc: &mut [f32]) -> bool {
        false
    }
    /// A numeric value arrived at port `port` (index into the transform's ports).
    fn set(&mut self, _port: usize, _value: f64) {}
    /// Forgets what it remembers between blocks (phase, filter memory, delay
    /// lines, envelope level) but keeps its parameters: the audio side calls
    /// it when the node's output was not finite, so that one bad block does
    /// not poison it for good. Nodes without such state need nothing.
    fn reset(&mut self) {}
    /// New sample data (a loaded file, a wavetable). Returns the data it
    /// replaces, so that the control side, not the audio thread, frees it.
    fn set_data(&mut self, data: Box<[f32]>) -> Option<Box<[f32]>> {
        Some(data)
    }
    /// Blocks written besides the audio outlets: an AudioOutput's channels.
    fn extra_outputs(&self) -> usize {
        0
    }
    /// Whether [`DspNode::extra_outputs`] go to the sound card.
    fn is_sink(&self) -> bool {
        false
    }
}

/// What a control behaviour sees while it runs.
pub struct Ctx<'a> {
    /// Current values of all the transform's ports, by port index.
    pub values: &'a mut [Value],
    /// Engine time in seconds, once read: most activations (a set-value
    /// from OSC) never ask, and the clock's read was 4 % of the OSC
    /// thread's time at 64 requests in flight.
    pub(crate) now: Cell<Option<f64>>,
    pub(crate) clock: &'a ClockState,
    pub(crate) emitted: &'a mut Vec<(usize, Value)>,
    pub(crate) timer: &'a mut Option<f64>,
    pub(crate) printed: &'a mut Vec<String>,
    pub(crate) data: &'a mut Option<Box<[f32]>>,
    pub(crate) sets: &'a mut Vec<(usize, f64)>,
    pub meters: &'a [(usize, Arc<Meter>)],
}

impl Ctx<'_> {
    /// Engine time, in seconds (the same all through one activation).
    pub fn now(&self) -> f64 {
        let now = self.now.get().unwrap_or_else(|| self.clock.seconds());
        self.now.set(Some(now));
        now
    }
    /// Sends `value` out of outlet `port`; it propagates depth-first after the activation returns.
    pub fn emit(&mut self, port: usize, value: Value) {
        self.emitted.push((port, value));
    }
    /// Asks for [`Control::timer`] at engine time `at` (replacing an earlier request).
    pub fn wake_at(&mut self, at: f64) {
        *self.timer = Some(at);
    }
    pub fn cancel_timer(&mut self) {
        *self.timer = None;
    }
    /// A line for the log and the notification stream (Print).
    pub fn print(&mut self, line: String) {
        self.printed.push(line);
    }
    /// Tells this transform's DSP node a number, as if it had arrived at `port`.
    pub fn send(&mut self, port: usize, value: f64) {
        self.sets.push((port, value));
    }
    /// Hands sample data to this transform's DSP node (after any [`Ctx::send`]).
    pub fn send_data(&mut self, data: Box<[f32]>) {
        *self.data = Some(data);
    }
    /// What the DSP half measured for port `port` (0 if it measures nothing there).
    pub fn meter(&self, port: usize) -> f32 {
        self.meters.iter().find(|(p, _)| *p == port).map_or(0.0, |(_, m)| m.get())
    }
    pub fn f(&self, port: usize) -> f64 {
        self.values[port].as_f64().unwrap_or(0.0)
    }
}

/// A control behaviour that is just a function of (inlet, context).
pub(crate) struct FnControl<F>(F);

/// Wraps a closure as a [`Control`] (the bound lets the closure's types be inferred).
pub(crate) fn control_fn<F: FnMut(usize, &mut Ctx) + Send>(f: F) -> FnControl<F> {
    FnControl(f)
}

impl<F: FnMut(usize, &mut Ctx) + Send> Control for FnControl<F> {
    fn activate(&mut self, inlet: usize, ctx: &mut Ctx) {
        (self.0)(inlet, ctx)
    }
}

/// The control-rate half of a transform.
pub trait Control: Send {
    /// Active inlet `inlet` (and its whole co-activation set) received values.
    fn activate(&mut self, inlet: usize, ctx: &mut Ctx);
    /// A time asked for with [`Ctx::wake_at`] has come.
    fn timer(&mut self, _ctx: &mut Ctx) {}
}

/// A freshly built transform: its ports with initial values, and its halves.
pub struct Built {
    pub ports: Vec<PortSpec>,
    pub values: Vec<Value>,
    pub control: Option<Box<dyn Control>>,
    pub dsp: Option<Box<dyn DspNode>>,
    /// Cells the DSP node writes and `current-value` reads, by port index.
    pub meters: Vec<(usize, Arc<Meter>)>,
    /// A block of cells per audio port the DSP node copies its last block
    /// into, so `current-value` of that port gives samples (the seed's `v`).
    pub taps: Vec<(usize, Arc<Tap>)>,
    /// Reading ports computed when read (a scope's picture), by port index.
    pub views: Vec<(usize, View)>,
}

/// What a reading port computes from cells the audio side writes, when a
/// client reads it: lock-free, on the control side.
pub(crate) type View = Arc<dyn Fn() -> Value + Send + Sync>;

impl Built {
    /// Ports with their defaults: numbers start at 0, Booleans false, the rest Nil.
    pub fn new(ports: Vec<PortSpec>) -> Built {
        let values = ports.iter().map(|p| default_value(p.ty)).collect();
        Built { ports, values, control: None, dsp: None, meters: vec![], taps: vec![], views: vec![] }
    }
    pub fn control(mut self, c: impl Control + 'static) -> Built {
        self.control = Some(Box::new(c));
        self
    }
    pub fn dsp(mut self, d: impl DspNode + 'static) -> Built {
        self.dsp = Some(Box::new(d));
        self
    }
    /// Sets the initial value of the port called `name`.
    pub fn init(mut self, name: &str, value: Value) -> Built {
        let i = self.port(name);
        self.values[i] = value;
        self
    }
    pub fn meter(mut self, name: &str, meter: Arc<Meter>) -> Built {
        let i = self.port(name);
        self.meters.push((i, meter));
        self
    }
    /// The last block of the audio port called `name`, kept in `cells`.
    pub fn tap(mut self, name: &str, tap: Arc<Tap>) -> Built {
        let i = self.port(name);
        self.taps.push((i, tap));
        self
    }
    /// The reading port called `name` reads as `view` computes it.
    pub fn view(mut self, name: &str, view: impl Fn() -> Value + Send + Sync + 'static) -> Built {
        let i = self.port(name);
        self.views.push((i, Arc::new(view)));
        self
    }
    pub fn port(&self, name: &str) -> usize {
        self.ports.iter().position(|p| p.name == name).unwrap_or_else(|| panic!("no port {name}"))
    }
}

pub(crate) fn default_value(ty: ValueType) -> Value {
    match ty {
        ValueType::Float => Value::Float(0.0),
        ValueType::Integer => Value::Integer(0),
        ValueType::Boolean => Value::Boolean(false),
        ValueType::Time => Value::Time(0.0),
        ValueType::String => Value::String(String::new()),
        ValueType::List => Value::List(vec![]),
        _ => Value::Nil,
    }
}
