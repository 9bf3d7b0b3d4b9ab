//! The notification hub: every change in the server is published here once,
//! and each consumer (HTTP stream, WebSocket, dashboard) reads its own feed.
//!
//! The hub is a bounded broadcast ring. A consumer that falls behind loses the
//! oldest events, never slows the publisher or the other consumers, and is
//! told how many it missed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_shared::{action, LogEvent, Notification, PingEvent};
use tokio::sync::broadcast;
use tokio::time::Instant;
use uuid::Uuid;

/// A notification serialized once for all consumers.
#[derive(Debug)]
pub struct Published {
    pub project_id: Option<Uuid>,
    pub json: String,
}

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Published>>,
    stats: Arc<Mutex<HostStats>>,
    idle: Duration,
}

impl Hub {
    /// `capacity` is how many events a consumer may lag behind before it
    /// starts losing them; `idle` is the ping interval of a quiet stream.
    pub fn new(capacity: usize, idle: Duration) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Hub { tx, stats: Arc::new(Mutex::new(HostStats::new())), idle }
    }

    pub fn publish(&self, notification: &Notification) {
        let json = serde_json::to_string(notification).expect("notifications always serialize");
        let project_id = notification.project_id().and_then(|id| Uuid::parse_str(id).ok());
        // An error only means nobody is listening.
        let _ = self.tx.send(Arc::new(Published { project_id, json }));
    }

    /// A feed of every notification, or of one project's and the pings.
    pub fn subscribe(&self, project: Option<Uuid>) -> Feed {
        Feed { rx: self.tx.subscribe(), project, hub: self.clone(), next_ping: None }
    }

    fn ping(&self) -> String {
        let event = self.stats.lock().unwrap_or_else(|e| e.into_inner()).sample();
        serde_json::to_string(&Notification::new(action::PING, event)).expect("pings serialize")
    }
}

/// One consumer's view of the hub.
pub struct Feed {
    rx: broadcast::Receiver<Arc<Published>>,
    project: Option<Uuid>,
    hub: Hub,
    /// `None` until the first ping, which goes out at once.
    next_ping: Option<Instant>,
}

impl Feed {
    /// The next line for this consumer: an event, a ping when the stream has
    /// been idle, or a warning that events were missed. `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<String> {
        let Some(deadline) = self.next_ping else {
            return Some(self.sent(self.hub.ping()));
        };
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_elapsed) => return Some(self.sent(self.hub.ping())),
                Ok(Ok(event)) if self.wants(&event) => return Some(self.sent(event.json.clone())),
                Ok(Ok(_other_project)) => continue,
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    tracing::debug!(missed, "a notification consumer fell behind");
                    let warning = LogEvent {
                        message: format!("This notification stream fell behind and missed {missed} events"),
                        project_id: self.project.map(|p| p.to_string()),
                    };
                    let line = Notification::new(action::LOG_WARNING, warning);
                    return Some(self.sent(serde_json::to_string(&line).expect("serializes")));
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            }
        }
    }

    fn wants(&self, event: &Published) -> bool {
        self.project.is_none() || event.project_id == self.project
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
}
