//! The HTTP edge through [`crate::http::app`] with `oneshot`, over a model on a
//! temporary directory: no socket, no server.

mod access;
mod gns3;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::access::Site;
use crate::app::App;
use crate::http::guard::Access;
use crate::http::{app, Web};
use crate::model::testing::model;

async fn router(dir: &std::path::Path, first_port: u16) -> axum::Router {
    router_as(dir, first_port, false).await
}

/// A router for a server started with or without `--local`.
async fn router_as(dir: &std::path::Path, first_port: u16, local: bool) -> axum::Router {
    let app_state = Arc::new(App::new(model(dir, first_port).await, CancellationToken::new()));
    let access =
        Access { site: Site::new("127.0.0.1".parse().unwrap(), 3080, false, &[], &[]), tokens: None };
    app(Arc::new(Web {
        app: app_state,
        dashboard: None,
        access,
        local,
        gns3_version: crate::http::API_VERSION.into(),
        osc_sockets: Arc::new(crate::http::osc_binary::sessions()),
    }))
}

/// The status and the body as JSON.
async fn call(
    router: &axum::Router,
    method: Method,
    uri: &str,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder().method(method).uri(uri).body(Body::from(body.to_owned())).unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn every_error_is_json_with_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 46000).await;
    let (status, body) = call(&r, Method::GET, "/v1/nowhere", "").await;
    assert_eq!((status, body["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));
    let (status, body) = call(&r, Method::DELETE, "/v1/version", "").await;
    assert_eq!((status, body["status"].as_u64()), (StatusCode::METHOD_NOT_ALLOWED, Some(405)));
    let (status, body) = call(&r, Method::POST, "/v1/projects", "{\"name\": 3}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("name"), "{body}");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(crate::http::BODY_LIMIT + 1));
    let (status, body) = call(&r, Method::POST, "/v1/projects", &big).await;
    assert_eq!((status, body["status"].as_u64()), (StatusCode::PAYLOAD_TOO_LARGE, Some(413)));
    let (status, _) = call(&r, Method::GET, "/v1/projects/not-a-uuid", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_project_and_a_vm_are_created_shown_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 46200).await;
    let (status, version) = call(&r, Method::GET, "/v1/version", "").await;
    assert_eq!((status, version["version"].as_str()), (StatusCode::OK, Some(crate::http::API_VERSION)));
    let (status, project) = call(&r, Method::POST, "/v1/projects", r#"{"name": "oneshot"}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    let p = project["project_id"].as_str().unwrap();
    let (status, vm) =
        call(&r, Method::POST, &format!("/v1/projects/{p}/vpcs/vms"), r#"{"name": "PC1"}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(vm["console"].as_u64(), Some(46200), "the first console port of the range");
    let v = vm["vm_id"].as_str().unwrap();
    let (status, shown) = call(&r, Method::GET, &format!("/v1/projects/{p}/vpcs/vms/{v}"), "").await;
    assert_eq!((status, shown["name"].as_str()), (StatusCode::OK, Some("PC1")));
    let (status, _) = call(&r, Method::DELETE, &format!("/v1/projects/{p}"), "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&r, Method::GET, &format!("/v1/projects/{p}"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_are_objects_and_ids_have_one_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 46800).await;
    let (status, body) = call(&r, Method::POST, "/v1/projects", r#"["name"]"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, project) = call(&r, Method::POST, "/v1/projects", r#"{"name": "kept"}"#).await;
    let id = project["project_id"].as_str().unwrap().to_owned();
    // `[]` used to close the project: now it is refused and the project stays open.
    let (status, _) = call(&r, Method::POST, &format!("/v1/projects/{id}/close"), "[]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(call(&r, Method::GET, &format!("/v1/projects/{id}"), "").await.0, StatusCode::OK);
    let spellings = [format!("{{{id}}}"), format!("urn:uuid:{id}"), id.replace('-', "")];
    for other in spellings {
        let (status, body) = call(&r, Method::GET, &format!("/v1/projects/{other}"), "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{other}: {body}");
    }
    let upper = id.to_uppercase();
    assert_eq!(call(&r, Method::GET, &format!("/v1/projects/{upper}"), "").await.0, StatusCode::OK);
}

#[tokio::test]
async fn websocket_routes_refuse_a_plain_request_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path(), 47000).await;
    let (_, project) = call(&r, Method::POST, "/v1/projects", r#"{"name": "ws"}"#).await;
    let p = project["project_id"].as_str().unwrap().to_owned();
    let (_, vm) = call(&r, Method::POST, &format!("/v1/projects/{p}/vpcs/vms"), r#"{"name": "PC1"}"#).await;
    let v = vm["vm_id"].as_str().unwrap();
    for uri in [
        "/v1/osc/ws".to_owned(),
        "/v1/notifications/ws".into(),
        format!("/v1/projects/{p}/vpcs/vms/{v}/console/ws"),
    ] {
        let (status, body) = call(&r, Method::GET, &uri, "").await;
        assert!(status.is_client_error(), "{uri}: {status}");
        assert_eq!(body["status"].as_u64(), Some(status.as_u16() as u64), "{uri}: {body}");
        assert!(body["message"].as_str().unwrap().contains("WebSocket"), "{uri}: {body}");
    }
}
