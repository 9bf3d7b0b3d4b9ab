//! The one error type of the HTTP edge. Whatever went wrong, the client gets
//! `{"status": N, "message": "..."}` with the matching status code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use patchbay_shared::ErrorBody;

use crate::lab::LabError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// For a body that does not fit its route: the method, the route and the
    /// body as sent, which GNS3's server adds to such errors as `method`
    /// (1.5), `path` and `request`.
    pub invalid_body: Option<Box<(String, String, serde_json::Value)>>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), invalid_body: None }
    }

    /// Says which route refused which body (see [`ApiError::invalid_body`]).
    /// `route` is the method and the route's template.
    pub fn for_body(mut self, route: Option<(String, String)>, body: &[u8]) -> Self {
        if let Some((method, route)) = route {
            // An empty body reads as `{}`, here as everywhere in this API.
            let request = if body.iter().all(u8::is_ascii_whitespace) {
                serde_json::json!({})
            } else {
                serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)
            };
            self.invalid_body = Some(Box::new((method, route, request)));
        }
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { status: self.status.as_u16(), message: self.message };
        match self.invalid_body {
            None => (self.status, Json(body)).into_response(),
            Some(details) => {
                let (method, path, request) = *details;
                let body = serde_json::json!({
                    "status": body.status, "message": body.message, "method": method, "path": path,
                    "request": request,
                });
                (self.status, Json(body)).into_response()
            }
        }
    }
}

impl From<LabError> for ApiError {
    fn from(e: LabError) -> Self {
        let status = match &e {
            LabError::ProjectNotFound(_) | LabError::VmNotFound(_) | LabError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            LabError::Conflict(_) => StatusCode::CONFLICT,
            LabError::Invalid(_) => StatusCode::BAD_REQUEST,
            LabError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Unknown routes.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("No route for {}", uri.path()))
}

/// Known routes, wrong method.
pub(crate) async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("Method {method} is not allowed on {}", uri.path()))
}

/// A handler panicked: the client still gets JSON, and the server keeps serving.
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!("a request handler panicked: {detail}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
}
