//! The thread every started PC and switch runs on: one single-threaded tokio
//! runtime of its own, apart from the server's multi-thread one.
//!
//! Why: a frame from one PC to another in the same server should not wake a
//! second thread. On the multi-thread runtime another worker sleeps in the
//! reactor while a PC runs, so each send woke it, and a ping's round trip
//! paid for two thread wake-ups (measured: the request's `sendto` alone took
//! 60-100 µs). Here the thread that sends is the one that receives: it runs
//! the receiver's handler inside the send (see [`super::tunnel`]).

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

/// The runtime's handle, started on first use; it runs until the process ends.
pub(crate) fn handle() -> &'static Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .thread_name("patchbay-lab-blocking")
            .build()
            .expect("the lab's runtime starts");
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("patchbay-lab".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .expect("the lab's thread starts");
        handle
    })
}
