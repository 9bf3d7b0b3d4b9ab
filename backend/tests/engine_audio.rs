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

/// The real binary with `HOME` (and so ALSA's configuration) at `home`, loading `patch`.
fn with_home(home: &std::path::Path, data: &std::path::Path, patch: &std::path::Path) -> Binary {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.env("HOME", home)
        .args(["--port=0", "--osc-port=0", "--discovery-port=0"])
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--patch={}", patch.display()));
    Binary::spawn(cmd, data)
}

fn engine_status(server: &Binary) -> serde_json::Value {
    let body = Command::new("curl").args(["-s", &server.url("/v1/engine")]).output().unwrap().stdout;
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn the_sound_card_plays_what_the_patch_makes() {
    let home = tempfile::tempdir().unwrap();
    let wav = home.path().join("out.wav");
    // Capture goes to `null`: ALSA's file plugin would write captured data into the same file.
    let asoundrc = format!(
        "pcm.!default {{ type asym; playback.pcm \"out\"; capture.pcm \"null\" }}\n\
         pcm.out {{ type plug; slave {{ pcm \"filesink\"; format S16_LE; rate 48000; channels 2 }} }}\n\
         pcm.filesink {{ type file; slave.pcm \"null\"; file \"{}\"; format \"wav\" }}\n",
        wav.display()
    );
    std::fs::write(home.path().join(".asoundrc"), asoundrc).unwrap();
    let patch = home.path().join("sine.json");
    std::fs::write(&patch, PATCH).unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = with_home(home.path(), data.path(), &patch);
    let status = engine_status(&server);
    assert_eq!(status["clock"], "device", "{status}");
    assert_eq!(status["transforms"], 3);
    // The null slave is not clocked: audio flows as fast as the engine makes
    // it, and the stream starts before the control thread hands over the
    // loaded patch, so the file may begin with seconds of silence. Wait for a
    // whole second of sound after it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (all, start) = loop {
        let all = std::fs::read(&wav).ok().and_then(|bytes| left_channel(&bytes)).unwrap_or_default();
        match all.iter().position(|x| *x != 0.0) {
            Some(start) if all.len() >= start + 48000 => break (all, start),
            _ => assert!(std::time::Instant::now() < deadline, "no second of sound reached the file"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    server.kill9();
    let left = &all[start..start + 48000];
    let crossings = left.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    assert!((crossings as i64 - 440).abs() <= 2, "{crossings} rising zero crossings in a second");
    let peak = left.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
}

/// The left channel of a 16-bit stereo WAV being written, once its header is there.
fn left_channel(bytes: &[u8]) -> Option<Vec<f64>> {
    if bytes.get(..4)? != b"RIFF" {
        return None;
    }
    let data_at = bytes.windows(4).position(|w| w == b"data")? + 8;
    let frames = bytes.get(data_at..)?.chunks_exact(4);
    Some(frames.map(|f| i16::from_le_bytes([f[0], f[1]]) as f64 / 32768.0).collect())
}

/// The real binary where ALSA finds no card (`HOME` without an `.asoundrc`);
/// the directories live as long as the second half.
fn without_a_card() -> (Binary, [tempfile::TempDir; 2]) {
    let (home, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.env("HOME", home.path())
        .args(["--port=0", "--osc-port=0", "--discovery-port=0"])
        .arg(format!("--data-dir={}", data.path().display()));
    (Binary::spawn(cmd, data.path()), [home, data])
}

#[test]
fn without_a_sound_card_the_engine_runs_on_its_own_clock() {
    let (server, _dirs) = without_a_card();
    let first = engine_status(&server);
    assert_eq!(first["clock"], "timer", "{first}");
    std::thread::sleep(Duration::from_millis(500));
    let later = engine_status(&server)["time"].as_f64().unwrap() - first["time"].as_f64().unwrap();
    assert!((0.3..1.5).contains(&later), "engine time advances at about real time: {later} s in 0.5 s");
    server.kill9();
}

/// Wake-ups of the server's timer clock thread so far.
fn clock_wakeups(server: &Binary) -> u64 {
    // A new thread takes its name only once it first runs, which on a loaded
    // machine can be after the server already answers: look for a while.
    let find = || {
        std::fs::read_dir(format!("/proc/{}/task", server.child.id())).unwrap().flatten().find(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "patchbay-clock")
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let clock = loop {
        match find() {
            Some(task) => break task,
            None if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            None => panic!("a clock thread"),
        }
    };
    let status = std::fs::read_to_string(clock.path().join("status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

fn put_patch(server: &Binary, patch: &str) {
    let out = Command::new("curl")
        .args(["-s", "-f", "-X", "PUT", &server.url("/v1/engine/patch"), "--data-binary", patch])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn with_nothing_to_play_the_timer_clock_rests_and_time_goes_on() {
    let (server, _dirs) = without_a_card();
    let elapsed_over = |span: Duration| {
        let (before, time) = (clock_wakeups(&server), engine_status(&server)["time"].as_f64().unwrap());
        std::thread::sleep(span);
        let after = engine_status(&server)["time"].as_f64().unwrap();
        (clock_wakeups(&server) - before, after - time)
    };
    // An empty patch: 64-frame blocks at 48 kHz would be 750 ticks a second.
    let (wakeups, time) = elapsed_over(Duration::from_secs(1));
    assert!(wakeups < 20, "the clock rests: {wakeups} wake-ups in a second");
    assert!((0.9..1.6).contains(&time), "engine time still follows real time: {time} s in 1 s");
    // Something to play: it ticks again.
    put_patch(&server, PATCH);
    let (wakeups, time) = elapsed_over(Duration::from_secs(1));
    assert!(wakeups > 300, "the clock ticks: {wakeups} wake-ups in a second");
    assert!((0.9..1.6).contains(&time), "{time} s in 1 s");
    // Empty again (the deleted transforms fade out first): it rests again.
    put_patch(&server, r#"{"format": "patchbay-patch", "version": 1, "transforms": [], "connections": []}"#);
    std::thread::sleep(Duration::from_millis(100));
    let (wakeups, time) = elapsed_over(Duration::from_secs(1));
    assert!(wakeups < 20, "{wakeups} wake-ups in a second");
    assert!((0.9..1.6).contains(&time), "{time} s in 1 s");
    // Timers need no ticking: a Metro keeps its pace while the clock rests.
    put_patch(&server, METRO);
    let before = clock_wakeups(&server);
    let out = Command::new("curl")
        .args(["-s", "-N", "--max-time", "2", &server.url("/v1/notifications")])
        .output()
        .unwrap();
    let wakeups = clock_wakeups(&server) - before;
    let ticks = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("tick: bang")).count();
    assert!((14..=26).contains(&ticks), "{ticks} ticks of a 100 ms Metro in 2 s");
    assert!(wakeups < 40, "the clock rests meanwhile: {wakeups} wake-ups");
    server.kill9();
}

const METRO: &str = r#"{"format": "patchbay-patch", "version": 1,
  "transforms": [
    {"name": "metro0", "type": "Metro", "args": "100", "values": {"onoff": {"type": "Boolean", "value": true}}},
    {"name": "print0", "type": "Print", "args": "tick"}
  ],
  "connections": [{"from": "metro0/bang", "to": "print0/in"}]}"#;

#[test]
fn audio_input_hears_the_capture_device() {
    let home = tempfile::tempdir().unwrap();
    let (wav, raw) = (home.path().join("out.wav"), home.path().join("in.raw"));
    // Two seconds of a 300 Hz sine at half scale, S16_LE stereo, as the capture device's data.
    let mut bytes = vec![];
    for i in 0..96000 {
        let s = ((std::f64::consts::TAU * 300.0 * i as f64 / 48000.0).sin() * 16384.0) as i16;
        bytes.extend_from_slice(&s.to_le_bytes());
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(&raw, bytes).unwrap();
    let asoundrc = format!(
        "pcm.!default {{ type asym; playback.pcm \"out\"; capture.pcm \"in\" }}\n\
         pcm.out {{ type plug; slave {{ pcm \"filesink\"; format S16_LE; rate 48000; channels 2 }} }}\n\
         pcm.filesink {{ type file; slave.pcm \"null\"; file \"{}\"; format \"wav\" }}\n\
         pcm.in {{ type plug; slave {{ pcm \"filesource\"; format S16_LE; rate 48000; channels 2 }} }}\n\
         pcm.filesource {{ type file; slave.pcm \"null\"; file \"/dev/null\"; infile \"{}\"; format \"raw\" }}\n",
        wav.display(),
        raw.display()
    );
    std::fs::write(home.path().join(".asoundrc"), asoundrc).unwrap();
    let patch = home.path().join("thru.json");
    std::fs::write(
        &patch,
        r#"{"format": "patchbay-patch", "version": 1,
          "transforms": [
            {"name": "adc", "type": "AudioInput"},
            {"name": "dac", "type": "AudioOutput", "values": {"onoff": {"type": "Boolean", "value": true}}}],
          "connections": [{"from": "adc/samplesOut", "to": "dac/mix"}]}"#,
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = with_home(home.path(), data.path(), &patch);
    assert_eq!(engine_status(&server)["clock"], "device");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let heard = loop {
        let bytes = std::fs::read(&wav).unwrap_or_default();
        let samples: Vec<f64> = bytes
            .get(44..)
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|f| i16::from_le_bytes([f[0], f[1]]) as f64 / 32768.0)
            .collect();
        let loud: Vec<f64> = samples.iter().copied().skip_while(|x| x.abs() < 0.01).collect();
        if loud.len() >= 9600 {
            break loud[..9600].to_vec();
        }
        assert!(std::time::Instant::now() < deadline, "the captured sine never reached the output");
        std::thread::sleep(Duration::from_millis(50));
    };
    server.kill9();
    // Neither file device is clocked, so capture and playback run at unrelated
    // speeds here and the capture ring under-runs (silent gaps): the pitch is
    // checked exactly in the unit test of the capture path; here, that the
    // device's data reaches the output at its level, as a sine: nearly every
    // step between neighbours is no larger than a 300 Hz sine at 0.5 makes
    // (the rest are the splices at under-runs).
    let limit = 0.5 * std::f64::consts::TAU * 300.0 / 48000.0 * 1.1 + 1e-3;
    let steps: Vec<f64> =
        heard.windows(2).filter(|w| w[0] != 0.0 && w[1] != 0.0).map(|w| (w[1] - w[0]).abs()).collect();
    let smooth = steps.iter().filter(|s| **s <= limit).count() as f64 / steps.len() as f64;
    assert!(smooth > 0.95, "{:.1}% of the steps are a 300 Hz sine's", 100.0 * smooth);
    let peak = heard.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    assert!((peak - 0.5).abs() < 0.02, "peak {peak}");
}
