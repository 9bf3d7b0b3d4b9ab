//! Keeping the audio side in step: parameter and data commands, programs
//! compiled when the DSP part changed, and what comes back to be freed.

use super::compile::{self};
use super::graph::{Dsp, NodeId};
use super::program::Command;
use super::timed::Timed;
use super::Engine;

impl Engine {
    pub(super) fn send_set(&mut self, id: NodeId, port: usize, value: f64) {
        if !value.is_finite() {
            return; // a transform computed one (1/0, say): the DSP half never sees it
        }
        let node = self.graph.nodes.get_mut(&id).unwrap();
        match &mut node.dsp {
            Dsp::Pending(dsp) => dsp.set(port, value),
            Dsp::Live => {
                if let Some(&slot) = self.layout.slot_of.get(&id) {
                    self.command(match self.stamp {
                        Some(frame) => Command::SetAt(Timed { frame, slot, port, value, seq: 0 }),
                        None => Command::Set { slot, port, value },
                    });
                }
            }
            Dsp::None => {}
        }
    }

    /// Runs `f` so that the value changes it makes take effect on the
    /// audio side at `frame` exactly (`None`: at the next block, as usual).
    /// Structural edits (adding, connecting) still take effect at a block
    /// boundary; sample data at the next block.
    pub fn at_frame<R>(&mut self, frame: Option<u64>, f: impl FnOnce(&mut Engine) -> R) -> R {
        let outer = std::mem::replace(&mut self.stamp, frame);
        let r = f(self);
        self.stamp = outer;
        r
    }

    /// [`Engine::at_frame`] for a bundle timed `at` (wall-clock), if any.
    pub fn at_time<R>(&mut self, at: Option<std::time::SystemTime>, f: impl FnOnce(&mut Engine) -> R) -> R {
        let frame = at.map(|t| self.frame_at(t));
        self.at_frame(frame, f)
    }

    /// The frame at which a bundle timed `at` (wall-clock) takes effect:
    /// see `timeline.rs`.
    pub fn frame_at(&mut self, at: std::time::SystemTime) -> u64 {
        let frames = self.clock.frames();
        self.timeline.frame_at(at, std::time::SystemTime::now(), frames, self.setup.rate)
    }

    pub(super) fn send_data(&mut self, id: NodeId, data: Box<[f32]>) {
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

    pub(super) fn command(&mut self, command: Command) {
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
        // The clock is read only when there is something to send or clean
        // up: a pump per OSC set-value made it a visible cost (perf).
        let cleanup_due = || self.clock.frames() >= self.sent_at + 2 * self.setup.block as u64;
        if self.layout.needs_cleanup && cleanup_due() {
            self.dirty = true;
        }
        if self.dirty {
            let dying = std::mem::take(&mut self.dying);
            let (program, layout) = compile::compile(&mut self.graph, &self.layout, dying, self.setup.block);
            self.layout = layout;
            self.dirty = false;
            self.sent_at = self.clock.frames();
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

    /// Nothing for the control step to do until someone calls in: no
    /// timer, no command queued, no program to send, clean up or get back,
    /// nothing to announce. Its owner thread then sleeps until called (see `engine_host/owner.rs`).
    pub fn settled(&self) -> bool {
        self.timers.is_empty()
            && self.backlog.is_empty()
            && !self.dirty
            && !self.layout.needs_cleanup
            && self.set_values.is_empty()
            && self.changes.is_empty()
            && self.log.is_empty()
            && self.log_dropped == 0
            && self.warnings.is_empty()
            && self.trash.is_empty()
            && self.clock.frames() >= self.sent_at + 2 * self.setup.block as u64
    }
}
