//! Patchbay: a networked lab server for sound and networks.
//!
//! Layout:
//! - [`cli`]: `patchbay osc`, a shell that drives any server over OSC;
//! - [`engine`]: the OSW-style audio engine (graph, transforms, clocks);
//! - [`lab`]: projects of virtual PCs, ports, persistence (the model);
//! - [`notify`]: the hub every change is announced on;
//! - [`namespace`]: the OSC address tree over the engine, builtins and lab (seed 001's semantics);
//! - [`osc`]: OSC codec, pattern matching and transports (a view);
//! - [`http`]: the GNS3 API v1, notification streams and the dashboard (a view);
//! - [`sound`]: the engine inside the server (clock, control thread, notifications);
//! - [`server`]: configuration and start-up of all of it;
//! - [`logging`]: tracing set-up that also feeds `log.*` notifications.

pub mod cli;
pub mod engine;
pub mod http;
pub mod lab;
pub mod logging;
pub mod namespace;
pub mod notify;
pub mod osc;
pub mod server;
pub mod sound;
