//! Helpers shared by the integration tests: the real server, in process or
//! as the real binary, each with its own data directory and port ranges.
#![allow(dead_code)] // each test binary uses a different part of this

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use clap::Parser;
use patchbay::server::{self, Config, Running};

/// Each server in a test binary gets port ranges no other one uses.
fn port_args() -> Vec<String> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Spread test binaries apart too, by process id.
    let slot = (std::process::id() as u16 % 40) * 8 + n % 8;
    let console = 20000 + slot * 50;
    let udp = 40000 + slot * 50;
    vec![format!("--console-ports={}-{}", console, console + 49), format!("--udp-ports={}-{}", udp, udp + 49)]
}

/// The server in this process, on a free port.
pub async fn start_in_process(data_dir: &Path, extra: &[&str]) -> Running {
    let mut args =
        vec!["patchbay".to_owned(), "--port=0".into(), format!("--data-dir={}", data_dir.display())];
    args.extend(port_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let config = Config::try_parse_from(args).unwrap();
    server::start(&config, config.hub()).await.unwrap()
}

/// The real `patchbay` binary, killed when dropped.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Binary {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Binary {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        cmd.arg("--port=0").arg(format!("--data-dir={}", data_dir.display())).args(port_args()).args(extra);
        Self::spawn(cmd, data_dir)
    }

    pub fn spawn(mut cmd: Command, data_dir: &Path) -> Binary {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).env("PATCHBAY_LOG", "warn");
        let mut child = cmd.spawn().expect("the patchbay binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("the server prints where it listens").unwrap();
        let url = first.strip_prefix("Patchbay listening on http://").unwrap_or_else(|| panic!("{first}"));
        let addr = url.parse().unwrap();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Binary { child, addr, data_dir: data_dir.to_owned() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit, at most `limit`.
    pub fn interrupt(mut self, limit: Duration) -> std::process::ExitStatus {
        Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status().unwrap();
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "server did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-process server with its own temporary data directory.
pub struct TempServer {
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl TempServer {
    pub async fn start(extra: &[&str]) -> TempServer {
        let dir = tempfile::tempdir().unwrap();
        let running = start_in_process(dir.path(), extra).await;
        TempServer { running, dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }
}
