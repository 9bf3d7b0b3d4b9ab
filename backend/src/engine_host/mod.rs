//! The engine inside the server: the clock (sound card or timer) and the
//! engine's one owner thread ([`owner`]), which every view sends commands
//! to and which announces the engine's changes.

mod owner;
mod reports;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::engine::device::{self, Clock, ClockSource};
use crate::engine::patch_file::{self, PatchFile};
use crate::engine::transform::Setup;
use crate::engine::Engine;
use crate::notify::Hub;
pub(crate) use owner::Guest;
use owner::{Bell, Command, Owned};

pub struct EngineOptions {
    /// Rate of the timer clock; a sound card imposes its own.
    pub rate: f64,
    pub block: usize,
    pub use_device: bool,
    /// Where FilePlayer and FileRecorder may read and write.
    pub files_dir: PathBuf,
    /// A patch to load at start.
    pub patch: Option<PathBuf>,
}

/// The running engine, on its owner thread. Dropping it stops the thread and the clock.
pub struct EngineHost {
    /// Which host this is, so that the owner thread knows its own.
    id: u64,
    pub source: ClockSource,
    pub setup: Setup,
    commands: Sender<Command>,
    bell: Arc<Bell>,
    stop: Arc<AtomicBool>,
    owner: Option<JoinHandle<()>>,
    clock: Clock,
}

impl EngineHost {
    pub fn start(options: &EngineOptions, hub: Hub) -> anyhow::Result<EngineHost> {
        let fallback = Setup { rate: options.rate, block: options.block };
        let skip = if !options.use_device {
            Some("disabled by --no-audio".to_owned())
        } else if !sound_card_likely() {
            Some("none in /proc/asound/cards and no ALSA configuration".to_owned())
        } else {
            None
        };
        let (mut engine, clock) = device::start(fallback, skip);
        let source = clock.source.clone();
        match &source {
            ClockSource::Device { name, channels } => {
                tracing::info!(device = %name, channels, rate = engine.setup().rate, "engine plays to the sound card")
            }
            ClockSource::Timer { reason } => tracing::warn!(
                rate = engine.setup().rate,
                "no sound card ({reason}): the engine runs on its own clock, nothing is heard"
            ),
        }
        std::fs::create_dir_all(&options.files_dir)?;
        engine.set_files_dir(&options.files_dir);
        if let Some(path) = &options.patch {
            load_file(&mut engine, path)?;
            tracing::info!(patch = %path.display(), "patch loaded");
        }
        static HOSTS: AtomicU64 = AtomicU64::new(0);
        let id = HOSTS.fetch_add(1, Ordering::Relaxed);
        let setup = engine.setup();
        let (commands, inbox) = mpsc::channel();
        let bell = Arc::new(Bell::new()?);
        let stop = Arc::new(AtomicBool::new(false));
        let owner = {
            let (bell, stop) = (bell.clone(), stop.clone());
            std::thread::Builder::new()
                .name("patchbay-engine".into())
                .spawn(move || owner::run(id, engine, hub, inbox, bell, stop))?
        };
        Ok(EngineHost { id, source, setup, commands, bell, stop, owner: Some(owner), clock })
    }

    /// Blocks the timer clock started more than a block late (the machine
    /// was too busy to keep time); 0 on a sound card, which keeps its own.
    pub fn late_blocks(&self) -> u64 {
        self.clock.late.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What drives the clock: the device's name, or why it is a timer.
    pub fn clock_description(&self) -> String {
        match &self.source {
            ClockSource::Device { name, .. } => format!("device: {name}"),
            ClockSource::Timer { reason } => format!("timer: {reason}"),
        }
    }

    /// Runs `f` on the engine without pumping or announcing now: for
    /// queries and set-values (whose parameter commands go out at once, and
    /// whose notifications the control step sends, coalesced). The OSC fast path.
    pub fn quick<R: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> R + Send + 'static) -> R {
        self.call(move |o| {
            let r = f(&mut o.engine);
            o.after_quick();
            r
        })
    }

    /// Runs `f` on the engine, then sends its edits on and announces its changes.
    pub fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Engine) -> R + Send + 'static) -> R {
        self.call(move |o| {
            let r = f(&mut o.engine);
            o.after_edit();
            r
        })
    }

    /// Builds a guest on the owner thread with `make` and runs it there
    /// from then on, until it says it is done.
    pub fn attach(&self, make: impl FnOnce() -> Box<dyn Guest> + Send + 'static) {
        if self.commands.send(Command::Attach(Box::new(make))).is_ok() {
            self.bell.ring();
        }
    }

    /// On the owner thread (a guest's turn), at once; from any other, sent
    /// to the owner, waiting for the reply.
    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Owned) -> R + Send + 'static) -> R {
        let f = match owner::run_here(self.id, f) {
            Ok(r) => return r,
            Err(f) => f,
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let command = Command::Run(Box::new(move |o: &mut Owned| {
            let _ = reply.send(f(o));
        }));
        if self.commands.send(command).is_err() {
            panic!("the engine's owner thread has stopped");
        }
        self.bell.ring();
        // No reply: the command panicked (the owner logged it and goes on).
        answer.recv().unwrap_or_else(|_| panic!("the engine command panicked"))
    }
}

impl Drop for EngineHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.bell.ring();
        if let Some(owner) = self.owner.take() {
            // Dropped by the owner itself (its guest held the last reference):
            // it stops after this turn; it cannot wait for itself.
            if owner.thread().id() != std::thread::current().id() {
                let _ = owner.join();
            }
        }
    }
}

pub(crate) fn load_file(engine: &mut Engine, path: &Path) -> anyhow::Result<()> {
    let json = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let file = PatchFile::parse(&json).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    patch_file::load(engine, &file).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Whether cpal is worth trying. Without a card and without an ALSA
/// configuration that could route elsewhere (a file sink, a server), alsa-lib
/// only prints "cannot find card" lines: skip it and say so once, clearly.
fn sound_card_likely() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let cards = std::fs::read_to_string("/proc/asound/cards").unwrap_or_default();
    let has_card = !cards.trim().is_empty() && !cards.contains("no soundcards");
    let home_rc =
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".asoundrc")).is_some_and(|p| p.exists());
    has_card || home_rc || Path::new("/etc/asound.conf").exists()
}

#[cfg(test)]
mod tests;
