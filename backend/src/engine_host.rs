//! The engine inside the server: the clock (sound card or timer), a control
//! thread that fires timers and sends edits to the audio side, and the
//! notifications that announce engine changes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use patchbay_shared::{action, Notification};

use crate::engine::device::{self, Clock, ClockSource};
use crate::engine::patch_file::{self, PatchFile};
use crate::engine::transform::Setup;
use crate::engine::Engine;
use crate::notify::Hub;

/// How often the control thread wakes when no timer is due sooner.
const CONTROL_PERIOD: Duration = Duration::from_millis(5);
/// Longest sleep of a settled control thread between looks at its stop flag;
/// calls that leave it work wake it sooner.
const CONTROL_IDLE: Duration = Duration::from_secs(1);

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

/// The running engine. Dropping it stops the control thread and the clock.
pub struct EngineHost {
    engine: Arc<Mutex<Engine>>,
    pub source: ClockSource,
    pub setup: Setup,
    announcer: Arc<Announcer>,
    stop: Arc<AtomicBool>,
    /// Set when the control thread was woken since it last went to rest.
    woken: Arc<AtomicBool>,
    /// The control thread, woken when a call leaves it work.
    control: Option<JoinHandle<()>>,
    _clock: Clock,
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
        let setup = engine.setup();
        let engine = Arc::new(Mutex::new(engine));
        let stop = Arc::new(AtomicBool::new(false));
        let woken = Arc::new(AtomicBool::new(false));
        let announcer = Arc::new(Announcer { hub, pending: Mutex::new(vec![]), publishing: Mutex::new(()) });
        let control = {
            let (engine, stop, announcer, woken) =
                (engine.clone(), stop.clone(), announcer.clone(), woken.clone());
            std::thread::Builder::new().name("patchbay-control".into()).spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let sleep = {
                        let mut e = lock(&engine);
                        let now = e.now();
                        e.run_timers(now);
                        e.pump();
                        let mut reports = Reports::take(&mut e);
                        reports.changes.extend(e.take_value_changes());
                        announcer.queue(reports);
                        let sleep = (!e.settled()).then(|| {
                            e.next_timer().map_or(CONTROL_PERIOD, |t| {
                                Duration::from_secs_f64((t - now).clamp(0.0, 0.005))
                            })
                        });
                        if sleep.is_none() {
                            // About to rest: the next call that leaves work wakes it.
                            // Under the engine's lock, as `wake_control` is, so
                            // no wake-up falls between the two.
                            woken.store(false, Ordering::Release);
                        }
                        sleep
                    };
                    announcer.publish();
                    match sleep {
                        Some(sleep) => std::thread::sleep(sleep.max(Duration::from_micros(500))),
                        // Nothing to do: an idle server should cost nothing. Once
                        // woken, wait a period as before, so that a flood of
                        // set-values is still announced once per period.
                        None => {
                            std::thread::park_timeout(CONTROL_IDLE);
                            std::thread::sleep(CONTROL_PERIOD);
                        }
                    }
                }
            })?
        };
        Ok(EngineHost {
            engine,
            source,
            setup,
            announcer,
            stop,
            woken,
            control: Some(control),
            _clock: clock,
        })
    }

    /// What drives the clock: the device's name, or why it is a timer.
    pub fn clock_description(&self) -> String {
        match &self.source {
            ClockSource::Device { name, .. } => format!("device: {name}"),
            ClockSource::Timer { reason } => format!("timer: {reason}"),
        }
    }

    /// Runs `f` on the engine without pumping or publishing: for queries and
    /// set-values (whose parameter commands go out at once, and whose
    /// notifications the control thread sends, coalesced). The OSC fast path.
    pub fn quick<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let mut e = lock(&self.engine);
        let r = f(&mut e);
        self.wake_control(&e);
        r
    }

    /// Runs `f` on the engine, then sends its edits on and announces its changes.
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let r = {
            let mut e = lock(&self.engine);
            let r = f(&mut e);
            e.pump();
            self.wake_control(&e);
            self.announcer.queue(Reports::take(&mut e));
            r
        };
        self.announcer.publish();
        r
    }

    /// Wakes the control thread if `e` has left it work (a query leaves
    /// none, so the OSC fast path pays nothing for this).
    /// Called with the engine locked.
    fn wake_control(&self, e: &Engine) {
        // One wake-up per rest: a flood of set-values makes one system call,
        // not one each (the thread clears the flag, under the same lock,
        // when it decides to rest).
        if let Some(control) = self.control.as_ref().filter(|_| !e.settled()) {
            if !self.woken.swap(true, Ordering::AcqRel) {
                control.thread().unpark();
            }
        }
    }
}

impl Drop for EngineHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.control.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a handler must not take the engine down with it.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Announces what the engine reports with the engine free, so serializing
/// and fanning out never hold up a query; in the order the engine made them.
struct Announcer {
    hub: Hub,
    /// Reports taken under the engine lock (which orders them), not yet published.
    pending: Mutex<Vec<Reports>>,
    /// One publisher at a time, so the order holds.
    publishing: Mutex<()>,
}

impl Announcer {
    /// Called with the engine locked: a push, nothing more.
    fn queue(&self, reports: Reports) {
        if !reports.is_empty() {
            lock(&self.pending).push(reports);
        }
    }

    /// Called with the engine free.
    fn publish(&self) {
        let _one = lock(&self.publishing);
        for reports in std::mem::take(&mut *lock(&self.pending)) {
            reports.publish(&self.hub);
        }
    }
}

/// What the engine has to announce.
struct Reports {
    changes: Vec<crate::engine::Change>,
    warnings: Vec<String>,
    log: Vec<String>,
}

impl Reports {
    fn take(engine: &mut Engine) -> Reports {
        Reports { changes: engine.take_changes(), warnings: engine.take_warnings(), log: engine.take_log() }
    }

    fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.warnings.is_empty() && self.log.is_empty()
    }

    fn publish(self, hub: &Hub) {
        for change in self.changes {
            hub.publish(&Notification::new(action::ENGINE_CHANGED, change));
        }
        for warning in self.warnings {
            crate::limit_log::limit_hit("engine-propagation", warning);
        }
        for line in self.log {
            tracing::info!(target: "patchbay::engine", "{line}");
            hub.publish(&Notification::new(action::ENGINE_PRINT, serde_json::json!({ "message": line })));
        }
    }
}

pub fn load_file(engine: &mut Engine, path: &Path) -> anyhow::Result<()> {
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
