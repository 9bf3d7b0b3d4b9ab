//! OSC request/reply against a plain C UDP echo server (the ceiling) and a
//! liblo echo server, with the same C client, side by side in one run.
//!
//! `cargo bench -p patchbay --bench osc` (needs gcc; liblo-dev for the liblo
//! peer, which runs with its client inside `unshare -n` because liblo binds
//! every interface). `BENCH_SECONDS` (default 5) and `BENCH_ROUNDS` (5).
//!
//! Patchbay is asked `current-value` of a Value's state and a set-value (a
//! bang into a Bang transform), each with 1 and with 64 requests in flight.
//! The client is `../shared/bench/oscbench.c`; medians of the rounds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench");
    let tmp = tempfile::tempdir().unwrap();
    let build = |name: &str, extra: &[&str]| -> Option<PathBuf> {
        let out = tmp.path().join(name);
        let ok = Command::new("gcc")
            .args(["-O2", "-o"])
            .arg(&out)
            .arg(kit.join(format!("{name}.c")))
            .args(extra)
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then_some(out)
    };
    let client = build("oscbench", &[]).expect("gcc builds the client");
    let echo = build("udpecho", &[]).expect("gcc builds the C echo");
    let loecho = build("loecho", &["-llo", "-lpthread"]);
    if loecho.is_none() {
        eprintln!("liblo-dev is missing: the liblo column is skipped");
    }

    let echo_port = free_port();
    let _echo = Guard(Command::new(&echo).args([echo_port.to_string(), "600".into()]).spawn().unwrap());
    let data = tempfile::tempdir().unwrap();
    let osc_port = free_port();
    let server = Patchbay::start(data.path(), osc_port);
    server.put_patch(
        r#"{"format": "patchbay-patch", "version": 1, "transforms": [
            {"name": "v", "type": "Value", "args": "42"}, {"name": "b", "type": "Bang"}]}"#,
    );
    std::thread::sleep(Duration::from_millis(300));

    let d = seconds.to_string();
    let run = |port: u16, addr: &str, w: u32| -> Run {
        let out = Command::new(&client)
            .args([
                "-p",
                &port.to_string(),
                "-m",
                "status",
                "-a",
                addr,
                "-r",
                addr,
                "-w",
                &w.to_string(),
                "-d",
                &d,
            ])
            .output()
            .unwrap();
        Run::parse(&out.stdout)
    };
    let run_liblo = |w: u32| -> Option<Run> {
        let lo = loecho.as_ref()?;
        let port = free_port();
        let script = format!(
            "ip link set lo up; {lo} {port} 600 >/dev/null 2>&1 & LO=$!; sleep 0.3; {c} -p {port} -m status -r /status -w {w} -d {d}; kill $LO",
            lo = lo.display(),
            c = client.display()
        );
        let out = Command::new("unshare").args(["-n", "sh", "-c", &script]).output().ok()?;
        out.status.success().then(|| Run::parse(&out.stdout))
    };

    println!(
        "\nOSC request/reply on loopback, {seconds} s per run, medians of {rounds} alternating rounds\n"
    );
    println!("| server | in flight | replies/s | p50 RTT | p99 RTT |\n|---|---|---|---|---|");
    for w in [1u32, 64] {
        let (mut c, mut lo, mut get, mut set) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            c.push(run(echo_port, "/status", w));
            lo.extend(run_liblo(w));
            get.push(run(osc_port, "/patch/v/value/current-value", w));
            set.push(run(osc_port, "/patch/b/in", w));
        }
        let (c, get, set) = (Run::median(c), Run::median(get), Run::median(set));
        let lo = (!lo.is_empty()).then(|| Run::median(lo));
        c.row("C UDP echo (ceiling)", w);
        if let Some(lo) = &lo {
            lo.row("liblo 0.31 echo", w);
        }
        get.row("Patchbay `current-value`", w);
        set.row("Patchbay set-value", w);
        println!(
            "| ratios, {w} in flight | current-value {:.0}% of C echo, p50 {:.2}x; set-value {:.0}%{} | | | |",
            100.0 * get.rate / c.rate,
            get.p50 / c.p50,
            100.0 * set.rate / c.rate,
            lo.map_or(String::new(), |lo| format!("; current-value {:.2}x liblo", get.rate / lo.rate)),
        );
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[derive(Debug, Clone, Copy)]
struct Run {
    rate: f64,
    p50: f64,
    p99: f64,
}

impl Run {
    fn parse(json: &[u8]) -> Run {
        let v: serde_json::Value =
            serde_json::from_slice(json).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(json)));
        Run {
            rate: v["replies_per_s"].as_f64().unwrap(),
            p50: v["rtt_us"]["p50"].as_f64().unwrap(),
            p99: v["rtt_us"]["p99"].as_f64().unwrap(),
        }
    }
    fn median(mut runs: Vec<Run>) -> Run {
        let mid = runs.len() / 2;
        let pick = |runs: &mut Vec<Run>, f: fn(&Run) -> f64| {
            runs.sort_by(|a, b| f(a).total_cmp(&f(b)));
            f(&runs[mid])
        };
        Run {
            rate: pick(&mut runs, |r| r.rate),
            p50: pick(&mut runs, |r| r.p50),
            p99: pick(&mut runs, |r| r.p99),
        }
    }
    fn row(&self, name: &str, w: u32) {
        println!("| {name} | {w} | {:.0} | {:.1} µs | {:.1} µs |", self.rate, self.p50, self.p99);
    }
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Patchbay(common::Server);

impl Patchbay {
    fn start(dir: &Path, osc_port: u16) -> Patchbay {
        Patchbay(common::Server::start(dir, &["--no-audio".into(), format!("--osc-port={osc_port}")]))
    }

    fn put_patch(&self, json: &str) {
        let res = reqwest::blocking::Client::new()
            .put(format!("{}/v1/engine/patch", self.0.base))
            .body(json.to_owned())
            .send()
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().unwrap_or_default());
    }
}
