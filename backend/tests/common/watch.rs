//! Watching the real server from outside: a port for its OSC, its memory,
//! and the quantiles of what a client measured. Shared by the hostile-client
//! test and the live-server fuzz bench (which includes this file by path).

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

/// A port free for both UDP and TCP, for the binary's OSC.
pub(crate) fn free_osc_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Resident memory of a process, in bytes.
pub(crate) fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is alive");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// The `q` quantile (0 to 1) of latencies sorted in place.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}
