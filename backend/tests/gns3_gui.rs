//! The real GNS3 GUI's own client code against Patchbay (issue 14): gns3-gui
//! 1.3.13's HTTP client, servers, project, VPCS module and link classes,
//! driven headless by `peers/gns3_gui_client.py` through connect, a new
//! project, two VPCS nodes, a link, start, the consoles (banner, the node's
//! name as prompt, a ping across), save, stop, delete and close, with
//! Patchbay as the GUI's local server (`--local`, then shut down by the GUI)
//! and as a remote server.
//!
//! Needs the GUI, which `scripts/setup.sh` installs into a Python 3.6 venv
//! (`PATCHBAY_GNS3_GUI_PYTHON`); without it each test says it is skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn gui_python() -> Option<PathBuf> {
    let path = std::env::var_os("PATCHBAY_GNS3_GUI_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/patchbay/gns3-gui-1.3.13/bin/python")
    });
    path.exists().then_some(path)
}

fn drive(mode: &str) {
    let Some(python) = gui_python() else {
        eprintln!(
            "SKIPPED: gns3-gui 1.3.13 is not installed (scripts/setup.sh installs it where Python 3.6 is)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut flags = vec!["--no-audio"];
    if mode == "local" {
        flags.push("--local");
    }
    let mut server = common::Binary::start(&dir.path().join("data"), &flags);
    let peers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let out = Command::new(python)
        .arg(peers.join("gns3_gui_client.py"))
        .args([mode, "127.0.0.1", &server.addr.port().to_string()])
        .arg(dir.path().join("home"))
        .env("PYTHONPATH", peers.join("pyqt4shim"))
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("PASS"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if mode == "local" {
        // The GUI shut its local server down.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while server.child.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "the server did not stop on /v1/server/shutdown");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(server.child.try_wait().unwrap().unwrap().success());
    }
}

#[test]
fn the_gns3_gui_runs_a_lab_with_patchbay_as_its_local_server() {
    drive("local");
}

#[test]
fn the_gns3_gui_runs_a_lab_with_patchbay_as_a_remote_server() {
    drive("remote");
}
