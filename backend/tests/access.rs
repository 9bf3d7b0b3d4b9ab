//! Access control against the real binary (issue 17): tokens made with
//! `patchbay token new` and checked on HTTP and WebSockets, WebSockets from a
//! foreign page refused while the server stays up, OSC from outside
//! `--osc-allow` dropped and counted, and no exposed start without tokens.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::watch::free_osc_port;
use common::Binary;
use patchbay::osc::codec::{self, Arg, Message, Packet};
use reqwest::Client;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

fn patchbay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_patchbay"))
}

/// `patchbay token new`: the token on stdout, nothing else there.
fn new_token(file: &std::path::Path, role: &str) -> String {
    let out = patchbay().args(["token", "new", "--role", role, "--token-file"]).arg(file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.len(), 64, "{token}");
    token
}

/// The handshake's HTTP status, or 101.
async fn ws_status(url: &str, headers: &[(&'static str, &str)]) -> u16 {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, res)) => res.status().as_u16(),
        Err(WsError::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[tokio::test]
async fn tokens_guard_every_route_and_roles_limit_what_they_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.txt");
    let admin = new_token(&file, "admin");
    let viewer = new_token(&file, "viewer");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!("admin {admin}")) && text.contains(&format!("viewer {viewer}")));

    let server =
        Binary::start(&dir.path().join("data"), &["--no-audio", &format!("--token-file={}", file.display())]);
    let c = Client::new();
    let res = c.get(server.url("/v1/version")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], 401, "{body}");
    let res = c.get(server.url("/v1/version")).bearer_auth("0".repeat(64)).send().await.unwrap();
    assert_eq!(res.status(), 401, "a wrong token");
    let res = c.get(server.url("/v1/version")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // GNS3's clients send Basic; the password is the token.
    let res = c.get(server.url("/v1/projects")).basic_auth("gns3", Some(&admin)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let create =
        |token: &str| c.post(server.url("/v1/projects")).bearer_auth(token).body(r#"{"name": "x"}"#).send();
    assert_eq!(create(&viewer).await.unwrap().status(), 403, "a viewer only reads");
    assert_eq!(create(&admin).await.unwrap().status(), 201);

    let ws = format!("ws://{}/v1/notifications/ws", server.addr);
    assert_eq!(ws_status(&ws, &[]).await, 401);
    let offered = format!("patchbay, patchbay.token.{viewer}");
    assert_eq!(ws_status(&ws, &[("sec-websocket-protocol", &offered)]).await, 101);
    // The token is never logged: the log goes to stderr, which this test
    // does not capture, so the data directory holds nothing of it either.
    let mut found = false;
    for entry in walk(&dir.path().join("data")) {
        found |= std::fs::read(&entry).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&admin));
    }
    assert!(!found, "a token was written to the data directory");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn a_foreign_page_cannot_open_the_bridge_or_quit_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(dir.path(), &["--no-audio"]);
    let evil = [("origin", "http://evil.example")];
    for path in ["/v1/osc/ws", "/v1/notifications/ws"] {
        let url = format!("ws://{}{path}", server.addr);
        assert_eq!(ws_status(&url, &evil).await, 403, "{path}");
        assert_eq!(ws_status(&url, &[]).await, 101, "{path}: a client that is no page");
    }
    // The page's simple request: a text/plain POST.
    let res = Client::new()
        .post(server.url("/v1/projects"))
        .header("content-type", "text/plain")
        .header("origin", "http://evil.example")
        .body(r#"{"name": "csrf"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let rebinding = Client::new().get(server.url("/v1/version")).header("host", "evil.example:3080").send();
    assert_eq!(rebinding.await.unwrap().status(), 421);
    let projects: Vec<serde_json::Value> =
        Client::new().get(server.url("/v1/projects")).send().await.unwrap().json().await.unwrap();
    assert!(projects.is_empty(), "{projects:?}");
}

fn decode(bytes: &[u8]) -> Message {
    match codec::decode(bytes).unwrap() {
        Packet::Message(m) => m,
        p => panic!("{p:?}"),
    }
}

#[tokio::test]
async fn osc_from_outside_the_allowed_networks_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let osc_port = free_osc_port();
    let server = Binary::start(
        dir.path(),
        &["--no-audio", &format!("--osc-port={osc_port}"), "--osc-allow=127.0.0.1/32"],
    );
    let server_addr: std::net::SocketAddr = ([127, 0, 0, 1], osc_port).into();
    let ask = codec::encode_message(&Message::new("/main_clock/documentation", vec![]));
    tokio::task::spawn_blocking(move || {
        // 127.0.0.2 is loopback too, but not in 127.0.0.1/32.
        let outsider = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is a loopback address");
        outsider.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        for _ in 0..3 {
            outsider.send_to(&ask, server_addr).unwrap();
        }
        let mut buf = [0u8; 1500];
        assert!(outsider.recv_from(&mut buf).is_err(), "no reply to a refused source");
        let insider = UdpSocket::bind("127.0.0.1:0").unwrap();
        insider.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let count =
            codec::encode_message(&Message::new("/osc_server/communicator/refused/current-value", vec![]));
        insider.send_to(&count, server_addr).unwrap();
        let (n, _) = insider.recv_from(&mut buf).expect("an allowed source gets its reply");
        assert_eq!(decode(&buf[..n]).args, vec![Arg::Int(0), Arg::Int(3)]);
    })
    .await
    .unwrap();
    // TCP from the outsider is closed at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stream = socket.connect(server_addr).await.unwrap();
    let mut b = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut b)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    let status: serde_json::Value =
        Client::new().get(server.url("/v1/engine")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["osc_refused"], 4, "three datagrams and one connection: {status}");
}

#[test]
fn an_exposed_address_without_tokens_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = patchbay()
        .args(["--host=0.0.0.0", "--port=0", "--osc-port=0", "--discovery-port=0", "--no-audio"])
        .arg(format!("--data-dir={}", dir.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patchbay token new") && err.contains("--insecure-no-auth"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}
