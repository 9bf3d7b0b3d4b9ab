//! The running side of a VM: exists exactly while the VM is started.
//!
//! Starting builds a `VmRuntime`, stopping drops it, so a VM's status is
//! derived from whether it has one and can never disagree with reality.
//! The network stack and the telnet console will live here.

use std::time::Instant;

#[derive(Debug)]
pub struct VmRuntime {
    pub started_at: Instant,
}

impl VmRuntime {
    pub fn start() -> Self {
        VmRuntime {
            started_at: Instant::now(),
        }
    }
}
