//! The real binary as a process: clean shutdown on Ctrl-C, survival of
//! `kill -9` in the middle of a burst of writes, and restart of started VMs.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::Binary;
use reqwest::Client;
use serde_json::{json, Value};

#[tokio::test]
async fn ctrl_c_stops_the_server_cleanly_even_with_streams_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(dir.path(), &[]);
    let stream = Client::new().get(server.url("/v1/notifications")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let status = tokio::task::spawn_blocking(move || server.interrupt(Duration::from_secs(5))).await.unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn ctrl_c_as_soon_as_it_says_where_it_listens_stops_it_cleanly() {
    // Signals are taken over before that first line, so none can kill it.
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(dir.path(), &[]);
    let status = tokio::task::spawn_blocking(move || server.interrupt(Duration::from_secs(5))).await.unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_closed_stdout_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start_then_hang_up(dir.path());
    let version = Client::new().get(server.url("/v1/version")).send().await.unwrap();
    assert_eq!(version.status(), 200, "still serving");
    // Its last words ("Patchbay stopped") go nowhere, and it still exits cleanly.
    let status = tokio::task::spawn_blocking(move || server.interrupt(Duration::from_secs(5))).await.unwrap();
    assert!(status.success(), "{status}");
}

/// What the client was told about one VM, and what it had in flight when the server died.
#[derive(Clone, Debug)]
struct Known {
    project: String,
    name: String,
    renaming_to: Option<String>,
    started: bool,
    starting: bool,
    deleting: bool,
}

type Book = std::sync::Arc<std::sync::Mutex<HashMap<String, Known>>>;

/// Creates, renames, starts and deletes VMs as fast as it can until the server dies,
/// noting each request before it is sent and each acknowledgement when it arrives.
async fn burst(base: String, project: String, book: Book) {
    let c = Client::new();
    let vms = format!("{base}/v1/projects/{project}/vpcs/vms");
    let note = |id: &str, f: &dyn Fn(&mut Known)| f(book.lock().unwrap().get_mut(id).unwrap());
    for i in 0.. {
        let name = format!("PC{i}");
        let Ok(res) = c.post(&vms).body(json!({ "name": name }).to_string()).send().await else {
            return;
        };
        let Ok(vm) = res.json::<Value>().await else {
            return;
        };
        let id = vm["vm_id"].as_str().unwrap().to_owned();
        let known = Known {
            project: project.clone(),
            name,
            renaming_to: None,
            started: false,
            starting: false,
            deleting: false,
        };
        book.lock().unwrap().insert(id.clone(), known);

        let renamed = format!("renamed{i}");
        note(&id, &|k| k.renaming_to = Some(renamed.clone()));
        let Ok(res) = c.put(format!("{vms}/{id}")).body(json!({ "name": renamed }).to_string()).send().await
        else {
            return;
        };
        assert_eq!(res.status(), 200);
        note(&id, &|k| k.name = renamed.clone());

        note(&id, &|k| k.starting = true);
        let Ok(res) = c.post(format!("{vms}/{id}/start")).send().await else {
            return;
        };
        assert_eq!(res.status(), 204);
        note(&id, &|k| k.started = true);

        if i % 3 == 0 {
            note(&id, &|k| k.deleting = true);
            let Ok(res) = c.delete(format!("{vms}/{id}")).send().await else {
                return;
            };
            assert_eq!(res.status(), 204);
            book.lock().unwrap().remove(&id);
        }
    }
}

/// Everything acknowledged is on the server; what was in flight may or may not be.
async fn check(base: &str, projects: &[String], book: &Book) {
    let c = Client::new();
    let loaded: Vec<Value> = c.get(format!("{base}/v1/projects")).send().await.unwrap().json().await.unwrap();
    assert_eq!(loaded.len(), projects.len(), "{loaded:?}");
    let mut on_server = HashMap::new();
    for p in projects {
        let vms: Vec<Value> =
            c.get(format!("{base}/v1/projects/{p}/vpcs/vms")).send().await.unwrap().json().await.unwrap();
        on_server.extend(vms.into_iter().map(|vm| (vm["vm_id"].as_str().unwrap().to_owned(), vm)));
    }
    for (id, known) in book.lock().unwrap().iter() {
        let Some(vm) = on_server.get(id) else {
            assert!(known.deleting, "lost acknowledged VM {id}: {known:?}");
            continue;
        };
        assert_eq!(vm["project_id"], known.project.as_str());
        let name = vm["name"].as_str().unwrap();
        assert!(name == known.name || Some(name) == known.renaming_to.as_deref(), "{name} vs {known:?}");
        let started = vm["status"] == "started";
        assert!(started == known.started || known.starting, "{vm} vs {known:?}");
    }
}

#[tokio::test]
async fn kill_9_during_a_burst_of_writes_leaves_a_state_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let book = Book::default();
    let mut projects: Vec<String> = vec![];
    for round in 0..6u64 {
        let server = Binary::start(dir.path(), &[]);
        let base = format!("http://{}", server.addr);
        check(&base, &projects, &book).await;
        // A new burst, in a new project, killed mid-flight at a different moment each round.
        let c = Client::new();
        let p = c
            .post(format!("{base}/v1/projects"))
            .body(json!({"name": format!("round{round}")}).to_string())
            .send()
            .await
            .unwrap();
        projects.push(p.json::<Value>().await.unwrap()["project_id"].as_str().unwrap().to_owned());
        let task = tokio::spawn(burst(base.clone(), projects.last().unwrap().clone(), book.clone()));
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        tokio::task::spawn_blocking(move || server.kill9()).await.unwrap();
        let _ = task.await;
    }
    let server = Binary::start(dir.path(), &[]);
    check(&format!("http://{}", server.addr), &projects, &book).await;
    assert!(book.lock().unwrap().len() > 5, "the bursts did real work");
}

#[tokio::test]
async fn started_vms_are_started_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = Client::new();
    let (p, a, b);
    {
        let server = Binary::start(dir.path(), &[]);
        let base = server.url("/v1/projects");
        p = c.post(&base).body(r#"{"name": "keep"}"#).send().await.unwrap().json::<Value>().await.unwrap()
            ["project_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let vms = format!("{base}/{p}/vpcs/vms");
        a = c.post(&vms).body(r#"{"name": "on"}"#).send().await.unwrap().json::<Value>().await.unwrap()
            ["vm_id"]
            .as_str()
            .unwrap()
            .to_owned();
        b = c.post(&vms).body(r#"{"name": "off"}"#).send().await.unwrap().json::<Value>().await.unwrap()
            ["vm_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(c.post(format!("{vms}/{a}/start")).send().await.unwrap().status(), 204);
        tokio::task::spawn_blocking(move || server.interrupt(Duration::from_secs(5))).await.unwrap();
    }
    let server = Binary::start(dir.path(), &[]);
    let vms: Vec<Value> =
        c.get(server.url(&format!("/v1/projects/{p}/vpcs/vms"))).send().await.unwrap().json().await.unwrap();
    let status: HashMap<&str, &str> =
        vms.iter().map(|vm| (vm["vm_id"].as_str().unwrap(), vm["status"].as_str().unwrap())).collect();
    assert_eq!(status[a.as_str()], "started");
    assert_eq!(status[b.as_str()], "stopped");
}
