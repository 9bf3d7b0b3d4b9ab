//! The engine's one owner: a thread that holds the engine by value, fires
//! its timers, sends its edits to the audio side and announces its changes.
//! Every other thread sends it commands (closures) and waits for the reply;
//! a guest (the OSC UDP loop) runs on the owner thread itself, so the
//! commonest requests reach the engine without crossing threads.
//!
//! One owner instead of a shared lock: no handler can hold the engine while
//! it does something slow, and nothing else contends with the control step.

use std::cell::RefCell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};

use super::reports::Reports;
use crate::engine::Engine;
use crate::notify::Hub;

/// How often the control step runs while the engine has work (timers,
/// edits on their way, changes to announce); a due timer runs it sooner.
const CONTROL_PERIOD: Duration = Duration::from_millis(5);
/// The shortest wait between control steps while a timer is due.
const CONTROL_MIN: Duration = Duration::from_micros(500);
/// Longest wait of an idle owner between looks at its stop flag.
const IDLE: Duration = Duration::from_secs(1);

/// Something that runs on the owner thread between commands: it waits on
/// one file descriptor and up to a deadline, and may call the engine
/// directly (no thread hop) through [`super::EngineHost`].
///
/// Built on the owner thread (see [`super::EngineHost::attach`]), so it need
/// not be `Send`.
pub trait Guest {
    /// What the owner waits on for the guest, besides the deadline.
    fn fd(&self) -> BorrowedFd<'_>;
    /// When the guest wants a turn even if its descriptor stays quiet.
    fn deadline(&self) -> Option<Instant>;
    /// One turn, after each wake-up of the owner (`readable`: the
    /// descriptor is ready). Returns false when the guest is done.
    fn turn(&mut self, readable: bool) -> bool;
}

/// What other threads send the owner.
pub(super) enum Command {
    Run(Box<dyn FnOnce(&mut Owned) + Send>),
    Attach(Box<dyn FnOnce() -> Box<dyn Guest> + Send>),
}

/// The engine and what goes with it, held by the owner thread alone.
pub(super) struct Owned {
    /// Which host this is (a test process runs many).
    pub(super) host: u64,
    pub(super) engine: Engine,
    hub: Hub,
    /// When the control step is next due; `None`: the engine is settled.
    control_due: Option<Instant>,
}

thread_local! {
    /// The engine of the host whose owner this thread is; `None` on every other thread.
    static HERE: RefCell<Option<Owned>> = const { RefCell::new(None) };
}

/// Runs `f` on the engine if this thread owns `host`'s; gives `f` back otherwise.
pub(super) fn run_here<F: FnOnce(&mut Owned) -> R, R>(host: u64, f: F) -> Result<R, F> {
    HERE.with_borrow_mut(|here| match here {
        Some(owned) if owned.host == host => Ok(f(owned)),
        _ => Err(f),
    })
}

impl Owned {
    /// After a query or a set-value: their parameter commands went out at
    /// once; the control step announces them, coalesced, a period later.
    pub(super) fn after_quick(&mut self) {
        if self.control_due.is_none() && !self.engine.settled() {
            self.control_due = Some(Instant::now() + CONTROL_PERIOD);
        }
    }

    /// After an edit: sends it to the audio side and announces it now.
    pub(super) fn after_edit(&mut self) {
        self.engine.pump();
        Reports::take(&mut self.engine).publish(&self.hub);
        self.after_quick();
    }

    /// Fires due timers, sends edits on, announces what changed, and says
    /// when it is next due.
    fn control_step(&mut self) {
        let e = &mut self.engine;
        let now = e.now();
        e.run_timers(now);
        e.pump();
        let mut reports = Reports::take(e);
        reports.changes.extend(e.take_value_changes());
        reports.publish(&self.hub);
        self.control_due = (!e.settled()).then(|| {
            let wait = e.next_timer().map_or(CONTROL_PERIOD, |t| {
                Duration::from_secs_f64((t - now).clamp(0.0, CONTROL_PERIOD.as_secs_f64()))
            });
            Instant::now() + wait.max(CONTROL_MIN)
        });
    }
}

/// Wakes the owner from its wait (an eventfd in its poll set).
pub(super) struct Bell(OwnedFd);

impl Bell {
    pub(super) fn new() -> std::io::Result<Bell> {
        Ok(Bell(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?))
    }

    pub(super) fn ring(&self) {
        // Full (2^64 - 2 rings unheard) is the only error: it rings already.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    fn hush(&self) {
        let _ = rustix::io::read(&self.0, &mut [0u8; 8]);
    }
}

/// The owner thread's loop, until `stop`.
pub(super) fn run(
    host: u64,
    engine: Engine,
    hub: Hub,
    commands: Receiver<Command>,
    bell: Arc<Bell>,
    stop: Arc<AtomicBool>,
) {
    HERE.set(Some(Owned { host, engine, hub, control_due: None }));
    let mut guest: Option<Box<dyn Guest>> = None;
    let mut guest_readable = false;
    while !stop.load(Ordering::Acquire) {
        for command in commands.try_iter() {
            match command {
                // A command that panics fails its caller (its reply is
                // dropped), not the engine's owner.
                Command::Run(f) => {
                    let run =
                        std::panic::AssertUnwindSafe(|| HERE.with_borrow_mut(|o| f(o.as_mut().unwrap())));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("an engine command panicked; the engine goes on");
                    }
                }
                Command::Attach(make) => guest = Some(make()),
            }
        }
        if let Some(g) = guest.as_mut() {
            let turn = std::panic::AssertUnwindSafe(|| g.turn(guest_readable));
            match std::panic::catch_unwind(turn) {
                Ok(true) => {}
                Ok(false) => guest = None,
                Err(_) => {
                    tracing::error!("the engine's guest (OSC over UDP) panicked and stopped");
                    guest = None;
                }
            }
        }
        let control_due = HERE.with_borrow_mut(|o| {
            let o = o.as_mut().unwrap();
            if o.control_due.is_some_and(|due| due <= Instant::now()) {
                o.control_step();
            }
            o.control_due
        });
        let deadline = [control_due, guest.as_ref().and_then(|g| g.deadline())].into_iter().flatten().min();
        let wait = deadline.map_or(IDLE, |d| d.saturating_duration_since(Instant::now()).min(IDLE));
        let timeout = Timespec { tv_sec: wait.as_secs() as i64, tv_nsec: wait.subsec_nanos() as i64 };
        let (rang, readable) = {
            let guest_fd = guest.as_ref().map_or(bell.0.as_fd(), |g| g.fd());
            let mut fds = [PollFd::new(&bell.0, PollFlags::IN), PollFd::new(&guest_fd, PollFlags::IN)];
            let watched = if guest.is_some() { 2 } else { 1 };
            let _ = poll(&mut fds[..watched], Some(&timeout));
            let ready = |fd: &PollFd| !fd.revents().is_empty();
            (ready(&fds[0]), guest.is_some() && ready(&fds[1]))
        };
        if rang {
            bell.hush();
        }
        guest_readable = readable;
    }
    // Dropped here, on its own thread: a guest first (it may hold the last
    // reference to the host), then the engine.
    drop(guest);
    HERE.take();
}
