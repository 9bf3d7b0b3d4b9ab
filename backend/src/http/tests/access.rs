//! The access matrix of issue 17 through the router: every kind of route ×
//! Origin × Host × credentials gets the expected status with a JSON body,
//! and the lab changes only where the request was allowed.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::access::{Site, Tokens};
use crate::app::App;
use crate::http::guard::{Access, WS_TOKEN_PREFIX};
use crate::http::{app, Web};
use crate::model::testing::model;
use patchbay_shared::VmCreate;

const ADMIN: &str = "admin-token-0123456789";
const VIEWER: &str = "viewer-token-0123456789";
const ALLOWED: &str = "http://localhost:8080";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Get,
    PostJson,
    PostText,
    Put,
    Delete,
    WebSocket(&'static str),
    /// The console socket of the one PC made for the matrix.
    Console,
}

impl Kind {
    fn changes(self) -> bool {
        !matches!(self, Kind::Get | Kind::WebSocket(_) | Kind::Console)
    }
}

#[derive(Clone, Copy, Debug)]
enum Credential {
    None,
    Viewer,
    Admin,
    Wrong,
}

async fn router(dir: &std::path::Path, tokens: Option<Tokens>) -> (axum::Router, Arc<App>) {
    let app_state = Arc::new(App::new(model(dir, 47200).await, CancellationToken::new()));
    let site = Site::new("127.0.0.1".parse().unwrap(), 3080, false, &[], &[ALLOWED.into()]);
    let web = Web {
        app: app_state.clone(),
        dashboard: None,
        access: Access { site, tokens },
        local: false,
        gns3_version: crate::http::API_VERSION.into(),
        osc_sockets: Arc::new(crate::http::osc_binary::sessions()),
    };
    (app(Arc::new(web)), app_state)
}

struct Case<'a> {
    kind: Kind,
    origin: Option<&'a str>,
    host: &'a str,
    credential: Credential,
}

/// What the guard must answer, or `None` where the route itself answers.
fn expected(case: &Case<'_>, tokens: bool) -> Option<StatusCode> {
    if case.host.starts_with("evil") {
        return Some(StatusCode::MISDIRECTED_REQUEST);
    }
    let own = case.origin == Some("http://127.0.0.1:3080");
    let foreign = case.origin.is_some() && !own && case.origin != Some(ALLOWED);
    if foreign && (case.kind.changes() || matches!(case.kind, Kind::WebSocket(_) | Kind::Console)) {
        return Some(StatusCode::FORBIDDEN);
    }
    if tokens {
        match case.credential {
            Credential::None | Credential::Wrong => return Some(StatusCode::UNAUTHORIZED),
            Credential::Viewer if case.kind.changes() => return Some(StatusCode::FORBIDDEN),
            _ => {}
        }
    }
    None
}

async fn send(
    r: &axum::Router,
    case: &Case<'_>,
    project: &str,
    console: &str,
) -> (StatusCode, serde_json::Value, bool) {
    let (method, uri, body, content_type) = match case.kind {
        Kind::Get => (Method::GET, "/v1/projects".to_owned(), "", "application/json"),
        Kind::PostJson => (Method::POST, "/v1/projects".into(), r#"{"name": "made"}"#, "application/json"),
        Kind::PostText => (Method::POST, "/v1/projects".into(), r#"{"name": "made"}"#, "text/plain"),
        Kind::Put => {
            (Method::PUT, format!("/v1/projects/{project}"), r#"{"name": "renamed"}"#, "application/json")
        }
        Kind::Delete => (Method::DELETE, format!("/v1/projects/{project}"), "", "application/json"),
        Kind::WebSocket(path) => (Method::GET, path.into(), "", "application/json"),
        Kind::Console => (Method::GET, console.to_owned(), "", "application/json"),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", case.host)
        .header("content-type", content_type);
    if let Some(origin) = case.origin {
        req = req.header("origin", origin);
    }
    let secret = match case.credential {
        Credential::None => None,
        Credential::Viewer => Some(VIEWER),
        Credential::Admin => Some(ADMIN),
        Credential::Wrong => Some("wrong-token-0123456789"),
    };
    if matches!(case.kind, Kind::WebSocket(_) | Kind::Console) {
        req = req
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(secret) = secret {
            req = req.header("sec-websocket-protocol", format!("patchbay, {WS_TOKEN_PREFIX}{secret}"));
        }
    } else if let Some(secret) = secret {
        req = req.header("authorization", format!("Bearer {secret}"));
    }
    let res = r.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = res.status();
    let cors = res.headers().contains_key("access-control-allow-origin");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null), cors)
}

async fn projects(app: &App) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> =
        app.model.lab.list_projects().into_iter().map(|p| (p.project_id.to_string(), p.name)).collect();
    all.sort();
    all
}

async fn run_matrix(tokens: bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = Tokens::parse(&format!("admin {ADMIN}\nviewer {VIEWER}\n")).unwrap();
    let (r, app) = router(dir.path(), tokens.then_some(file)).await;
    let kinds = [
        Kind::Get,
        Kind::PostJson,
        Kind::PostText,
        Kind::Put,
        Kind::Delete,
        Kind::WebSocket("/v1/osc/ws"),
        Kind::WebSocket("/v1/notifications/ws"),
        Kind::Console,
    ];
    let lab = app.model.lab.create_project(Default::default()).await.unwrap().project_id;
    let vm =
        app.model.lab.create_vm(lab, VmCreate { name: "PC1".into(), ..Default::default() }).await.unwrap();
    let console = format!("/v1/projects/{lab}/vpcs/vms/{}/console/ws", vm.vm_id);
    let origins = [None, Some("http://127.0.0.1:3080"), Some(ALLOWED), Some("http://evil.example")];
    let hosts = ["127.0.0.1:3080", "localhost:3080", "evil.example:3080"];
    let credentials = [Credential::None, Credential::Viewer, Credential::Admin, Credential::Wrong];
    let mut checked = 0;
    for kind in kinds {
        for origin in origins {
            for host in hosts {
                for credential in credentials {
                    let project = app
                        .model
                        .lab
                        .create_project(Default::default())
                        .await
                        .unwrap()
                        .project_id
                        .to_string();
                    let before = projects(&app).await;
                    let case = Case { kind, origin, host, credential };
                    let (status, body, cors) = send(&r, &case, &project, &console).await;
                    let after = projects(&app).await;
                    let what =
                        format!("{kind:?} origin {origin:?} host {host} {credential:?}: {status} {body}");
                    match expected(&case, tokens) {
                        Some(refused) => {
                            assert_eq!(status, refused, "{what}");
                            assert_eq!(
                                body["status"].as_u64(),
                                Some(refused.as_u16() as u64),
                                "JSON: {what}"
                            );
                            assert_eq!(before, after, "refused, yet the lab changed: {what}");
                        }
                        None => {
                            let ok = match kind {
                                Kind::Get => status == StatusCode::OK,
                                Kind::PostJson | Kind::PostText => {
                                    status == StatusCode::CREATED && after.len() == before.len() + 1
                                }
                                Kind::Put => {
                                    status == StatusCode::OK
                                        && after.iter().any(|(id, n)| *id == project && n == "renamed")
                                }
                                Kind::Delete => {
                                    status == StatusCode::NO_CONTENT && after.len() + 1 == before.len()
                                }
                                // Past the guard the handshake itself answers (oneshot cannot upgrade).
                                Kind::WebSocket(_) | Kind::Console => status == StatusCode::UPGRADE_REQUIRED,
                            };
                            assert!(ok, "allowed, but: {what}");
                            if !kind.changes() {
                                assert_eq!(before, after, "{what}");
                            }
                        }
                    }
                    // CORS headers only for the origin the user allowed.
                    assert_eq!(cors, origin == Some(ALLOWED) && !host.starts_with("evil"), "CORS: {what}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 8 * 4 * 3 * 4);
}

#[tokio::test]
async fn on_loopback_without_tokens_only_pages_are_kept_out() {
    run_matrix(false).await;
}

#[tokio::test]
async fn with_a_token_file_every_route_needs_a_token_and_viewers_only_read() {
    run_matrix(true).await;
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = router(dir.path(), None).await;
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/projects")
            .header("host", "127.0.0.1:3080")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .body(Body::empty())
            .unwrap()
    };
    let res = r.clone().oneshot(preflight(ALLOWED)).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let res = r.clone().oneshot(preflight("http://evil.example")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_basic_password_is_a_token_and_the_dashboard_loads_without_one() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let file = Tokens::parse(&format!("admin {ADMIN}\n")).unwrap();
    let (r, _) = router(dir.path(), Some(file)).await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN}"));
    let get = |uri: &str, auth: Option<String>| {
        let mut req = Request::builder().uri(uri);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.body(Body::empty()).unwrap()
    };
    let res = r.clone().oneshot(get("/v1/version", Some(format!("Basic {basic}")))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = r.clone().oneshot(get("/v1/version", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Basic realm=\"GNS3 server\"", "as GNS3's server asks");
    let mut from_page = get("/v1/version", None);
    from_page.headers_mut().insert("sec-fetch-mode", "cors".parse().unwrap());
    let res = r.clone().oneshot(from_page).await.unwrap();
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "no browser dialog");
    // The page itself (here: the "not built" page) loads, so that it can ask for a token.
    let res = r.clone().oneshot(get("/", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
