//! The door of the HTTP edge, in front of every route: the browser checks
//! ([`crate::access::browser`]), then the token and its role, then CORS
//! headers for the origins the user allowed.
//!
//! Credentials: `Authorization: Bearer TOKEN`; `Authorization: Basic` with
//! any user name and the token as password (GNS3 1.x clients); on a
//! WebSocket handshake also the subprotocol `patchbay.token.TOKEN` offered
//! beside `patchbay` (browsers cannot set headers on a WebSocket, and a
//! token in the URL would end up in logs).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::error::ApiError;
use super::Shared;
use crate::access::{browser, Role, Site, Tokens};
use crate::limit_log::limit_hit;

/// The subprotocol a WebSocket client offers, with its token beside it.
pub(crate) const WS_PROTOCOL: &str = "patchbay";
/// Prefix of the subprotocol that carries the token.
pub(crate) const WS_TOKEN_PREFIX: &str = "patchbay.token.";

/// How the HTTP edge decides who may do what.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub site: Site,
    /// `None`: no token file, so every client that passes the browser checks is an admin.
    pub tokens: Option<Tokens>,
}

pub(crate) async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    door(&s, req, next, Public::DashboardFiles).await
}

/// The same door for a port where every path is data (OSCQuery): with a
/// token file, every request needs a token.
pub(crate) async fn guard_all(State(s): State<Shared>, req: Request, next: Next) -> Response {
    door(&s, req, next, Public::Nothing).await
}

/// What may be read without a token when a token file is in use.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Public {
    /// Everything outside `/v1`: the dashboard's files (the page must load to ask for a token).
    DashboardFiles,
    Nothing,
}

async fn door(s: &Shared, mut req: Request, next: Next, public: Public) -> Response {
    let access = &s.access;
    let headers = req.headers();
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let upgrade = text(header::UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let (host, origin) = (text(header::HOST), text(header::ORIGIN));
    let method = req.method().clone();
    let check = browser::Request { method: method.as_str(), upgrade, host, origin };
    if let Err(refusal) = access.site.check(check) {
        limit_hit(
            "browser",
            format_args!("refused {method} {} from a page: {}", req.uri().path(), refusal.message),
        );
        let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
        return ApiError::new(status, refusal.message).into_response();
    }
    let allowed_origin =
        origin.filter(|o| access.site.is_allowed_origin(o)).and_then(|o| HeaderValue::from_str(o).ok());
    if method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return preflight(allowed_origin, origin);
    }
    let role = match role(access, headers, req.uri().path(), public) {
        Ok(role) => role,
        Err(refused) => {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
            let peer = peer.unwrap_or_else(|| "unknown".into());
            limit_hit(
                "credentials",
                format_args!("refused {method} {} from {peer}: {}", req.uri().path(), refused.message),
            );
            let from_a_page = req.headers().contains_key("sec-fetch-mode");
            return with_cors(unauthorized(refused, from_a_page), allowed_origin);
        }
    };
    if role == Role::Viewer && !matches!(method, Method::GET | Method::HEAD) {
        let refused =
            ApiError::new(StatusCode::FORBIDDEN, "A viewer token may only read: this needs an admin token");
        return with_cors(refused.into_response(), allowed_origin);
    }
    req.extensions_mut().insert(role);
    with_cors(next.run(req).await, allowed_origin)
}

/// The client's role, or why it has none. Without a token file everyone
/// is an admin; with one, every `/v1` route needs a token, and the
/// dashboard's files are public (the page must load to ask for one).
fn role(access: &Access, headers: &HeaderMap, path: &str, public: Public) -> Result<Role, ApiError> {
    let Some(tokens) = &access.tokens else { return Ok(Role::Admin) };
    if public == Public::DashboardFiles && !(path == "/v1" || path.starts_with("/v1/")) {
        return Ok(Role::Viewer);
    }
    let Some(secret) = credentials(headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "This server needs a token: send `Authorization: Bearer TOKEN` (see README, \"Exposing Patchbay\")",
        ));
    };
    tokens
        .role_of(&secret)
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "This token is not valid here"))
}

/// The token a request carries, in whichever of the accepted ways.
fn credentials(headers: &HeaderMap) -> Option<String> {
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, value) = auth.trim().split_once(' ')?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(value.to_owned());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
            let pair = String::from_utf8(decoded).ok()?;
            return pair.split_once(':').map(|(_user, password)| password.to_owned());
        }
        return None;
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_TOKEN_PREFIX).map(str::to_owned))
}

/// A 401 with its challenge: `Basic` in GNS3's words for clients such as
/// its GUI (whose start-up check answers only a `Basic realm="GNS3 server"`
/// challenge), `Bearer` for pages (a Basic challenge to a page's own fetch
/// would make the browser pop up its login dialog over the dashboard's).
fn unauthorized(refused: ApiError, from_a_page: bool) -> Response {
    let challenge = if from_a_page { "Bearer realm=\"patchbay\"" } else { "Basic realm=\"GNS3 server\"" };
    let mut res = refused.into_response();
    res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    res
}

/// Answers a CORS preflight: allowed origins get what they asked for; any
/// other gets a JSON 403 (the page's request would be refused anyway).
fn preflight(allowed: Option<HeaderValue>, origin: Option<&str>) -> Response {
    let Some(allowed) = allowed else {
        let origin = origin.unwrap_or("(none)");
        let message =
            format!("Origin {origin:?} is not allowed here (start the server with --allow-origin {origin})");
        return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
    };
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    res
}

fn with_cors(mut res: Response, allowed: Option<HeaderValue>) -> Response {
    if let Some(origin) = allowed {
        res.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        res.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn tokens_come_as_bearer_basic_or_a_subprotocol() {
        let t = "0123456789abcdef0123";
        assert_eq!(credentials(&headers(&[("authorization", &format!("Bearer {t}"))])).as_deref(), Some(t));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("gns3:{t}"));
        assert_eq!(
            credentials(&headers(&[("authorization", &format!("Basic {basic}"))])).as_deref(),
            Some(t)
        );
        let offered = format!("patchbay, {WS_TOKEN_PREFIX}{t}");
        assert_eq!(credentials(&headers(&[("sec-websocket-protocol", &offered)])).as_deref(), Some(t));
        assert_eq!(credentials(&headers(&[("authorization", "Digest x")])), None);
        assert_eq!(credentials(&headers(&[("authorization", "Basic !!!")])), None);
        assert_eq!(credentials(&HeaderMap::new()), None);
    }
}
