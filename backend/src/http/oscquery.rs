//! OSCQuery over HTTP, on its own port (`--oscquery-port`, default 7709):
//! `GET /any/path` gives that node and everything under it as JSON,
//! `GET /any/path?VALUE` (or another attribute) that attribute alone, and
//! `GET /?HOST_INFO` the server's name, its OSC port and transports and the
//! extensions implemented; a WebSocket on any path streams values and path
//! changes ([`super::oscquery_ws`]). The tree is the namespace's own
//! ([`crate::namespace::oscquery`]); the same door as the API stands in front
//! ([`super::guard::guard_all`]: Host and Origin checked, and with a token
//! file every request needs a token).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde_json::json;

use std::sync::Arc;

use super::error::ApiError;
use super::extract::Upgrade;
use super::Shared;
use crate::access::Role;
use crate::limit_log::limit_hit;
use crate::namespace::oscquery::{TreeError, ATTRIBUTES, MAX_NODES};
use crate::namespace::Namespace;
use crate::osc::session::Sessions;

/// The extensions of the proposal this server implements, and those it does not.
const EXTENSIONS: [(&str, bool); 15] = [
    ("ACCESS", true),
    ("VALUE", true),
    ("DESCRIPTION", true),
    ("RANGE", true),
    ("TAGS", false),
    ("EXTENDED_TYPE", false),
    ("UNIT", false),
    ("CRITICAL", false),
    ("CLIPMODE", false),
    ("LISTEN", true),
    ("PATH_CHANGED", true),
    ("PATH_ADDED", true),
    ("PATH_REMOVED", true),
    ("PATH_RENAMED", true),
    ("HTML", false),
];

/// Whole trees built at once: a larger burst waits (at most [`TREE_WAIT`]).
pub(crate) const MAX_TREE_BUILDS: usize = 2;
/// How long a request waits for its turn to build a tree before a 503.
pub(crate) const TREE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// OSCQuery WebSockets open at once.
pub(crate) const MAX_SOCKETS: usize = 64;
/// Paths listened to by all OSCQuery WebSockets together (each is looked at 30 times a second).
pub(crate) const MAX_LISTENED: usize = 4096;

/// What all OSCQuery clients share, so that many together stay bounded.
pub(crate) struct Limits {
    trees: tokio::sync::Semaphore,
    /// Sockets open, and the paths they listen to.
    pub sockets: Arc<Sessions>,
}

/// The OSCQuery port's routes: every path is a node.
pub(crate) fn app(state: Shared) -> Router {
    let limits = Arc::new(Limits {
        trees: tokio::sync::Semaphore::new(MAX_TREE_BUILDS),
        sockets: Arc::new(Sessions::new(MAX_SOCKETS, MAX_LISTENED)),
    });
    Router::new()
        .fallback(node)
        .layer(Extension(limits))
        .layer(axum::middleware::from_fn_with_state(state.clone(), super::guard::guard_all))
        .with_state(state)
}

/// Largest message a client sends on the WebSocket (a LISTEN or IGNORE).
const MAX_COMMAND: usize = 64 * 1024;

async fn node(
    State(state): State<Shared>,
    Extension(role): Extension<Role>,
    Extension(limits): Extension<Arc<Limits>>,
    uri: Uri,
    upgrade: Result<Upgrade<MAX_COMMAND>, ApiError>,
) -> Response {
    if let Ok(Upgrade(ws)) = upgrade {
        let (app, sockets) = (state.app.clone(), limits.sockets.clone());
        return ws.on_upgrade(move |socket| super::oscquery_ws::serve(socket, app, sockets, role));
    }
    let Ok(Ok(_turn)) = tokio::time::timeout(TREE_WAIT, limits.trees.acquire()).await else {
        limit_hit("oscquery", format_args!("OSCQuery request for {} waited over {TREE_WAIT:?}", uri.path()));
        let message = format!("{MAX_TREE_BUILDS} OSCQuery trees are being built: retry");
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    };
    let query = uri.query().unwrap_or_default().to_owned();
    if query == "HOST_INFO" {
        return Json(host_info(&state)).into_response();
    }
    let attribute = match query.as_str() {
        "" => None,
        a if ATTRIBUTES.contains(&a) => Some(a.to_owned()),
        other => {
            let message = format!("Unknown attribute {other:?}: ask for one of {ATTRIBUTES:?} or HOST_INFO");
            return ApiError::new(StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let path = uri.path().to_owned();
    // A whole tree may be tens of thousands of lookups: off the async workers.
    let app = state.app.clone();
    let tree = tokio::task::spawn_blocking(move || {
        Namespace { model: &app.model, role, at: None }.oscquery_tree(&path)
    })
    .await;
    let tree = match tree {
        Ok(Ok(tree)) => tree,
        Ok(Err(TreeError::NotFound)) => {
            return ApiError::new(StatusCode::NOT_FOUND, format!("No node at {}", uri.path())).into_response()
        }
        Ok(Err(TreeError::TooLarge)) => {
            let message = format!("More than {MAX_NODES} nodes under {}: ask for a subtree", uri.path());
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
        }
        Err(_) => return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response(),
    };
    match attribute {
        None => Json(tree).into_response(),
        // An attribute the node does not have: no content, as the proposal says.
        Some(a) => match tree.get(&a) {
            Some(value) => Json(json!({ a: value })).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

fn host_info(state: &Shared) -> serde_json::Value {
    let extensions: serde_json::Map<String, serde_json::Value> =
        EXTENSIONS.iter().map(|(name, done)| (name.to_string(), json!(done))).collect();
    json!({
        "NAME": format!("Patchbay {}", env!("CARGO_PKG_VERSION")),
        "OSC_PORT": state.app.model.powers.osc_port,
        "OSC_TRANSPORT": "UDP",
        "EXTENSIONS": extensions,
    })
}
