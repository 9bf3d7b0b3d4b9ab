//! One log line when a client hits a limit, without letting a flood of hits
//! flood the log: each kind of limit logs at most once a second, and says
//! how many hits it did not log in between.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shortest time between two lines of one kind.
const EVERY: Duration = Duration::from_secs(1);

static LAST: Mutex<Option<HashMap<&'static str, (Instant, u64)>>> = Mutex::new(None);

/// Logs `detail` as a warning unless a line of this `kind` was logged less
/// than a second ago (then it is counted, and the next line says so).
pub(crate) fn limit_hit(kind: &'static str, detail: impl std::fmt::Display) {
    let skipped = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        let entry = last.get_or_insert_with(HashMap::new).entry(kind).or_insert((Instant::now() - EVERY, 0));
        if entry.0.elapsed() < EVERY {
            entry.1 += 1;
            return;
        }
        let skipped = entry.1;
        *entry = (Instant::now(), 0);
        skipped
    };
    if skipped == 0 {
        tracing::warn!(limit = kind, "{detail}");
    } else {
        tracing::warn!(limit = kind, skipped, "{detail} (and {skipped} more like it in the last second)");
    }
}
