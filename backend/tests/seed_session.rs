//! Seed 000's curl session, run as written with the real `curl` against the
//! real binary: version, a project, two VMs, two UDP ports, two NIOs, start both.
//! Only the port (the test's server listens on a free one) and the ids the
//! server hands out are substituted.

mod common;

use std::process::Command;

use serde_json::{json, Value};

/// Runs one command line of the seed through the shell, as a user would type it.
fn shell(line: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(line).output().expect("sh and curl are installed");
    assert!(out.status.success(), "{line}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(line: &str) -> Value {
    let out = shell(line);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{line} printed {out:?}: {e}"))
}

#[test]
fn the_seed_curl_session_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    // The seed's own port ranges: consoles from 2000, tunnels from 10000.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args([
        "--port=0",
        "--osc-port=0",
        "--discovery-port=0",
        "--console-ports=2000-2999",
        "--udp-ports=10000-19999",
    ])
    .arg(format!("--data-dir={}", dir.path().display()));
    let server = common::Binary::spawn(cmd, dir.path());
    session("curl", "http", &format!("localhost:{}", server.addr.port()));
}

/// The same session over HTTPS, with a certificate made for the test and
/// curl told to trust it (`--cacert`), as a user of a self-signed server would.
#[test]
fn the_seed_curl_session_runs_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["--port=0", "--osc-port=0", "--discovery-port=0", "--console-ports=3000-3999"])
        .args(["--udp-ports=20000-29999", "--no-audio"])
        .arg(format!("--tls-cert={}", cert_file.display()))
        .arg(format!("--tls-key={}", key_file.display()))
        .arg(format!("--data-dir={}", dir.path().join("data").display()));
    let server = common::Binary::spawn(cmd, dir.path());
    let host = format!("localhost:{}", server.addr.port());
    // Plain HTTP to the TLS port gets nowhere.
    let plain =
        Command::new("curl").args(["-s", "-m", "5", &format!("http://{host}/v1/version")]).output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("version"));
    session(&format!("curl --cacert {}", cert_file.display()), "https", &host);
}

/// The seed's commands, with `curl` standing for `curl_command` and the
/// server at `scheme://host`.
fn session(curl_command: &str, scheme: &str, host: &str) {
    let typed = |line: &str| {
        assert!(line.starts_with("curl "), "{line}");
        line.replacen("curl ", &format!("{curl_command} "), 1).replace("\"http://", &format!("\"{scheme}://"))
    };
    let json = |line: &str| json(&typed(line));
    let shell = |line: &str| shell(&typed(line));

    let version = json(&format!(r#"curl "http://{host}/v1/version""#));
    assert!(version["version"].is_string(), "{version}");

    let project = json(&format!(r#"curl -X POST "http://{host}/v1/projects" -d '{{"name": "test"}}'"#));
    assert_eq!(project["temporary"], false);
    assert_eq!(project["name"], "test");
    let pid = project["project_id"].as_str().unwrap();

    let vm1 = json(&format!(
        r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms" -d '{{"name": "VPCS 1"}}'"#
    ));
    let vm2 = json(&format!(
        r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms" -d '{{"name": "VPCS 2"}}'"#
    ));
    for (vm, name) in [(&vm1, "VPCS 1"), (&vm2, "VPCS 2")] {
        assert_eq!(vm["name"], name);
        assert_eq!(vm["project_id"], pid);
        assert!(vm["vm_id"].as_str().unwrap().len() == 36);
    }
    // Consoles from 2000 upwards, as in the seed, unless another program holds them.
    let (c1, c2) = (vm1["console"].as_u64().unwrap(), vm2["console"].as_u64().unwrap());
    assert!(c1 >= 2000 && c2 > c1, "{c1} {c2}");
    let (id1, id2) = (vm1["vm_id"].as_str().unwrap(), vm2["vm_id"].as_str().unwrap());

    let u1 = json(&format!(r#"curl -X POST "http://{host}/v1/projects/{pid}/ports/udp" -d '{{}}'"#));
    let u2 = json(&format!(r#"curl -X POST "http://{host}/v1/projects/{pid}/ports/udp" -d '{{}}'"#));
    let (p1, p2) = (u1["udp_port"].as_u64().unwrap(), u2["udp_port"].as_u64().unwrap());
    assert!(p1 >= 10000 && p2 > p1, "{u1} {u2}");

    let nio1 = json(&format!(
        r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms/{id1}/adapters/0/ports/0/nio" -d '{{"lport": {p1}, "rhost": "127.0.0.1", "rport": {p2}, "type": "nio_udp"}}'"#
    ));
    assert_eq!(nio1, json!({"lport": p1, "rhost": "127.0.0.1", "rport": p2, "type": "nio_udp"}));
    let nio2 = json(&format!(
        r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms/{id2}/adapters/0/ports/0/nio" -d '{{"lport": {p2}, "rhost": "127.0.0.1", "rport": {p1}, "type": "nio_udp"}}'"#
    ));
    assert_eq!(nio2, json!({"lport": p2, "rhost": "127.0.0.1", "rport": p1, "type": "nio_udp"}));

    // The seed shows no output for start.
    let start1 =
        shell(&format!(r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms/{id1}/start" -d "{{}}""#));
    let start2 =
        shell(&format!(r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms/{id2}/start" -d '{{}}'"#));
    assert_eq!((start1.as_str(), start2.as_str()), ("", ""));

    let vms = json(&format!(r#"curl "http://{host}/v1/projects/{pid}/vpcs/vms""#));
    let states: Vec<&str> = vms.as_array().unwrap().iter().map(|vm| vm["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["started", "started"]);

    // And an error, in the seed's documented shape.
    let error = json(&format!(
        r#"curl -X POST "http://{host}/v1/projects/{pid}/vpcs/vms" -d '{{"name": "x", "console": {c1}}}'"#
    ));
    assert_eq!(error["status"], 409);
    assert!(error["message"].is_string());
}
