//! Logs: human-readable lines on stderr, and every warning or error of the
//! server itself also published as `log.warning` / `log.error` notifications,
//! so the dashboard shows what the operator's terminal shows.

use std::fmt::Write;
use std::path::Path;

use patchbay_shared::{action, LogEvent, Notification};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::notify::Hub;

/// Installs the global subscriber. `level` is an `EnvFilter` directive such as
/// `info` or `patchbay=debug,tower_http=debug`; `file`, when given, takes
/// the lines instead of stderr (appended to).
pub fn init(level: &str, hub: Hub, file: Option<&Path>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level).map_err(|e| anyhow::anyhow!("bad log level {level:?}: {e}"))?;
    let (writer, ansi) = match file {
        None => (BoxMakeWriter::new(std::io::stderr), std::io::IsTerminal::is_terminal(&std::io::stderr())),
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open the log file {}: {e}", path.display()))?;
            (BoxMakeWriter::new(std::sync::Mutex::new(file)), false)
        }
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).with_filter(filter))
        .with(HubLayer { hub }.with_filter(Targets::new().with_target("patchbay", Level::WARN)))
        .try_init()?;
    Ok(())
}

struct HubLayer {
    hub: Hub,
}

impl<S: Subscriber> Layer<S> for HubLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut record = Record::default();
        event.record(&mut record);
        let action =
            if *event.metadata().level() == Level::ERROR { action::LOG_ERROR } else { action::LOG_WARNING };
        let log = LogEvent { message: record.message, project_id: record.project_id };
        self.hub.publish(&Notification::new(action, log));
    }
}

/// The message of an event, with its other fields appended as `key=value`.
#[derive(Default)]
struct Record {
    message: String,
    project_id: Option<String>,
}

impl Visit for Record {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let fields = std::mem::take(&mut self.message);
                let _ = write!(self.message, "{value:?}{fields}");
            }
            name => {
                if name == "project_id" {
                    self.project_id = Some(format!("{value:?}"));
                }
                let _ = write!(self.message, " {name}={value:?}");
            }
        }
    }
}
