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

pub(crate) mod big_patch;
pub(crate) mod browser;
pub(crate) mod lab;
pub(crate) mod mutate;
pub(crate) mod osc_client;
pub(crate) mod stream;
pub(crate) mod watch;

/// Each server in a test binary gets port ranges no other one uses.
fn port_args() -> Vec<String> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Spread test binaries apart too, by process id.
    let slot = (std::process::id() as u16 % 40) * 8 + n % 8;
    let console = 20000 + slot * 50;
    let udp = 40000 + slot * 50;
    vec![
        format!("--console-ports={}-{}", console, console + 49),
        format!("--udp-ports={}-{}", udp, udp + 49),
        "--osc-port=0".into(),
        "--discovery-port=0".into(),
        "--oscquery-port=0".into(),
    ]
}

/// The server in this process, on a free port.
pub(crate) async fn start_in_process(data_dir: &Path, extra: &[&str]) -> Running {
    let mut args =
        vec!["patchbay".to_owned(), "--port=0".into(), format!("--data-dir={}", data_dir.display())];
    args.extend(port_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let config = Config::try_parse_from(args).unwrap();
    server::start(&config, config.hub()).await.unwrap()
}

/// The real `patchbay` binary, killed when dropped.
pub(crate) struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Binary {
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Binary {
        Self::spawn(Self::command(data_dir, extra), data_dir)
    }

    pub(crate) fn spawn(cmd: Command, data_dir: &Path) -> Binary {
        Self::launch(cmd, data_dir, true)
    }

    /// Starts the server, reads where it listens, then closes its stdout,
    /// as `patchbay | head -1` does.
    pub(crate) fn start_then_hang_up(data_dir: &Path) -> Binary {
        Self::launch(Self::command(data_dir, &[]), data_dir, false)
    }

    fn command(data_dir: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
        cmd.arg("--port=0").arg(format!("--data-dir={}", data_dir.display())).args(port_args()).args(extra);
        cmd
    }

    fn launch(mut cmd: Command, data_dir: &Path, keep_reading: bool) -> Binary {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).env("PATCHBAY_LOG", "warn");
        let mut child = cmd.spawn().expect("the patchbay binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("the server prints where it listens").unwrap();
        let url = first
            .strip_prefix("Patchbay listening on http://")
            .or_else(|| first.strip_prefix("Patchbay listening on https://"))
            .unwrap_or_else(|| panic!("{first}"));
        let addr = url.parse().unwrap();
        if keep_reading {
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
        }
        Binary { child, addr, data_dir: data_dir.to_owned() }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit, at most `limit`.
    pub(crate) fn interrupt(mut self, limit: Duration) -> std::process::ExitStatus {
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
pub(crate) struct TempServer {
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl TempServer {
    pub(crate) async fn start(extra: &[&str]) -> TempServer {
        let dir = tempfile::tempdir().unwrap();
        let running = start_in_process(dir.path(), extra).await;
        TempServer { running, dir }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }
}

/// A raw TCP console client: strips telnet negotiation, waits for text.
pub(crate) struct Console {
    stream: tokio::net::TcpStream,
    /// Everything received so far, negotiation removed, CR LF turned into LF.
    pub transcript: String,
    seen: usize,
}

impl Console {
    pub(crate) async fn connect(port: u16) -> Console {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        Console { stream, transcript: String::new(), seen: 0 }
    }

    /// Reads until `text` appears after what earlier waits consumed; returns what came before it and it.
    pub(crate) async fn expect(&mut self, text: &str) -> String {
        use tokio::io::AsyncReadExt;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(at) = self.transcript[self.seen..].find(text) {
                let end = self.seen + at + text.len();
                let got = self.transcript[self.seen..end].to_owned();
                self.seen = end;
                return got;
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {text:?} in time; transcript:\n{}", self.transcript))
                .unwrap();
            assert!(n > 0, "console closed while waiting for {text:?}; transcript:\n{}", self.transcript);
            self.transcript.push_str(&strip_telnet(&buf[..n]));
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Types a command and returns its output up to the next prompt (the echo excluded).
    pub(crate) async fn run(&mut self, line: &str, prompt: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.expect(&format!("{line}\n")).await;
        let out = self.expect(prompt).await;
        out[..out.len() - prompt.len()].to_owned()
    }

    /// True once the server has closed the connection.
    pub(crate) async fn closed(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.transcript.push_str(&strip_telnet(&buf[..n])),
                Err(_) => return false,
            }
        }
    }
}

/// Removes IAC sequences and carriage returns.
pub(crate) fn strip_telnet(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            255 if i + 1 < bytes.len() && (251..=254).contains(&bytes[i + 1]) => i += 3,
            255 => i += 2,
            b'\r' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Fails the test at once, saying what to install, when an outside peer is
/// missing (the full suite runs every peer test; `scripts/setup.sh` installs them).
pub(crate) fn require(tool: &str, package: &str) {
    let found = Path::new(tool).is_absolute() && Path::new(tool).exists()
        || std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    assert!(found, "this test needs `{tool}` (Debian package {package}): run scripts/setup.sh, or apt-get install {package}");
}

/// POSTs `body` and returns the answer as JSON (the API's objects and errors both are).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    body: &str,
) -> serde_json::Value {
    client.post(url).body(body.to_owned()).send().await.unwrap().json().await.unwrap()
}
