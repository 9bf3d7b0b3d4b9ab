//! The HTTP edge: GNS3 API v1 routes, notification streams and the dashboard.
//!
//! Layout:
//! - [`error`]: the JSON error type every route returns;
//! - [`extract`]: body and path extractors that fail with that type;
//! - [`projects`], [`vms`], [`switches`]: the lab's routes, thin calls into [`crate::lab::Lab`];
//! - [`system`]: the server itself: version, interfaces, config reload, shutdown;
//! - [`files`]: a capture file streamed as it grows (`/v1/files/stream`);
//! - [`engine`]: the audio engine's status, transform types and patch file;
//! - [`notifications`]: the chunked JSON stream and its WebSocket twin;
//! - [`bridge`]: OSC over a WebSocket, as JSON;
//! - [`osc_binary`]: OSC over a WebSocket, as raw packets in binary frames (osc.js);
//! - [`console`]: a PC's telnet console over a WebSocket, for the dashboard;
//! - [`dashboard`]: the built dashboard's files, gzipped and cached by their hashes;
//! - [`oscquery`]: the namespace as OSCQuery JSON, on its own port;
//! - [`oscquery_ws`]: OSCQuery's WebSocket: LISTEN to values, path changes;
//! - [`guard`]: in front of all of them: Host, Origin, tokens and roles, CORS.

pub(crate) mod bridge;
pub(crate) mod console;
pub(crate) mod dashboard;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod files;
pub(crate) mod guard;
pub(crate) mod notifications;
pub(crate) mod osc_binary;
pub(crate) mod oscquery;
pub(crate) mod oscquery_ws;
pub(crate) mod projects;
pub(crate) mod switches;
pub(crate) mod system;
pub(crate) mod vms;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;

/// Request bodies larger than this are refused with 413.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// The GNS3 version `/v1/version` answers by default: GNS3 clients refuse
/// a server whose version differs from their own (`--gns3-version`).
pub(crate) const API_VERSION: &str = "1.3.13";

/// What the routes see: the app (model, traffic, shutdown) and the dashboard's files.
pub(crate) struct Web {
    pub app: Arc<App>,
    /// The built dashboard (Trunk's `dist/`), if there is one.
    pub dashboard: Option<PathBuf>,
    /// Who may reach the routes, and with what role.
    pub access: guard::Access,
    /// A GNS3 "local server" (`--local`): says so, and may be shut down by its client.
    pub local: bool,
    /// The GNS3 version answered (`--gns3-version`).
    pub gns3_version: String,
    /// The budget the binary OSC WebSockets share.
    pub osc_sockets: Arc<crate::osc::session::Sessions>,
}

pub(crate) type Shared = Arc<Web>;

pub(crate) fn app(state: Shared) -> Router {
    let vm = "/v1/projects/{project_id}/vpcs/vms/{vm_id}";
    let sw = "/v1/projects/{project_id}/switches/vms/{vm_id}";
    let api = Router::new()
        .route("/v1/version", get(system::version).post(system::check_version))
        .route("/v1/interfaces", get(system::interfaces))
        .route("/v1/files/stream", get(files::stream))
        .route("/v1/config/reload", post(system::reload_config))
        .route("/v1/server/shutdown", post(system::shutdown))
        .route("/v1/engine", get(engine::status))
        .route("/v1/engine/transform-types", get(engine::types))
        .route("/v1/engine/patch", get(engine::save).put(engine::load))
        .route("/v1/engine/ports", get(engine::ports))
        .route("/v1/notifications", get(notifications::stream_all))
        .route("/v1/notifications/ws", get(notifications::websocket))
        .route("/v1/osc/ws", get(bridge::websocket))
        .route("/v1/osc/binary", get(osc_binary::websocket))
        .route("/v1/projects", get(projects::list).post(projects::create))
        .route(
            "/v1/projects/{project_id}",
            get(projects::show).put(projects::update).delete(projects::delete),
        )
        .route("/v1/projects/{project_id}/close", post(projects::close))
        .route("/v1/projects/{project_id}/commit", post(projects::commit))
        .route("/v1/projects/{project_id}/notifications", get(notifications::stream_project))
        .route("/v1/projects/{project_id}/ports/udp", post(projects::allocate_udp))
        .route("/v1/projects/{project_id}/vpcs/vms", get(vms::list).post(vms::create))
        .route(vm, get(vms::show).put(vms::update).delete(vms::delete))
        .route(&format!("{vm}/console/ws"), get(console::websocket))
        .route(&format!("{vm}/start"), post(vms::start))
        .route(&format!("{vm}/stop"), post(vms::stop))
        .route(&format!("{vm}/reload"), post(vms::reload))
        .route(
            &format!("{vm}/adapters/{{adapter_number}}/ports/{{port_number}}/nio"),
            post(vms::add_nio).delete(vms::remove_nio),
        )
        .route(
            &format!("{vm}/adapters/{{adapter_number}}/ports/{{port_number}}/start_capture"),
            post(vms::start_capture),
        )
        .route(
            &format!("{vm}/adapters/{{adapter_number}}/ports/{{port_number}}/stop_capture"),
            post(vms::stop_capture),
        )
        .route("/v1/projects/{project_id}/switches/vms", get(switches::list).post(switches::create))
        .route(sw, get(switches::show).put(switches::update).delete(switches::delete))
        .route(&format!("{sw}/start"), post(switches::start))
        .route(&format!("{sw}/stop"), post(switches::stop))
        .route(
            &format!("{sw}/adapters/{{adapter_number}}/ports/{{port_number}}/nio"),
            post(switches::add_nio).delete(switches::remove_nio),
        )
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(axum::middleware::map_response_with_state((), x_route))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));

    let router = api
        .fallback(dashboard::dashboard_or_not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
        .layer(CatchPanicLayer::custom(error::panicked));
    // Request logs cost about a tenth of the throughput of a small request
    // even when filtered out, so the layer exists only when they are wanted.
    if tracing::enabled!(target: "tower_http::trace::on_request", tracing::Level::DEBUG) {
        router.layer(TraceLayer::new_for_http())
    } else {
        router
    }
}

/// `X-Route`: the route's template, as GNS3's server sets it on every answer.
async fn x_route(State(()): State<()>, path: Option<MatchedPath>, mut res: Response) -> Response {
    if let Some(value) = path.and_then(|p| HeaderValue::from_str(p.as_str()).ok()) {
        res.headers_mut().insert("x-route", value);
    }
    res
}
