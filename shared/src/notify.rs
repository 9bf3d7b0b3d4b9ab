//! The notification stream: one `{"action": ..., "event": {...}}` object per
//! line (HTTP) or per text frame (WebSocket).

use serde::{Deserialize, Serialize};

/// One notification. `event` is the full object the action is about (a VM,
/// a project, a log record, a ping's statistics), so consumers never need a
/// second request to learn what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// What happened, as GNS3 spells it: see [`action`].
    pub action: String,
    /// The object it happened to.
    pub event: serde_json::Value,
}

impl Notification {
    /// A notification of `action` about `event`, serialized now.
    pub fn new(action: impl Into<String>, event: impl Serialize) -> Self {
        Notification {
            action: action.into(),
            event: serde_json::to_value(event).unwrap_or(serde_json::Value::Null),
        }
    }

    /// The project this notification concerns, if any: per-project streams
    /// pass only these (and pings, which every stream gets).
    pub fn project_id(&self) -> Option<&str> {
        self.event.get("project_id").and_then(|v| v.as_str())
    }
}

/// Action names, as GNS3 spells them.
pub mod action {
    /// Every few seconds: see [`PingEvent`](super::PingEvent).
    pub const PING: &str = "ping";
    /// A VM or switch was created; the event is the node.
    pub const VM_CREATED: &str = "vm.created";
    /// A VM or switch changed; the event is the node.
    pub const VM_UPDATED: &str = "vm.updated";
    /// A VM or switch started.
    pub const VM_STARTED: &str = "vm.started";
    /// A VM or switch stopped.
    pub const VM_STOPPED: &str = "vm.stopped";
    /// A VM or switch was deleted.
    pub const VM_DELETED: &str = "vm.deleted";
    /// A project was created or opened; the event is the project.
    pub const PROJECT_CREATED: &str = "project.created";
    /// A project changed.
    pub const PROJECT_UPDATED: &str = "project.updated";
    /// A project was closed.
    pub const PROJECT_CLOSED: &str = "project.closed";
    /// A project was deleted.
    pub const PROJECT_DELETED: &str = "project.deleted";
    /// An error the user should see.
    pub const LOG_ERROR: &str = "log.error";
    /// A warning the user should see.
    pub const LOG_WARNING: &str = "log.warning";
    /// A transform was added, deleted, renamed, connected or a patch loaded.
    pub const ENGINE_CHANGED: &str = "engine.changed";
    /// A Print transform printed `{"message": ...}`.
    pub const ENGINE_PRINT: &str = "engine.print";
}

/// The event of a `ping`: proof of life plus the host's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingEvent {
    /// The host's CPU load.
    pub cpu_usage_percent: f32,
    /// The host's memory in use.
    pub memory_usage_percent: f32,
}

/// The event of `log.error` and `log.warning`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    /// The log record's text.
    pub message: String,
    /// Set when the record concerns one project, so its stream carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}
