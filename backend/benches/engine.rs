//! Offline rendering of N summed Sinewave transforms (one transform per
//! oscillator) against Pure Data and scsynth, side by side in one run.
//!
//! `cargo bench -p patchbay --bench engine` (needs Debian's `puredata-core`
//! and `supercollider-server`; set `BENCH_SECONDS`, default 60, and
//! `BENCH_N`, default `100,1000,5000`).
//!
//! - Patchbay: the patch is built through the engine's API (as a file load
//!   would), then rendered 64-sample block by block at 48 kHz; the render
//!   loop is timed alone, and the build separately ("load").
//! - Pd: `pd -nogui -nosound -batch -nrt` on `../shared/bench/gen_pd_patch.py`'s
//!   patch (N `osc~` into one `*~` and `dac~`).
//! - scsynth: `scsynth -N` on `gen_scsynth.py`'s score, one synth holding all
//!   N SinOsc (its fastest form).
//!
//! Peers are timed as whole processes; a 0-second render of the same patch
//! is subtracted to remove start-up and load, as the bench kit's README says.
//! Oscillator i has frequency 100 + (7.31·i mod 5000) Hz everywhere.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use patchbay::engine::render::step;
use patchbay::engine::transform::Setup;
use patchbay::engine::{Engine, Value};

const RATE: f64 = 48000.0;

fn freq(i: usize) -> f64 {
    100.0 + (i as f64 * 7.31) % 5000.0
}

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let ns: Vec<usize> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "100,1000,5000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("BENCH_N: numbers"))
        .collect();
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    let tmp = tempfile::tempdir().unwrap();
    println!("Offline render, {seconds} s at 48 kHz, 64-sample blocks; ns per oscillator-sample (real-time factor)\n");
    println!("| N | Patchbay | Pd | scsynth (one synth) | Patchbay load | Pd load | scsynth load |");
    println!("|---|---|---|---|---|---|---|");
    for &n in &ns {
        let ours = patchbay(n, seconds);
        // BENCH_PEERS=0 measures Patchbay alone (for profiling).
        let peers = std::env::var("BENCH_PEERS").map_or(true, |v| v != "0");
        let pd =
            peers.then(|| peer(&tmp.path().join(format!("p{n}")), n, seconds, &kit, pd_render)).flatten();
        let sc =
            peers.then(|| peer(&tmp.path().join(format!("s{n}")), n, seconds, &kit, sc_render)).flatten();
        let per = |d: Duration| d.as_secs_f64() * 1e9 / (n as f64 * RATE * seconds);
        let rtf = |d: Duration| seconds / d.as_secs_f64();
        let cell = |d: Option<(Duration, Duration)>, i: usize| match d {
            Some(x) => {
                let d = if i == 0 { x.0 } else { x.1 };
                if i == 0 {
                    format!("{:.3} ({:.0}x)", per(d), rtf(d))
                } else {
                    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
                }
            }
            None => "n/a".into(),
        };
        println!(
            "| {n} | {:.3} ({:.0}x) | {} | {} | {:.0} ms | {} | {} |",
            per(ours.0),
            rtf(ours.0),
            cell(pd, 0),
            cell(sc, 0),
            ours.1.as_secs_f64() * 1000.0,
            cell(pd, 1),
            cell(sc, 1)
        );
    }
    println!("\nCeiling: the bare kernel (64-sample sine block, then summed into a mix), no engine: {:.3} ns per oscillator-sample", bare_kernel());
    if std::is_x86_feature_detected!("avx2") {
        println!("\n(kernels: AVX2+FMA, chosen at run time; the binary is built for baseline x86-64)");
    }
}

/// ns per sample of `simd::sine` plus `simd::add` alone, 1000 phases, 64-sample blocks.
fn bare_kernel() -> f64 {
    use patchbay::engine::simd;
    let mut oscs: Vec<simd::Sine> =
        (0..1000).map(|i| simd::Sine::new(i as f64 / 1000.0, freq(i) / RATE)).collect();
    let (mut block, mut mix) = ([0.0f32; 64], [0.0f32; 64]);
    let rounds = 3000;
    let started = Instant::now();
    for _ in 0..rounds {
        for osc in oscs.iter_mut() {
            osc.fill(&mut block);
            simd::add(&mut mix, &block);
        }
    }
    let t = started.elapsed().as_secs_f64();
    assert!(std::hint::black_box(mix[3]).is_finite());
    t * 1e9 / (rounds as f64 * 1000.0 * 64.0)
}

/// (render time, build time): the median of three renders.
fn patchbay(n: usize, seconds: f64) -> (Duration, Duration) {
    let mut runs = vec![];
    for _ in 0..3 {
        let built = Instant::now();
        let (mut e, mut audio) = Engine::new(Setup { rate: RATE, block: 64 });
        e.add_transform("/patch", "Gain~", "mix", &(1.0 / n as f64).to_string()).unwrap();
        e.add_transform("/patch", "AudioOutput", "out", "").unwrap();
        e.connect("/patch/mix/samplesOut", "/patch/out/mix").unwrap();
        for i in 0..n {
            let name = format!("osc{i}");
            e.add_transform("/patch", "Sinewave", &name, &format!("{:.3}", freq(i))).unwrap();
            e.connect(&format!("/patch/{name}/samplesOut"), "/patch/mix/samplesIn").unwrap();
        }
        e.set_value("/patch/out/onoff", Value::Boolean(true)).unwrap();
        e.pump();
        let load = built.elapsed();
        let blocks = (seconds * RATE / 64.0) as usize;
        let started = Instant::now();
        let mut check = 0.0f32;
        for _ in 0..blocks {
            step(&mut e, &mut audio);
            check += audio.channel(0)[7];
        }
        let render = started.elapsed();
        assert!(check.is_finite() && check != 0.0, "it made sound");
        runs.push((render, load));
    }
    runs.sort();
    runs[1]
}

type Render = fn(&Path, usize, f64, &Path) -> Option<Duration>;

/// A peer's (render, load) times: full run minus a 0-second run, medians of three.
fn peer(dir: &Path, n: usize, seconds: f64, kit: &Path, render: Render) -> Option<(Duration, Duration)> {
    std::fs::create_dir_all(dir).unwrap();
    let mut full = vec![];
    let mut empty = vec![];
    for _ in 0..3 {
        full.push(render(dir, n, seconds, kit)?);
        empty.push(render(dir, n, 0.0, kit)?);
    }
    full.sort();
    empty.sort();
    Some((full[1].saturating_sub(empty[1]), empty[1]))
}

fn timed(cmd: &mut Command) -> Option<Duration> {
    let started = Instant::now();
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().ok()?;
    status.success().then(|| started.elapsed())
}

fn pd_render(dir: &Path, n: usize, seconds: f64, kit: &Path) -> Option<Duration> {
    let patch = dir.join(format!("sines{seconds}.pd"));
    let ok = Command::new("python3")
        .arg(kit.join("gen_pd_patch.py"))
        .args([n.to_string(), seconds.to_string()])
        .arg(&patch)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    timed(
        Command::new("pd")
            .args(["-nogui", "-nosound", "-batch", "-nrt", "-r", "48000", "-stderr"])
            .arg(&patch),
    )
}

fn sc_render(dir: &Path, n: usize, seconds: f64, kit: &Path) -> Option<Duration> {
    let prefix = dir.join(format!("sines{seconds}"));
    let ok = Command::new("python3")
        .arg(kit.join("gen_scsynth.py"))
        .args([n.to_string(), seconds.to_string(), "one".into()])
        .arg(&prefix)
        .stdout(Stdio::null())
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let score = prefix.with_extension("osc");
    let out = dir.join("out.aiff");
    timed(
        Command::new("scsynth")
            .args(["-o", "1", "-D", "0", "-n", "8192", "-m", "65536", "-N"])
            .arg(&score)
            .arg("_")
            .arg(&out)
            .args(["48000", "AIFF", "int16"]),
    )
}
