//! No view waits on another: OSC `current-value` at half its measured
//! capacity, alone and then with 100 HTTP clients creating and deleting
//! projects and VMs, side by side in one run (rounds interleaved).
//!
//! `cargo bench -p patchbay --bench isolation`. `BENCH_SECONDS` (default 30)
//! per phase, `BENCH_ROUNDS` (default 3); `BENCH_BEFORE=path/to/patchbay`
//! measures another build (an older commit's) in the same rounds, at the
//! same rate. Reports OSC replies lost, OSC p50/p99 latency in each phase
//! and their ratio, and the HTTP clients' p99.
//!
//! The OSC client paces its requests (one every 1/rate s, from one thread)
//! and a second thread takes the replies; requests cycle over 16 Value
//! transforms so that a reply is matched to the oldest open request at its
//! address even when some are lost.

mod common;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay::osc::codec::{self, Message, Packet};

const VALUES: usize = 16;
const HTTP_CLIENTS: usize = 100;

fn main() {
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(30.0);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    // Another build to measure beside this one, in the same rounds (e.g. main before a change).
    let before = std::env::var_os("BENCH_BEFORE").map(std::path::PathBuf::from);
    let mut builds = vec![("this build", std::path::PathBuf::from(env!("CARGO_BIN_EXE_patchbay")))];
    builds.extend(before.map(|b| ("BENCH_BEFORE", b)));

    let rate = {
        let (data, server) = start(&builds[0].1);
        let capacity = capacity(server.1, Duration::from_secs(3));
        drop((server, data));
        println!("\nOSC capacity of this build (replies/s under a flood): {capacity:.0} replies/s; every build is paced at half: {:.0}/s, {seconds} s per phase, {rounds} rounds\n", capacity / 2.0);
        capacity / 2.0
    };
    println!("| round | build | phase | sent | lost | lost % | OSC p50 | OSC p99 | HTTP requests | HTTP p50 | HTTP p99 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let phase = Duration::from_secs_f64(seconds);
    let mut results: Vec<Vec<(Paced, Paced, Http)>> = builds.iter().map(|_| vec![]).collect();
    for round in 1..=rounds {
        for (b, (name, binary)) in builds.iter().enumerate() {
            let (_data, (server, port)) = start(binary);
            let alone = paced(port, rate, phase);
            alone.row(round, name, "OSC alone", None);
            let stop = Arc::new(AtomicBool::new(false));
            let load = {
                let (base, stop) = (server.base.clone(), stop.clone());
                std::thread::spawn(move || http_load(&base, &stop))
            };
            std::thread::sleep(Duration::from_secs(1)); // the clients get going
            let loaded = paced(port, rate, phase);
            stop.store(true, Ordering::Relaxed);
            let http = load.join().unwrap();
            loaded.row(round, name, "OSC + 100 HTTP clients", Some(&http));
            results[b].push((alone, loaded, http));
        }
    }
    println!();
    for ((name, _), runs) in builds.iter().zip(&results) {
        let med = |f: &dyn Fn(&(Paced, Paced, Http)) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let lost: f64 = runs.iter().map(|r| r.1.lost as f64).sum::<f64>()
            / runs.iter().map(|r| r.1.sent as f64).sum::<f64>();
        let (p99_alone, p99_loaded) = (med(&|r| r.0.p99), med(&|r| r.1.p99));
        println!(
            "{name}: with the HTTP load {:.3} % of OSC replies lost (target <= 0.1 %); OSC p99 {:.2} ms against {:.2} ms alone, \
             {:.1}x (medians of rounds; target <= 2x); HTTP p99 {:.0} ms",
            100.0 * lost,
            p99_loaded,
            p99_alone,
            p99_loaded / p99_alone,
            med(&|r| r.2.p99),
        );
    }
}

/// A server of `binary` with a patch of [`VALUES`] Value transforms; its data directory and OSC port.
fn start(binary: &std::path::Path) -> (tempfile::TempDir, (common::Server, u16)) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = common::Server::start_binary(
        binary,
        data.path(),
        &["--no-audio".into(), format!("--osc-port={port}")],
    );
    server.load_values(VALUES);
    (data, (server, port))
}

fn address(seq: usize) -> String {
    format!("/patch/v{}/value/current-value", seq % VALUES)
}

/// Replies per second under a flood: requests sent as fast as one thread
/// can for `time`, replies counted. The same traffic shape as the paced
/// phases (a window of requests in flight lets the server batch more and
/// overstates what it sustains when requests come on their own).
fn capacity(port: u16, time: Duration) -> f64 {
    let flood = paced(port, f64::INFINITY, time);
    (flood.sent - flood.lost) as f64 / time.as_secs_f64()
}

struct Paced {
    sent: usize,
    lost: usize,
    /// Milliseconds.
    p50: f64,
    p99: f64,
}

impl Paced {
    fn row(&self, round: usize, build: &str, phase: &str, http: Option<&Http>) {
        let http = http
            .map_or("| | |".to_owned(), |h| format!("{} | {:.1} ms | {:.0} ms |", h.requests, h.p50, h.p99));
        println!(
            "| {round} | {build} | {phase} | {} | {} | {:.3} % | {:.3} ms | {:.3} ms | {http}",
            self.sent,
            self.lost,
            100.0 * self.lost as f64 / self.sent as f64,
            self.p50,
            self.p99
        );
    }
}

/// The OSC client's threads ask for the priority the server's OSC thread
/// asks for (nice -10, granted to root or with `RLIMIT_NICE`): an OSC
/// controller is a latency-sensitive program, and at equal priority with
/// the load generator's threads the client, not the server, sets the
/// latency measured.
fn raise_priority() -> i32 {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    let _ = setpriority_process(me, -10);
    getpriority_process(me).unwrap_or(0)
}

/// Sends `rate` requests a second for `time` and waits for the replies.
/// The sender wakes every millisecond and sends what is due, so the client
/// costs little CPU beside the server.
fn paced(port: u16, rate: f64, time: Duration) -> Paced {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    // A client buffer of 8 MiB (as the server asks for), so that losses are the server's.
    let _ = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &(8usize << 20));
    // A flood (an infinite rate) sends what one thread can in `time`.
    let flood = rate.is_infinite();
    let total = if flood { 5_000_000 } else { (rate * time.as_secs_f64()) as usize };
    let start = Instant::now();
    // When each request left, in ns after `start` (0: not yet).
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let (socket, sent_at, done) = (socket.try_clone().unwrap(), sent_at.clone(), done.clone());
        std::thread::spawn(move || {
            raise_priority();
            let mut buf = [0u8; 1500];
            let mut latencies = Vec::with_capacity(total);
            // The k-th reply at address i answers request i + VALUES * k (a loss
            // before it makes this older, so latencies err long, never short).
            let mut replies = [0usize; VALUES];
            let mut quiet_since = None;
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        quiet_since = None;
                        let Ok(Packet::Message(m)) = codec::decode(&buf[..n]) else { continue };
                        let Some(i) = m.addr.strip_prefix("/patch/v").and_then(|r| r.split('/').next())
                        else {
                            continue;
                        };
                        let i: usize = i.parse().unwrap();
                        let seq = i + VALUES * replies[i];
                        replies[i] += 1;
                        let at = sent_at.get(seq).map_or(0, |t| t.load(Ordering::Acquire));
                        if at > 0 {
                            latencies.push((start.elapsed().as_nanos() as u64 - at) as f64 / 1e6);
                        }
                    }
                    Err(_) if done.load(Ordering::Relaxed) => {
                        // Everything sent; a second of silence means the rest are lost.
                        let since = *quiet_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > Duration::from_secs(1) {
                            return latencies;
                        }
                    }
                    Err(_) => {}
                }
            }
        })
    };
    let bytes: Vec<Vec<u8>> =
        (0..VALUES).map(|i| codec::encode_message(&Message::new(address(i), vec![]))).collect();
    let sent = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                raise_priority();
                let mut sent = 0usize;
                while sent < total && !(flood && start.elapsed() >= time) {
                    let due = if flood {
                        (sent + 64).min(total)
                    } else {
                        ((start.elapsed().as_secs_f64() * rate) as usize).min(total)
                    };
                    while sent < due {
                        sent_at[sent].store(start.elapsed().as_nanos().max(1) as u64, Ordering::Release);
                        socket.send(&bytes[sent % VALUES]).unwrap();
                        sent += 1;
                    }
                    if !flood {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                sent
            })
            .join()
            .unwrap()
    });
    done.store(true, Ordering::Relaxed);
    let mut latencies = receiver.join().unwrap();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
    };
    Paced {
        sent,
        lost: sent - latencies.len(),
        p50: pick(0.5).copied().unwrap_or(f64::NAN),
        p99: pick(0.99).copied().unwrap_or(f64::NAN),
    }
}

struct Http {
    requests: usize,
    p50: f64,
    p99: f64,
}

/// 100 clients, each creating a project and a VM in it and deleting both, until `stop`.
fn http_load(base: &str, stop: &Arc<AtomicBool>) -> Http {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let workers: Vec<_> = (0..HTTP_CLIENTS)
            .map(|w| {
                let (c, base, stop) = (c.clone(), base.to_owned(), stop.clone());
                tokio::spawn(async move {
                    let mut times = vec![];
                    let timed =
                        |times: &mut Vec<f64>, t: Instant| times.push(t.elapsed().as_secs_f64() * 1000.0);
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let res =
                            c.post(format!("{base}/v1/projects")).body(format!(r#"{{"name": "load{w}"}}"#));
                        let project: serde_json::Value = res.send().await.unwrap().json().await.unwrap();
                        timed(&mut times, t);
                        let p = format!("{base}/v1/projects/{}", project["project_id"].as_str().unwrap());
                        let t = Instant::now();
                        let res = c.post(format!("{p}/vpcs/vms")).body(format!(r#"{{"name": "pc{w}"}}"#));
                        let vm: serde_json::Value = res.send().await.unwrap().json().await.unwrap();
                        timed(&mut times, t);
                        let t = Instant::now();
                        let res =
                            c.delete(format!("{p}/vpcs/vms/{}", vm["vm_id"].as_str().unwrap())).send().await;
                        assert_eq!(res.unwrap().status(), 204);
                        timed(&mut times, t);
                        let t = Instant::now();
                        assert_eq!(c.delete(&p).send().await.unwrap().status(), 204);
                        timed(&mut times, t);
                    }
                    times
                })
            })
            .collect();
        let mut all = vec![];
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all.sort_by(f64::total_cmp);
        let pick = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
        Http { requests: all.len(), p50: pick(0.5), p99: pick(0.99) }
    })
}
