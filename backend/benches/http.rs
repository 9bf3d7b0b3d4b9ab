//! HTTP benchmark of the real server binary against a bare axum hello-world,
//! measured side by side in the same run.
//!
//! `cargo bench -p patchbay --bench http` (needs `wrk`, which scripts/setup.sh installs).
//!
//! - `GET /v1/version` with wrk at 64 connections: requests/s, p50, p99;
//!   the same for the bare axum server's `GET /`;
//! - VM create+delete pairs per second, from a Rust load generator with 8 clients.
//!
//! Rounds alternate between the two servers and the medians are reported,
//! because this machine is noisy.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 3;
const SECONDS: u32 = 8;
const CONNECTIONS: u32 = 64;

fn main() {
    if std::env::args().any(|a| a == "--serve-hello") {
        return serve_hello();
    }
    let dir = tempfile::tempdir().unwrap();
    let patchbay = common::Server::start(dir.path(), &["--osc-port=0".into()]);
    let hello = common::Server::spawn(
        Command::new(std::env::current_exe().unwrap()).arg("--serve-hello"),
        "hello on ",
    );

    let mut ours = vec![];
    let mut bare = vec![];
    for round in 0..ROUNDS {
        eprintln!("round {}/{ROUNDS}", round + 1);
        ours.push(wrk(&format!("{}/v1/version", patchbay.base)));
        bare.push(wrk(&format!("{}/", hello.base)));
    }
    let pairs = create_delete_pairs(&patchbay.base);

    let (o, b) = (median(&ours), median(&bare));
    println!();
    println!("| server | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    println!("| Patchbay `GET /v1/version` | {:.0} | {:.3} ms | {:.3} ms |", o.rps, o.p50_ms, o.p99_ms);
    println!("| bare axum hello-world `GET /` | {:.0} | {:.3} ms | {:.3} ms |", b.rps, b.p50_ms, b.p99_ms);
    println!();
    println!("Patchbay / bare axum: {:.0}% of the requests/s (target >= 80%)", 100.0 * o.rps / b.rps);
    println!(
        "VM create+delete pairs: {:.0}/s with 8 clients (p50 {:.2} ms per pair, each write fsynced)",
        pairs.0, pairs.1
    );
}

#[derive(Clone, Copy, Debug)]
struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Medians of each figure over the rounds.
fn median(runs: &[Wrk]) -> Wrk {
    let mid = |f: fn(&Wrk) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Wrk { rps: mid(|w| w.rps), p50_ms: mid(|w| w.p50_ms), p99_ms: mid(|w| w.p99_ms) }
}

fn wrk(url: &str) -> Wrk {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{SECONDS}s"), "--latency", url])
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| -> &str {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk output:\n{text}"))
            .trim()
    };
    assert!(!text.contains("Non-2xx"), "errors during the run:\n{text}");
    Wrk {
        rps: field("Requests/sec:").parse().unwrap(),
        p50_ms: millis(field("50%")),
        p99_ms: millis(field("99%")),
    }
}

/// wrk prints `123.45us`, `1.23ms` or `1.02s`.
fn millis(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap();
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        other => panic!("unknown unit {other}"),
    }
}

/// Pairs per second, and the median time of one pair.
fn create_delete_pairs(base: &str) -> (f64, f64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let res = c.post(format!("{base}/v1/projects")).body(r#"{"name": "bench"}"#).send().await.unwrap();
        let project: serde_json::Value = res.json().await.unwrap();
        let vms = format!("{base}/v1/projects/{}/vpcs/vms", project["project_id"].as_str().unwrap());
        let deadline = Instant::now() + Duration::from_secs(SECONDS as u64);
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (c, vms) = (c.clone(), vms.clone());
                tokio::spawn(async move {
                    let mut times = vec![];
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let res = c.post(&vms).body(format!(r#"{{"name": "w{w}"}}"#)).send().await.unwrap();
                        assert_eq!(res.status(), 201);
                        let vm: serde_json::Value = res.json().await.unwrap();
                        let del = c
                            .delete(format!("{vms}/{}", vm["vm_id"].as_str().unwrap()))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(del.status(), 204);
                        times.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    times
                })
            })
            .collect();
        let started = Instant::now();
        let mut all = vec![];
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let rate = all.len() as f64 / started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        (rate, all[all.len() / 2])
    })
}

/// The reference: axum's hello-world, on the same tokio runtime settings as Patchbay.
fn serve_hello() {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("hello on http://{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}
