//! Every route of the HTTP API and every error it promises, against the real
//! server on a real socket.

mod common;

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Api {
    client: Client,
    base: String,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&body.to_string())).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(&body.to_string())).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Asserts an error: the status, the JSON shape, and words of the message.
    async fn error(&self, method: Method, path: &str, body: Option<&str>, status: u16, words: &str) {
        let (got, value) = self.call(method.clone(), path, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path} {body:?} -> {value}");
        assert_eq!(value["status"], status, "{value}");
        let message = value["message"].as_str().unwrap();
        assert!(message.contains(words), "{method} {path}: {message:?} should mention {words:?}");
    }

    async fn project(&self, name: &str) -> String {
        let (status, p) = self.post("/v1/projects", json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED);
        p["project_id"].as_str().unwrap().to_owned()
    }

    async fn vm(&self, project: &str, body: Value) -> Value {
        let (status, vm) = self.post(&format!("/v1/projects/{project}/vpcs/vms"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{vm}");
        vm
    }
}

async fn start() -> (common::TempServer, Api) {
    let server = common::TempServer::start(&[]).await;
    let api = Api { client: Client::new(), base: format!("http://{}", server.running.addr) };
    (server, api)
}

#[tokio::test]
async fn version() {
    let (_server, api) = start().await;
    let (status, v) = api.get("/v1/version").await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["version"].as_str().unwrap().starts_with("1."));
}

#[tokio::test]
async fn project_lifecycle() {
    let (_server, api) = start().await;
    let (status, created) = api.post("/v1/projects", json!({"name": "test", "temporary": false})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["name"], "test");
    assert_eq!(created["temporary"], false);
    let id = created["project_id"].as_str().unwrap();

    let (_, list) = api.get("/v1/projects").await;
    assert_eq!(list, json!([created.clone()]));
    let (status, shown) = api.get(&format!("/v1/projects/{id}")).await;
    assert_eq!((status, &shown), (StatusCode::OK, &created));

    let (status, renamed) = api.put(&format!("/v1/projects/{id}"), json!({"name": "renamed"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "renamed");

    // A chosen id is kept.
    let chosen = "42f9feee-3217-4104-981e-85d5f0a806ec";
    let (_, p) = api.post("/v1/projects", json!({"name": "x", "project_id": chosen})).await;
    assert_eq!(p["project_id"], chosen);

    // Close: gone from the server, files kept, and opened again by posting its id.
    let (status, _) = api.post(&format!("/v1/projects/{id}/close"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    api.error(Method::GET, &format!("/v1/projects/{id}"), None, 404, "doesn't exist").await;
    let (status, reopened) = api.post("/v1/projects", json!({"project_id": id})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(reopened["name"], "renamed");

    let (status, _) = api.delete(&format!("/v1/projects/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    api.error(Method::DELETE, &format!("/v1/projects/{id}"), None, 404, "doesn't exist").await;
    assert!(!std::path::Path::new(reopened["path"].as_str().unwrap()).exists());
}

#[tokio::test]
async fn temporary_projects_vanish_on_close() {
    let (_server, api) = start().await;
    let (_, p) = api.post("/v1/projects", json!({"name": "tmp", "temporary": true})).await;
    let id = p["project_id"].as_str().unwrap();
    api.post(&format!("/v1/projects/{id}/close"), json!({})).await;
    assert!(!std::path::Path::new(p["path"].as_str().unwrap()).exists());
    let (_, again) = api.post("/v1/projects", json!({"project_id": id})).await;
    assert_eq!(again["name"], "untitled", "a temporary project leaves nothing to reopen");
}

#[tokio::test]
async fn vm_lifecycle_and_nio() {
    let (_server, api) = start().await;
    let p = api.project("lab").await;
    let vms = format!("/v1/projects/{p}/vpcs/vms");
    let a = api.vm(&p, json!({"name": "VPCS 1"})).await;
    let b = api.vm(&p, json!({"name": "VPCS 2", "startup_script": "ip 10.0.0.2"})).await;
    for key in ["vm_id", "name", "project_id", "console", "status", "startup_script"] {
        assert!(a.get(key).is_some(), "VM JSON lacks {key}: {a}");
    }
    assert_eq!(a["status"], "stopped");
    assert_eq!(a["project_id"], p.as_str());
    assert_eq!(b["console"].as_u64().unwrap(), a["console"].as_u64().unwrap() + 1);
    assert_eq!(b["startup_script"], "ip 10.0.0.2");
    let (a_id, b_id) = (a["vm_id"].as_str().unwrap(), b["vm_id"].as_str().unwrap());

    let (status, list) = api.get(&vms).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["name"], "VPCS 1");

    let (status, shown) = api.get(&format!("{vms}/{a_id}")).await;
    assert_eq!((status, &shown), (StatusCode::OK, &a));

    let (status, updated) =
        api.put(&format!("{vms}/{a_id}"), json!({"name": "PC1", "startup_script": "ip 10.0.0.1"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (updated["name"].as_str(), updated["startup_script"].as_str()),
        (Some("PC1"), Some("ip 10.0.0.1"))
    );

    // Start, stop, reload really change the state.
    for (action, expect) in [
        ("start", "started"),
        ("start", "started"),
        ("stop", "stopped"),
        ("stop", "stopped"),
        ("reload", "started"),
    ] {
        let (status, body) = api.post(&format!("{vms}/{a_id}/{action}"), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{action}: {body}");
        assert_eq!(api.get(&format!("{vms}/{a_id}")).await.1["status"], expect, "after {action}");
    }

    // Tunnels: two allocated ports, crossed.
    let (status, port) = api.post(&format!("/v1/projects/{p}/ports/udp"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let l1 = port["udp_port"].as_u64().unwrap();
    let l2 =
        api.post(&format!("/v1/projects/{p}/ports/udp"), json!({})).await.1["udp_port"].as_u64().unwrap();
    assert_eq!(l2, l1 + 1);
    let nio = json!({"type": "nio_udp", "lport": l1, "rhost": "127.0.0.1", "rport": l2});
    let (status, echoed) = api.post(&format!("{vms}/{a_id}/adapters/0/ports/0/nio"), nio.clone()).await;
    assert_eq!((status, &echoed), (StatusCode::CREATED, &nio));
    assert_eq!(api.get(&format!("{vms}/{a_id}")).await.1["nio"], nio);
    let nio_b = json!({"type": "nio_udp", "lport": l2, "rhost": "127.0.0.1", "rport": l1});
    assert_eq!(api.post(&format!("{vms}/{b_id}/adapters/0/ports/0/nio"), nio_b).await.0, StatusCode::CREATED);

    let (status, _) = api.delete(&format!("{vms}/{a_id}/adapters/0/ports/0/nio")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&format!("{vms}/{a_id}")).await.1["nio"], Value::Null);
    // Its port went back to the pool.
    assert_eq!(api.post(&format!("/v1/projects/{p}/ports/udp"), json!({})).await.1["udp_port"], l1);

    let (status, _) = api.delete(&format!("{vms}/{a_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    api.error(Method::GET, &format!("{vms}/{a_id}"), None, 404, "doesn't exist").await;
    // Its console went back to the pool too.
    assert_eq!(api.vm(&p, json!({"name": "again"})).await["console"], a["console"]);
}

#[tokio::test]
async fn bad_requests_are_400_and_name_the_field() {
    let (_server, api) = start().await;
    let p = api.project("lab").await;
    let vms = format!("/v1/projects/{p}/vpcs/vms");
    let vm = api.vm(&p, json!({"name": "PC1"})).await;
    let v = vm["vm_id"].as_str().unwrap();
    let nio = format!("{vms}/{v}/adapters/0/ports/0/nio");
    let post = Method::POST;

    api.error(post.clone(), "/v1/projects", Some("{\"name\": "), 400, "Invalid JSON").await;
    api.error(post.clone(), "/v1/projects", Some("[1, 2]"), 400, "Invalid JSON").await;
    api.error(post.clone(), "/v1/projects", Some(r#"{"name": 5}"#), 400, "name: invalid type").await;
    api.error(post.clone(), "/v1/projects", Some(r#"{"nmae": "x"}"#), 400, "unknown field `nmae`").await;
    api.error(post.clone(), "/v1/projects", Some(r#"{"project_id": "nope"}"#), 400, "project_id").await;
    api.error(post.clone(), "/v1/projects", Some(r#"{"name": ""}"#), 400, "name: must not be empty").await;
    api.error(Method::PUT, &format!("/v1/projects/{p}"), Some(r#"{"temporary": "yes"}"#), 400, "temporary")
        .await;
    api.error(post.clone(), &vms, Some("{}"), 400, "missing field `name`").await;
    api.error(post.clone(), &vms, Some(r#"{"name": "a", "console": 70000}"#), 400, "console").await;
    api.error(post.clone(), &vms, Some(r#"{"name": "a", "console": "2000"}"#), 400, "console").await;
    api.error(post.clone(), &vms, Some(r#"{"name": "a", "vm_id": "x"}"#), 400, "vm_id").await;
    api.error(Method::PUT, &format!("{vms}/{v}"), Some(r#"{"colour": 1}"#), 400, "colour").await;
    api.error(post.clone(), &format!("{vms}/{v}/start"), Some(r#"{"now": true}"#), 400, "now").await;
    api.error(post.clone(), &format!("/v1/projects/{p}/ports/udp"), Some("nope"), 400, "Invalid JSON").await;
    let bad_nios = [
        (r#"{"type": "nio_udp", "lport": 0, "rhost": "127.0.0.1", "rport": 1}"#, "lport"),
        (r#"{"type": "nio_udp", "lport": 70000, "rhost": "127.0.0.1", "rport": 1}"#, "lport"),
        (r#"{"type": "nio_udp", "lport": 10000, "rhost": "127.0.0.1", "rport": -1}"#, "rport"),
        (r#"{"type": "nio_udp", "lport": 10000, "rhost": "bad host!", "rport": 1}"#, "rhost"),
        (r#"{"type": "nio_udp", "lport": 10000, "rport": 1}"#, "rhost"),
        (r#"{"type": "nio_bogus", "lport": 10000, "rhost": "h", "rport": 1}"#, "type"),
        (r#"{"type": "nio_udp", "lport": 10000, "rhost": "h", "rport": 1, "x": 2}"#, "unknown field `x`"),
    ];
    for (body, field) in bad_nios {
        api.error(post.clone(), &nio, Some(body), 400, field).await;
    }
    // GNS3's kinds that need host devices: a conflict that says so (as GNS3's own server answers).
    api.error(post.clone(), &nio, Some(r#"{"type": "nio_tap", "tap_device": "tap0"}"#), 409, "nio_tap").await;
    api.error(
        Method::GET,
        "/v1/projects/not-a-uuid",
        None,
        400,
        "project_id: \"not-a-uuid\" is not a valid UUID",
    )
    .await;
    api.error(Method::GET, &format!("{vms}/1234"), None, 400, "vm_id").await;
    api.error(post.clone(), &format!("{vms}/{v}/adapters/x/ports/0/nio"), Some("{}"), 400, "adapter_number")
        .await;
    // Nothing of the above changed anything.
    assert_eq!(api.get(&format!("{vms}/{v}")).await.1, vm);
}

#[tokio::test]
async fn unknown_things_are_404_and_wrong_methods_405() {
    let (_server, api) = start().await;
    let p = api.project("lab").await;
    let other = api.project("other").await;
    let vm = api.vm(&p, json!({"name": "PC1"})).await;
    let v = vm["vm_id"].as_str().unwrap();
    let ghost = "00000000-0000-4000-8000-000000000000";

    api.error(Method::GET, "/v1/nothing", None, 404, "No route").await;
    api.error(Method::GET, "/nothing/here", None, 404, "No route").await;
    api.error(Method::GET, &format!("/v1/projects/{ghost}"), None, 404, ghost).await;
    api.error(Method::GET, &format!("/v1/projects/{ghost}/vpcs/vms"), None, 404, ghost).await;
    api.error(Method::POST, &format!("/v1/projects/{ghost}/ports/udp"), Some("{}"), 404, ghost).await;
    api.error(Method::GET, &format!("/v1/projects/{ghost}/notifications"), None, 404, ghost).await;
    api.error(Method::GET, &format!("/v1/projects/{p}/vpcs/vms/{ghost}"), None, 404, ghost).await;
    api.error(Method::POST, &format!("/v1/projects/{p}/vpcs/vms/{ghost}/start"), Some("{}"), 404, ghost)
        .await;
    // A VM is only found under its own project.
    api.error(Method::GET, &format!("/v1/projects/{other}/vpcs/vms/{v}"), None, 404, v).await;
    let nio = r#"{"type": "nio_udp", "lport": 10000, "rhost": "127.0.0.1", "rport": 10001}"#;
    let vm_path = format!("/v1/projects/{p}/vpcs/vms/{v}");
    api.error(Method::POST, &format!("{vm_path}/adapters/1/ports/0/nio"), Some(nio), 404, "Adapter 1").await;
    api.error(Method::POST, &format!("{vm_path}/adapters/0/ports/3/nio"), Some(nio), 404, "Port 3").await;
    api.error(Method::DELETE, &format!("{vm_path}/adapters/0/ports/0/nio"), None, 404, "No NIO").await;

    api.error(Method::PATCH, "/v1/projects", None, 405, "PATCH").await;
    api.error(Method::DELETE, "/v1/version", None, 405, "DELETE").await;
    api.error(Method::GET, &format!("{vm_path}/start"), None, 405, "GET").await;
    api.error(Method::PUT, &format!("/v1/projects/{p}/close"), None, 405, "PUT").await;
}

#[tokio::test]
async fn conflicts_are_409() {
    let (_server, api) = start().await;
    let p = api.project("lab").await;
    let vms = format!("/v1/projects/{p}/vpcs/vms");
    let a = api.vm(&p, json!({"name": "PC1"})).await;
    let b = api.vm(&p, json!({"name": "PC2"})).await;
    let (a_id, b_id) = (a["vm_id"].as_str().unwrap(), b["vm_id"].as_str().unwrap());
    let console_a = a["console"].to_string();

    api.error(
        Method::POST,
        &vms,
        Some(&format!(r#"{{"name": "x", "console": {console_a}}}"#)),
        409,
        "Console port",
    )
    .await;
    api.error(
        Method::PUT,
        &format!("{vms}/{b_id}"),
        Some(&format!(r#"{{"console": {console_a}}}"#)),
        409,
        "Console port",
    )
    .await;
    api.error(
        Method::POST,
        &vms,
        Some(&format!(r#"{{"name": "x", "vm_id": "{a_id}"}}"#)),
        409,
        "already exists",
    )
    .await;
    api.error(
        Method::POST,
        "/v1/projects",
        Some(&format!(r#"{{"project_id": "{p}"}}"#)),
        409,
        "already open",
    )
    .await;

    // A console port some other program holds.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    api.error(Method::POST, &vms, Some(&format!(r#"{{"name": "x", "console": {port}}}"#)), 409, "in use")
        .await;

    // A tunnel port used by another NIO, or held by another program.
    let lport = api.post(&format!("/v1/projects/{p}/ports/udp"), json!({})).await.1["udp_port"].clone();
    let nio = json!({"type": "nio_udp", "lport": lport, "rhost": "127.0.0.1", "rport": 9});
    assert_eq!(
        api.post(&format!("{vms}/{a_id}/adapters/0/ports/0/nio"), nio.clone()).await.0,
        StatusCode::CREATED
    );
    let path_b = format!("{vms}/{b_id}/adapters/0/ports/0/nio");
    api.error(Method::POST, &path_b, Some(&nio.to_string()), 409, "used by another NIO").await;
    // Held by another program: a port inside the server's 50-port range that it has not booked.
    let in_range = lport.as_u64().unwrap() as u16 + 40;
    let held_udp = std::net::UdpSocket::bind(("127.0.0.1", in_range)).unwrap();
    let taken = json!({"type": "nio_udp", "lport": held_udp.local_addr().unwrap().port(), "rhost": "127.0.0.1", "rport": 9});
    api.error(Method::POST, &path_b, Some(&taken.to_string()), 409, "in use").await;
    // Outside --udp-ports: refused, as the real server does.
    let outside = json!({"type": "nio_udp", "lport": 9, "rhost": "127.0.0.1", "rport": 9});
    api.error(Method::POST, &path_b, Some(&outside.to_string()), 409, "outside the range").await;
    // The failed requests changed nothing.
    assert_eq!(api.get(&format!("{vms}/{b_id}")).await.1, b);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_the_server_keeps_serving() {
    let (_server, api) = start().await;
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    api.error(Method::POST, "/v1/projects", Some(&big), 413, "too large").await;
    assert_eq!(api.get("/v1/version").await.0, StatusCode::OK);
    assert_eq!(api.get("/v1/projects").await.1, json!([]));
}

#[tokio::test]
async fn curl_style_bodies_without_content_type_are_accepted() {
    let (_server, api) = start().await;
    // reqwest sends no Content-Type for a plain string body, like `curl -d` sends a form type.
    let res = api
        .client
        .post(format!("{}/v1/projects", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"name": "test"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn requests_on_one_vm_wait_for_each_other_and_other_vms_do_not() {
    let server = common::TempServer::start(&[]).await;
    let lab = &server.running.app.model.lab;
    let p = lab.create_project(Default::default()).await.unwrap().project_id;
    let req = |name: &str| patchbay_shared::VmCreate { name: name.into(), ..Default::default() };
    let a = lab.create_vm(p, req("A")).await.unwrap().vm_id;
    let b = lab.create_vm(p, req("B")).await.unwrap().vm_id;
    let api = Api { client: Client::new(), base: format!("http://{}", server.running.addr) };

    // Someone is busy with A.
    let busy = lab.lock_vm(a).await;
    let on_a = tokio::spawn({
        let (client, url) = (api.client.clone(), format!("{}/v1/projects/{p}/vpcs/vms/{a}/start", api.base));
        async move { client.post(url).body("{}").send().await.unwrap().status() }
    });
    // B is served at once, concurrently.
    let started = std::time::Instant::now();
    let (status, _) = api.post(&format!("/v1/projects/{p}/vpcs/vms/{b}/start"), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A waits...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!on_a.is_finished(), "a request on a busy VM must wait its turn");
    // ...until the earlier work is done.
    drop(busy);
    assert_eq!(on_a.await.unwrap(), StatusCode::NO_CONTENT);
    assert_eq!(api.get(&format!("/v1/projects/{p}/vpcs/vms/{a}")).await.1["status"], "started");
}

/// PCs and switches keep the `x`, `y` a client gives them (as GNS3 keeps
/// them), across a restart; a bad coordinate is refused by name.
#[tokio::test]
async fn nodes_keep_their_place_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (project, vm, switch) = {
        let server = common::Binary::start(dir.path(), &["--no-audio"]);
        let api = Api { client: Client::new(), base: server.url("") };
        let project = api.project("placed").await;
        let vm = api.vm(&project, json!({ "name": "PC1" })).await;
        assert_eq!((&vm["x"], &vm["y"]), (&json!(0), &json!(0)), "unplaced: {vm}");
        let vm = vm["vm_id"].as_str().unwrap().to_owned();
        let (status, sw) =
            api.post(&format!("/v1/projects/{project}/switches/vms"), json!({ "name": "SW1" })).await;
        assert_eq!(status, StatusCode::CREATED);
        let switch = sw["vm_id"].as_str().unwrap().to_owned();
        let (status, moved) =
            api.put(&format!("/v1/projects/{project}/vpcs/vms/{vm}"), json!({ "x": 120, "y": -40 })).await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!((&moved["x"], &moved["y"], &moved["name"]), (&json!(120), &json!(-40), &json!("PC1")));
        let path = format!("/v1/projects/{project}/switches/vms/{switch}");
        let (status, moved) = api.put(&path, json!({ "x": 300 })).await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!((&moved["x"], &moved["y"]), (&json!(300), &json!(0)));
        let (status, renamed) = api.put(&path, json!({ "name": "core" })).await;
        assert_eq!((status, &renamed["name"], &renamed["x"]), (StatusCode::OK, &json!("core"), &json!(300)));
        api.error(Method::PUT, &path, Some(r#"{"x": "left"}"#), 400, "x").await;
        api.error(Method::PUT, &path, Some(r#"{"ports": 4}"#), 400, "ports").await;
        (project, vm, switch)
    };
    let server = common::Binary::start(dir.path(), &["--no-audio"]);
    let api = Api { client: Client::new(), base: server.url("") };
    let (_, vm) = api.get(&format!("/v1/projects/{project}/vpcs/vms/{vm}")).await;
    assert_eq!((&vm["x"], &vm["y"]), (&json!(120), &json!(-40)), "{vm}");
    let (_, sw) = api.get(&format!("/v1/projects/{project}/switches/vms/{switch}")).await;
    assert_eq!((&sw["x"], &sw["name"]), (&json!(300), &json!("core")), "{sw}");
}
