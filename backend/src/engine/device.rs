//! Real-time clocks: the sound card when there is one (cpal), otherwise a
//! timer thread that ticks the engine at the same pace. Either way the
//! [`AudioSide`] lives on that one thread, and the control side talks to it
//! only through its queues.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::transform::Setup;
use super::{AudioSide, Engine};

/// Longest rest of an idle timer clock between looks at its stop flag.
const REST_LIMIT: Duration = Duration::from_secs(1);

/// What drives the clock.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockSource {
    Device {
        name: String,
        channels: u16,
    },
    /// No sound card (or `--no-audio`): a timer paces the blocks.
    Timer {
        reason: String,
    },
}

/// A running clock thread; dropping it stops the thread.
pub(crate) struct Clock {
    pub source: ClockSource,
    /// Blocks the timer clock started late by more than a block.
    pub late: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Clock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Opens the default output device at its own rate, or falls back to a
/// timer at `fallback.rate` (at once when `skip` gives a reason not to try).
/// Returns the engine built for that rate.
pub(crate) fn start(fallback: Setup, skip: Option<String>) -> (Engine, Clock) {
    let stop = Arc::new(AtomicBool::new(false));
    let late = Arc::new(AtomicU64::new(0));
    if let Some(reason) = skip {
        return timer(fallback, reason, stop, late);
    }
    match open_device(fallback.block, stop.clone()) {
        Ok((engine, source, thread)) => (engine, Clock { source, late, stop, thread: Some(thread) }),
        Err(reason) => timer(fallback, reason, stop, late),
    }
}

fn timer(setup: Setup, reason: String, stop: Arc<AtomicBool>, late: Arc<AtomicU64>) -> (Engine, Clock) {
    let (engine, mut audio) = Engine::new(setup);
    let (flag, count) = (stop.clone(), late.clone());
    let clock = audio.clock().clone();
    let period = clock.period();
    let thread = std::thread::Builder::new()
        .name("patchbay-clock".into())
        .spawn(move || {
            clock.set_sleeper();
            let mut next = Instant::now();
            while !flag.load(Ordering::Acquire) {
                audio.tick();
                next += period;
                if audio.is_idle() {
                    // Nothing to play: rest until a command comes (engine time
                    // goes on meanwhile, see ClockState). The timeout is a
                    // safety net only.
                    clock.begin_rest(next);
                    std::thread::park_timeout(REST_LIMIT);
                    next += period * clock.end_rest();
                }
                let now = Instant::now();
                if now > next + period {
                    // Fell behind (a stalled machine): resume from now rather than racing.
                    count.fetch_add(1, Ordering::Relaxed);
                    next = now;
                } else if next > now {
                    std::thread::sleep(next - now);
                }
            }
        })
        .expect("spawn the clock thread");
    (engine, Clock { source: ClockSource::Timer { reason }, late, stop, thread: Some(thread) })
}

type Opened = (Engine, ClockSource, JoinHandle<()>);

/// The stream must stay on the thread that made it (it is not `Send`), so
/// that thread opens the device, reports the rate, receives the audio side
/// and parks until told to stop.
fn open_device(block: usize, stop: Arc<AtomicBool>) -> Result<Opened, String> {
    let (info_tx, info_rx) = mpsc::channel::<Result<(u32, u16, String), String>>();
    let (audio_tx, audio_rx) = mpsc::channel::<AudioSide>();
    let (started_tx, started_rx) = mpsc::channel::<Result<(), String>>();
    let thread = std::thread::Builder::new()
        .name("patchbay-audio".into())
        .spawn(move || {
            let opened = (|| {
                let device = cpal::default_host().default_output_device().ok_or("no output device")?;
                let config = device.default_output_config().map_err(|e| e.to_string())?;
                Ok::<_, String>((device, config))
            })();
            let (device, config) = match opened {
                Ok(x) => x,
                Err(e) => return drop(info_tx.send(Err(e))),
            };
            let channels = config.channels();
            let name = device.to_string();
            let _ = info_tx.send(Ok((config.sample_rate(), channels, name)));
            let Ok(mut audio) = audio_rx.recv() else { return };
            // Capture is optional: without an input device AudioInput is silent.
            let capture = open_capture(config.sample_rate()).map(|(stream, ring)| {
                audio.set_capture(ring);
                stream
            });
            let stream = build_stream(&device, config, audio);
            let stream = match stream.and_then(|s| s.play().map(|_| s).map_err(|e| e.to_string())) {
                Ok(s) => s,
                Err(e) => return drop(started_tx.send(Err(e))),
            };
            let _ = started_tx.send(Ok(()));
            while !stop.load(Ordering::Acquire) {
                std::thread::park_timeout(Duration::from_millis(200));
            }
            drop(stream);
            drop(capture);
        })
        .map_err(|e| e.to_string())?;
    let (rate, channels, name) = info_rx.recv().map_err(|_| "the audio thread ended".to_string())??;
    let (engine, audio) = Engine::new(Setup { rate: rate as f64, block });
    audio_tx.send(audio).map_err(|_| "the audio thread ended".to_string())?;
    started_rx.recv().map_err(|_| "the audio thread ended".to_string())??;
    Ok((engine, ClockSource::Device { name, channels }, thread))
}

/// The default input device at `rate`, its first channel pushed into a ring
/// the audio side reads (half a second of room).
fn open_capture(rate: u32) -> Option<(cpal::Stream, rtrb::Consumer<f32>)> {
    let device = cpal::default_host().default_input_device()?;
    let config = device.default_input_config().ok()?;
    if config.sample_rate() != rate || config.sample_format() != cpal::SampleFormat::F32 {
        // Keep it simple: F32 at the output's rate (ALSA's plug and most servers give that).
        let wanted = device.supported_input_configs().ok()?.find_map(|c| {
            (c.sample_format() == cpal::SampleFormat::F32).then(|| c.try_with_sample_rate(rate)).flatten()
        })?;
        return capture_stream(&device, wanted.into(), rate);
    }
    capture_stream(&device, config.into(), rate)
}

fn capture_stream(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    rate: u32,
) -> Option<(cpal::Stream, rtrb::Consumer<f32>)> {
    let (mut tx, rx) = rtrb::RingBuffer::new(rate as usize / 2);
    let channels = config.channels.max(1) as usize;
    let callback = move |data: &[f32], _: &cpal::InputCallbackInfo| {
        for frame in data.chunks_exact(channels) {
            let _ = tx.push(frame[0]); // full: the audio side is behind; drop
        }
    };
    let on_error = |e: cpal::Error| tracing::warn!("audio input: {e}");
    let stream = device.build_input_stream(config, callback, on_error, None).ok()?;
    stream.play().ok()?;
    Some((stream, rx))
}

fn build_stream(
    device: &cpal::Device,
    config: cpal::SupportedStreamConfig,
    audio: AudioSide,
) -> Result<cpal::Stream, String> {
    let format = config.sample_format();
    let config: cpal::StreamConfig = config.into();
    match format {
        cpal::SampleFormat::F32 => stream::<f32>(device, config, audio),
        cpal::SampleFormat::I16 => stream::<i16>(device, config, audio),
        cpal::SampleFormat::I32 => stream::<i32>(device, config, audio),
        cpal::SampleFormat::U16 => stream::<u16>(device, config, audio),
        other => Err(format!("unsupported sample format {other}")),
    }
}

fn stream<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut audio: AudioSide,
) -> Result<cpal::Stream, String>
where
    T: cpal::SizedSample + cpal::FromSample<f32>,
{
    let channels = config.channels as usize;
    // Conversion space, allocated here, never in the callback.
    let mut scratch = vec![0.0f32; 8192 * channels];
    let callback = move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
        for chunk in data.chunks_mut(scratch.len()) {
            let buf = &mut scratch[..chunk.len()];
            audio.fill(buf, channels);
            for (d, s) in chunk.iter_mut().zip(buf.iter()) {
                *d = T::from_sample(*s);
            }
        }
    };
    // Errors are reported by cpal on its own thread, not in the callback.
    let on_error = |e: cpal::Error| tracing::warn!("audio stream: {e}");
    device.build_output_stream(config, callback, on_error, None).map_err(|e| e.to_string())
}
