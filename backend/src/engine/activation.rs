//! Control-rate activation: values arriving at inlets, transforms running
//! their control behaviour, what they emit propagating depth-first, and timers.

use std::cell::Cell;
use std::cmp::Reverse;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::graph::{End, Kind, NodeId, Target};
use super::transform::{self, Ctx};
use super::{Engine, EngineError, Value};

/// Deepest chain of activations one event may cause (a control loop ends here).
pub(super) const MAX_DEPTH: usize = 200;
/// Most activations one event (a value from outside, a timer) may cause:
/// the depth limit alone does not stop a loop that fans out, whose
/// activations double at every level.
pub(super) const MAX_ACTIVATIONS: u32 = 100_000;
/// Longest one event's propagation may run.
pub(super) const MAX_PROPAGATION: Duration = Duration::from_millis(20);
/// Lines the log holds until the host takes them; more are counted, not kept.
pub(crate) const MAX_LOG_LINES: usize = 1000;

/// What the event being propagated has spent, and why it was stopped.
/// Its clock starts at the first look, after 256 activations: most events
/// (an OSC set-value) never get there, and reading the clock for each was
/// a visible cost at 64 requests in flight (perf).
pub(super) struct Budget {
    started: Option<Instant>,
    activations: u32,
    stopped: Option<EngineError>,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget { started: None, activations: 0, stopped: None }
    }
}

/// An `f64` time that sorts (timers never hold NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TimeKey(pub(super) f64);
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
    /// A set-value: an inlet receives (and may activate), a state stores,
    /// an outlet emits. Checked against the port's type.
    pub fn set_value(&mut self, path: &str, value: Value) -> Result<(), EngineError> {
        let Target::Port(id, port) = self.graph.resolve(path)? else { return Err(EngineError::NotAState) };
        if !value.is_finite() {
            return Err(EngineError::NotFinite);
        }
        let spec = &self.graph.nodes[&id].ports[port];
        if value != Value::Nil && !value.value_type().connects_to(spec.ty) {
            return Err(EngineError::Incompatible);
        }
        if !matches!(value, Value::Samples(_)) {
            // A flood of set-values on one address allocates its key once.
            match self.set_values.get_mut(path) {
                Some(latest) => *latest = value.clone(),
                None => drop(self.set_values.insert(path.to_owned(), value.clone())),
            }
        }
        if spec.is_inlet() {
            self.propagate(|e| e.deliver((id, port), value, 0))
        } else if spec.is_outlet() {
            let value = value.cast(spec.ty).map_err(|_| EngineError::Incompatible)?;
            self.propagate(|e| {
                e.emit((id, port), value, 0);
                Ok(())
            })
        } else if !spec.writable {
            Err(EngineError::ReadOnly)
        } else {
            self.store((id, port), value).map(drop)
        }
    }

    /// Runs one event's propagation within its budget. Over budget, it
    /// stops where it is (the patch stays as built), the caller gets the
    /// reason, and the log one warning for the whole event.
    fn propagate(
        &mut self,
        run: impl FnOnce(&mut Engine) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        self.budget = Budget::new();
        let result = run(self);
        match self.budget.stopped.take() {
            Some(reason) => {
                self.warnings.push(format!("{reason}; the rest of this event was dropped"));
                Err(reason)
            }
            None => result,
        }
    }

    /// Whether the event has spent its budget, now or just now; counts one activation.
    fn spend(&mut self) -> bool {
        let budget = &mut self.budget;
        if budget.stopped.is_none() {
            budget.activations += 1;
            let too_long = budget.activations.is_multiple_of(256)
                && budget.started.get_or_insert_with(Instant::now).elapsed() > MAX_PROPAGATION;
            if budget.activations > MAX_ACTIVATIONS || too_long {
                budget.stopped = Some(EngineError::OverBudget);
            }
        }
        budget.stopped.is_some()
    }

    /// Adds a line to the log, up to [`MAX_LOG_LINES`] until the host takes them.
    pub(super) fn print(&mut self, line: String) {
        if self.log.len() < MAX_LOG_LINES {
            self.log.push(line);
        } else {
            self.log_dropped += 1;
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
    pub(super) fn store(&mut self, (id, port): End, value: Value) -> Result<Value, EngineError> {
        if !value.is_finite() {
            return Err(EngineError::NotFinite);
        }
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

    pub(super) fn deliver(&mut self, (id, port): End, value: Value, depth: usize) -> Result<(), EngineError> {
        if self.budget.stopped.is_some() {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            self.budget.stopped = Some(EngineError::TooDeep);
            return Ok(());
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

    pub(super) fn emit(&mut self, (id, port): End, value: Value, depth: usize) {
        if let Some(node) = self.graph.nodes.get_mut(&id) {
            node.values[port] = value.clone();
        }
        for to in self.graph.targets((id, port)) {
            if self.budget.stopped.is_some() {
                return;
            }
            if let Err(e) = self.deliver(to, value.clone(), depth + 1) {
                let (from, to) = (self.graph.port_path((id, port)), self.graph.port_path(to));
                self.print(format!("{from} -> {to}: {e}"));
            }
        }
    }

    /// Runs a node's control behaviour and then propagates what it emitted, in order.
    pub(super) fn run_control(
        &mut self,
        id: NodeId,
        depth: usize,
        run: impl FnOnce(&mut dyn transform::Control, &mut Ctx),
    ) -> Result<(), EngineError> {
        if self.spend() {
            return Ok(());
        }
        let node = self.graph.nodes.get_mut(&id).unwrap();
        let Some(mut control) = node.control.take() else { return Ok(()) };
        let (mut emitted, mut printed, mut data, mut timer, mut sets) =
            (vec![], vec![], None, node.timer, vec![]);
        let mut ctx = Ctx {
            values: &mut node.values,
            now: Cell::new(None),
            clock: &self.clock,
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
        for line in printed {
            self.print(format!("{path}: {line}"));
        }
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
            let _ = self.propagate(|e| {
                e.run_control(id, 0, |control, ctx| {
                    ctx.now.set(Some(at));
                    control.timer(ctx)
                })
            });
        }
    }

    /// When the next timer is due, if any.
    pub fn next_timer(&self) -> Option<f64> {
        self.timers.peek().map(|Reverse((t, _))| t.0)
    }
}
