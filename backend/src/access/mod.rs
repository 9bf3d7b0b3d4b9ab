//! Who may reach the server and what they may do: the browser checks
//! (`Host` and `Origin`), bearer tokens with roles, and the sources allowed
//! to send OSC. Decisions only: no axum, no sockets; the HTTP edge and the
//! OSC transports apply them.
//!
//! Layout:
//! - [`browser`]: `Host` names the server, `Origin` is the server's own or allowed;
//! - [`tokens`]: the token file, roles, constant-time checks, new tokens;
//! - [`sources`]: the networks OSC is accepted from.

pub(crate) mod browser;
pub(crate) mod sources;
pub mod tokens;

pub use browser::Site;
pub use sources::Sources;
pub use tokens::{Role, Tokens};
