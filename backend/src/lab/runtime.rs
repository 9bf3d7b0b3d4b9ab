//! The running side of a VM: exists exactly while the VM is started.
//!
//! Starting builds a `VmRuntime`, stopping drops it, so a VM's status is
//! derived from whether it has one and can never disagree with reality.

use std::time::Instant;

use super::vpc::driver::{Command, Handle, Spec};
use super::vpc::pc::IpConfig;

pub struct VmRuntime {
    pub started_at: Instant,
    pc: Handle,
}

impl VmRuntime {
    /// Binds the console and boots the PC; fails when the console port is taken.
    pub fn start(spec: Spec) -> std::io::Result<Self> {
        Ok(VmRuntime { started_at: Instant::now(), pc: Handle::start(spec)? })
    }

    pub fn send(&self, command: Command) {
        self.pc.send(command);
    }

    /// Stops the PC and waits until its sockets are closed.
    pub async fn stop(self) {
        self.pc.stop().await;
    }

    pub fn ip(&self) -> Option<IpConfig> {
        self.pc.ip()
    }
}
