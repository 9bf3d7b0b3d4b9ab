//! What the benches that drive the real server share: starting the
//! `patchbay` binary and killing it when done.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The real server, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, from the banner.
    pub base: String,
}

impl Server {
    /// Starts the binary with its data in `dir`, a free HTTP port and these
    /// flags, and waits for the banner.
    pub fn start(dir: &Path, flags: &[String]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args(["--port=0", "--discovery-port=0", "--log-level=warn"])
            .args(flags)
            .arg(format!("--data-dir={}", dir.display()))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first.strip_prefix("Patchbay listening on ").unwrap().to_owned();
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
