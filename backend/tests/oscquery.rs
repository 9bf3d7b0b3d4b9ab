//! OSCQuery against the real server, in process: the tree, attributes,
//! HOST_INFO, errors, the door in front, and that every node says what the
//! OSW queries say of the same address. (python-oscquery: `osc_peers.rs`.)

mod common;

use patchbay::osc::codec::Arg;
use serde_json::{json, Value as Json};

use common::osc_client::{client, s};

/// A free TCP port for the OSCQuery listener.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server with OSCQuery on: its directory, the server, its OSC port and the OSCQuery base URL.
pub(crate) async fn server_with_oscquery() -> (tempfile::TempDir, patchbay::server::Running, u16, String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let running =
        common::start_in_process(dir.path(), &["--no-audio", &format!("--oscquery-port={port}")]).await;
    assert_eq!(running.oscquery_port, Some(port));
    let osc = running.osc_port;
    (dir, running, osc, format!("http://127.0.0.1:{port}"))
}

async fn get(url: &str) -> (u16, Json) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Json::Null } else { serde_json::from_str(&text).unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_as_oscquery_json() {
    let (_dir, running, osc, base) = server_with_oscquery().await;
    running.app.model.engine.with(|e| {
        e.add_transform("/patch", "Sinewave", "sine0", "").unwrap();
        e.add_transform("/patch", "Square", "pulse", "").unwrap();
        e.add_transform("/patch", "Patch", "sub", "").unwrap();
        e.add_transform("/patch/sub", "Value", "v", "").unwrap();
    });
    let (status, root) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert_eq!(root["FULL_PATH"], "/");
    for child in ["patch", "lab", "main_clock", "transform-types", "osw-quit"] {
        assert_eq!(root["CONTENTS"][child]["FULL_PATH"], format!("/{child}"), "{child}");
    }
    // A state: its type, value, access and description.
    let freq = &root["CONTENTS"]["patch"]["CONTENTS"]["sine0"]["CONTENTS"]["freq"];
    assert_eq!(freq["TYPE"], "f");
    assert_eq!(freq["VALUE"], json!([440.0]));
    assert_eq!(freq["ACCESS"], 3);
    assert_eq!(freq["DESCRIPTION"], "Frequency in Hz");
    // Deeper levels, and methods as write-only nodes with their argument types.
    assert_eq!(root["CONTENTS"]["patch"]["CONTENTS"]["sub"]["CONTENTS"]["v"]["FULL_PATH"], "/patch/sub/v");
    let add = &root["CONTENTS"]["patch"]["CONTENTS"]["add-transform"];
    assert_eq!((add["ACCESS"].clone(), add["TYPE"].clone()), (json!(2), json!("ss")));
    let bang = &root["CONTENTS"]["osw-quit"];
    assert_eq!(
        (bang["TYPE"].clone(), bang["VALUE"].clone()),
        (json!("I"), json!([null])),
        "no arguments: an impulse"
    );
    // A node with a value has no CONTENTS (strict clients refuse both); what
    // is left out of the tree is still served at its own path.
    assert_eq!(freq.get("CONTENTS"), None);
    // RANGE where a port says which values mean something, and only there.
    assert_eq!(freq.get("RANGE"), None, "a frequency has no ends");
    let (_, width) = get(&format!("{base}/patch/pulse/width")).await;
    assert_eq!(width["RANGE"], json!([{ "MIN": 0.0, "MAX": 1.0 }]));
    assert_eq!(
        get(&format!("{base}/patch/pulse/width?RANGE")).await.1,
        json!({ "RANGE": [{ "MIN": 0.0, "MAX": 1.0 }] })
    );
    assert_eq!(root["CONTENTS"]["main_clock"]["TYPE"], "t");
    let (_, seconds) = get(&format!("{base}/main_clock/seconds")).await;
    assert_eq!((seconds["ACCESS"].clone(), seconds["TYPE"].clone()), (json!(1), json!("d")));
    let (_, connect) = get(&format!("{base}/patch/sine0/samplesOut/connect")).await;
    assert_eq!((connect["ACCESS"].clone(), connect["TYPE"].clone()), (json!(2), json!("s")));

    // A node by its path, and one attribute alone, following a change made over OSC.
    assert_eq!(get(&format!("{base}/patch/sine0/freq")).await.1["FULL_PATH"], "/patch/sine0/freq");
    client(osc, |c| assert_eq!(c.ask("/patch/sine0/freq", vec![Arg::Float(220.0)]), vec![Arg::Int(0)])).await;
    assert_eq!(get(&format!("{base}/patch/sine0/freq?VALUE")).await, (200, json!({ "VALUE": [220.0] })));
    assert_eq!(get(&format!("{base}/patch/sine0/freq/?TYPE")).await, (200, json!({ "TYPE": "f" })));
    assert_eq!(get(&format!("{base}/patch?VALUE")).await, (204, Json::Null), "a container has no value");
    let (status, error) = get(&format!("{base}/patch?COLOUR")).await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap().contains("Unknown attribute"), "{error}");
    assert_eq!(get(&format!("{base}/patch/nothing")).await.0, 404);

    // HOST_INFO names the OSC port and claims only what is implemented.
    let (_, info) = get(&format!("{base}/?HOST_INFO")).await;
    assert_eq!(info["OSC_PORT"], osc);
    assert_eq!(info["OSC_TRANSPORT"], "UDP");
    assert_eq!(info["EXTENSIONS"]["VALUE"], true);
    assert_eq!(info["EXTENSIONS"]["LISTEN"], true);
    assert_eq!(info["EXTENSIONS"]["RANGE"], true);

    // The lab is there too.
    let create = serde_json::from_value(json!({ "name": "oq" })).unwrap();
    let project = running.app.model.lab.create_project(create).await.unwrap();
    let path = format!("/lab/projects/{}", project.project_id);
    let (status, node) = get(&format!("{base}{path}")).await;
    assert_eq!(status, 200, "{node}");
    assert_eq!(node["FULL_PATH"], path);
    assert_eq!(node["CONTENTS"]["name"]["VALUE"], json!(["oq"]));
}

/// Every node under /patch says in OSCQuery what `documentation` and
/// `type-signature` say over OSC: one tree, two views.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscquery_and_the_osw_queries_agree() {
    let (_dir, running, osc, base) = server_with_oscquery().await;
    running.app.model.engine.with(|e| {
        e.add_transform("/patch", "Sinewave", "sine0", "").unwrap();
        e.add_transform("/patch", "Counter", "n", "").unwrap();
    });
    let (_, tree) = get(&format!("{base}/patch")).await;
    let mut nodes = vec![];
    let mut stack = vec![&tree];
    while let Some(node) = stack.pop() {
        nodes.push(node.clone());
        if let Some(contents) = node["CONTENTS"].as_object() {
            stack.extend(contents.values());
        }
    }
    assert!(nodes.len() > 20, "{} nodes", nodes.len());
    client(osc, move |c| {
        for node in &nodes {
            let path = node["FULL_PATH"].as_str().unwrap();
            let doc = c.ask(&format!("{path}/documentation"), vec![]);
            assert_eq!(doc, vec![Arg::Int(0), s(node["DESCRIPTION"].as_str().unwrap())], "{path}");
            if node["ACCESS"] == 1 || node["ACCESS"] == 3 {
                // A state: its declared type, as type-signature gives it.
                let sig = c.ask(&format!("{path}/type-signature"), vec![]);
                assert_eq!(sig[1], s(node["TYPE"].as_str().unwrap()), "{path}: {sig:?}");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oscquery_port_has_the_same_door() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "admin s3cret-token-for-the-test\n").unwrap();
    let port = free_port();
    let running = common::start_in_process(
        dir.path(),
        &["--no-audio", &format!("--oscquery-port={port}"), &format!("--token-file={}", tokens.display())],
    )
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();
    // A name that could be a DNS rebinding: refused.
    let r = http.get(format!("{base}/")).header("Host", "attacker.example").send().await.unwrap();
    assert_eq!(status(r), 421);
    // With a token file, every path needs a token, not only /v1.
    assert_eq!(status(http.get(format!("{base}/patch")).send().await.unwrap()), 401);
    let r = http.get(format!("{base}/patch")).bearer_auth("s3cret-token-for-the-test").send().await.unwrap();
    assert_eq!(status(r), 200);
    drop(running);
}

/// The WebSocket: LISTEN streams a value as binary OSC (its value at once,
/// then each change), path events follow the patch, IGNORE stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_streams_values_and_path_events_follow_changes() {
    use futures_util::{SinkExt, StreamExt};
    use patchbay::osc::codec::{self, Message, Packet};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message as Ws;
    let (_dir, running, osc, base) = server_with_oscquery().await;
    running.app.model.engine.with(|e| e.add_transform("/patch", "Sinewave", "sine0", "").unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(base.replace("http", "ws") + "/").await.unwrap();
    ws.send(Ws::Text(r#"{"COMMAND": "LISTEN", "DATA": "/patch/sine0/freq"}"#.into())).await.unwrap();
    let mut recv = async || -> Result<Message, Json> {
        loop {
            let frame =
                tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
            match frame {
                Ws::Binary(b) => match codec::decode(&b).unwrap() {
                    Packet::Message(m) => return Ok(m),
                    other => panic!("{other:?}"),
                },
                Ws::Text(t) => return Err(serde_json::from_str(&t).unwrap()),
                _ => continue,
            }
        }
    };
    assert_eq!(
        recv().await,
        Ok(Message::new("/patch/sine0/freq", vec![Arg::Float(440.0)])),
        "the value at once"
    );
    client(osc, |c| assert_eq!(c.ask("/patch/sine0/freq", vec![Arg::Float(300.0)]), vec![Arg::Int(0)])).await;
    assert_eq!(
        recv().await,
        Ok(Message::new("/patch/sine0/freq", vec![Arg::Float(300.0)])),
        "then the change"
    );
    // A transform added over OSC, then renamed: path events.
    client(osc, |c| {
        assert_eq!(c.ask("/patch/add-transform", vec![s("Value"), s("v")]), vec![Arg::Int(0)]);
        assert_eq!(c.ask("/patch/v/set-name", vec![s("w")]), vec![Arg::Int(0)]);
    })
    .await;
    assert_eq!(recv().await, Err(json!({"COMMAND": "PATH_ADDED", "DATA": "/patch/v"})));
    assert_eq!(
        recv().await,
        Err(json!({"COMMAND": "PATH_RENAMED", "DATA": {"OLD": "/patch/v", "NEW": "/patch/w"}}))
    );
    // Bad commands are answered, not dropped silently.
    let (mut tx, mut rx) = ws.split();
    tx.send(Ws::Text(r#"{"COMMAND": "SUBSCRIBE", "DATA": "/x"}"#.into())).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), rx.next()).await.unwrap().unwrap().unwrap();
    let error: Json = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(error["COMMAND"], "ERROR", "{error}");
    // IGNORE: changes stop coming.
    tx.send(Ws::Text(r#"{"COMMAND": "IGNORE", "DATA": "/patch/sine0/freq"}"#.into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client(osc, |c| assert_eq!(c.ask("/patch/sine0/freq", vec![Arg::Float(310.0)]), vec![Arg::Int(0)])).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.next()).await.is_err(),
        "nothing after IGNORE"
    );
}

/// Many clients together stay bounded: 64 sockets, 4,096 listened paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oscquery_sockets_and_listens_are_bounded_for_all_clients() {
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message as Ws;
    let (_dir, _running, _osc, base) = server_with_oscquery().await;
    let url = base.replace("http", "ws") + "/";
    let mut sockets = vec![];
    for _ in 0..64 {
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        // Served once it answers (the handshake comes before the socket takes its place).
        socket.send(Ws::Text("hello".into())).await.unwrap();
        let frame =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        assert!(frame.to_text().unwrap().contains("ERROR"));
        sockets.push(socket);
    }
    let (mut extra, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), extra.next()).await.unwrap().unwrap().unwrap();
    assert!(frame.to_text().unwrap().contains("64 OSCQuery WebSockets are open"), "{frame:?}");
    // Four sockets listen to 1,024 paths each; a fifth path anywhere is refused.
    for (s, socket) in sockets.iter_mut().take(4).enumerate() {
        for i in 0..1024 {
            let listen = format!(r#"{{"COMMAND": "LISTEN", "DATA": "/nothing/{s}/{i}"}}"#);
            socket.send(Ws::Text(listen.into())).await.unwrap();
        }
    }
    // Each socket takes its commands in order: a bad one answered proves the LISTENs before it were taken.
    for socket in sockets.iter_mut().take(4) {
        socket.send(Ws::Text("done?".into())).await.unwrap();
        let frame =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        assert!(frame.to_text().unwrap().contains("Not JSON"), "{frame:?}");
    }
    let fifth = &mut sockets[4];
    fifth.send(Ws::Text(r#"{"COMMAND": "LISTEN", "DATA": "/one/more"}"#.into())).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), fifth.next()).await.unwrap().unwrap().unwrap();
    assert!(frame.to_text().unwrap().contains("listen to at most 4096 paths"), "{frame:?}");
}
