//! What the benches that drive the real server share: starting the
//! `patchbay` binary and killing it when done.
#![allow(dead_code)] // each bench uses a different part of this

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The real server, killed when dropped.
pub(crate) struct Server {
    pub child: Child,
    /// What follows the banner: `http://127.0.0.1:PORT` for Patchbay.
    pub base: String,
}

impl Server {
    /// Starts the binary with its data in `dir`, a free HTTP port and these
    /// flags, and waits for the banner.
    pub(crate) fn start(dir: &Path, flags: &[String]) -> Server {
        Server::start_binary(Path::new(env!("CARGO_BIN_EXE_patchbay")), dir, flags)
    }

    /// [`Server::start`] with another build of the server (an older commit's, say).
    pub(crate) fn start_binary(binary: &Path, dir: &Path, flags: &[String]) -> Server {
        let mut cmd = Command::new(binary);
        cmd.args(["--port=0", "--discovery-port=0", "--log-level=warn"])
            .args(flags)
            .arg(format!("--data-dir={}", dir.display()));
        Server::spawn(&mut cmd, "Patchbay listening on ")
    }

    /// Starts any server that prints `banner` and then its address on its
    /// first line; `base` is what follows the banner.
    pub(crate) fn spawn(cmd: &mut Command, banner: &str) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first.strip_prefix(banner).unwrap_or_else(|| panic!("{first}")).to_owned();
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, base }
    }
}

impl Server {
    /// Loads a patch of `n` Value transforms, `v0` .. `v{n-1}` (each holding its index).
    pub(crate) fn load_values(&self, n: usize) {
        let transforms: Vec<String> =
            (0..n).map(|i| format!(r#"{{"name": "v{i}", "type": "Value", "args": "{i}"}}"#)).collect();
        let patch = format!(
            r#"{{"format": "patchbay-patch", "version": 1, "transforms": [{}]}}"#,
            transforms.join(",")
        );
        let res = reqwest::blocking::Client::new()
            .put(format!("{}/v1/engine/patch", self.base))
            .body(patch)
            .send()
            .unwrap();
        assert!(res.status().is_success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
