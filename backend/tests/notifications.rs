//! The notification streams: chunked HTTP (whole server and per project) and
//! WebSocket, with pings, full objects, and slow consumers kept apart.

mod common;

use common::stream::Lines;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Client;
use serde_json::{json, Value};
use tokio::time::timeout;

async fn post(client: &Client, url: String, body: Value) -> Value {
    let res = client.post(url).body(body.to_string()).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn every_change_is_announced_with_the_full_object() {
    let server = common::TempServer::start(&[]).await;
    let mut stream = Lines::open(&server.url("/v1/notifications")).await;
    let ping = stream.next().await;
    assert_eq!(ping["action"], "ping", "a ping comes at once");
    assert!(ping["event"]["cpu_usage_percent"].is_number());
    assert!(ping["event"]["memory_usage_percent"].as_f64().unwrap() > 0.0);

    let c = Client::new();
    let project = post(&c, server.url("/v1/projects"), json!({"name": "n"})).await;
    let p = project["project_id"].as_str().unwrap().to_owned();
    assert_eq!(stream.event().await, json!({"action": "project.created", "event": project}));

    let renamed =
        c.put(server.url(&format!("/v1/projects/{p}"))).body(r#"{"name": "m"}"#).send().await.unwrap();
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(stream.event().await, json!({"action": "project.updated", "event": renamed}));

    let vms = server.url(&format!("/v1/projects/{p}/vpcs/vms"));
    let vm = post(&c, vms.clone(), json!({"name": "PC1"})).await;
    let v = vm["vm_id"].as_str().unwrap().to_owned();
    assert_eq!(stream.event().await, json!({"action": "vm.created", "event": vm}));

    let updated = c.put(format!("{vms}/{v}")).body(r#"{"name": "PC9"}"#).send().await.unwrap();
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(stream.event().await, json!({"action": "vm.updated", "event": updated}));

    post(&c, format!("{vms}/{v}/start"), json!({})).await;
    let started = stream.event().await;
    assert_eq!(
        (started["action"].as_str(), started["event"]["status"].as_str()),
        (Some("vm.started"), Some("started"))
    );
    post(&c, format!("{vms}/{v}/stop"), json!({})).await;
    let stopped = stream.event().await;
    assert_eq!(
        (stopped["action"].as_str(), stopped["event"]["status"].as_str()),
        (Some("vm.stopped"), Some("stopped"))
    );

    let nio = json!({"type": "nio_udp", "lport": 10000, "rhost": "127.0.0.1", "rport": 10001});
    let lport =
        post(&c, server.url(&format!("/v1/projects/{p}/ports/udp")), json!({})).await["udp_port"].clone();
    let nio = json!({"type": "nio_udp", "lport": lport, "rhost": nio["rhost"], "rport": nio["rport"]});
    post(&c, format!("{vms}/{v}/adapters/0/ports/0/nio"), nio.clone()).await;
    let attached = stream.event().await;
    assert_eq!((attached["action"].as_str(), &attached["event"]["nio"]), (Some("vm.updated"), &nio));

    c.delete(format!("{vms}/{v}")).send().await.unwrap();
    let deleted = stream.event().await;
    assert_eq!(
        (deleted["action"].as_str(), deleted["event"]["vm_id"].as_str()),
        (Some("vm.deleted"), Some(v.as_str()))
    );

    post(&c, server.url(&format!("/v1/projects/{p}/close")), json!({})).await;
    let closed = stream.event().await;
    assert_eq!(
        (closed["action"].as_str(), closed["event"]["name"].as_str()),
        (Some("project.closed"), Some("m"))
    );

    post(&c, server.url("/v1/projects"), json!({"project_id": p})).await;
    assert_eq!(stream.event().await["action"], "project.created");
    c.delete(server.url(&format!("/v1/projects/{p}"))).send().await.unwrap();
    let gone = stream.event().await;
    assert_eq!(
        (gone["action"].as_str(), gone["event"]["project_id"].as_str()),
        (Some("project.deleted"), Some(p.as_str()))
    );
}

#[tokio::test]
async fn pings_repeat_when_idle() {
    let server = common::TempServer::start(&["--ping-interval=0.2"]).await;
    let mut stream = Lines::open(&server.url("/v1/notifications")).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(stream.next().await["action"], "ping");
    }
    assert!(started.elapsed() >= Duration::from_millis(350), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_project_stream_carries_only_that_project() {
    let server = common::TempServer::start(&[]).await;
    let c = Client::new();
    let mine = post(&c, server.url("/v1/projects"), json!({"name": "mine"})).await["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = post(&c, server.url("/v1/projects"), json!({"name": "theirs"})).await["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = Lines::open(&server.url(&format!("/v1/projects/{mine}/notifications"))).await;
    assert_eq!(stream.next().await["action"], "ping");
    post(&c, server.url(&format!("/v1/projects/{theirs}/vpcs/vms")), json!({"name": "other"})).await;
    post(&c, server.url(&format!("/v1/projects/{mine}/vpcs/vms")), json!({"name": "own"})).await;
    let event = stream.event().await;
    assert_eq!(
        (event["action"].as_str(), event["event"]["name"].as_str()),
        (Some("vm.created"), Some("own"))
    );
}

#[tokio::test]
async fn the_websocket_carries_the_same_stream() {
    let server = common::TempServer::start(&[]).await;
    let url = format!("ws://{}/v1/notifications/ws", server.running.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut next = async || -> Value {
        loop {
            let msg = timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                return serde_json::from_str(&text).unwrap();
            }
        }
    };
    assert_eq!(next().await["action"], "ping");
    let project = post(&Client::new(), server.url("/v1/projects"), json!({"name": "ws"})).await;
    assert_eq!(next().await, json!({"action": "project.created", "event": project}));
}

#[tokio::test]
async fn warnings_and_errors_are_announced_as_log_events() {
    // The real binary: logs reach the stream through its global tracing subscriber.
    let dir = tempfile::tempdir().unwrap();
    let server = common::Binary::start(dir.path(), &[]);
    let c = Client::new();
    let mut stream = Lines::open(&server.url("/v1/notifications")).await;
    // A closed project's console is taken meanwhile; reopening moves it, with a warning.
    let a = post(&c, server.url("/v1/projects"), json!({"name": "a"})).await["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let vm = post(&c, server.url(&format!("/v1/projects/{a}/vpcs/vms")), json!({"name": "PC1"})).await;
    post(&c, server.url(&format!("/v1/projects/{a}/close")), json!({})).await;
    let b = post(&c, server.url("/v1/projects"), json!({"name": "b"})).await["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &c,
        server.url(&format!("/v1/projects/{b}/vpcs/vms")),
        json!({"name": "x", "console": vm["console"]}),
    )
    .await;
    post(&c, server.url("/v1/projects"), json!({"project_id": a})).await;
    let warning = stream.find(|e| e["action"] == "log.warning").await;
    assert!(warning["event"]["message"].as_str().unwrap().contains("was taken, moved to"), "{warning}");

    // The disk refuses a save: the client gets a JSON 500 and the stream a log.error.
    let dir = std::path::PathBuf::from(
        post(&c, server.url("/v1/projects"), json!({"name": "c"})).await["path"].as_str().unwrap(),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let pid = dir.file_name().unwrap().to_str().unwrap();
    let res = c
        .post(server.url(&format!("/v1/projects/{pid}/vpcs/vms")))
        .body(r#"{"name": "PC"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], 500);
    let error = stream.find(|e| e["action"] == "log.error").await;
    assert_eq!(error["event"]["project_id"], pid, "{error}");
}

#[tokio::test]
async fn a_stuck_consumer_does_not_hold_up_anyone() {
    let server = common::TempServer::start(&["--notification-buffer=8"]).await;
    // This consumer never reads a byte after the headers.
    let _stuck = Client::new().get(server.url("/v1/notifications")).send().await.unwrap();
    let mut reader = Lines::open(&server.url("/v1/notifications")).await;
    let c = Client::new();
    let p = post(&c, server.url("/v1/projects"), json!({"name": "busy"})).await["project_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reader.event().await["action"], "project.created");
    for i in 0..300 {
        let name = format!("n{i}");
        let res = c
            .put(server.url(&format!("/v1/projects/{p}")))
            .body(json!({ "name": name }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(reader.event().await["event"]["name"], name.as_str());
    }
}
