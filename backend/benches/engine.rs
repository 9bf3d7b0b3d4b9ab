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
//! Each N runs in rounds, each round all three once; the table gives
//! medians, and the medians of each round's ratios.
//! Peers are timed as whole processes; a 0-second render of the same patch
//! is subtracted to remove start-up and load, as the bench kit's README says.
//! Oscillator i has frequency 100 + (7.31·i mod 5000) Hz everywhere.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use patchbay::engine::render::step;
use patchbay::engine::Setup;
use patchbay::engine::{Engine, Value};

const RATE: f64 = 48000.0;

fn freq(i: usize) -> f64 {
    100.0 + (i as f64 * 7.31) % 5000.0
}

/// Rounds per N; each round runs all three once, so a slow spell of this
/// shared machine hits all three alike and cancels out of the ratios.
const ROUNDS: usize = 3;

/// (render, load) of one run.
type Run = (Duration, Duration);

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    let ns: Vec<usize> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "100,1000,5000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("BENCH_N: numbers"))
        .collect();
    // BENCH_PEERS=0 measures Patchbay alone (for profiling).
    let peers = std::env::var("BENCH_PEERS").map_or(true, |v| v != "0");
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    let tmp = tempfile::tempdir().unwrap();
    println!("Offline render, {seconds} s at 48 kHz, 64-sample blocks, {ROUNDS} interleaved rounds: medians of ns per oscillator-sample (real-time factor), and of each round's ratio\n");
    println!("| N | Patchbay | Pd | scsynth (one synth) | Pd / Patchbay | scsynth / Patchbay | Patchbay load | Pd load | scsynth load |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &ns {
        let (mut ours, mut pd, mut sc) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            ours.push(patchbay(n, seconds));
            if peers {
                pd.extend(peer(&tmp.path().join(format!("p{n}")), n, seconds, &kit, pd_render));
                sc.extend(peer(&tmp.path().join(format!("s{n}")), n, seconds, &kit, sc_render));
            }
        }
        let render = |runs: &[Run]| -> String {
            if runs.is_empty() {
                return "n/a".into();
            }
            let d = median(runs.iter().map(|r| r.0.as_secs_f64()).collect());
            format!("{:.3} ({:.0}x)", d * 1e9 / (n as f64 * RATE * seconds), seconds / d)
        };
        let load = |runs: &[Run]| -> String {
            if runs.is_empty() {
                return "n/a".into();
            }
            format!("{:.0} ms", 1000.0 * median(runs.iter().map(|r| r.1.as_secs_f64()).collect()))
        };
        // Each round's peer time over ours in the same round.
        let ratio = |runs: &[Run]| -> String {
            if runs.len() != ours.len() {
                return "n/a".into();
            }
            format!(
                "{:.2}x",
                median(runs.iter().zip(&ours).map(|(p, o)| p.0.as_secs_f64() / o.0.as_secs_f64()).collect())
            )
        };
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            render(&ours),
            render(&pd),
            render(&sc),
            ratio(&pd),
            ratio(&sc),
            load(&ours),
            load(&pd),
            load(&sc)
        );
    }
    println!("\nCeiling: the bare kernel (64-sample sine block, then summed into a mix), no engine: {:.3} ns per oscillator-sample", bare_kernel());
    println!(
        "The same with fundsp 0.23's `sine_hz` instead of our kernel: {:.3} ns per oscillator-sample",
        fundsp_sine()
    );
    if std::is_x86_feature_detected!("avx2") {
        println!("\n(kernels: AVX2+FMA, chosen at run time; the binary is built for baseline x86-64)");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per sample of `simd::sine` plus `simd::add` alone, 1000 phases, 64-sample blocks.
fn bare_kernel() -> f64 {
    use patchbay::engine::simd;
    let mut oscs: Vec<simd::Sine> =
        (0..1000).map(|i| simd::Sine::new(i as f64 / 1000.0, freq(i) / RATE)).collect();
    let mut block = [0.0f32; 64];
    ns_per_sample(&mut oscs, 3000, |osc, mix| {
        osc.fill(&mut block);
        simd::add(mix, &block);
    })
}

/// Like [`bare_kernel`], with fundsp's sine oscillator (the DSP library the
/// engine issue suggested) run the way fundsp runs blocks: `process` on 64
/// samples through `dyn AudioUnit`.
fn fundsp_sine() -> f64 {
    use fundsp::prelude32::*;
    let mut oscs: Vec<Box<dyn AudioUnit>> = (0..1000)
        .map(|i| {
            let mut unit: Box<dyn AudioUnit> = Box::new(sine_hz(freq(i) as f32));
            unit.set_sample_rate(RATE);
            unit
        })
        .collect();
    let input = BufferVec::new(0);
    let mut block = BufferVec::new(1);
    ns_per_sample(&mut oscs, 300, |osc, mix| {
        osc.process(64, &input.buffer_ref(), &mut block.buffer_mut());
        patchbay::engine::simd::add(mix, block.channel_f32(0));
    })
}

/// Runs `block` on every oscillator `rounds` times, each adding one 64-sample
/// block into a mix; ns per oscillator-sample.
fn ns_per_sample<T>(oscs: &mut [T], rounds: usize, mut block: impl FnMut(&mut T, &mut [f32])) -> f64 {
    let mut mix = [0.0f32; 64];
    let started = Instant::now();
    for _ in 0..rounds {
        for osc in oscs.iter_mut() {
            block(osc, &mut mix);
        }
    }
    let t = started.elapsed().as_secs_f64();
    assert!(std::hint::black_box(mix[3]).is_finite());
    t * 1e9 / (rounds as f64 * oscs.len() as f64 * 64.0)
}

/// One render: (render time, build time).
fn patchbay(n: usize, seconds: f64) -> Run {
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
    (render, load)
}

type Render = fn(&Path, usize, f64, &Path) -> Option<Duration>;

/// A peer's (render, load) times: a full run minus a 0-second run.
fn peer(dir: &Path, n: usize, seconds: f64, kit: &Path, render: Render) -> Option<Run> {
    std::fs::create_dir_all(dir).unwrap();
    let full = render(dir, n, seconds, kit)?;
    let empty = render(dir, n, 0.0, kit)?;
    Some((full.saturating_sub(empty), empty))
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
