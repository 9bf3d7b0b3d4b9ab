//! The token a server started with `--token-file` asks for: typed once,
//! kept in this tab's session storage (gone when the tab closes), and sent
//! on every request (`Authorization: Bearer`) and every WebSocket (as the
//! subprotocol `patchbay.token.TOKEN` beside `patchbay`: a browser cannot
//! set headers on a WebSocket, and a token in the URL would end up in logs).

use gloo_net::http::{Request, RequestBuilder};
use gloo_net::websocket::futures::WebSocket;

const KEY: &str = "patchbay.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

pub fn token() -> Option<String> {
    storage()?.get_item(KEY).ok().flatten().filter(|t| !t.is_empty())
}

pub fn remember(token: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(KEY, token.trim());
    }
}

/// `request` with the token, if there is one.
pub fn with_token(request: RequestBuilder) -> RequestBuilder {
    match token() {
        Some(t) => request.header("Authorization", &format!("Bearer {t}")),
        None => request,
    }
}

/// A WebSocket to `path` on the server that served the page, with the token.
pub fn open_socket(path: &str) -> Result<WebSocket, String> {
    let url = crate::state::ws_url(path);
    let socket = match token() {
        Some(t) => {
            WebSocket::open_with_protocols(&url, &["patchbay".to_owned(), format!("patchbay.token.{t}")])
        }
        None => WebSocket::open(&url),
    };
    socket.map_err(|e| e.to_string())
}

/// Whether the server lets this page in: `Ok(true)` yes, `Ok(false)` it
/// wants a (valid) token, `Err` it cannot be reached.
pub async fn admitted() -> Result<bool, String> {
    if let Some(answer) = crate::boot::admitted().await {
        return answer;
    }
    let res = with_token(Request::get("/v1/version")).send().await.map_err(|e| e.to_string())?;
    Ok(res.status() != 401)
}
