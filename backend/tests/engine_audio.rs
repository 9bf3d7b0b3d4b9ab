//! The engine through a real cpal stream, headless: the server runs with
//! `HOME` pointing at an ALSA configuration whose default device writes a
//! WAV file (TOOLCHAIN.md's recipe). We check the pitch and level of what
//! it played, and that without a card the server still starts on its own clock.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Binary;

const PATCH: &str = r#"{"format": "patchbay-patch", "version": 1,
  "transforms": [
    {"name": "sine0", "type": "Sinewave", "args": "440"},
    {"name": "half", "type": "Gain~", "args": "0.5"},
    {"name": "output0", "type": "AudioOutput", "values": {"onoff": {"type": "Boolean", "value": true}}}
  ],
  "connections": [{"from": "sine0/samplesOut", "to": "half/samplesIn"}, {"from": "half/samplesOut", "to": "output0/mix"}]}"#;

fn engine_status(server: &Binary) -> serde_json::Value {
    let body = Command::new("curl").args(["-s", &server.url("/v1/engine")]).output().unwrap().stdout;
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn the_sound_card_plays_what_the_patch_makes() {
    let home = tempfile::tempdir().unwrap();
    let wav = home.path().join("out.wav");
    let asoundrc = format!(
        "pcm.!default {{ type plug; slave {{ pcm \"filesink\"; format S16_LE; rate 48000; channels 2 }} }}\n\
         pcm.filesink {{ type file; slave.pcm \"null\"; file \"{}\"; format \"wav\" }}\n",
        wav.display()
    );
    std::fs::write(home.path().join(".asoundrc"), asoundrc).unwrap();
    let patch = home.path().join("sine.json");
    std::fs::write(&patch, PATCH).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.env("HOME", home.path())
        .arg("--port=0")
        .arg(format!("--data-dir={}", data.path().display()))
        .arg(format!("--patch={}", patch.display()));
    let server = Binary::spawn(cmd, data.path());
    let status = engine_status(&server);
    assert_eq!(status["clock"], "device", "{status}");
    assert_eq!(status["transforms"], 3);
    // The null slave is not clocked: audio flows as fast as the engine makes it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&wav).map(|m| m.len()).unwrap_or(0) < 44 + 4 * 48000 * 4 {
        assert!(std::time::Instant::now() < deadline, "no audio reached the file");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill9();
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let data_at = bytes.windows(4).position(|w| w == b"data").unwrap() + 8;
    let all: Vec<f64> =
        bytes[data_at..].chunks_exact(4).map(|f| i16::from_le_bytes([f[0], f[1]]) as f64 / 32768.0).collect();
    // The stream starts before the control thread hands over the loaded patch: skip that silence.
    let start = all.iter().position(|x| *x != 0.0).expect("sound, not only silence");
    assert!(all.len() >= start + 48000, "a whole second of sound");
    let left = &all[start..start + 48000];
    let crossings = left.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    assert!((crossings as i64 - 440).abs() <= 2, "{crossings} rising zero crossings in a second");
    let peak = left.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
}

#[test]
fn without_a_sound_card_the_engine_runs_on_its_own_clock() {
    let home = tempfile::tempdir().unwrap(); // no .asoundrc
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.env("HOME", home.path()).arg("--port=0").arg(format!("--data-dir={}", data.path().display()));
    let server = Binary::spawn(cmd, data.path());
    let first = engine_status(&server);
    assert_eq!(first["clock"], "timer", "{first}");
    std::thread::sleep(Duration::from_millis(500));
    let later = engine_status(&server)["time"].as_f64().unwrap() - first["time"].as_f64().unwrap();
    assert!((0.3..1.5).contains(&later), "engine time advances at about real time: {later} s in 0.5 s");
    server.kill9();
}
