//! The virtual PC: a VPCS-compatible host with one Ethernet adapter.
//!
//! Layout:
//! - [`wire`]: the frames it sends and reads (smoltcp's wire types);
//! - [`pc`]: its network stack and its shell, I/O-free;
//! - [`tcp`]: `ping -3` and the answers to it, I/O-free;
//! - [`telnet`]: console option negotiation and line editing, I/O-free;
//! - [`capture`]: pcap files, written off the lab's thread;
//! - [`driver`]: the task, on the lab's thread, that owns the tunnel endpoint and the console.

pub(crate) mod capture;
pub(crate) mod driver;
pub(crate) mod pc;
pub(crate) mod tcp;
pub mod telnet;
pub mod wire;
