//! Request extractors whose every failure is an [`ApiError`] naming the field.
//!
//! axum's own `Json` wants `Content-Type: application/json`, which the seed's
//! curl session (`curl -d '{...}'`) does not send, and its rejections are
//! plain text; these accept any content type and answer in JSON.

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;

/// A JSON body. An empty body reads as `{}`.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (route, bytes) = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody).map_err(|e| e.for_body(route, &bytes))
    }
}

/// A request's body, and the route it came to (for errors about it).
async fn read_body<S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<(Option<(String, String)>, Bytes), ApiError> {
    let route = route_of(req.method(), req.extensions());
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large")
        } else {
            ApiError::bad_request(format!("Cannot read request body: {}", rejection.body_text()))
        }
    })?;
    Ok((route, bytes))
}

/// The method and the template of the route a request matched
/// (`POST`, `/v1/projects/{project_id}`).
fn route_of(method: &axum::http::Method, extensions: &axum::http::Extensions) -> Option<(String, String)> {
    let path = extensions.get::<axum::extract::MatchedPath>()?;
    Some((method.to_string(), path.as_str().to_owned()))
}

/// Parses JSON, naming the offending field on error (`console: invalid type ...`).
/// Every body of this API is an object: serde would also read a struct from
/// an array (`["name"]`), so anything else is refused before it looks.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request("Invalid JSON body: expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("Invalid JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("Invalid JSON body: {path}: {inner}"))
        }
    })?;
    de.end().map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
    Ok(value)
}

/// A NIO body. GNS3's other kinds (TAP devices, host Ethernet ports) are a
/// 409 that says why, as the real server says of what its host lacks,
/// rather than a schema error about an unknown variant.
pub(crate) struct NioBody(pub patchbay_shared::Nio);

/// NIO kinds of GNS3 1.x that need something of the host Patchbay does not use.
const HOST_NIOS: [&str; 5] = ["nio_tap", "nio_generic_ethernet", "nio_linux_ethernet", "nio_unix", "nio_vde"];

impl<S: Send + Sync> FromRequest<S> for NioBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (route, bytes) = read_body(req, state).await?;
        #[derive(Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        if let Ok(Kind { kind: Some(kind) }) = serde_json::from_slice::<Kind>(&bytes) {
            if HOST_NIOS.contains(&kind.as_str()) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "This server links nodes with nio_udp tunnels only, as VPCS does: it has no {kind}"
                    ),
                ));
            }
        }
        parse_json(&bytes).map(NioBody).map_err(|e| e.for_body(route, &bytes))
    }
}

/// The body of actions that take no parameters (`start`, `stop`, `ports/udp` ...):
/// empty or `{}`, and anything else is refused rather than ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

/// The path's parameters, checked one by one so errors name the parameter.
/// All are checked before the body is read: a bad path wins over a bad body.
pub(crate) struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(map) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let params = Params(map);
        let route = route_of(&parts.method, &parts.extensions);
        for name in params.0.keys() {
            let checked = if name.ends_with("_id") {
                params.uuid(name).map(drop)
            } else {
                params.number(name).map(drop)
            };
            checked.map_err(|e| e.for_body(route.clone(), b""))?;
        }
        Ok(params)
    }
}

impl Params {
    fn raw(&self, name: &str) -> Result<&str, ApiError> {
        self.0.get(name).map(String::as_str).ok_or_else(|| ApiError::bad_request(format!("missing {name}")))
    }

    /// Only the canonical spelling (`8-4-4-4-12` hex digits): one node has
    /// one address, not also `{...}`, `urn:uuid:...` and a dashless form.
    pub(crate) fn uuid(&self, name: &str) -> Result<Uuid, ApiError> {
        let raw = self.raw(name)?;
        patchbay_shared::canonical_id::parse(raw)
            .ok_or_else(|| ApiError::bad_request(format!("{name}: {raw:?} is not a valid UUID")))
    }

    pub(crate) fn number(&self, name: &str) -> Result<u32, ApiError> {
        let raw = self.raw(name)?;
        raw.parse()
            .map_err(|_| ApiError::bad_request(format!("{name}: {raw:?} is not a non-negative integer")))
    }
}

/// A WebSocket handshake whose refusal (a plain `GET`, a bad key) is JSON
/// like every other error of the API, with the size of one incoming
/// message capped at `MAX` bytes. A client that offers the subprotocol
/// `patchbay` (with its token beside it, see [`super::guard`]) gets it.
pub(crate) struct Upgrade<const MAX: usize>(pub WebSocketUpgrade);

impl<S: Send + Sync, const MAX: usize> FromRequestParts<S> for Upgrade<MAX> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match WebSocketUpgrade::from_request_parts(parts, state).await {
            Ok(ws) => Ok(Upgrade(
                ws.max_message_size(MAX).max_frame_size(MAX).protocols([super::guard::WS_PROTOCOL]),
            )),
            Err(r) => {
                Err(ApiError::new(r.status(), format!("This route takes a WebSocket: {}", r.body_text())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchbay_shared::{Nio, ProjectCreate, VmCreate};

    fn message<T: DeserializeOwned>(json: &str) -> String {
        parse_json::<T>(json.as_bytes()).err().expect("should be refused").message
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(message::<NoFields>("[]").contains("expected a JSON object"));
        assert!(message::<VmCreate>(r#"["name"]"#).contains("expected a JSON object"));
        assert!(message::<NoFields>(" 1").contains("expected a JSON object"));
        assert!(parse_json::<NoFields>(b" {} ").is_ok() && parse_json::<NoFields>(b"").is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        assert!(message::<VmCreate>(r#"{"name": "a", "console": "x"}"#).contains("console: invalid type"));
        assert!(message::<VmCreate>(r#"{"name": "a", "console": 70000}"#).contains("console"));
        assert!(message::<VmCreate>(r#"{}"#).contains("missing field `name`"));
        assert!(message::<VmCreate>(r#"{"name": "a", "bogus": 1}"#).contains("unknown field `bogus`"));
        assert!(
            message::<Nio>(r#"{"type": "nio_udp", "lport": -1, "rhost": "h", "rport": 1}"#).contains("lport")
        );
    }

    #[test]
    fn ids_in_bodies_have_one_spelling_too() {
        let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for other in [format!("{{{id}}}"), format!("urn:uuid:{id}"), id.replace('-', "")] {
            let e = message::<VmCreate>(&format!(r#"{{"name": "a", "vm_id": "{other}"}}"#));
            assert!(e.contains("vm_id") && e.contains("8-4-4-4-12"), "{e}");
            let e = message::<ProjectCreate>(&format!(r#"{{"project_id": "{other}"}}"#));
            assert!(e.contains("project_id"), "{e}");
        }
        let ok = parse_json::<VmCreate>(format!(r#"{{"name": "a", "vm_id": "{id}"}}"#).as_bytes()).unwrap();
        assert_eq!(ok.vm_id.unwrap().to_string(), id);
        assert_eq!(parse_json::<ProjectCreate>(br#"{"project_id": null}"#).unwrap().project_id, None);
    }

    #[test]
    fn malformed_and_trailing_json_is_refused() {
        assert!(message::<VmCreate>(r#"{"name": "#).contains("Invalid JSON body"));
        assert!(message::<VmCreate>(r#"{"name": "a"} {}"#).contains("trailing characters"));
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        assert!(parse_json::<NoFields>(b"").is_ok());
        assert!(parse_json::<NoFields>(b" {} ").is_ok());
        assert!(parse_json::<NoFields>(br#"{"x": 1}"#).is_err());
    }
}
