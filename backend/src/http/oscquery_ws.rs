//! OSCQuery's WebSocket, on the OSCQuery port: `LISTEN` and `IGNORE` a
//! path's value (sent as binary OSC messages when it changes, looked at
//! [`LISTEN_RATE`] times a second, so a fast-changing value is coalesced to
//! that rate), and `PATH_ADDED`, `PATH_REMOVED`, `PATH_RENAMED` and
//! `PATH_CHANGED` as the patch and the lab change, whoever changed them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::StreamExt;
use serde_json::{json, Value as Json};

use crate::access::Role;
use crate::app::App;
use crate::limit_log::limit_hit;
use crate::namespace::Namespace;
use crate::osc::codec::{self, Arg, Message};
use crate::osc::session::{Place, Sessions};

/// How often listened values are looked at: the fastest a value is streamed.
pub(crate) const LISTEN_RATE: u32 = 30;
/// Paths one socket may listen to.
pub(crate) const MAX_LISTENS: usize = 1024;

pub(crate) async fn serve(mut socket: WebSocket, app: Arc<App>, all: Arc<Sessions>, role: Role) {
    let Some(mut place) = Place::take(&all) else {
        limit_hit("oscquery", format_args!("OSCQuery WebSocket refused: {} are open", all.max_open()));
        let _ =
            socket.send(error(format!("{} OSCQuery WebSockets are open: retry later", all.max_open()))).await;
        return;
    };
    let mut feed = app.model.hub.subscribe(None);
    let shutdown = app.shutdown.clone();
    // Each listened path with the value last sent.
    let mut listening: BTreeMap<String, Option<Vec<Arg>>> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / LISTEN_RATE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let out: Vec<WsMessage> = tokio::select! {
            incoming = socket.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let mut answer = command(&text, &mut listening);
                    if !place.hold(listening.len()) {
                        // Over what all sockets may listen to: this LISTEN is undone.
                        let added = serde_json::from_str::<Json>(&text).ok().and_then(|c| c["DATA"].as_str().map(str::to_owned));
                        added.map(|path| listening.remove(&path));
                        place.hold(listening.len());
                        limit_hit("oscquery", format_args!("OSCQuery LISTEN refused: all sockets listen to {} paths", all.max_held()));
                        answer = Some(error(format!("All OSCQuery clients together listen to at most {} paths", all.max_held())));
                    }
                    answer.into_iter().collect()
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = tick.tick(), if !listening.is_empty() => {
                let ns = Namespace { model: &app.model, role, at: None };
                let mut changed = vec![];
                for (path, last) in listening.iter_mut() {
                    let now = ns.oscquery_value(path);
                    if now != *last {
                        if let Some(args) = &now {
                            changed.push(WsMessage::Binary(codec::encode_message(&Message::new(path.clone(), args.clone())).into()));
                        }
                        *last = now;
                    }
                }
                changed
            }
            line = feed.next() => match line {
                Some(line) => path_events(&line).into_iter().map(|e| WsMessage::Text(e.to_string().into())).collect(),
                None => return,
            },
            _ = shutdown.cancelled() => {
                let _ = socket.send(WsMessage::Close(None)).await;
                return;
            }
        };
        for m in out {
            if socket.send(m).await.is_err() {
                return;
            }
        }
    }
}

fn error(message: String) -> WsMessage {
    WsMessage::Text(json!({ "COMMAND": "ERROR", "DATA": message }).to_string().into())
}

/// A client's command; what to answer, if anything (errors only).
fn command(text: &str, listening: &mut BTreeMap<String, Option<Vec<Arg>>>) -> Option<WsMessage> {
    let error = |message: String| Some(error(message));
    let Ok(parsed) = serde_json::from_str::<Json>(text) else {
        return error(r#"Not JSON: send {"COMMAND": "LISTEN", "DATA": "/path"}"#.into());
    };
    let (Some(cmd), Some(path)) = (parsed["COMMAND"].as_str(), parsed["DATA"].as_str()) else {
        return error("Give COMMAND (LISTEN or IGNORE) and DATA (a path)".into());
    };
    match cmd {
        "LISTEN" if listening.len() >= MAX_LISTENS && !listening.contains_key(path) => {
            error(format!("At most {MAX_LISTENS} paths may be listened to on one socket"))
        }
        "LISTEN" => {
            listening.entry(path.to_owned()).or_insert(None);
            None
        }
        "IGNORE" => {
            listening.remove(path);
            None
        }
        other => error(format!("Unknown command {other:?}: LISTEN or IGNORE")),
    }
}

/// The OSCQuery path events a notification means.
fn path_events(line: &str) -> Vec<Json> {
    let Ok(n) = serde_json::from_str::<Json>(line) else { return vec![] };
    let event = &n["event"];
    let path = |p: &Json| p.as_str().map(str::to_owned);
    let project = event["project_id"].as_str().map(|p| format!("/lab/projects/{p}"));
    let vm = project.as_ref().zip(event["vm_id"].as_str()).map(|(p, v)| format!("{p}/vms/{v}"));
    let one = |command: &str, data: Option<String>| {
        data.map(|d| vec![json!({ "COMMAND": command, "DATA": d })]).unwrap_or_default()
    };
    match n["action"].as_str().unwrap_or_default() {
        "engine.changed" => match event["change"].as_str().unwrap_or_default() {
            "added" => one("PATH_ADDED", path(&event["path"])),
            "deleted" => one("PATH_REMOVED", path(&event["path"])),
            "renamed" => vec![
                json!({ "COMMAND": "PATH_RENAMED", "DATA": { "OLD": event["from"], "NEW": event["to"] } }),
            ],
            "loaded" => one("PATH_CHANGED", Some("/patch".into())),
            _ => vec![],
        },
        "project.created" => one("PATH_ADDED", project),
        "project.updated" => one("PATH_CHANGED", project),
        "project.closed" | "project.deleted" => one("PATH_REMOVED", project),
        "vm.created" => one("PATH_ADDED", vm),
        "vm.updated" | "vm.started" | "vm.stopped" => one("PATH_CHANGED", vm),
        "vm.deleted" => one("PATH_REMOVED", vm),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_become_path_events() {
        let added = r#"{"action": "engine.changed", "event": {"change": "added", "path": "/patch/s", "type_name": "Sinewave"}}"#;
        assert_eq!(path_events(added), vec![json!({"COMMAND": "PATH_ADDED", "DATA": "/patch/s"})]);
        let renamed = r#"{"action": "engine.changed", "event": {"change": "renamed", "from": "/patch/a", "to": "/patch/b"}}"#;
        assert_eq!(path_events(renamed)[0]["DATA"], json!({"OLD": "/patch/a", "NEW": "/patch/b"}));
        let vm = r#"{"action": "vm.deleted", "event": {"project_id": "p1", "vm_id": "v1", "name": "PC1"}}"#;
        assert_eq!(
            path_events(vm),
            vec![json!({"COMMAND": "PATH_REMOVED", "DATA": "/lab/projects/p1/vms/v1"})]
        );
        assert!(path_events(r#"{"action": "ping", "event": {}}"#).is_empty());
        assert!(path_events("not json").is_empty());
    }

    #[test]
    fn listen_and_ignore_are_bounded() {
        let mut listening = BTreeMap::new();
        assert!(command(r#"{"COMMAND": "LISTEN", "DATA": "/a"}"#, &mut listening).is_none());
        assert!(listening.contains_key("/a"));
        assert!(command(r#"{"COMMAND": "IGNORE", "DATA": "/a"}"#, &mut listening).is_none());
        assert!(listening.is_empty());
        for i in 0..MAX_LISTENS {
            listening.insert(format!("/p{i}"), None);
        }
        assert!(command(r#"{"COMMAND": "LISTEN", "DATA": "/more"}"#, &mut listening).is_some());
        assert!(command(r#"{"COMMAND": "FROB", "DATA": "/a"}"#, &mut listening).is_some());
        assert!(command("{", &mut listening).is_some());
    }
}
