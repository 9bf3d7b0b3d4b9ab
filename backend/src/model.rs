//! The one model under every view: the lab, the engine's host, the
//! notification hub and the powers a client holds. No axum and no sockets:
//! HTTP, OSC and the WebSocket bridge reach it through [`crate::app::App`],
//! and the namespace is built over it alone.

use std::path::PathBuf;

use crate::engine_host::EngineHost;
use crate::lab::Lab;
use crate::notify::Hub;

/// What clients may do beyond queries and edits, as configured at start.
#[derive(Debug, Clone, Default)]
pub struct Powers {
    /// `/osw-quit` and `/osw-restart` work (they can be turned off).
    pub quit: bool,
    /// Where `/load-osx` and `/save-patch` read and write patch files.
    pub patches_dir: PathBuf,
    /// The patch `/osw-restart` loads again.
    pub start_patch: Option<PathBuf>,
    /// The OSC port (UDP and TCP), shown at `/osc_server/communicator/basePort`.
    pub osc_port: u16,
}

/// The server's state, which every view acts on.
pub struct Model {
    pub lab: Lab,
    pub engine: EngineHost,
    pub hub: Hub,
    pub powers: Powers,
}
