//! The notification hub: every change in the server is published here once,
//! and each consumer (HTTP stream, WebSocket, dashboard) reads its own feed.
//!
//! The hub is a [`Fanout`]: a consumer that falls behind loses the oldest
//! events and is told how many it missed; one that falls more than
//! [`CONSUMER_BYTES`] behind (or the furthest behind, when all together
//! hold [`TOTAL_BYTES`]) is told and closed. Neither slows the publisher
//! or the other consumers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_shared::{action, LogEvent, Notification, PingEvent};
use tokio::time::Instant;
use uuid::Uuid;

use crate::fanout::{self, Fanout, Recv, Weigh};

/// Bytes of events one consumer may have unread before it is closed.
pub(crate) const CONSUMER_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of unread events all consumers together may hold.
pub(crate) const TOTAL_BYTES: usize = 64 * 1024 * 1024;

/// A notification serialized once for all consumers.
#[derive(Debug)]
pub struct Published {
    pub project_id: Option<Uuid>,
    pub json: String,
}

impl Weigh for Arc<Published> {
    fn bytes(&self) -> usize {
        self.json.len() + std::mem::size_of::<Published>()
    }
}

#[derive(Clone)]
pub struct Hub {
    tx: Fanout<Arc<Published>>,
    stats: Arc<Mutex<HostStats>>,
    idle: Duration,
}

impl Hub {
    /// `capacity` is how many events a consumer may lag behind before it
    /// starts losing them; `idle` is the ping interval of a quiet stream.
    pub fn new(capacity: usize, idle: Duration) -> Self {
        let limits = fanout::Limits { events: capacity, bytes: CONSUMER_BYTES, total_bytes: TOTAL_BYTES };
        let tx = Fanout::new("notification stream", limits);
        Hub { tx, stats: Arc::new(Mutex::new(HostStats::new())), idle }
    }

    pub fn publish(&self, notification: &Notification) {
        let json = serde_json::to_string(notification).expect("notifications always serialize");
        let project_id = notification.project_id().and_then(|id| Uuid::parse_str(id).ok());
        self.tx.send(Arc::new(Published { project_id, json }));
    }

    /// A feed of every notification, or of one project's and the pings.
    pub fn subscribe(&self, project: Option<Uuid>) -> Feed {
        let rx = match project {
            None => self.tx.subscribe(),
            Some(p) => self.tx.subscribe_filtered(move |e: &Arc<Published>| e.project_id == Some(p)),
        };
        Feed { rx, project, hub: self.clone(), next_ping: None, closed: false }
    }

    fn ping(&self) -> String {
        let event = self.stats.lock().unwrap_or_else(|e| e.into_inner()).sample();
        serde_json::to_string(&Notification::new(action::PING, event)).expect("pings serialize")
    }
}

/// One consumer's view of the hub.
pub struct Feed {
    rx: fanout::Receiver<Arc<Published>>,
    project: Option<Uuid>,
    hub: Hub,
    /// `None` until the first ping, which goes out at once.
    next_ping: Option<Instant>,
    /// Told it fell too far behind: it ends.
    closed: bool,
}

impl Feed {
    /// The next line for this consumer: an event, a ping when the stream has
    /// been idle, or a warning that events were missed. After a last
    /// warning that it fell too far behind, `None`: the stream should end.
    pub async fn next(&mut self) -> Option<String> {
        if self.closed {
            return None;
        }
        let Some(deadline) = self.next_ping else {
            return Some(self.sent(self.hub.ping()));
        };
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_elapsed) => Some(self.sent(self.hub.ping())),
            Ok(Recv::Item(event)) => Some(self.sent(event.json.clone())),
            Ok(Recv::Missed(missed)) => {
                tracing::debug!(missed, "a notification consumer fell behind");
                Some(self.warning(format!("This notification stream fell behind and missed {missed} events")))
            }
            Ok(Recv::Closed { bytes }) => {
                self.closed = true;
                Some(self.warning(format!(
                    "This notification stream fell {bytes} bytes behind (the most is {CONSUMER_BYTES}) and is closed: reconnect"
                )))
            }
        }
    }

    /// Returns once this feed has been closed for falling too far behind,
    /// for a driver stuck writing to its client.
    pub async fn closed(&self) {
        self.rx.closed().await
    }

    fn warning(&mut self, message: String) -> String {
        let warning = LogEvent { message, project_id: self.project.map(|p| p.to_string()) };
        let line = Notification::new(action::LOG_WARNING, warning);
        self.sent(serde_json::to_string(&line).expect("serializes"))
    }

    fn sent(&mut self, line: String) -> String {
        self.next_ping = Some(Instant::now() + self.hub.idle);
        line
    }
}

/// CPU and memory usage of the host, for pings.
struct HostStats {
    system: sysinfo::System,
}

impl HostStats {
    fn new() -> Self {
        HostStats { system: sysinfo::System::new() }
    }

    /// CPU usage since the previous sample (0 on the first).
    fn sample(&mut self) -> PingEvent {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let total = self.system.total_memory().max(1) as f64;
        PingEvent {
            cpu_usage_percent: self.system.global_cpu_usage(),
            memory_usage_percent: (self.system.used_memory() as f64 * 100.0 / total) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn pings_at_once_then_when_idle() {
        let hub = Hub::new(16, Duration::from_secs(5));
        let mut feed = hub.subscribe(None);
        let first = parse(&feed.next().await.unwrap());
        assert_eq!(first["action"], "ping");
        assert!(first["event"]["memory_usage_percent"].as_f64().unwrap() > 0.0);
        let started = Instant::now();
        let second = parse(&feed.next().await.unwrap());
        assert_eq!(second["action"], "ping");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn project_feeds_see_only_their_project() {
        let hub = Hub::new(16, Duration::from_secs(5));
        let mine = Uuid::new_v4();
        let mut feed = hub.subscribe(Some(mine));
        feed.next().await.unwrap(); // the first ping
        hub.publish(&Notification::new("vm.created", json!({"project_id": Uuid::new_v4(), "name": "other"})));
        hub.publish(&Notification::new("vm.created", json!({"project_id": mine, "name": "mine"})));
        assert_eq!(parse(&feed.next().await.unwrap())["event"]["name"], "mine");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_consumer_is_told_what_it_missed_and_never_blocks_the_hub() {
        let hub = Hub::new(4, Duration::from_secs(5));
        let mut slow = hub.subscribe(None);
        let mut fast = hub.subscribe(None);
        slow.next().await.unwrap();
        fast.next().await.unwrap();
        for i in 0..10 {
            hub.publish(&Notification::new("vm.updated", json!({ "i": i })));
            assert_eq!(parse(&fast.next().await.unwrap())["event"]["i"], i);
        }
        let warning = parse(&slow.next().await.unwrap());
        assert_eq!(warning["action"], "log.warning");
        assert!(warning["event"]["message"].as_str().unwrap().contains("missed 6 events"));
        assert_eq!(parse(&slow.next().await.unwrap())["event"]["i"], 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_consumer_that_never_reads_is_told_and_closed_while_the_others_go_on() {
        let hub = Hub::new(1024, Duration::from_secs(5));
        let mut stuck = hub.subscribe(None);
        let mut reader = hub.subscribe(None);
        stuck.next().await.unwrap();
        reader.next().await.unwrap();
        let script = "x".repeat(1024 * 1024);
        for _ in 0..20 {
            hub.publish(&Notification::new("vm.updated", json!({ "startup_script": script })));
            assert_eq!(
                parse(&reader.next().await.unwrap())["event"]["startup_script"].as_str().unwrap().len(),
                script.len()
            );
        }
        let warning = parse(&stuck.next().await.unwrap());
        assert_eq!(warning["action"], "log.warning");
        assert!(warning["event"]["message"].as_str().unwrap().contains("bytes behind"), "{warning}");
        assert_eq!(stuck.next().await, None, "then it ends");
        hub.publish(&Notification::new("vm.updated", json!({ "i": 1 })));
        assert_eq!(parse(&reader.next().await.unwrap())["event"]["i"], 1);
    }
}
