//! The built dashboard's files (Trunk's `dist/`), served at `/`.
//!
//! - Its wasm and JS are served gzipped to a browser that takes gzip, from
//!   the `.gz` twins Trunk's build hook writes (Trunk.toml): 1 MB of wasm is
//!   about 400 KB on the wire, which a classroom on one LAN feels, and no
//!   request pays for compressing.
//! - Files whose names carry Trunk's content hash never change, so they are
//!   cached for good (`immutable`); a returning page then also keeps the
//!   browser's compiled wasm. The page itself (`index.html`) is checked
//!   again each time, so a new build is picked up at once.

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, VARY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::{error, Shared};

/// Files of the built dashboard; everything else, and all of `/v1/`, is a JSON 404.
pub(crate) async fn dashboard_or_not_found(State(state): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(dist) = state.dashboard.as_ref().filter(|_| !path.starts_with("/v1/") && path != "/v1") else {
        if path == "/" {
            return Html(NO_DASHBOARD).into_response();
        }
        return error::not_found(req.uri().clone()).await.into_response();
    };
    let uri = req.uri().clone();
    let files = ServeDir::new(dist).append_index_html_on_directories(true).precompressed_gzip();
    match files.oneshot(req).await {
        Ok(res) if res.status() != StatusCode::NOT_FOUND => {
            let mut res = res.into_response();
            let headers = res.headers_mut();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control(&path)));
            // What a cache keeps depends on whether the browser took gzip.
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
            res
        }
        _ => error::not_found(uri).await.into_response(),
    }
}

const NO_DASHBOARD: &str = "<!doctype html><title>Patchbay</title><p>The dashboard is not built. \
    Run <code>scripts/run.sh</code>, or <code>trunk build --release</code>, and start the server again.</p>";

/// How long a browser may keep the file at `path`: for good if its name
/// carries a content hash (`name-0123456789abcdef.js`, `..._bg.wasm`,
/// `style-....css`; Trunk writes a 64-bit hash in hex without leading
/// zeros, so one in sixteen has 15 digits), else it asks again each time.
fn cache_control(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or_default();
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let hashed = stem.rsplit_once('-').is_some_and(|(_, hash)| {
        (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

#[cfg(test)]
mod tests {
    use super::cache_control;

    #[test]
    fn only_files_named_by_their_content_are_kept_for_good() {
        let forever = "public, max-age=31536000, immutable";
        assert_eq!(cache_control("/patchbay-dashboard-acfc7d83196c3804.js"), forever);
        assert_eq!(cache_control("/patchbay-dashboard-acfc7d83196c3804_bg.wasm"), forever);
        assert_eq!(cache_control("/style-41db4abc87a90b3a.css"), forever);
        assert_eq!(cache_control("/"), "no-cache");
        assert_eq!(cache_control("/index.html"), "no-cache");
        assert_eq!(cache_control("/patchbay-dashboard-d6843f59b7909ac_bg.wasm"), forever, "15 digits");
        assert_eq!(cache_control("/style-41db4abc87a.css"), "no-cache", "11 digits: a name, not a hash");
        assert_eq!(cache_control("/style-41db4abc87a90bxz.css"), "no-cache", "not hex");
        assert_eq!(cache_control("/favicon.ico"), "no-cache");
    }
}
