//! Command-line configuration and start-up of the whole server.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access::{Site, Sources, Tokens};
use crate::app::App;
use crate::engine_host::{EngineHost, EngineOptions};
use crate::http::guard::Access;
use crate::http::{self, Web};
use crate::lab::{Lab, LabConfig};
use crate::model::{Model, Powers};
use crate::notify::Hub;
use crate::osc::{self, Osc, OscConfig};

/// The server's configuration: its command line (`patchbay --help`).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "patchbay",
    long_about = None,
    version,
    about = "Networked lab server for sound and networks",
    args_override_self = true
)]
pub struct Config {
    /// Address to listen on. Anything but loopback needs --token-file (or --insecure-no-auth).
    #[arg(long, env = "PATCHBAY_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Tokens and their roles (`admin` or `viewer`), one `ROLE TOKEN` per line; make one
    /// with `patchbay token new`. Given, every API route needs a token, even on loopback.
    #[arg(long, env = "PATCHBAY_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Act as a GNS3 "local server": `/v1/version` says `local: true` (the GNS3 GUI's
    /// local server must, a remote one must not), and `/v1/server/shutdown` and
    /// `/v1/config/reload` work. On loopback only.
    #[arg(long, env = "PATCHBAY_LOCAL")]
    pub local: bool,
    /// The GNS3 version `/v1/version` answers: every GNS3 1.x client refuses a server
    /// whose version differs from its own, so a 1.5 GUI needs `--gns3-version 1.5.4`.
    #[arg(long, env = "PATCHBAY_GNS3_VERSION", default_value = crate::http::API_VERSION)]
    pub gns3_version: String,
    /// Serve a non-loopback address without tokens: anyone who reaches it may do anything.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// A web origin (`http://host:port`) whose pages may change things and open WebSockets,
    /// besides the server's own pages (repeatable, or comma-separated in the variable).
    #[arg(long, env = "PATCHBAY_ALLOW_ORIGIN", value_delimiter = ',')]
    pub allow_origin: Vec<String>,
    /// A host name the `Host` header may carry besides localhost and the bound address
    /// (repeatable). On a non-loopback address without it, any name is answered.
    #[arg(long, env = "PATCHBAY_ALLOW_HOST", value_delimiter = ',')]
    pub allow_host: Vec<String>,
    /// A certificate chain (PEM) to serve HTTPS and WSS with, on the same port; needs --tls-key.
    #[arg(long, env = "PATCHBAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, env = "PATCHBAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A network OSC is accepted from, as CIDR (repeatable) [default: loopback only].
    /// Datagrams and connections from elsewhere are dropped and counted.
    #[arg(long, env = "PATCHBAY_OSC_ALLOW", value_delimiter = ',')]
    pub osc_allow: Vec<ipnet::IpNet>,
    /// HTTP port (0 picks a free one).
    #[arg(long, env = "PATCHBAY_PORT", default_value_t = 3080)]
    pub port: u16,
    /// Where projects are kept [default: the platform's data directory, e.g. ~/.local/share/patchbay].
    #[arg(long, env = "PATCHBAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log filter: a level (`info`, `debug` ...) or tracing directives (`patchbay=debug`).
    #[arg(long, env = "PATCHBAY_LOG", default_value = "info")]
    pub log_level: String,
    /// Write the log to this file (appended) instead of stderr, as gns3server's `--log`,
    /// which the GNS3 GUI passes to the local server it starts.
    #[arg(long = "log", env = "PATCHBAY_LOG_FILE", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// The same as `--log-level debug` (gns3server's flag, which the GNS3 GUI may pass).
    #[arg(long)]
    pub debug: bool,
    /// Accepted as gns3server takes it (the GNS3 GUI may pass it): consoles already
    /// listen on `--host`, whatever it is.
    #[arg(long, hide = true)]
    pub allow: bool,
    /// The built dashboard to serve at `/` [default: ./dist when it exists].
    #[arg(long, env = "PATCHBAY_DASHBOARD")]
    pub dashboard: Option<PathBuf>,
    /// TCP ports for VM consoles.
    #[arg(long, env = "PATCHBAY_CONSOLE_PORTS", default_value = "2000-2999", value_parser = port_range)]
    pub console_ports: RangeInclusive<u16>,
    /// UDP ports for tunnels.
    #[arg(long, env = "PATCHBAY_UDP_PORTS", default_value = "10000-19999", value_parser = port_range)]
    pub udp_ports: RangeInclusive<u16>,
    /// How many notifications a slow consumer may lag behind before it misses some.
    #[arg(long, env = "PATCHBAY_NOTIFICATION_BUFFER", default_value_t = 1024)]
    pub notification_buffer: usize,
    /// Seconds between pings on an idle notification stream.
    #[arg(long, default_value_t = 5.0)]
    pub ping_interval: f64,
    /// A patch file (JSON) for the engine to load at start.
    #[arg(long, env = "PATCHBAY_PATCH")]
    pub patch: Option<PathBuf>,
    /// Engine sample rate when it runs on its own clock (a sound card sets its own).
    #[arg(long, env = "PATCHBAY_SAMPLE_RATE", default_value_t = 48000, value_parser = clap::value_parser!(u32).range(8000..=192000))]
    pub sample_rate: u32,
    /// Samples per engine block (per clock tick).
    #[arg(long, env = "PATCHBAY_BLOCK", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub block: u32,
    /// Never open the sound card: run the engine on its own clock.
    #[arg(long, env = "PATCHBAY_NO_AUDIO")]
    pub no_audio: bool,
    /// Where FilePlayer and FileRecorder read and write [default: <data-dir>/sounds].
    #[arg(long, env = "PATCHBAY_FILES_DIR")]
    pub files_dir: Option<PathBuf>,
    /// OSC port, UDP and TCP (0 picks a free one).
    #[arg(long, env = "PATCHBAY_OSC_PORT", default_value_t = 7707)]
    pub osc_port: u16,
    /// OSCQuery (JSON over HTTP: the namespace, its types and values) on this port;
    /// 0: none [default: 7709, skipped with a warning when another program holds it].
    #[arg(long, env = "PATCHBAY_OSCQUERY_PORT")]
    pub oscquery_port: Option<u16>,
    /// Send OSC replies to this port of the sender's host instead of the sender's port (OSW used 7708).
    #[arg(long, env = "PATCHBAY_OSC_REPLY_PORT")]
    pub osc_reply_port: Option<u16>,
    /// Refuse /osw-quit and /osw-restart.
    #[arg(long, env = "PATCHBAY_OSC_NO_QUIT")]
    pub osc_no_quit: bool,
    /// Port the discovery announcement goes to, every 3 s (0: none). On a loopback
    /// host it goes to 127.0.0.1, otherwise to the broadcast address.
    #[arg(long, env = "PATCHBAY_DISCOVERY_PORT", default_value_t = 7706)]
    pub discovery_port: u16,
    /// Also announce OSC by DNS-SD as `_osc._udp` (multicast DNS). Off unless
    /// asked, so that a default start sends nothing beyond this machine; on a
    /// loopback host it stays on the loopback interface.
    #[arg(long, env = "PATCHBAY_DNS_SD")]
    pub dns_sd: bool,
    /// Where /load-osx and /save-patch read and write patch files [default: <data-dir>/patches].
    #[arg(long, env = "PATCHBAY_PATCHES_DIR")]
    pub patches_dir: Option<PathBuf>,
}

fn port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (lo, hi) = s.split_once('-').ok_or("expected FIRST-LAST, e.g. 2000-2999")?;
    let lo: u16 = lo.trim().parse().map_err(|e| format!("{lo:?}: {e}"))?;
    let hi: u16 = hi.trim().parse().map_err(|e| format!("{hi:?}: {e}"))?;
    if lo == 0 || lo > hi {
        return Err(format!("{s:?} is not a range of ports between 1 and 65535"));
    }
    Ok(lo..=hi)
}

impl Config {
    /// The log filter: `--log-level`, or `debug` with `--debug`.
    pub fn log_filter(&self) -> &str {
        if self.debug {
            "debug"
        } else {
            &self.log_level
        }
    }

    /// Where projects and patches are kept: `--data-dir`, or the user's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir().map(|d| d.join("patchbay")).unwrap_or_else(|| PathBuf::from("patchbay-data"))
        })
    }

    fn dashboard(&self) -> Option<PathBuf> {
        self.dashboard
            .clone()
            .or_else(|| Some(PathBuf::from("dist")).filter(|d| d.join("index.html").exists()))
    }

    /// The notification hub this configuration asks for.
    pub fn hub(&self) -> Hub {
        Hub::new(self.notification_buffer, Duration::from_secs_f64(self.ping_interval.max(0.01)))
    }
}

/// A started server.
pub struct Running {
    /// The HTTP address it listens on.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The OSC port (UDP and TCP).
    pub osc_port: u16,
    /// Where OSCQuery listens, if it does.
    pub oscquery_port: Option<u16>,
    /// The model and what the views share, as every view sees it.
    pub app: Arc<App>,
    /// Where it keeps projects and patches.
    pub data_dir: PathBuf,
    /// The dashboard it serves, if any.
    pub dashboard: Option<PathBuf>,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    _osc: Osc,
}

impl Running {
    /// Stops accepting, ends the notification streams, waits for requests in flight.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("server task")?.context("server")
    }

    /// Runs until something cancels the [`Running::stopper`] token.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task")?.context("server")
    }

    /// A token that stops the server when cancelled (Ctrl-C, `/quit`).
    pub fn stopper(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// How much lower than the rest the runtime's threads run (a nice value).
const BULK_NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority, for the server's tokio
/// runtime. The threads that keep time (OSC over UDP, the engine's control
/// thread, the lab's PCs and the audio clock) are started from the main
/// thread and keep the normal priority. Why: a closed-loop HTTP load (100
/// clients creating and deleting projects) keeps every runtime thread busy,
/// and at equal priority the OSC thread got a third of a core and lost half
/// its replies (BENCHMARKS.md, "No view waits on another"). Raising a
/// priority needs privileges; lowering one does not.
pub fn yield_to_real_time() {
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), BULK_NICENESS) {
        tracing::debug!("cannot lower a runtime thread's priority: {e}");
    }
}

/// The tokens from the flags, or why the server must not start. Checked
/// before anything starts; the rest of [`Access`] needs the port bound.
fn tokens(config: &Config) -> anyhow::Result<Option<Tokens>> {
    let tokens = config.token_file.as_deref().map(Tokens::load).transpose()?;
    if tokens.is_none() && !config.host.is_loopback() && !config.insecure_no_auth {
        anyhow::bail!(
            "{} is reachable from other machines: make a token with `patchbay token new --role admin \
             --token-file tokens.txt` and start with --token-file tokens.txt (or --insecure-no-auth)",
            config.host
        );
    }
    if config.local && !config.host.is_loopback() {
        anyhow::bail!("--local serves a GNS3 client on this machine only: use a loopback --host");
    }
    if tokens.is_none() && !config.host.is_loopback() {
        tracing::warn!(host = %config.host, "--insecure-no-auth: anyone who reaches this server may do anything");
    }
    Ok(tokens)
}

/// Loads the lab, binds and serves. `hub` is passed in so logging can be
/// hooked to it before anything logs.
pub async fn start(config: &Config, hub: Hub) -> anyhow::Result<Running> {
    let tokens = tokens(config)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            Some(axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.with_context(
                || format!("reading the TLS certificate {} and key {}", cert.display(), key.display()),
            )?)
        }
        _ => None,
    };
    let data_dir = config.data_dir();
    let lab_config = LabConfig {
        host: config.host,
        data_dir: data_dir.clone(),
        console_ports: config.console_ports.clone(),
        udp_ports: config.udp_ports.clone(),
    };
    let engine_options = EngineOptions {
        rate: config.sample_rate as f64,
        block: config.block as usize,
        use_device: !config.no_audio,
        files_dir: config.files_dir.clone().unwrap_or_else(|| data_dir.join("sounds")),
        patch: config.patch.clone(),
    };
    let engine = EngineHost::start(&engine_options, hub.clone()).context("starting the engine")?;
    // Started here, not on first use from a runtime thread, whose lower
    // priority it would inherit (see `yield_to_real_time`).
    crate::lab::network_thread::handle();
    let lab = Lab::open(lab_config, hub.clone())
        .await
        .with_context(|| format!("opening {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind((config.host, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    let addr = listener.local_addr()?;
    let tls_on = config.tls_cert.is_some();
    let site = Site::new(config.host, addr.port(), tls_on, &config.allow_host, &config.allow_origin);
    let access = Access { site, tokens };
    let osc_sockets = osc::bind(config.host, config.osc_port)
        .await
        .with_context(|| format!("cannot listen for OSC on {}:{}", config.host, config.osc_port))?;
    let patches_dir = config.patches_dir.clone().unwrap_or_else(|| data_dir.join("patches"));
    std::fs::create_dir_all(&patches_dir).with_context(|| format!("creating {}", patches_dir.display()))?;
    let powers = Powers {
        quit: !config.osc_no_quit,
        patches_dir,
        start_patch: config.patch.clone(),
        osc_port: osc_sockets.port,
        osc_sources: Arc::new(Sources::new(&config.osc_allow)),
    };
    let shutdown = CancellationToken::new();
    let app = Arc::new(App::new(Model { lab, engine, hub, powers }, shutdown.clone()));

    let discovery = (config.discovery_port != 0).then(|| {
        let ip: IpAddr =
            if config.host.is_loopback() { config.host } else { std::net::Ipv4Addr::BROADCAST.into() };
        SocketAddr::new(ip, config.discovery_port)
    });
    let oscquery = bind_oscquery(config).await?;
    let oscquery_port = oscquery.as_ref().map(|l| l.local_addr()).transpose()?.map(|a| a.port());
    let osc_config =
        OscConfig { reply_port: config.osc_reply_port, discovery, dns_sd: config.dns_sd, oscquery_port };
    let osc = osc::start(osc_sockets, app.clone(), &osc_config)?;
    if let Some(mut events) = app.model.lab.take_events() {
        let (app, stop) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(event) = events.recv() => app.model.lab.handle_event(event).await,
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
    tokio::spawn(crate::memory::trim_periodically(shutdown.clone()));
    let dashboard = config.dashboard();
    let osc_sockets = Arc::new(http::osc_binary::sessions());
    let web = |access| Web {
        app: app.clone(),
        dashboard: dashboard.clone(),
        access,
        local: config.local,
        gns3_version: config.gns3_version.clone(),
        osc_sockets: osc_sockets.clone(),
    };
    if let (Some(listener), Some(port)) = (oscquery, oscquery_port) {
        let site = Site::new(config.host, port, tls_on, &config.allow_host, &config.allow_origin);
        let router = http::oscquery::app(Arc::new(web(Access { site, tokens: access.tokens.clone() })));
        tracing::info!(port, "OSCQuery: the namespace as JSON over HTTP");
        // It ends with the server; its task is not waited for.
        drop(serve(listener, router, tls.clone(), shutdown.clone())?);
    }
    let router = http::app(Arc::new(web(access)));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let task = serve(listener, router, tls, shutdown.clone())?;
    Ok(Running {
        addr,
        scheme,
        osc_port: osc.port,
        oscquery_port,
        app,
        data_dir,
        dashboard,
        shutdown,
        task,
        _osc: osc,
    })
}

/// The OSCQuery listener, if there is to be one. The default port taken by
/// another program is skipped with a warning (a second Patchbay still
/// starts); a port asked for by name must be had.
async fn bind_oscquery(config: &Config) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let port = config.oscquery_port.unwrap_or(DEFAULT_OSCQUERY_PORT);
    if port == 0 {
        return Ok(None);
    }
    match tokio::net::TcpListener::bind((config.host, port)).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if config.oscquery_port.is_none() => {
            tracing::warn!(
                port,
                "OSCQuery is off: cannot listen on its default port ({e}); pick one with --oscquery-port"
            );
            Ok(None)
        }
        Err(e) => Err(anyhow::anyhow!("cannot listen for OSCQuery on {}:{port}: {e}", config.host)),
    }
}

/// Serves `router` on `listener` (over TLS when configured) until `stop`.
fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    Ok(match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned()).await
        }),
        Some(tls) => {
            let handle = axum_server::Handle::new();
            let server = axum_server::from_tcp_rustls(listener.into_std()?, tls)?.handle(handle.clone());
            tokio::spawn(async move {
                stop.cancelled().await;
                // Streams end on the same token; requests get a few seconds.
                handle.graceful_shutdown(Some(Duration::from_secs(5)));
            });
            tokio::spawn(async move { server.serve(service).await })
        }
    })
}

/// Where OSCQuery listens unless told otherwise.
pub const DEFAULT_OSCQUERY_PORT: u16 = 7709;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_and_refuse_nonsense() {
        assert_eq!(port_range("2000-2999"), Ok(2000..=2999));
        assert!(port_range("2999-2000").is_err());
        assert!(port_range("0-10").is_err());
        assert!(port_range("2000").is_err());
        assert!(port_range("2000-70000").is_err());
    }
}
