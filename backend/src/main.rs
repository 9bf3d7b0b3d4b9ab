//! The `patchbay` binary: the server (the default), or `render`, which plays
//! a patch file offline into a WAV file, `osc`, a shell over OSC, or
//! `token new`, which makes a token for `--token-file`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use patchbay::access::tokens::{self, Role};
use patchbay::engine::patch_file::PatchFile;
use patchbay::engine::render::{render_to_wav, RenderOptions};
use patchbay::engine::Setup;
use patchbay::server::{self, Config};

#[derive(Parser)]
#[command(
    name = "patchbay",
    version,
    about = "Networked lab server for sound and networks",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Renders a patch file offline to a WAV file (stereo, 32-bit float), faster than real time.
    Render {
        /// The patch (JSON, as saved by the server).
        patch: PathBuf,
        /// The WAV file to write; it appears only when complete.
        out: PathBuf,
        /// Length of the render.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Sample rate.
        #[arg(long, default_value_t = 48000, value_parser = clap::value_parser!(u32).range(8000..=192000))]
        rate: u32,
        /// Samples per block.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
        block: u32,
        /// Where FilePlayer and FileRecorder may read and write [default: the patch's directory].
        #[arg(long)]
        files_dir: Option<PathBuf>,
    },
    /// An interactive shell that drives a server over OSC (ls, cd, doc, get, set, add, connect ...).
    Osc {
        /// The server's OSC address.
        #[arg(default_value = "127.0.0.1:7707")]
        server: String,
        /// Where `discover` listens for announcements.
        #[arg(long, default_value_t = 7706)]
        discovery_port: u16,
    },
    /// Tokens for --token-file.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Adds a new random token to the file (made with mode 0600 if missing) and prints it once.
    New {
        /// `admin` (everything) or `viewer` (reads only).
        #[arg(long, default_value = "admin", value_parser = ["admin", "viewer"])]
        role: String,
        /// The token file the server reads with --token-file.
        #[arg(long, env = "PATCHBAY_TOKEN_FILE")]
        token_file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Render { patch, out, seconds, rate, block, files_dir }) => {
            render(patch, out, seconds, Setup { rate: rate as f64, block: block as usize }, files_dir)
        }
        Some(Command::Osc { server, discovery_port }) => patchbay::cli::run(&server, discovery_port),
        Some(Command::Token { command: TokenCommand::New { role, token_file } }) => {
            let role = Role::parse(&role).expect("clap checked the role");
            let token = tokens::append_new(&token_file, role)?;
            eprintln!("added a {role} token to {}; it is shown only this once:", token_file.display());
            println!("{token}");
            Ok(())
        }
        None => serve(cli.server),
    }
}

fn render(
    patch: PathBuf,
    out: PathBuf,
    seconds: f64,
    setup: Setup,
    files_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        seconds.is_finite() && seconds > 0.0 && seconds <= 24.0 * 3600.0,
        "--seconds must be between 0 and 86400"
    );
    let json = std::fs::read_to_string(&patch).map_err(|e| anyhow::anyhow!("{}: {e}", patch.display()))?;
    let file = PatchFile::parse(&json).map_err(|e| anyhow::anyhow!("{}: {e}", patch.display()))?;
    let dir = files_dir.unwrap_or_else(|| patch.parent().map(PathBuf::from).unwrap_or_default());
    let total = (seconds * setup.rate) as u64;
    // A bar only for renders long enough to watch, and only on a terminal.
    let bar = (seconds > 30.0 && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed} elapsed, {eta} left")
                .expect("a valid template"),
        );
        bar
    });
    let report = render_to_wav(&file, &dir, RenderOptions { seconds, setup }, &out, &mut |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    println!(
        "{}: {seconds} s at {} Hz in {:.3} s ({:.1}x real time; patch built in {:.1} ms)",
        out.display(),
        setup.rate,
        report.render.as_secs_f64(),
        report.realtime_factor(setup.rate),
        report.load.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The server's runtime: its threads (HTTP, the lab's disk work, TCP and
/// WebSocket clients) run below the threads that must keep time; see
/// [`server::yield_to_real_time`].
fn serve(config: Config) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(server::yield_to_real_time)
        .build()?
        .block_on(serve_on_runtime(config))
}

async fn serve_on_runtime(config: Config) -> anyhow::Result<()> {
    let hub = config.hub();
    patchbay::logging::init(config.log_filter(), hub.clone(), config.log_file.as_deref())?;
    let running = server::start(&config, hub).await?;
    // Before the first line: whoever reads it may signal at once.
    let signals = Signals::install()?;
    let url = format!("{}://{}", running.scheme, running.addr);
    say(format_args!("Patchbay listening on {url}"));
    say(format_args!("  API:       {url}/v1/version"));
    match &running.dashboard {
        Some(dir) => say(format_args!("  dashboard: {url}/  (from {})", dir.display())),
        None => say(format_args!("  dashboard: not built (run scripts/run.sh)")),
    }
    say(format_args!("  OSC:       udp and tcp port {}", running.osc_port));
    say(format_args!("  data:      {}", running.data_dir.display()));
    tracing::info!(addr = %running.addr, "listening");

    let stop = running.stopper();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    running.wait().await?;
    say(format_args!("Patchbay stopped"));
    Ok(())
}

/// A line for whoever started the server. Their end of stdout may be gone
/// (`patchbay | head -1`, a closed terminal): that must not stop the server,
/// which `println!` would, by panicking.
fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Ctrl-C and SIGTERM, both of which stop the server cleanly.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Takes the signals over from their default action (ending the process) at once.
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
