//! The offline clock: renders a patch to a WAV file as fast as the CPU
//! allows. Control timers and DSP blocks alternate in one thread, so a
//! render is exactly repeatable.

use std::path::Path;
use std::time::{Duration, Instant};

use super::patch_file::{self, PatchFile};
use super::program::CHANNELS;
use super::transform::Setup;
use super::{AudioSide, Engine, EngineError};

#[derive(Debug, Clone, Copy)]
/// What to render offline.
pub struct RenderOptions {
    /// Length of the file, in seconds of engine time.
    pub seconds: f64,
    /// Rate and block size to render at.
    pub setup: Setup,
}

#[derive(Debug, Clone, Copy)]
/// What an offline render did and how long it took.
pub struct RenderReport {
    /// Frames written per channel.
    pub frames: u64,
    /// Building the patch.
    pub load: Duration,
    /// Rendering it.
    pub render: Duration,
}

impl RenderReport {
    /// Seconds of audio per second of wall time.
    pub fn realtime_factor(&self, rate: f64) -> f64 {
        self.frames as f64 / rate / self.render.as_secs_f64().max(1e-9)
    }
}

/// One clock tick offline: due timers, queued edits, one block.
pub fn step(engine: &mut Engine, audio: &mut AudioSide) {
    engine.run_timers(engine.now());
    engine.pump();
    audio.tick();
}

/// Renders `file` to `out` (stereo, 32-bit float), calling `progress(done, total)` now and then.
/// The WAV appears whole: it is written aside and renamed.
pub fn render_to_wav(
    file: &PatchFile,
    files_dir: &Path,
    options: RenderOptions,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RenderReport, EngineError> {
    let started = Instant::now();
    let (mut engine, mut audio) = Engine::new(options.setup);
    engine.set_files_dir(files_dir);
    patch_file::load(&mut engine, file)?;
    engine.pump();
    let load = started.elapsed();

    let io = |e: &dyn std::fmt::Display| EngineError::File(format!("{}: {e}", out.display()));
    let spec = hound::WavSpec {
        channels: CHANNELS as u16,
        sample_rate: options.setup.rate as u32,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let part = out.with_extension("wav.part");
    let mut writer = hound::WavWriter::create(&part, spec).map_err(|e| io(&e))?;
    let block = options.setup.block as u64;
    let total = (options.seconds * options.setup.rate).round() as u64;
    let started = Instant::now();
    let mut done = 0;
    while done < total {
        step(&mut engine, &mut audio);
        let n = (total - done).min(block) as usize;
        for i in 0..n {
            for ch in 0..CHANNELS {
                writer.write_sample(audio.channel(ch)[i]).map_err(|e| io(&e))?;
            }
        }
        done += n as u64;
        if done % (block * 1024) < block || done == total {
            progress(done, total);
        }
    }
    let render = started.elapsed();
    writer.finalize().map_err(|e| io(&e))?;
    std::fs::rename(&part, out).map_err(|e| io(&e))?;
    Ok(RenderReport { frames: total, load, render })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::library::io::read_wav;
    use crate::engine::library::testing::frequency;

    #[test]
    fn a_patch_renders_to_a_wav_of_the_right_length_and_pitch() {
        let dir = tempfile::tempdir().unwrap();
        let json = r#"{"format": "patchbay-patch", "version": 1,
            "transforms": [
                {"name": "sin0", "type": "Sinewave", "args": "440"},
                {"name": "out", "type": "AudioOutput", "values": {"onoff": {"type": "Boolean", "value": true}}}
            ],
            "connections": [{"from": "sin0/samplesOut", "to": "out/mix"}]}"#;
        let file = PatchFile::parse(json).unwrap();
        let options = RenderOptions { seconds: 1.5, setup: Setup { rate: 44100.0, block: 64 } };
        let out = dir.path().join("sine.wav");
        let mut calls = 0;
        let report = render_to_wav(&file, dir.path(), options, &out, &mut |_, _| calls += 1).unwrap();
        assert_eq!(report.frames, 66150);
        assert!(calls >= 1);
        let (mono, rate) = read_wav(&out).unwrap();
        assert_eq!((rate, mono.len()), (44100, 66150));
        let f = frequency(&mono) * 44100.0 / 48000.0; // the helper counts at 48 kHz
        assert!((f - 440.0).abs() <= 1.0, "{f}");
        assert!(!dir.path().join("sine.wav.part").exists());
    }
}
