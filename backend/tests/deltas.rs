//! The dashboard's stores, fed by the real server: a client that fetches the
//! projects, a project's nodes, the patch and its ports once, then applies the
//! notification stream as deltas, ends where a fresh fetch would (the
//! shared crate's `lab_delta` and `patch_delta`, checked against the server
//! rather than against themselves).

mod common;

use std::time::Duration;

use common::osc_client::{client, s, server};
use common::stream::Lines;
use patchbay::osc::codec::Arg;
use patchbay_shared::api::{Nio, Project, Switch, Vm};
use patchbay_shared::engine::{Change, PatchFile, PortInfo};
use patchbay_shared::lab_delta::{LabDelta, Nodes, Projects};
use patchbay_shared::notify::action;
use patchbay_shared::patch_delta::Applied;
use patchbay_shared::patch_ports::PortMap;
use patchbay_shared::topology::Attachment;
use reqwest::Client;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use uuid::Uuid;

struct Http {
    client: Client,
    base: String,
}

impl Http {
    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let res = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.unwrap()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let res =
            self.client.request(method, format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, body).await
    }

    async fn nodes(&self, project: Uuid) -> Nodes {
        Nodes {
            vms: self.get(&format!("/v1/projects/{project}/vpcs/vms")).await,
            switches: self.get(&format!("/v1/projects/{project}/switches/vms")).await,
        }
    }
}

fn id(object: &Value, field: &str) -> Uuid {
    object[field].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_lab_stores_end_where_a_fresh_fetch_does() {
    let (_dir, running, _osc) = server().await;
    let http = Http { client: Client::new(), base: format!("http://{}", running.addr) };
    // Fetch once, as the page does, then open the stream.
    let mut projects = Projects(http.get::<Vec<Project>>("/v1/projects").await);
    let mut stream = Lines::open(&format!("{}/v1/notifications", http.base)).await;

    let lab = id(&http.post("/v1/projects", json!({"name": "lab"})).await, "project_id");
    let other = id(&http.post("/v1/projects", json!({"name": "aside"})).await, "project_id");
    // The page opens `lab` now: its nodes are fetched (none yet), then follow deltas.
    let mut nodes = http.nodes(lab).await;
    http.send(reqwest::Method::PUT, &format!("/v1/projects/{lab}"), json!({"name": "zlab"})).await;
    let vms = format!("/v1/projects/{lab}/vpcs/vms");
    let pc1 = id(&http.post(&vms, json!({"name": "PC1"})).await, "vm_id");
    let pc2 = id(&http.post(&vms, json!({"name": "PC2"})).await, "vm_id");
    let sw1 =
        id(&http.post(&format!("/v1/projects/{lab}/switches/vms"), json!({"name": "SW1"})).await, "vm_id");
    http.post(&format!("/v1/projects/{other}/vpcs/vms"), json!({"name": "elsewhere"})).await;
    // A link the way the page makes one: two ports, two tunnels.
    let port = |v: Value| v["udp_port"].as_u64().unwrap() as u16;
    let a = port(http.post(&format!("/v1/projects/{lab}/ports/udp"), json!({})).await);
    let b = port(http.post(&format!("/v1/projects/{lab}/ports/udp"), json!({})).await);
    http.post(&Attachment::Pc(pc1).nio_path(lab), json!(Nio::udp(a, "127.0.0.1", b))).await;
    http.post(&Attachment::SwitchPort(sw1, 1).nio_path(lab), json!(Nio::udp(b, "127.0.0.1", a))).await;
    http.post(&format!("{vms}/{pc1}/start"), json!({})).await;
    http.send(reqwest::Method::PUT, &format!("{vms}/{pc2}"), json!({"name": "PC9"})).await;
    http.send(reqwest::Method::DELETE, &format!("{vms}/{pc2}"), json!({})).await;
    http.post(&format!("/v1/projects/{other}/close"), json!({})).await;
    // The last action: once its notification is read, every earlier one was.
    let last = id(&http.post("/v1/projects", json!({"name": "last"})).await, "project_id");

    let mut deltas = 0;
    loop {
        let note = serde_json::from_value(stream.event().await).unwrap();
        let Some(delta) = LabDelta::of(&note) else { continue };
        deltas += 1;
        projects.apply(&delta);
        if delta.node_project() == Some(lab) {
            nodes.apply(&delta);
        }
        if delta == LabDelta::ProjectGone(last)
            || matches!(&delta, LabDelta::ProjectPut(p) if p.project_id == last)
        {
            break;
        }
    }
    assert!(deltas >= 14, "{deltas} deltas read");
    assert_eq!(projects, Projects(http.get("/v1/projects").await));
    let names: Vec<_> = projects.0.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["last", "zlab"], "created, renamed and closed projects in the server's order");
    let fetched = http.nodes(lab).await;
    assert_eq!(nodes, fetched);
    assert_eq!(nodes.vms.iter().map(|v: &Vm| v.name.as_str()).collect::<Vec<_>>(), ["PC1"]);
    assert_eq!(nodes.vms[0].status, patchbay_shared::api::VmStatus::Started);
    assert_eq!(nodes.switches.iter().map(|s: &Switch| s.name.as_str()).collect::<Vec<_>>(), ["SW1"]);
    assert_eq!(nodes.links(), [(Attachment::Pc(pc1), Attachment::SwitchPort(sw1, 1))]);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_patch_store_follows_osc_edits_to_what_a_fresh_fetch_gives() {
    let (_dir, running, port) = server().await;
    let http = Http { client: Client::new(), base: format!("http://{}", running.addr) };
    let mut file: PatchFile = http.get("/v1/engine/patch").await;
    let mut ports: PortMap = http.get("/v1/engine/ports").await;
    let mut stream = Lines::open(&format!("{}/v1/notifications", http.base)).await;

    client(port, |c| {
        let ok = |addr: &str, args: Vec<Arg>| assert_eq!(c.ask(addr, args), vec![Arg::Int(0)], "{addr}");
        ok("/patch/add-transform", vec![s("Sinewave"), s("sine0"), s("440")]);
        ok("/patch/add-transform", vec![s("Lowpass"), s("lp")]);
        ok("/patch/add-transform", vec![s("AudioOutput"), s("out")]);
        ok("/patch/add-transform", vec![s("Sinewave"), s("spare")]);
        ok("/patch/sine0/samplesOut/connect", vec![s("/patch/lp/samplesIn")]);
        ok("/patch/lp/samplesOut/connect", vec![s("/patch/out/mix")]);
        ok("/patch/spare/samplesOut/connect", vec![s("/patch/out/mix")]);
        ok("/patch/sine0/freq", vec![Arg::Float(220.0)]);
        ok("/patch/out/onoff", vec![Arg::True]);
        ok("/patch/lp/set-name", vec![s("filter")]);
        ok("/patch/filter/freq/set-name", vec![s("cutoff")]);
        ok("/patch/filter/cutoff", vec![Arg::Float(900.0)]);
        ok("/patch/spare/samplesOut/disconnect", vec![s("/patch/out/mix")]);
        ok("/patch/delete-transform", vec![s("spare")]);
        // A subpatch with wires among its own members.
        ok("/patch/add-transform", vec![s("Patch"), s("sub")]);
        ok("/patch/sub/add-transform", vec![s("Gain~"), s("g"), s("0.5")]);
        ok("/patch/sub/add-transform", vec![s("Sinewave"), s("lfo")]);
        ok("/patch/sub/lfo/samplesOut/connect", vec![s("/patch/sub/g/samplesIn")]);
        ok("/patch/sub/lfo/freq", vec![Arg::Float(3.0)]);
        // Its border members are its ports: added, renamed, one deleted.
        ok("/patch/sub/add-transform", vec![s("Inlet"), s("in0"), s("Samples")]);
        ok("/patch/sub/add-transform", vec![s("Inlet"), s("ctl")]);
        ok("/patch/sub/add-transform", vec![s("Outlet"), s("out0"), s("Samples")]);
        ok("/patch/sub/in0/out/connect", vec![s("/patch/sub/g/samplesIn")]);
        ok("/patch/sub/g/samplesOut/connect", vec![s("/patch/sub/out0")]);
        ok("/patch/sub/ctl/set-name", vec![s("amount")]);
        ok("/patch/sub/add-transform", vec![s("Outlet"), s("spare")]);
        ok("/patch/sub/delete-transform", vec![s("spare")]);
        ok("/patch/sine0/samplesOut/connect", vec![s("/patch/sub/in0")]);
    })
    .await;
    // Values are reported coalesced, every few ms, so the last one may come
    // after the last structural edit: read until the store equals the server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut refetches = vec![];
    let mut kinds = std::collections::BTreeSet::new();
    let want: PatchFile = http.get("/v1/engine/patch").await;
    let want_ports: PortMap = http.get("/v1/engine/ports").await;
    while file != want || ports != want_ports {
        let Ok(note) = tokio::time::timeout_at(deadline, stream.event()).await else {
            panic!("the store never caught up:\n{file:#?}\n{ports:#?}\nwanted\n{want:#?}\n{want_ports:#?}");
        };
        let note: patchbay_shared::notify::Notification = serde_json::from_value(note).unwrap();
        if note.action != action::ENGINE_CHANGED {
            continue;
        }
        let change: Change = serde_json::from_value(note.event).unwrap();
        kinds.insert(format!("{change:?}").split([' ', '{']).next().unwrap().to_owned());
        if file.apply(&change) == Applied::Refetch || ports.apply(&change) == Applied::Refetch {
            refetches.push(change);
        }
    }
    assert!(refetches.is_empty(), "every edit was placed without a refetch: {refetches:?}");
    let kinds: Vec<_> = kinds.into_iter().collect();
    assert_eq!(kinds, ["Added", "Connected", "Deleted", "Disconnected", "Renamed", "Value"]);
    assert_eq!(
        file.transform("/patch/filter").unwrap().renamed.get("freq").map(String::as_str),
        Some("cutoff")
    );
    assert!(file.transform("/patch/sub/lfo").is_some());
    let sub = ports.get("/patch/sub").unwrap();
    let names = |l: &[PortInfo]| l.iter().map(|p| (p.name.clone(), p.audio)).collect::<Vec<_>>();
    assert_eq!(names(&sub.inlets), [("amount".to_owned(), false), ("in0".to_owned(), true)]);
    assert_eq!(names(&sub.outlets), [("out0".to_owned(), true)]);
    let filter = ports.get("/patch/filter").unwrap();
    assert!(filter.inlets.iter().any(|p| p.name == "cutoff"), "a renamed port: {filter:?}");
    running.stop().await.unwrap();
}
