//! OSC, the OSW interface to the whole server.
//!
//! Layout:
//! - [`codec`]: packets to and from bytes (rosc for standard messages);
//! - [`pattern`]: address pattern matching;
//! - [`slip`]: TCP framing;
//! - [`server`]: the UDP and TCP transports, scheduled bundles, `#split`,
//!   discovery and the traffic feed ([`dns_sd`]: the DNS-SD announcement).
//!   What messages mean is
//!   [`crate::namespace`]'s business.

pub mod batch;
pub mod codec;
pub mod dns_sd;
pub mod pattern;
pub mod server;
pub mod slip;
