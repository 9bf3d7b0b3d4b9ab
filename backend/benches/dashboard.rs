//! The dashboard in headless Chromium with a patch of 500 transforms and
//! 600 connections: time from navigation to the first complete render of
//! the canvas, the work each pointer move costs while dragging a box in it,
//! and the gzip size of the page's wasm and JS.
//!
//! `cargo bench -p patchbay --bench dashboard` (needs `dist/` built by
//! `trunk build --release`, and Debian's chromium-driver; scripts/setup.sh
//! installs both). `BENCH_ROUNDS` (default 7) page loads, each followed by
//! a 60-move drag. `BENCH_BEFORE_DIST=path/to/dist` measures another build
//! of the page (an older commit's) in the same rounds, interleaved.
//!
//! The load is timed by a check the browser puts into the page before the
//! page's own scripts (see [`RENDERED`]).
//!
//! A drag move's cost is from dispatching the `pointermove` to the end of
//! the style and layout it causes (forced by reading the box's position
//! after the page's tasks ran), one move per animation frame: the script
//! and rendering work a frame must fit in 16 ms, without the paint.

#[path = "../tests/common/big_patch.rs"]
mod big_patch;
// The tests' browser helpers; this bench uses a few of them.
#[allow(dead_code)]
#[path = "../tests/common/browser.rs"]
mod browser;
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use big_patch::{big_patch, CONNECTIONS, TRANSFORMS};
use browser::ChromeDriver;

/// Put into the page before its own scripts run: from the first frame on,
/// looks each frame for every box and wire, and records the time of the
/// frame after the one that first had them all (that one was drawn).
/// Started any later (by WebDriver, once the page has loaded), the check
/// would measure WebDriver's latency, which on this machine is longer
/// than the page's own load.
const RENDERED: &str = r#"
(function check() {
  const b = document.querySelectorAll('#patch-canvas .box').length;
  const w = document.querySelectorAll('#patch-canvas .wire').length;
  if (b >= BOXES && w >= WIRES) requestAnimationFrame(() => (window.renderedAt = performance.now()));
  else requestAnimationFrame(check);
})();
"#;

/// Waits for the time [`RENDERED`] records.
const RENDERED_AT: &str = r#"
const done = arguments[arguments.length - 1];
(function wait() {
  if (window.renderedAt !== undefined) done(window.renderedAt);
  else setTimeout(wait, 20);
})();
"#;

/// Presses on a box and moves it 60 times, one move per frame; answers each move's cost in ms.
const DRAG: &str = r#"
const done = arguments[arguments.length - 1];
const svg = document.querySelector('#patch-canvas');
const body = document.querySelector('#patch-canvas [data-transform="a0"] .body');
const box = body.getBoundingClientRect();
const at = (x, y) => ({ clientX: x, clientY: y, bubbles: true, pointerId: 1, isPrimary: true, button: 0 });
body.dispatchEvent(new PointerEvent('pointerdown', at(box.x + 5, box.y + 5)));
const costs = [];
let i = 0;
function step() {
  if (i === 60) {
    svg.dispatchEvent(new PointerEvent('pointerup', at(box.x + 5 + 4 * i, box.y + 5 + 2 * i)));
    done(costs);
    return;
  }
  i += 1;
  const t0 = performance.now();
  svg.dispatchEvent(new PointerEvent('pointermove', at(box.x + 5 + 4 * i, box.y + 5 + 2 * i)));
  setTimeout(() => {
    document.querySelector('#patch-canvas [data-transform="a0"]').getBoundingClientRect();
    costs.push(performance.now() - t0);
    requestAnimationFrame(step);
  }, 0);
}
requestAnimationFrame(step);
"#;

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let this = std::env::current_dir().unwrap().join("../dist");
    assert!(this.join("index.html").exists(), "dist/ is not built: run `trunk build --release`");
    let mut builds = vec![("this build", this)];
    builds.extend(std::env::var_os("BENCH_BEFORE_DIST").map(|d| ("BENCH_BEFORE_DIST", PathBuf::from(d))));

    println!("\nThe dashboard with {TRANSFORMS} transforms and {CONNECTIONS} connections, {rounds} rounds\n");
    for (label, dist) in &builds {
        let (wasm, js) = gzip_sizes(dist);
        println!(
            "{label}: gzip -9 of the wasm {:.0} KB + JS {:.0} KB = {:.0} KB",
            wasm as f64 / 1000.0,
            js as f64 / 1000.0,
            (wasm + js) as f64 / 1000.0
        );
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut loads: Vec<Vec<f64>> = vec![vec![]; builds.len()];
    let mut moves: Vec<Vec<f64>> = vec![vec![]; builds.len()];
    runtime.block_on(async {
        let driver = ChromeDriver::start().await;
        for round in 0..rounds {
            for (i, (label, dist)) in builds.iter().enumerate() {
                let dir = tempfile::tempdir().unwrap();
                let flags = [format!("--dashboard={}", dist.display()), "--no-audio".into()];
                let server = common::Server::start(dir.path(), &flags);
                let put = reqwest::Client::new()
                    .put(format!("{}/v1/engine/patch", server.base))
                    .json(&big_patch())
                    .send()
                    .await
                    .unwrap();
                assert!(put.status().is_success());
                let browser = driver.browser().await;
                let check = RENDERED.replace("BOXES", &TRANSFORMS.to_string()).replace("WIRES", &CONNECTIONS.to_string());
                browser::on_every_document(&browser, &check).await;
                browser.goto(&format!("{}/", server.base)).await.unwrap();
                let shown = browser.execute_async(RENDERED_AT, vec![]).await.unwrap().as_f64().unwrap();
                let costs = browser.execute_async(DRAG, vec![]).await.unwrap();
                let costs: Vec<f64> = costs.as_array().unwrap().iter().filter_map(|c| c.as_f64()).collect();
                println!(
                    "round {round} {label}: rendered at {shown:.0} ms; drag move median {:.1} ms, max {:.1} ms",
                    median(&costs),
                    costs.iter().cloned().fold(0.0, f64::max)
                );
                loads[i].push(shown);
                moves[i].extend(costs);
                browser.close().await.unwrap();
            }
        }
    });
    println!();
    for (i, (label, _)) in builds.iter().enumerate() {
        let mut m = moves[i].clone();
        m.sort_by(f64::total_cmp);
        let p95 = m[(m.len() * 95 / 100).min(m.len() - 1)];
        println!(
            "{label}: load to complete render median {:.0} ms (target ≤ 300); drag move median {:.1} ms, p95 {p95:.1} ms (target ≤ 16)",
            median(&loads[i]),
            median(&m)
        );
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Bytes of `gzip -9` of the page's wasm files and of its JS files.
fn gzip_sizes(dist: &Path) -> (usize, usize) {
    let (mut wasm, mut js) = (0, 0);
    for entry in std::fs::read_dir(dist).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_owned();
        if ext != "wasm" && ext != "js" {
            continue;
        }
        let out = Command::new("gzip").arg("-9c").arg(&path).output().expect("gzip is installed");
        if ext == "wasm" {
            wasm += out.stdout.len();
        } else {
            js += out.stdout.len();
        }
    }
    (wasm, js)
}
