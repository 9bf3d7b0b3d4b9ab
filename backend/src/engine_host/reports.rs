//! What the engine has to announce after a step: its changes (as
//! notifications), its propagation warnings and its `Print` lines.

use patchbay_shared::{action, Notification};

use crate::engine::Engine;
use crate::notify::Hub;

/// What the engine reported since it was last asked.
pub(super) struct Reports {
    pub(super) changes: Vec<crate::engine::Change>,
    warnings: Vec<String>,
    log: Vec<String>,
}

impl Reports {
    pub(super) fn take(engine: &mut Engine) -> Reports {
        Reports { changes: engine.take_changes(), warnings: engine.take_warnings(), log: engine.take_log() }
    }

    /// Announces them. The hub never waits for a slow subscriber (it drops
    /// what that one cannot take), so this never holds the owner up.
    pub(super) fn publish(self, hub: &Hub) {
        for change in self.changes {
            hub.publish(&Notification::new(action::ENGINE_CHANGED, change));
        }
        for warning in self.warnings {
            crate::limit_log::limit_hit("engine-propagation", warning);
        }
        for line in self.log {
            tracing::info!(target: "patchbay::engine", "{line}");
            hub.publish(&Notification::new(action::ENGINE_PRINT, serde_json::json!({ "message": line })));
        }
    }
}
