//! The real GNS3 GUI's own client code against Patchbay (issue 14): gns3-gui
//! 1.3.13's HTTP client, servers, project, VPCS module and link classes,
//! driven headless by `peers/gns3_gui_client.py` through connect, a new
//! project, two VPCS nodes, a link, start, the consoles (banner, the node's
//! name as prompt, a ping across), save, stop, delete and close, with
//! Patchbay as the GUI's local server (found running with `--local`, or
//! started by the GUI itself as it starts gns3server; shut down by the GUI
//! either way) and as a remote server.
//!
//! Needs the GUI, which `scripts/setup.sh` installs into a Python 3.6 venv
//! (`PATCHBAY_GNS3_GUI_PYTHON`); without it each test says it is skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The GUI's Python, or `None` after saying the test is skipped.
fn gui_python() -> Option<PathBuf> {
    let path = std::env::var_os("PATCHBAY_GNS3_GUI_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/patchbay/gns3-gui-1.3.13/bin/python")
    });
    if !path.exists() {
        eprintln!(
            "SKIPPED: gns3-gui 1.3.13 is not installed (scripts/setup.sh installs it where Python 3.6 is)"
        );
        return None;
    }
    Some(path)
}

/// The client script, as `mode`, against a server on `port`.
fn gui(python: &PathBuf, dir: &std::path::Path, mode: &str, port: u16) -> Command {
    let peers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let mut cmd = Command::new(python);
    cmd.arg(peers.join("gns3_gui_client.py"))
        .args([mode, "127.0.0.1", &port.to_string()])
        .arg(dir.join("home"))
        .env("PYTHONPATH", peers.join("pyqt4shim"))
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("XDG_RUNTIME_DIR", dir);
    cmd
}

/// Runs the client script in a process group of its own, its output in
/// files (a server the GUI starts inherits them: pipes would stay open
/// while it lives). A GUI stuck on a dialog no one will close, and any
/// server it started, are killed after `LIMIT`.
fn run(mut cmd: Command, dir: &std::path::Path) -> std::process::Output {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    const LIMIT: Duration = Duration::from_secs(120);
    let (out, err) = (dir.join("client.out"), dir.join("client.err"));
    cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
    let mut child = cmd.process_group(0).spawn().unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            break child.wait().unwrap_or(std::process::ExitStatus::from_raw(9));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::process::Output { status, stdout: std::fs::read(out).unwrap(), stderr: std::fs::read(err).unwrap() }
}

fn passed(out: std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("PASS"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn drive(mode: &str) {
    let Some(python) = gui_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut flags = vec!["--no-audio"];
    if mode == "local" {
        flags.push("--local");
    }
    let mut server = common::Binary::start(&dir.path().join("data"), &flags);
    passed(run(gui(&python, dir.path(), mode, server.addr.port()), dir.path()));
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

/// As GNS3 users run it: the GUI starts its local server from the path in its
/// settings (`patchbay --host=... --port=... --local --log=...`), and stops it.
#[test]
fn the_gns3_gui_starts_patchbay_as_its_local_server() {
    let Some(python) = gui_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The GUI passes only its own flags; the rest reaches the server it starts by its environment.
    let mut cmd = gui(&python, dir.path(), "local", port);
    cmd.arg(env!("CARGO_BIN_EXE_patchbay"))
        .env("PATCHBAY_DATA_DIR", dir.path().join("data"))
        .env("PATCHBAY_CONSOLE_PORTS", "6100-6199")
        .env("PATCHBAY_UDP_PORTS", "31000-31099")
        .env("PATCHBAY_OSC_PORT", "0")
        .env("PATCHBAY_DISCOVERY_PORT", "0")
        .env("PATCHBAY_NO_AUDIO", "true");
    let out = run(cmd, dir.path());
    let log =
        std::fs::read_to_string(dir.path().join("home/.config/GNS3/gns3_server.log")).unwrap_or_default();
    passed(out);
    assert!(
        log.contains("POST /v1/server/shutdown"),
        "the server's log (--log) says it was shut down: {log:?}"
    );
}

#[test]
fn the_gns3_gui_runs_a_lab_with_patchbay_as_a_remote_server() {
    drive("remote");
}
