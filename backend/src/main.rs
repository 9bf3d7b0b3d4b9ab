//! The `patchbay` binary: parses flags, sets up logging, runs the server until Ctrl-C.

use clap::Parser;
use patchbay::server::{self, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let hub = config.hub();
    patchbay::logging::init(&config.log_level, hub.clone())?;
    let running = server::start(&config, hub).await?;
    let url = format!("http://{}", running.addr);
    println!("Patchbay listening on {url}");
    println!("  API:       {url}/v1/version");
    match &running.dashboard {
        Some(dir) => println!("  dashboard: {url}/  (from {})", dir.display()),
        None => println!("  dashboard: not built (run scripts/run.sh)"),
    }
    println!("  data:      {}", running.data_dir.display());
    tracing::info!(addr = %running.addr, "listening");

    let stop = running.stopper();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    running.wait().await?;
    println!("Patchbay stopped");
    Ok(())
}

async fn wait_for_signal() {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
