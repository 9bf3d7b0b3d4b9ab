//! The routes and shapes GNS3 1.x clients rely on (issue 14), as the real
//! gns3-server 1.3.13 answers them: version and its check, `local`,
//! projects with `path` and `location`, commit, config reload, shutdown,
//! interfaces, `%h` in startup scripts, `startup_script_path`, host NIOs
//! refused with 409, and `X-Route`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;

use super::{call, router, router_as};

#[tokio::test]
async fn version_says_local_and_checks_a_clients_version() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 47400).await;
    let (status, v) = call(&r, Method::GET, "/v1/version", "").await;
    assert_eq!(
        (status, v["version"].as_str(), v["local"].as_bool()),
        (StatusCode::OK, Some("1.3.13"), Some(false))
    );
    let (status, v) = call(&r, Method::POST, "/v1/version", r#"{"version": "1.3.13"}"#).await;
    assert_eq!((status, v["version"].as_str()), (StatusCode::OK, Some("1.3.13")));
    let (status, e) = call(&r, Method::POST, "/v1/version", r#"{"version": "1.5.0"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(e["message"], "Client version 1.5.0 differs with server version 1.3.13");
    let (status, _) = call(&r, Method::POST, "/v1/version", r#"{"v": 1}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let local = router_as(dir.path(), 47400, true).await;
    assert_eq!(call(&local, Method::GET, "/v1/version", "").await.1["local"], true);
}

#[tokio::test]
async fn projects_take_a_path_and_show_their_location_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 47600).await;
    for body in [r#"{"name": "a", "path": "/home/user/GNS3/projects/a"}"#, r#"{"name": "b", "path": null}"#] {
        let (status, p) = call(&r, Method::POST, "/v1/projects", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {p}");
        let (path, location) = (p["path"].as_str().unwrap(), p["location"].as_str().unwrap());
        assert!(path.starts_with(location) && path.ends_with(p["project_id"].as_str().unwrap()), "{p}");
    }
    let (_, p) = call(&r, Method::POST, "/v1/projects", r#"{"name": "c"}"#).await;
    let id = p["project_id"].as_str().unwrap();
    let (status, moved) =
        call(&r, Method::PUT, &format!("/v1/projects/{id}"), r#"{"name": "d", "path": "/tmp/x"}"#).await;
    assert_eq!((status, moved["name"].as_str()), (StatusCode::OK, Some("d")));
    assert_eq!(moved["path"], p["path"], "the project stays where it is");
    assert_eq!(
        call(&r, Method::POST, &format!("/v1/projects/{id}/commit"), "").await.0,
        StatusCode::NO_CONTENT
    );
    let nobody = "/v1/projects/00000000-0000-4000-8000-000000000000/commit";
    assert_eq!(call(&r, Method::POST, nobody, "").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_a_local_server_reloads_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let remote = router(dir.path(), 47800).await;
    let (status, e) = call(&remote, Method::POST, "/v1/server/shutdown", "").await;
    assert_eq!(
        (status, e["message"].as_str()),
        (StatusCode::FORBIDDEN, Some("You can only stop a local server"))
    );
    assert_eq!(call(&remote, Method::POST, "/v1/config/reload", "").await.0, StatusCode::FORBIDDEN);
    let local = router_as(dir.path(), 47800, true).await;
    assert_eq!(call(&local, Method::POST, "/v1/config/reload", "").await.0, StatusCode::CREATED);
    assert_eq!(call(&local, Method::POST, "/v1/server/shutdown", "").await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn interfaces_vpcs_scripts_nios_and_routes_as_gns3_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 48000).await;
    let (status, interfaces) = call(&r, Method::GET, "/v1/interfaces", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        interfaces.as_array().unwrap().iter().any(|i| i["id"] == "lo" && i["name"] == "lo"),
        "{interfaces}"
    );

    let (_, p) = call(&r, Method::POST, "/v1/projects", r#"{"name": "gns3"}"#).await;
    let p = p["project_id"].as_str().unwrap().to_owned();
    let vms = format!("/v1/projects/{p}/vpcs/vms");
    // What the GUI sends for every VPCS node.
    let (status, vm) =
        call(&r, Method::POST, &vms, r#"{"name": "PC1", "startup_script": "set pcname %h\n"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{vm}");
    assert_eq!(
        (vm["startup_script"].as_str(), vm["startup_script_path"].as_str()),
        (Some("set pcname PC1\n"), Some("startup.vpc"))
    );
    let (_, bare) = call(&r, Method::POST, &vms, r#"{"name": "PC2"}"#).await;
    assert_eq!(bare["startup_script_path"], serde_json::Value::Null);
    let v = bare["vm_id"].as_str().unwrap();
    let (_, renamed) =
        call(&r, Method::PUT, &format!("{vms}/{v}"), r#"{"name": "PC9", "startup_script": "set pcname %h"}"#)
            .await;
    assert_eq!(renamed["startup_script"], "set pcname PC9");

    let nio = format!("{vms}/{v}/adapters/0/ports/0/nio");
    let (status, e) = call(&r, Method::POST, &nio, r#"{"type": "nio_tap", "tap_device": "tap0"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().contains("nio_tap"), "{e}");
    let (status, _) =
        call(&r, Method::POST, &nio, r#"{"type": "nio_generic_ethernet", "ethernet_device": "eth0"}"#).await;
    assert_eq!(status, StatusCode::CONFLICT);

    let req = Request::builder().uri(format!("{vms}/{v}")).body(Body::empty()).unwrap();
    let res = r.clone().oneshot(req).await.unwrap();
    assert_eq!(res.headers()["x-route"], "/v1/projects/{project_id}/vpcs/vms/{vm_id}");
}

#[tokio::test]
async fn a_capture_streams_as_it_grows_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 48200).await;
    let (_, p) = call(&r, Method::POST, "/v1/projects", r#"{"name": "cap"}"#).await;
    let captures = std::path::Path::new(p["path"].as_str().unwrap()).join("project-files/captures");
    std::fs::create_dir_all(&captures).unwrap();
    let file = captures.join("PC1_0.pcap");
    std::fs::write(&file, b"first").unwrap();
    let body = serde_json::json!({ "location": file }).to_string();
    let req = Request::builder().uri("/v1/files/stream").body(Body::from(body)).unwrap();
    let res = r.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut stream = res.into_body();
    assert_eq!(next_chunk(&mut stream).await, "first");
    // Written after the stream reached the end: it follows the file.
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b" then more").unwrap();
    assert_eq!(next_chunk(&mut stream).await, " then more");

    let outside = dir.path().join("secret.pcap");
    std::fs::write(&outside, b"no").unwrap();
    std::os::unix::fs::symlink(&outside, captures.join("link.pcap")).unwrap();
    let refused = [
        (captures.join("notes.txt"), StatusCode::CONFLICT, "Only .pcap"),
        (outside.clone(), StatusCode::CONFLICT, "only captures"),
        (captures.join("link.pcap"), StatusCode::CONFLICT, "only captures"),
        (captures.join("../../../../secret.pcap"), StatusCode::CONFLICT, "only captures"),
        (captures.join("../../project.json.pcap"), StatusCode::NOT_FOUND, "doesn't exist"),
        (captures.join("missing.pcap"), StatusCode::NOT_FOUND, "doesn't exist"),
    ];
    for (location, status, says) in refused {
        let body = serde_json::json!({ "location": location }).to_string();
        let (got, e) = call(&r, Method::GET, "/v1/files/stream", &body).await;
        assert_eq!(got, status, "{location:?}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{location:?}: {e}");
    }
}

/// The next chunk of a streamed body (within 5 s).
async fn next_chunk(body: &mut Body) -> bytes::Bytes {
    use http_body_util::BodyExt;
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame()).await;
    frame.expect("a chunk in time").unwrap().unwrap().into_data().unwrap()
}
