//! What keeps web pages the user opens from driving the server. A server on
//! localhost is reachable from every page: a page may send "simple" requests
//! (a `text/plain` POST) and open WebSockets to it without asking, and DNS
//! rebinding lets a page's own name point at 127.0.0.1. So:
//! - the `Host` header must name this server (rebinding sends the page's
//!   name), and
//! - a request that changes something, and every WebSocket, must come
//!   from no page at all (no `Origin`: curl, scripts, GNS3) or from this
//!   server's own pages, or from an origin the user allowed.
//!
//! Reading (GET) from another origin needs no check here: without CORS
//! headers the browser does not let the page see the answer.

use std::net::IpAddr;

/// Why a request was refused, and the status it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

/// What a request looks like to these checks.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// A WebSocket handshake (`Upgrade: websocket`).
    pub upgrade: bool,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
}

/// The names and origins this server answers to.
#[derive(Debug, Clone)]
pub struct Site {
    /// `http` or `https`, as the server is served.
    scheme: &'static str,
    /// Lower-case host names (no port) the `Host` header may carry; `None`:
    /// any (a server exposed beyond loopback, where tokens guard it, and no
    /// `--allow-host` given).
    hosts: Option<Vec<String>>,
    /// Origins besides the server's own, as `scheme://host[:port]`, lower case.
    origins: Vec<String>,
    /// The port served at, for the server's own origins.
    port: u16,
}

impl Site {
    /// `bound` and `port` are the address listened on; `allow_hosts` and
    /// `allow_origins` are `--allow-host` and `--allow-origin`.
    pub fn new(
        bound: IpAddr,
        port: u16,
        tls: bool,
        allow_hosts: &[String],
        allow_origins: &[String],
    ) -> Site {
        let mut names: Vec<String> = allow_hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        let hosts = if bound.is_loopback() || !names.is_empty() {
            names.extend(["localhost".to_owned(), bracketed(bound)]);
            if bound.is_loopback() {
                names.extend(["127.0.0.1".to_owned(), "[::1]".to_owned()]);
            }
            Some(names)
        } else {
            None
        };
        let origins = allow_origins.iter().map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
        Site { scheme: if tls { "https" } else { "http" }, hosts, origins, port }
    }

    /// The origins allowed besides the server's own (for CORS answers).
    pub fn allowed_origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether `origin` was allowed with `--allow-origin`.
    pub fn is_allowed_origin(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.contains(&origin)
    }

    /// Passes a request, or says why not.
    pub fn check(&self, req: Request<'_>) -> Result<(), Refusal> {
        if let (Some(hosts), Some(host)) = (&self.hosts, req.host) {
            let name = host_name(host).to_ascii_lowercase();
            if !hosts.contains(&name) {
                return Err(Refusal {
                    status: 421,
                    message: format!(
                        "This server does not answer to the name {name:?} (start it with --allow-host {name} to allow it)"
                    ),
                });
            }
        }
        let safe = matches!(req.method, "GET" | "HEAD" | "OPTIONS") && !req.upgrade;
        let Some(origin) = req.origin.filter(|_| !safe) else { return Ok(()) };
        if self.is_own(origin, req.host) || self.is_allowed_origin(origin) {
            return Ok(());
        }
        let what = if req.upgrade { "WebSocket" } else { "request that changes something" };
        Err(Refusal {
            status: 403,
            message: format!(
                "Origin {origin:?} may not send a {what} to this server (start it with --allow-origin {origin} to allow it)"
            ),
        })
    }
}

impl Site {
    /// Whether `origin` is one of this server's own pages: the origin the
    /// request was sent to, or this scheme and port under any of its names
    /// (a page from 127.0.0.1 may drive localhost: the same server).
    fn is_own(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.to_ascii_lowercase();
        if host.is_some_and(|host| origin == format!("{}://{}", self.scheme, host.to_ascii_lowercase())) {
            return true;
        }
        let Some(rest) = origin.strip_prefix(self.scheme).and_then(|r| r.strip_prefix("://")) else {
            return false;
        };
        let default_port = if self.scheme == "https" { 443 } else { 80 };
        let name = host_name(rest);
        let port = match &rest[name.len()..] {
            "" => default_port,
            p => match p.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) {
                Some(p) => p,
                None => return false,
            },
        };
        port == self.port && self.hosts.as_ref().is_some_and(|hosts| hosts.iter().any(|h| h == name))
    }
}

/// An address as it appears in a `Host` header: IPv6 in brackets.
fn bracketed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// `Host` without its port: `localhost:3080` → `localhost`, `[::1]:3080` → `[::1]`.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, host: &'a str, origin: Option<&'a str>) -> Request<'a> {
        Request { method, upgrade: false, host: Some(host), origin }
    }

    fn local() -> Site {
        Site::new("127.0.0.1".parse().unwrap(), 3080, false, &[], &["http://localhost:8080".into()])
    }

    #[test]
    fn the_host_must_name_the_server() {
        let site = local();
        for host in ["127.0.0.1:3080", "localhost:3080", "LOCALHOST", "[::1]:3080", "127.0.0.1"] {
            assert_eq!(site.check(req("GET", host, None)), Ok(()), "{host}");
        }
        let refused = site.check(req("GET", "evil.example:3080", None)).unwrap_err();
        assert_eq!(refused.status, 421);
        assert!(refused.message.contains("evil.example"), "{}", refused.message);
        // A name the user allowed.
        let named = Site::new("127.0.0.1".parse().unwrap(), 3080, false, &["lab.local".into()], &[]);
        assert_eq!(named.check(req("POST", "lab.local:3080", None)), Ok(()));
        // Requests without Host (HTTP/1.0) carry no page's name.
        assert_eq!(site.check(Request { method: "GET", upgrade: false, host: None, origin: None }), Ok(()));
    }

    #[test]
    fn an_exposed_server_answers_any_name_unless_told() {
        let open = Site::new("0.0.0.0".parse().unwrap(), 3080, false, &[], &[]);
        assert_eq!(open.check(req("GET", "10.1.2.3:3080", None)), Ok(()));
        let named = Site::new("0.0.0.0".parse().unwrap(), 3080, false, &["lab.example".into()], &[]);
        assert_eq!(named.check(req("GET", "lab.example", None)), Ok(()));
        assert_eq!(named.check(req("GET", "10.1.2.3", None)).unwrap_err().status, 421);
    }

    #[test]
    fn changes_and_websockets_need_the_servers_own_origin_or_an_allowed_one() {
        let site = local();
        let host = "127.0.0.1:3080";
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            assert_eq!(site.check(req(method, host, None)), Ok(()), "no Origin: curl, GNS3");
            assert_eq!(site.check(req(method, host, Some("http://127.0.0.1:3080"))), Ok(()), "own page");
            assert_eq!(
                site.check(req(method, host, Some("http://localhost:3080"))),
                Ok(()),
                "own, other name"
            );
            assert_eq!(site.check(req(method, host, Some("http://localhost:8080"))), Ok(()), "allowed");
            for foreign in ["http://evil.example", "null", "http://127.0.0.1:3081", "https://127.0.0.1:3080"]
            {
                let refused = site.check(req(method, host, Some(foreign))).unwrap_err();
                assert_eq!(refused.status, 403, "{method} from {foreign}");
            }
        }
        // Reading is left to the browser's same-origin rule.
        assert_eq!(site.check(req("GET", host, Some("http://evil.example"))), Ok(()));
        let ws =
            Request { method: "GET", upgrade: true, host: Some(host), origin: Some("http://evil.example") };
        assert!(site.check(ws).unwrap_err().message.contains("WebSocket"));
        let own_ws = Request { origin: Some("http://127.0.0.1:3080"), ..ws };
        assert_eq!(site.check(own_ws), Ok(()));
    }

    #[test]
    fn host_names_lose_their_ports() {
        assert_eq!(host_name("localhost:3080"), "localhost");
        assert_eq!(host_name("[::1]:3080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("example.org"), "example.org");
    }
}
