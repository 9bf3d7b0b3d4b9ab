//! Sound in and out: AudioOutput (to the sound card or the renderer),
//! AudioInput, and WAV file playback and recording.
//!
//! Files are confined to the engine's files directory: a name with `..`,
//! a root or a drive is refused, so OSC clients cannot read or write
//! elsewhere on the host.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::{Args, TypeEntry};
use crate::engine::program::{InputBus, CHANNELS};
use crate::engine::simd;
use crate::engine::transform::{Built, Control, Ctx, DspNode, Meter, PortSpec, Tap};
use crate::engine::value::{Value, ValueType as T};

/// Ports: 0 `onoff`, 1 `mix`, 2 `samplesIn`, 3 `samplesIn2`; extra outputs: left, right.
struct Output {
    on: bool,
    gain: f32,
    levels: [Arc<Meter>; CHANNELS],
    /// The last block of mix, samplesIn and samplesIn2, for `current-value`.
    taps: [Arc<Tap>; 1 + CHANNELS],
}

impl DspNode for Output {
    fn process(&mut self, inputs: &[f32], out: &mut [f32]) {
        let b = out.len() / CHANNELS;
        let (mix, rest) = inputs.split_at(b);
        if self.on || self.gain > 0.0 {
            for (tap, block) in self.taps.iter().zip(inputs.chunks(b)) {
                tap.write(block);
            }
        }
        let target = if self.on { 1.0 } else { 0.0 };
        // Turning on or off fades over one block instead of clicking.
        let step = (target - self.gain) / b as f32;
        for ch in 0..CHANNELS {
            let own = &rest[ch * b..(ch + 1) * b];
            let dst = &mut out[ch * b..(ch + 1) * b];
            let sum = dst.iter_mut().zip(mix).zip(own);
            if step == 0.0 {
                sum.for_each(|((d, m), o)| *d = (m + o) * self.gain);
            } else {
                let ramp = (1..).map(|i| self.gain + step * i as f32);
                sum.zip(ramp).for_each(|(((d, m), o), g)| *d = (m + o) * g);
            }
            self.levels[ch].set(simd::peak(dst));
        }
        self.gain = target;
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 0 {
            self.on = value != 0.0;
        }
    }
    fn extra_outputs(&self) -> usize {
        CHANNELS
    }
    fn is_sink(&self) -> bool {
        true
    }
}

/// The block the audio side copied in from the capture device.
struct Input(Arc<InputBus>);

impl DspNode for Input {
    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        for (o, cell) in out.iter_mut().zip(self.0.block.iter()) {
            *o = cell.get();
        }
    }
}

/// Resolves a file name inside `dir`, refusing anything that could leave
/// it: `..`, absolute names, and symbolic links (in the name or at it)
/// that lead outside. What exists of the path is resolved, so a link to a
/// file not yet written is refused too.
pub(crate) fn sandboxed(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = Path::new(name);
    let inside = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !inside {
        return Err(format!("{name:?}: only plain relative names inside the files directory are allowed"));
    }
    let path = dir.join(path);
    let Ok(root) = dir.canonicalize() else {
        return Ok(path); // nothing exists under it yet, so nothing can lead out
    };
    let mut existing = path.as_path();
    while existing.symlink_metadata().is_err() {
        existing = existing.parent().unwrap_or(dir);
    }
    match existing.canonicalize() {
        Ok(real) if real.starts_with(&root) => Ok(path),
        _ => Err(format!("{name:?}: a symbolic link there leads outside the files directory")),
    }
}

/// Reads a WAV file as mono `f32` at its own rate.
pub(crate) fn read_wav(path: &Path) -> Result<(Vec<f32>, u32), String> {
    let reader = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader.into_samples::<i32>().map(|s| s.map(|s| s as f32 * scale)).collect()
        }
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    // A float file may hold NaN or infinities: they play as silence.
    let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
    let mono = samples
        .chunks(channels)
        .map(|f| finite(f.iter().copied().map(finite).sum::<f32>() / channels as f32))
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Ports: 0 `file`, 1 `play`, 2 `loop`, 3 `speed`, 4 `samplesOut`, 5 `seconds`.
struct Player {
    data: Box<[f32]>,
    pos: f64,
    playing: bool,
    looping: bool,
    speed: f64,
    /// File rate over engine rate.
    ratio: f64,
}

impl DspNode for Player {
    fn process(&mut self, _inputs: &[f32], out: &mut [f32]) {
        let n = self.data.len();
        for o in out.iter_mut() {
            if !self.playing || n == 0 {
                *o = 0.0;
                continue;
            }
            let i = self.pos as usize;
            let frac = (self.pos - i as f64) as f32;
            let a = self.data[i.min(n - 1)];
            let b = self.data[(i + 1).min(n - 1)];
            *o = a + (b - a) * frac;
            self.pos += self.speed * self.ratio;
            if self.pos >= n as f64 {
                if self.looping {
                    self.pos -= n as f64;
                } else {
                    self.playing = false;
                    self.pos = 0.0;
                }
            }
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        match port {
            1 => {
                self.playing = value != 0.0;
                self.pos = 0.0;
            }
            2 => self.looping = value != 0.0,
            3 => self.speed = value.max(0.0),
            6 => self.ratio = value,
            _ => {}
        }
    }
    fn set_data(&mut self, data: Box<[f32]>) -> Option<Box<[f32]>> {
        self.pos = 0.0;
        Some(std::mem::replace(&mut self.data, data))
    }
}

struct PlayerControl {
    dir: PathBuf,
    rate: f64,
}

impl Control for PlayerControl {
    fn activate(&mut self, inlet: usize, ctx: &mut Ctx) {
        if inlet != 0 {
            return;
        }
        let name = ctx.values[0].to_string();
        match sandboxed(&self.dir, &name).and_then(|p| read_wav(&p)) {
            Ok((samples, rate)) => {
                ctx.values[5] = Value::Float(samples.len() as f64 / rate as f64);
                // Resampling ratio first, then the data (commands keep their order).
                let ratio = rate as f64 / self.rate;
                ctx.values[6] = Value::Float(ratio);
                ctx.send(6, ratio);
                ctx.send_data(samples.into_boxed_slice());
            }
            Err(e) => ctx.print(format!("cannot load {e}")),
        }
    }
}

/// Ports: 0 `file`, 1 `record`, 2 `samplesIn`, 3 `seconds`.
struct Recorder {
    ring: rtrb::Producer<f32>,
    on: bool,
    dropped: Arc<Meter>,
}

impl DspNode for Recorder {
    fn process(&mut self, inputs: &[f32], _out: &mut [f32]) {
        if !self.on {
            return;
        }
        let mut lost = 0;
        for &x in inputs {
            lost += self.ring.push(x).is_err() as u32;
        }
        if lost > 0 {
            self.dropped.set(self.dropped.get() + lost as f32);
        }
    }
    fn set(&mut self, port: usize, value: f64) {
        if port == 1 {
            self.on = value != 0.0;
        }
    }
}

struct RecorderControl {
    dir: PathBuf,
    rate: u32,
    ring: rtrb::Consumer<f32>,
    writer: Option<(hound::WavWriter<std::io::BufWriter<std::fs::File>>, PathBuf, PathBuf)>,
    written: u64,
}

impl RecorderControl {
    fn drain(&mut self) {
        while let Ok(x) = self.ring.pop() {
            if let Some((w, ..)) = &mut self.writer {
                if w.write_sample(x).is_ok() {
                    self.written += 1;
                }
            }
        }
    }

    /// Finishes the file and moves it into place (recordings appear whole or not at all).
    fn finish(&mut self, ctx: &mut Ctx) {
        self.drain();
        if let Some((w, part, path)) = self.writer.take() {
            if let Err(e) = w
                .finalize()
                .map_err(|e| e.to_string())
                .and_then(|_| std::fs::rename(&part, &path).map_err(|e| e.to_string()))
            {
                ctx.print(format!("cannot write {}: {e}", path.display()));
            }
        }
    }
}

impl Control for RecorderControl {
    fn activate(&mut self, inlet: usize, ctx: &mut Ctx) {
        if inlet != 1 {
            return;
        }
        self.finish(ctx);
        if !ctx.values[1].is_true() {
            return;
        }
        let name = ctx.values[0].to_string();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: self.rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let opened = sandboxed(&self.dir, &name).and_then(|path| {
            let part = path.with_extension("wav.part");
            let w = hound::WavWriter::create(&part, spec).map_err(|e| format!("{}: {e}", part.display()))?;
            Ok((w, part, path))
        });
        match opened {
            Ok(w) => {
                self.writer = Some(w);
                self.written = 0;
                ctx.wake_at(ctx.now() + 0.05);
            }
            Err(e) => ctx.print(format!("cannot record to {e}")),
        }
    }
    fn timer(&mut self, ctx: &mut Ctx) {
        self.drain();
        ctx.values[3] = Value::Float(self.written as f64 / self.rate as f64);
        if self.writer.is_some() {
            ctx.wake_at(ctx.now() + 0.05);
        }
    }
}

pub(crate) fn entries() -> Vec<TypeEntry> {
    vec![
        TypeEntry::new(
            "AudioOutput",
            "io",
            "Plays to the sound card (or the offline renderer) while onoff is true; mix goes to both channels",
            |args: &Args| {
                let ports = vec![
                    PortSpec::hot("onoff", T::Boolean, "Plays while true (fades over a block on changes)").order(0),
                    PortSpec::cold("mix", T::Samples, "Sent to every channel").order(1000),
                    PortSpec::cold("samplesIn", T::Samples, "Left channel").order(1001),
                    PortSpec::cold("samplesIn2", T::Samples, "Right channel").order(1002),
                    PortSpec::reading("sample_rate", T::Float, "Samples per second"),
                    PortSpec::reading("block_size", T::Integer, "Samples per block (per clock tick)"),
                    PortSpec::reading("channels", T::Integer, "Output channels"),
                    PortSpec::reading("level_left", T::Float, "Peak of the last block, left"),
                    PortSpec::reading("level_right", T::Float, "Peak of the last block, right"),
                ];
                let levels = [Meter::shared(), Meter::shared()];
                let taps = [(); 1 + CHANNELS].map(|_| Tap::shared(args.setup.block));
                Ok(Built::new(ports)
                    .init("sample_rate", Value::Float(args.setup.rate))
                    .init("block_size", Value::Integer(args.setup.block as i64))
                    .init("channels", Value::Integer(CHANNELS as i64))
                    .meter("level_left", levels[0].clone())
                    .meter("level_right", levels[1].clone())
                    .tap("mix", taps[0].clone())
                    .tap("samplesIn", taps[1].clone())
                    .tap("samplesIn2", taps[2].clone())
                    .dsp(Output { on: false, gain: 0.0, levels, taps }))
            },
        ),
        TypeEntry::new(
            "AudioInput",
            "io",
            "The sound card's input (first channel); silence when the server has no capture device",
            |args: &Args| {
                let ports = vec![PortSpec::outlet("samplesOut", T::Samples, "The captured signal")];
                Ok(Built::new(ports).dsp(Input(args.input.clone())))
            },
        ),
        TypeEntry::new(
            "FilePlayer",
            "io",
            "Plays a WAV file from the files directory, mixed to mono and resampled to the engine's rate",
            |args: &Args| {
                let ports = vec![
                    PortSpec::hot("file", T::String, "File name inside the files directory; loads it"),
                    PortSpec::cold("play", T::Boolean, "True plays from the start; false stops"),
                    PortSpec::cold("loop", T::Boolean, "Whether to start again at the end"),
                    PortSpec::cold("speed", T::Float, "Playback speed, 1 is normal"),
                    PortSpec::outlet("samplesOut", T::Samples, "The file's sound"),
                    PortSpec::reading("seconds", T::Float, "Length of the loaded file"),
                    PortSpec::reading("ratio", T::Float, "File rate over engine rate"),
                ];
                let node = Player { data: Box::new([]), pos: 0.0, playing: false, looping: false, speed: 1.0, ratio: 1.0 };
                let control = PlayerControl { dir: args.files.clone(), rate: args.setup.rate };
                Ok(Built::new(ports).init("speed", Value::Float(1.0)).init("ratio", Value::Float(1.0)).dsp(node).control(control))
            },
        ),
        TypeEntry::new(
            "FileRecorder",
            "io",
            "Records its input to a 32-bit float WAV file in the files directory; the file appears when recording stops",
            |args: &Args| {
                let ports = vec![
                    PortSpec::cold("file", T::String, "File name inside the files directory"),
                    PortSpec::hot("record", T::Boolean, "True starts a new recording, false finishes it"),
                    PortSpec::cold("samplesIn", T::Samples, "The signal to record"),
                    PortSpec::reading("seconds", T::Float, "Seconds written so far"),
                ];
                // Two seconds of slack between the audio side and the disk.
                let (tx, rx) = rtrb::RingBuffer::new((args.setup.rate * 2.0) as usize);
                let node = Recorder { ring: tx, on: false, dropped: Meter::shared() };
                let control =
                    RecorderControl { dir: args.files.clone(), rate: args.setup.rate as u32, ring: rx, writer: None, written: 0 };
                Ok(Built::new(ports).dsp(node).control(control))
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::engine::Engine;

    #[test]
    fn audio_output_reports_its_settings_and_fades_on() {
        let (mut e, mut a) = one("AudioOutput", "");
        assert_eq!(get(&e, "sample_rate"), Value::Float(48000.0));
        assert_eq!(get(&e, "mix"), Value::Nil, "no value before audio is on (seed 001)");
        e.add_transform("/patch", "Sig~", "s", "1").unwrap();
        e.connect("/patch/s/samplesOut", "/patch/t/mix").unwrap();
        for _ in 0..3 {
            e.pump();
            a.tick();
        }
        assert!(a.channel(0).iter().all(|x| *x == 0.0), "off: silent");
        set(&mut e, "onoff", Value::Boolean(true));
        e.pump();
        a.tick();
        let first = a.channel(0).to_vec();
        assert!(
            first.windows(2).all(|w| w[1] >= w[0]) && first[0] < 0.1 && first[63] == 1.0,
            "fades in over a block"
        );
        assert_eq!(f(&e, "level_left"), 1.0);
        assert_eq!(a.channel(1)[10], first[10], "mix reaches both channels");
        // Once audio is on, current-value of an input is its last block of samples (the seed's v).
        assert_eq!(get(&e, "mix"), Value::Samples(vec![1.0; 64]));
        assert_eq!(get(&e, "samplesIn"), Value::Samples(vec![0.0; 64]), "nothing connected: silence");
    }

    #[test]
    fn audio_input_plays_what_the_capture_ring_holds() {
        let (mut e, mut a) = one("AudioInput", "");
        let (mut tx, rx) = rtrb::RingBuffer::new(48000);
        a.set_capture(rx);
        for i in 0..24000 {
            tx.push((std::f64::consts::TAU * 300.0 * i as f64 / 48000.0).sin() as f32 * 0.5).unwrap();
        }
        // Three blocks stay queued: the input skips to the newest four blocks, then plays.
        let x = render(&mut e, &mut a, "samplesOut", 0.05);
        let heard: Vec<f32> = x.into_iter().skip(128).take(256 - 128).collect();
        assert!((peak(&heard) - 0.5).abs() < 0.01);
        let want = |i: usize| (std::f64::consts::TAU * 300.0 * i as f64 / 48000.0).sin() as f32 * 0.5;
        let offset = (0..24000)
            .find(|&o| (0..8).all(|k| (want(o + k) - heard[k]).abs() < 1e-6))
            .expect("the captured samples, in order");
        assert!(heard.iter().enumerate().all(|(k, x)| (want(offset + k) - x).abs() < 1e-6));
    }

    #[test]
    fn files_outside_the_files_directory_are_refused() {
        let dir = Path::new("/srv/sounds");
        assert_eq!(sandboxed(dir, "a/b.wav").unwrap(), dir.join("a/b.wav"));
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "", "./x/.."] {
            assert!(sandboxed(dir, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symbolic_links_that_lead_outside_are_refused() {
        let (dir, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let d = dir.path();
        std::fs::write(outside.path().join("secret.wav"), b"x").unwrap();
        std::fs::write(d.join("mine.wav"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.wav"), d.join("link.wav")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("new.wav"), d.join("dangling.wav")).unwrap();
        std::os::unix::fs::symlink(d.join("mine.wav"), d.join("alias.wav")).unwrap();
        for bad in ["out/secret.wav", "out/new.wav", "link.wav", "dangling.wav"] {
            let e = sandboxed(d, bad).unwrap_err();
            assert!(e.contains("leads outside"), "{bad}: {e}");
        }
        for good in ["mine.wav", "alias.wav", "new.wav", "sub/new.wav"] {
            assert_eq!(sandboxed(d, good).unwrap(), d.join(good), "{good}");
        }
    }

    fn with_files(dir: &Path) -> (Engine, crate::engine::AudioSide) {
        let (mut e, a) = Engine::new(SETUP);
        e.set_files_dir(dir);
        (e, a)
    }

    #[test]
    fn a_recording_plays_back_at_the_same_frequency() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, mut a) = with_files(dir.path());
        e.add_transform("/patch", "Sinewave", "src", "300").unwrap();
        e.add_transform("/patch", "FileRecorder", "t", "").unwrap();
        e.connect("/patch/src/samplesOut", "/patch/t/samplesIn").unwrap();
        set(&mut e, "file", Value::String("take.wav".into()));
        set(&mut e, "record", Value::Boolean(true));
        render(&mut e, &mut a, "none", 0.5);
        assert!(!dir.path().join("take.wav").exists(), "only whole files appear");
        set(&mut e, "record", Value::Boolean(false));
        let (samples, rate) = read_wav(&dir.path().join("take.wav")).unwrap();
        assert_eq!(rate, 48000);
        assert!((samples.len() as f64 - 24000.0).abs() <= 64.0, "{} samples", samples.len());
        assert!((frequency(&samples) - 300.0).abs() <= 2.0);

        let (mut e, mut a) = with_files(dir.path());
        e.add_transform("/patch", "FilePlayer", "t", "").unwrap();
        set(&mut e, "file", Value::String("take.wav".into()));
        assert!((f(&e, "seconds") - 0.5).abs() < 0.01);
        set(&mut e, "play", Value::Boolean(true));
        let x = render(&mut e, &mut a, "samplesOut", 0.4);
        assert!((frequency(&x[100..]) - 300.0).abs() <= 3.0, "{}", frequency(&x[100..]));
        set(&mut e, "file", Value::String("../escape.wav".into()));
        assert!(e.take_log().iter().any(|l| l.contains("only plain relative names")));
    }

    #[test]
    fn a_file_at_another_rate_is_resampled() {
        let dir = tempfile::tempdir().unwrap();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 24000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join("low.wav"), spec).unwrap();
        for i in 0..24000 {
            let s = ((std::f64::consts::TAU * 200.0 * i as f64 / 24000.0).sin() * 16000.0) as i16;
            w.write_sample(s).unwrap();
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        let (mut e, mut a) = with_files(dir.path());
        e.add_transform("/patch", "FilePlayer", "t", "").unwrap();
        set(&mut e, "file", Value::String("low.wav".into()));
        set(&mut e, "play", Value::Boolean(true));
        let x = render(&mut e, &mut a, "samplesOut", 0.5);
        assert!((frequency(&x[100..]) - 200.0).abs() <= 3.0, "{}", frequency(&x[100..]));
        assert!((peak(&x) - 16000.0 / 32768.0).abs() < 0.01);
    }
}
