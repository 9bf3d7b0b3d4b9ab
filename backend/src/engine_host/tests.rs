//! The engine's one owner: who runs what, and what a failure takes down.

use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use super::{EngineHost, EngineOptions, Guest};
use crate::engine::value::Value;
use crate::notify::Hub;

fn host(dir: &std::path::Path) -> (EngineHost, Hub) {
    let hub = Hub::new(256, Duration::from_secs(5));
    let options = EngineOptions {
        rate: 48000.0,
        block: 64,
        use_device: false,
        files_dir: dir.join("sounds"),
        patch: None,
    };
    (EngineHost::start(&options, hub.clone()).unwrap(), hub)
}

fn here() -> (ThreadId, Option<String>) {
    (thread::current().id(), thread::current().name().map(str::to_owned))
}

#[test]
fn every_view_reaches_the_engine_on_its_one_owner_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _hub) = host(dir.path());
    let (owner, name) = host.quick(|_| here());
    assert_eq!(name.as_deref(), Some("patchbay-engine"));
    assert_ne!(owner, thread::current().id());
    let others: Vec<ThreadId> = thread::scope(|s| {
        let calls: Vec<_> = (0..4).map(|_| s.spawn(|| host.with(|_| here().0))).collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(others.iter().all(|t| *t == owner), "every caller's command ran on the owner thread");
}

#[test]
fn a_command_that_panics_fails_its_caller_and_the_engine_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _hub) = host(dir.path());
    host.with(|e| e.add_transform("/patch", "Value", "v", "").map(|_| ())).unwrap();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        host.with(|_| -> () { panic!("a handler's bug") })
    }));
    assert!(failed.is_err(), "the caller sees the panic");
    host.quick(|e| e.set_value("/patch/v/in", Value::Float(4.0))).unwrap();
    assert_eq!(host.quick(|e| e.current_value("/patch/v/out")).unwrap(), Value::Float(4.0));
}

/// Answers each datagram with the engine's time, read through the host from
/// inside its turn; "stop" ends it.
struct Echo {
    socket: UdpSocket,
    host: Arc<EngineHost>,
}

impl Guest for Echo {
    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn deadline(&self) -> Option<Instant> {
        None
    }

    fn turn(&mut self, readable: bool) -> bool {
        let mut buf = [0u8; 64];
        if !readable {
            return true;
        }
        while let Ok((n, peer)) = self.socket.recv_from(&mut buf) {
            if &buf[..n] == b"stop" {
                return false;
            }
            // Sent to the owner thread from the owner thread, this would wait
            // for itself for ever: the reply shows the call ran in place.
            let (time, name) = self.host.quick(|e| (e.now(), here().1));
            let _ = self.socket.send_to(format!("{time} {}", name.unwrap_or_default()).as_bytes(), peer);
        }
        true
    }
}

#[test]
fn a_guest_reaches_the_engine_in_place_and_other_callers_are_served_between_its_turns() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _hub) = host(dir.path());
    let host = Arc::new(host);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let at = socket.local_addr().unwrap();
    let guest_host = host.clone();
    host.attach(move || Box::new(Echo { socket, host: guest_host }));

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..3 {
        client.send_to(b"time?", at).unwrap();
        let mut buf = [0u8; 64];
        let Ok(n) = client.recv(&mut buf) else {
            // The owner is stuck: leave it rather than wait for it to stop.
            std::mem::forget(host);
            panic!("the guest's call to the engine never returned");
        };
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(reply.ends_with(" patchbay-engine"), "{reply}");
        // Another view's command, between two of the guest's turns.
        assert!(host.with(|e| e.now()) >= 0.0);
    }
    client.send_to(b"stop", at).unwrap();
    // The guest held a reference to the host; done, it lets go of it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&host) > 1 {
        assert!(Instant::now() < deadline, "the finished guest is dropped");
        thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn a_flood_of_set_values_is_announced_coalesced_and_its_last_value_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let (host, hub) = host(dir.path());
    host.with(|e| e.add_transform("/patch", "Value", "v", "").map(|_| ())).unwrap();
    let mut feed = hub.subscribe(None);
    for i in 1..=200 {
        host.quick(move |e| e.set_value("/patch/v/in", Value::Float(i as f64))).unwrap();
    }
    let mut announced = vec![];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !announced.last().is_some_and(|l: &String| l.contains("200")) {
        match tokio::time::timeout_at(deadline, feed.next()).await {
            Ok(Some(line)) if line.contains("engine.changed") && line.contains("/patch/v/in") => {
                announced.push(line)
            }
            Ok(Some(_)) => {}
            other => panic!("the last value is announced: {other:?}, after {announced:?}"),
        }
    }
    assert!(announced.len() < 200, "announced once per control period, not once each: {}", announced.len());
}
