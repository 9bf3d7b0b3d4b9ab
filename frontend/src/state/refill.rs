//! The one way a store is filled: fetch its resource, and fetch again while
//! deltas that came meanwhile cannot be placed on the answer (see
//! `patchbay_shared::resync`).

use std::future::Future;

use leptos::prelude::*;
use leptos::task::spawn_local;
use patchbay_shared::resync::{Answered, Resync};

use crate::api::ApiResult;

/// Starts filling a store unless a fill is already under way. `fetch` makes
/// the request (`None`: nothing to fetch now); `settle` is given the answer
/// and the deltas held during it, and returns false when the answer is no
/// longer wanted (the selection moved meanwhile), which fetches once more.
pub fn refill<D, T, Fut>(
    sync: StoredValue<Resync<D>>,
    error: RwSignal<Option<String>>,
    fetch: impl Fn() -> Option<Fut> + 'static,
    settle: impl Fn(T, Vec<D>) -> bool + 'static,
) where
    D: Send + Sync + 'static,
    Fut: Future<Output = ApiResult<T>> + 'static,
{
    if !sync.try_update_value(Resync::want).unwrap_or(false) {
        return;
    }
    spawn_local(async move {
        loop {
            let Some(request) = fetch() else {
                sync.update_value(Resync::failed);
                return;
            };
            let answer = request.await;
            let Ok(value) = answer else {
                sync.update_value(Resync::failed);
                error.set(answer.err());
                return;
            };
            let Some(Answered::Keep(held)) = sync.try_update_value(Resync::answered) else {
                continue;
            };
            if settle(value, held) {
                return;
            }
            sync.update_value(|s| {
                s.want();
            });
        }
    });
}
