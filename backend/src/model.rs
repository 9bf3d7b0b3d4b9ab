//! The one model under every view: the lab, the engine's host, the
//! notification hub and the powers a client holds. No axum and no sockets:
//! HTTP, OSC and the WebSocket bridge reach it through [`crate::app::App`],
//! and the namespace is built over it alone.

use std::path::PathBuf;
use std::sync::Arc;

use crate::access::Sources;
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
    /// Where OSC is accepted from, and how much was refused.
    pub osc_sources: Arc<Sources>,
}

/// The server's state, which every view acts on.
pub struct Model {
    pub lab: Lab,
    pub engine: EngineHost,
    pub hub: Hub,
    pub powers: Powers,
}

#[cfg(test)]
pub(crate) mod testing {
    //! A model on a temporary directory, for the unit tests of the layers above it.

    use std::time::Duration;

    use super::{Model, Powers};
    use crate::engine_host::{EngineHost, EngineOptions};
    use crate::lab::{Lab, LabConfig};
    use crate::notify::Hub;

    /// A model with no sound card, its data in `dir`, ports from `first_port` up (a hundred of each).
    pub(crate) async fn model(dir: &std::path::Path, first_port: u16) -> Model {
        let hub = Hub::new(256, Duration::from_secs(5));
        let engine_options = EngineOptions {
            rate: 48000.0,
            block: 64,
            use_device: false,
            files_dir: dir.join("sounds"),
            patch: None,
        };
        let engine = EngineHost::start(&engine_options, hub.clone()).unwrap();
        let lab_config = LabConfig {
            host: [127, 0, 0, 1].into(),
            data_dir: dir.to_owned(),
            console_ports: first_port..=first_port + 99,
            udp_ports: first_port + 100..=first_port + 199,
        };
        let lab = Lab::open(lab_config, hub.clone()).await.unwrap();
        let powers = Powers {
            quit: true,
            patches_dir: dir.join("patches"),
            start_patch: None,
            osc_port: 7707,
            osc_sources: Default::default(),
        };
        std::fs::create_dir_all(&powers.patches_dir).unwrap();
        Model { lab, engine, hub, powers }
    }
}
