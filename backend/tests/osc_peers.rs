//! OSC against outside peers: liblo's `oscsend` and `oscdump` (UDP and TCP)
//! and its C API (bundles, UDP and TCP),
//! python-osc (UDP, and TCP in both framings), osc.js (UDP, TCP, WebSocket),
//! python-oscquery, Pure Data's oscformat/oscparse,
//! and python-zeroconf browsing the DNS-SD announcement. Each test says
//! which tool it needs when it is missing (`scripts/setup.sh` installs them).

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::osc_client::{client, server};
use common::require;
use patchbay::osc::codec::Arg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liblo_oscsend_and_oscdump_talk_to_it() {
    require("oscsend", "liblo-tools");
    require("oscdump", "liblo-tools");
    let listen = UdpSocket::bind("127.0.0.1:0").unwrap();
    let reply_port = listen.local_addr().unwrap().port();
    drop(listen);
    let dir = tempfile::tempdir().unwrap();
    let running =
        common::start_in_process(dir.path(), &["--no-audio", &format!("--osc-reply-port={reply_port}")])
            .await;
    let port = running.osc_port;
    let out = tokio::task::spawn_blocking(move || {
        let mut dump = std::process::Command::new("oscdump")
            .args(["-L", &reply_port.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("oscdump starts");
        // Ready once it holds its port.
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", reply_port)).is_ok() {
            assert!(Instant::now() < deadline, "oscdump did not bind port {reply_port}");
            std::thread::sleep(Duration::from_millis(10));
        }
        let send = |args: &[&str]| {
            let ok = std::process::Command::new("oscsend")
                .args(["localhost", &port.to_string()])
                .args(args)
                .status()
                .unwrap();
            assert!(ok.success());
        };
        send(&["/documentation"]);
        send(&["/patch/add-transform", "ss", "Sinewave", "sine0"]);
        send(&["/patch/sine0/freq", "f", "220"]);
        send(&["/patch/sine0/freq/current-value"]);
        send(&["/patch/sine0/freq", "s", "oops"]);
        std::thread::sleep(Duration::from_millis(500));
        let _ = dump.kill();
        let out = dump.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .unwrap();
    for line in [
        format!("/documentation is 0 \"Patchbay {}\"", env!("CARGO_PKG_VERSION")),
        "/patch/add-transform i 0".into(),
        "/patch/sine0/freq i 0".into(),
        "/patch/sine0/freq/current-value if 0 220.000000".into(),
        "/patch/sine0/freq is -1 \"Cannot set incompatible data type\"".into(),
    ] {
        // oscdump prints: TIMETAG ADDRESS TYPES ARGS
        assert!(out.lines().any(|l| l.split_once(' ').map(|x| x.1) == Some(&line)), "{line:?} in:\n{out}");
    }
}

/// liblo's `osc.tcp://` URLs frame with a size prefix (OSC 1.0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liblo_oscsend_over_tcp() {
    require("oscsend", "liblo-tools");
    let (_dir, _server, port) = server().await;
    let url = format!("osc.tcp://127.0.0.1:{port}");
    client(port, move |c| {
        // oscsend connects, sends and leaves: each connection is served on its
        // own, so wait for each message's effect before the next.
        let send_then_wait = |args: &[&str], query: &str, until: &dyn Fn(&[Arg]) -> bool| {
            let ok = std::process::Command::new("oscsend").arg(&url).args(args).status().unwrap();
            assert!(ok.success(), "oscsend {url} {args:?}");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let reply = c.ask(query, vec![]);
                if until(&reply) {
                    return;
                }
                assert!(Instant::now() < deadline, "after oscsend {args:?}: {query} is still {reply:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let add = ["/patch/add-transform", "ss", "Value", "v"];
        send_then_wait(&add, "/patch/v/documentation", &|r| r.first() == Some(&Arg::Int(0)));
        let set = ["/patch/v/in", "i", "42"];
        send_then_wait(&set, "/patch/v/value/current-value", &|r| r == [Arg::Int(0), Arg::Int(42)]);
    })
    .await;
}

/// liblo's own API (tests/peers/liblo_client.c, built here with `cc -llo`)
/// over UDP and TCP: add, connect, a set in a bundle timed 200 ms ahead
/// (lo_bundle), a query and an error, every reply read by a liblo server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liblo_bundles_over_udp_and_tcp() {
    require("cc", "gcc");
    let source = std::env::current_dir().unwrap().join("tests/peers/liblo_client.c");
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("liblo_client");
    let built =
        std::process::Command::new("cc").arg("-o").arg(&binary).arg(&source).arg("-llo").output().unwrap();
    assert!(
        built.status.success(),
        "building the liblo client needs liblo-dev (scripts/setup.sh installs it): {}",
        String::from_utf8_lossy(&built.stderr)
    );
    for transport in ["udp", "tcp"] {
        let (_dir, _server, port) = server().await;
        let binary = binary.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&binary).args([transport, &port.to_string()]).output().unwrap()
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{transport}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.iter().filter(|l| !l.starts_with("waited")).copied().collect::<Vec<_>>(),
            [
                "/patch/add-transform i 0",
                "/patch/add-transform i 0",
                "/patch/v/out/connect i 0",
                "/patch/v/in i 0",
                "/patch/w/value/current-value if 0 330",
                "/patch/nope is -1 Invalid address",
            ],
            "{transport}"
        );
        let waited: f64 =
            lines[4].strip_prefix("waited ").and_then(|l| l.strip_suffix(" ms")).unwrap().parse().unwrap();
        assert!(
            (190.0..1000.0).contains(&waited),
            "{transport}: the bundle's reply came after {waited} ms, not 200"
        );
    }
}

/// python-osc over UDP builds the requests (add, connect, set, query, a
/// timed bundle) and parses the replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_osc_talks_to_it() {
    require_python("pythonosc", "python-osc");
    let (_dir, _server, port) = server().await;
    let script = format!(
        r#"
import socket
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_message import OscMessage
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
def ask(addr, *args):
    b = OscMessageBuilder(address=addr)
    for a in args:
        b.add_arg(a)
    s.sendto(b.build().dgram, ("127.0.0.1", {port}))
    m = OscMessage(s.recv(65536))
    print(m.address, m.params)
ask("/patch/add-transform", "Counter", "n")
ask("/patch/add-transform", "Value", "w")
ask("/patch/n/out/connect", "/patch/w/in")
ask("/patch/n/bang")
ask("/patch/n/bang")
ask("/patch/n/count/current-value")
ask("/patch/n/count/type-signature")
ask("/nope")
# A bundle 100 ms ahead: its reply comes once it ran.
from pythonosc.osc_bundle_builder import OscBundleBuilder
import time
b = OscBundleBuilder(time.time() + 0.1)
b.add_content(OscMessageBuilder(address="/patch/n/bang").build())
s.sendto(b.build().dgram, ("127.0.0.1", {port}))
m = OscMessage(s.recv(65536))
print(m.address, m.params)
ask("/patch/w/value/current-value")
"#
    );
    let stdout = run_python(script).await;
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "/patch/add-transform [0]",
            "/patch/add-transform [0]",
            "/patch/n/out/connect [0]",
            "/patch/n/bang [0]",
            "/patch/n/bang [0]",
            "/patch/n/count/current-value [0, 2]",
            "/patch/n/count/type-signature [0, 'i', 'State', 'Integer']",
            "/nope [-1, 'Invalid address']",
            "/patch/n/bang [0]",
            // The third bang sent 2 down the wire.
            "/patch/w/value/current-value [0, 2]",
        ]
    );
}

/// python-osc's TCP client in both of its framings (1.0: size-prefixed,
/// 1.1: SLIP): add, connect, a bundle, and queries of both ends of the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_osc_over_tcp_in_both_framings() {
    require_python("pythonosc", "python-osc");
    let (_dir, _server, port) = server().await;
    let script = format!(
        r#"
from pythonosc.tcp_client import SimpleTCPClient
from pythonosc.osc_bundle_builder import OscBundleBuilder, IMMEDIATELY
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_message import OscMessage
for mode in ("1.0", "1.1"):
    c = SimpleTCPClient("127.0.0.1", {port}, mode=mode, timeout=5)
    # get_messages waits for a timeout to end; take exactly what is due.
    def take(n):
        got = []
        while len(got) < n:
            packets = c.receive(5)
            assert packets, "no reply within 5 s"
            got += [OscMessage(p) for p in packets]
        for m in got:
            print(mode, m.address, m.params)
    def ask(addr, *args):
        c.send_message(addr, list(args))
        take(1)
    name = "n" + mode.replace(".", "")
    ask("/patch/add-transform", "Counter", name)
    ask("/patch/add-transform", "Value", "w" + name)
    ask("/patch/" + name + "/out/connect", "/patch/w" + name + "/in")
    b = OscBundleBuilder(IMMEDIATELY)
    for _ in range(2):
        b.add_content(OscMessageBuilder(address="/patch/" + name + "/bang").build())
    c.send(b.build())
    take(2)
    ask("/patch/" + name + "/count/current-value")
    ask("/patch/w" + name + "/value/current-value")
    c.close()
"#
    );
    let stdout = run_python(script).await;
    let expected: Vec<String> = ["1.0", "1.1"]
        .iter()
        .flat_map(|mode| {
            let name = format!("n{}", mode.replace('.', ""));
            [
                format!("{mode} /patch/add-transform [0]"),
                format!("{mode} /patch/add-transform [0]"),
                format!("{mode} /patch/{name}/out/connect [0]"),
                format!("{mode} /patch/{name}/bang [0]"),
                format!("{mode} /patch/{name}/bang [0]"),
                format!("{mode} /patch/{name}/count/current-value [0, 2]"),
                // The Counter sent 0 then 1 down the wire before stepping to 2.
                format!("{mode} /patch/w{name}/value/current-value [0, 1]"),
            ]
        })
        .collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}

/// osc.js (npm `osc`, as scripts/setup.sh installs it) over UDP, TCP (SLIP)
/// and a WebSocket in binary frames: add, connect, a bundle and a query on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osc_js_over_udp_tcp_and_websocket() {
    require("node", "nodejs");
    let modules = std::env::var("PATCHBAY_NODE_PATH").unwrap_or_else(|_| {
        format!("{}/.cache/patchbay/npm/node_modules", std::env::var("HOME").unwrap_or_default())
    });
    assert!(
        std::path::Path::new(&modules).join("osc/package.json").exists(),
        "this test needs osc.js in {modules}: run scripts/setup.sh, or npm install --prefix DIR osc@2.4.5 and set PATCHBAY_NODE_PATH=DIR/node_modules"
    );
    let (_dir, server, port) = server().await;
    let http_port = server.addr.port();
    let script = std::env::current_dir().unwrap().join("tests/peers/oscjs_client.js");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(&script)
            .args([port.to_string(), http_port.to_string()])
            .env("NODE_PATH", &modules)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for transport in ["udp", "tcp", "ws"] {
        let (v, w) = (format!("v_{transport}"), format!("w_{transport}"));
        let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with(&format!("{transport} "))).collect();
        assert_eq!(
            lines,
            [
                format!("{transport} /patch/add-transform [0]"),
                format!("{transport} /patch/add-transform [0]"),
                format!("{transport} /patch/{v}/out/connect [0]"),
                format!("{transport} /patch/{v}/in [0]"),
                format!("{transport} /patch/{v}/in [0]"),
                format!("{transport} /patch/{w}/value/current-value [0,43]"),
            ],
            "{stdout}"
        );
    }
}

/// Pure Data: `[oscformat]` into `[netsend -u -b]` asks (add, set, query,
/// documentation, an error, connect, and two bundles built byte by byte
/// with `[list prepend]`: one immediate, one timed), `[netreceive -u -b]` into `[oscparse]` reads
/// every reply (tests/peers/pd_client.pd; PORT and RPORT filled in here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pure_data_asks_and_decodes_every_reply() {
    require("pd", "puredata-core");
    let reply_port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let running =
        common::start_in_process(dir.path(), &["--no-audio", &format!("--osc-reply-port={reply_port}")])
            .await;
    let patch =
        std::fs::read_to_string(std::env::current_dir().unwrap().join("tests/peers/pd_client.pd")).unwrap();
    // The second bundle is timed 4 s after now (Pd has no wall clock to
    // read): its reply comes after the query that follows it.
    let tag = patchbay::osc::time::ntp_now() + (4u64 << 32);
    let tag = tag.to_be_bytes().map(|b| b.to_string()).join(" ");
    let patch = patch
        .replace("RPORT", &reply_port.to_string())
        .replace(" PORT", &format!(" {}", running.osc_port))
        .replace("TAG", &tag);
    let file = dir.path().join("client.pd");
    std::fs::write(&file, patch).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args(["30", "pd", "-nogui", "-nosound", "-noprefs", "-stderr", "-open"])
            .arg(&file)
            .output()
            .expect("pd runs")
    })
    .await
    .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let replies: Vec<&str> = log.lines().filter(|l| l.starts_with("reply: ")).collect();
    assert_eq!(
        replies,
        [
            "reply: patch add-transform 0",
            "reply: patch v in 0",
            "reply: patch v value current-value 0 42",
            "reply: patch v value type-signature 0 N State Any",
            "reply: patch v value documentation 0 The\\ stored\\ value",
            &format!("reply: documentation 0 Patchbay\\ {}", env!("CARGO_PKG_VERSION")),
            "reply: nope -1 Invalid\\ address",
            "reply: patch add-transform 0",
            "reply: patch v out connect 0",
            "reply: patch v in 0",
            "reply: patch w value current-value 0 7",
            "reply: patch v in 0",
        ],
        "{log}"
    );
    assert!(!log.contains("error"), "every reply decoded: {log}");
    // The timed bundle ran after the query, through the connection Pd made.
    // (Read in process: this server's replies go to Pd's port.)
    let w = running.app.model.engine.with(|e| e.current_value("/patch/w/value").unwrap());
    assert_eq!(w, patchbay::engine::Value::Float(9.0));
}

/// Runs a Python script (off the runtime) and gives its output; fails the
/// test with its output and errors when it fails.
async fn run_python(script: String) -> String {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python()).args(["-c", &script]).output().expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The Python with python-osc and zeroconf that scripts/setup.sh installs.
fn python() -> String {
    std::env::var("PATCHBAY_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Fails at once, saying what to install, when [`python`] lacks `module`.
fn require_python(module: &str, package: &str) {
    let found = std::process::Command::new(python())
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "this test needs the Python module {module} (PyPI {package}) in {}: run scripts/setup.sh, \
         or point PATCHBAY_PYTHON at a Python that has it",
        python()
    );
}

#[test]
fn dns_sd_announces_osc_to_python_zeroconf() {
    require_python("zeroconf", "zeroconf");
    require("unshare", "util-linux");
    let dir = tempfile::tempdir().unwrap();
    // At run time (cargo runs tests in the package's directory), not the
    // path of whichever clone sharing the target directory built this.
    let browse = std::env::current_dir().unwrap().join("tests/peers/dns_sd_browse.py");
    let script = format!(
        "ip link set lo up && ip link set lo multicast on && \
         {bin} --port=0 --osc-port=7707 --discovery-port=0 --no-audio --dns-sd --data-dir={data} \
           >/dev/null 2>&1 & P=$!; sleep 0.5; {py} {browse}; kill $P",
        browse = browse.display(),
        bin = env!("CARGO_BIN_EXE_patchbay"),
        data = dir.path().display(),
        py = python(),
    );
    let out = std::process::Command::new("unshare").args(["-n", "sh", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let found =
        text.lines().find(|l| l.contains("._osc._udp.local.")).unwrap_or_else(|| panic!("not found: {text}"));
    assert!(found.starts_with("Patchbay on "), "{found}");
    assert!(found.contains(" 7707 ['127.0.0.1'] "), "{found}");
    let version = format!("'version': '{}'", env!("CARGO_PKG_VERSION"));
    assert!(found.contains(&version) && found.contains("'tcp': 'slip,size'"), "{found}");
}

/// python-oscquery finds OSCQuery by DNS-SD, reads HOST_INFO and a node made
/// over OSC (in a network namespace of its own, as the test above).
#[test]
fn python_oscquery_finds_and_reads_the_namespace() {
    require_python("pythonoscquery", "python-oscquery");
    require("unshare", "util-linux");
    let dir = tempfile::tempdir().unwrap();
    let script_path = std::env::current_dir().unwrap().join("tests/peers/oscquery_client.py");
    let script = format!(
        "ip link set lo up && ip link set lo multicast on && \
         {bin} --port=0 --osc-port=7707 --oscquery-port=7709 --discovery-port=0 --no-audio --dns-sd \
           --data-dir={data} >/dev/null 2>&1 & P=$!; sleep 0.5; {py} {client}; R=$?; kill $P; exit $R",
        client = script_path.display(),
        bin = env!("CARGO_BIN_EXE_patchbay"),
        data = dir.path().display(),
        py = python(),
    );
    let out = std::process::Command::new("unshare").args(["-n", "sh", "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "service Patchbay on ",
        &format!("host Patchbay {} 7707 UDP", env!("CARGO_PKG_VERSION")),
        "node /patch/sine0/freq [440.0] READWRITE_VALUE Frequency in Hz",
        "missing None",
        "root ['/advance-clock', '/audio', '/lab']",
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "{line:?} in:\n{text}");
    }
    assert!(text.contains("._oscjson._tcp.local. 7709"), "{text}");
}
