//! The engine's patch store: `GET /v1/engine/patch` and `/v1/engine/ports`
//! once, then every `engine.changed` event applied to both; one they cannot
//! place (a patch loaded, an edit they missed) fetches them again.

use std::cell::Cell;

use leptos::prelude::*;
use patchbay_shared::engine::{Change, PatchFile};
use patchbay_shared::patch_delta::Applied;
use patchbay_shared::patch_ports::PortMap;
use patchbay_shared::resync::Resync;
use patchbay_shared::value::Value;
use patchbay_shared::value_reading::is_news;

use wasm_bindgen_futures::JsFuture;

use super::refill::refill;
use crate::api;

#[derive(Clone, Copy)]
pub struct PatchStore {
    /// The running patch, once fetched.
    pub file: RwSignal<Option<PatchFile>>,
    /// Every transform's ports, by address.
    pub ports: RwSignal<PortMap>,
    sync: StoredValue<Resync<Change>>,
    /// Changes applied that the views have not been told of yet: (any, to the ports).
    untold: StoredValue<(bool, bool)>,
    error: RwSignal<Option<String>>,
}

impl PatchStore {
    pub fn new(error: RwSignal<Option<String>>) -> Self {
        PatchStore {
            file: RwSignal::new(None),
            ports: RwSignal::new(PortMap::default()),
            sync: StoredValue::new(Resync::default()),
            untold: StoredValue::new((false, false)),
            error,
        }
    }

    /// The names of the root patch's transforms with their types, in the server's order.
    pub fn transforms(&self) -> Signal<Vec<(String, String)>> {
        let file = self.file;
        Signal::derive(move || {
            file.with(|f| {
                f.iter().flat_map(|f| &f.transforms).map(|t| (t.name.clone(), t.type_name.clone())).collect()
            })
        })
    }

    /// Applies a change to the store at once, and tells the views once per
    /// frame: a burst of changes (a script building a patch over OSC) is
    /// drawn once a frame, not once a change, so the page never falls
    /// behind the server however fast it changes.
    pub fn apply(&self, change: Change) {
        let Some(change) = self.sync.try_update_value(|s| s.offer(change)).flatten() else { return };
        let applied =
            |f: &mut Option<PatchFile>| f.as_mut().is_some_and(|f| f.apply(&change) == Applied::Done);
        let mut refetch = !self.file.try_update_untracked(applied).unwrap_or(false);
        // A value changes no port: the map is left alone, and nothing redraws for it.
        let ports_too = !matches!(change, Change::Value { .. });
        if !refetch && ports_too {
            refetch =
                self.ports.try_update_untracked(|p| p.apply(&change) == Applied::Refetch).unwrap_or(true);
        }
        if refetch {
            self.resync();
        }
        self.tell_next_frame(ports_too);
    }

    /// Takes a value read back from the engine (see `value_reading`) as a
    /// change, if it is news to the file: the engine tells of values set,
    /// not of values that arrive over connections.
    pub fn observe(&self, path: &str, read: Value) {
        let Some((transform, port)) = path.rsplit_once('/') else { return };
        let news = self.file.with_untracked(|f| {
            let held = f.as_ref().and_then(|f| f.transform(transform)).map(|t| t.values.get(port));
            held.is_some_and(|held| is_news(held, &read))
        });
        if news {
            self.apply(Change::Value { path: path.to_owned(), value: read });
        }
    }

    /// Notifies the file's views (and the ports', if `ports`) at the next
    /// animation frame, once for all the changes until then.
    fn tell_next_frame(&self, ports: bool) {
        let waiting = self.untold.with_value(|u| u.0);
        self.untold.update_value(|u| *u = (true, u.1 || ports));
        if waiting {
            return;
        }
        let store = *self;
        request_animation_frame(move || {
            let (_, ports) = store.untold.get_value();
            store.untold.set_value((false, false));
            store.file.notify();
            if ports {
                store.ports.notify();
            }
        });
    }

    pub fn resync(&self) {
        self.resync_from(None);
    }

    /// Fills the store with a patch and its ports (JSON) that were fetched
    /// once the socket was open, unless they do not parse or a fill is
    /// under way. True if it did.
    pub fn fill(&self, patch: &[u8], ports: &[u8]) -> bool {
        if self.sync.with_value(Resync::fetching) {
            return false;
        }
        let Some((file, ports)) = parse(patch, ports) else { return false };
        self.file.set(Some(file));
        self.ports.set(ports);
        true
    }

    /// Fills the store, the first time from `boot` (the fetch `boot.js`
    /// started) when there is one; if that failed, the store fetches.
    pub fn resync_from(&self, boot: Option<JsFuture>) {
        let store = *self;
        let boot = Cell::new(boot);
        let fetch = move || {
            let boot = boot.take();
            Some(async move {
                if let Some(answer) =
                    boot.map(|b| async { b.await.ok().as_ref().and_then(crate::boot::pair) })
                {
                    if let Some(parsed) = answer.await.and_then(|(patch, ports)| parse(&patch, &ports)) {
                        return Ok(parsed);
                    }
                }
                // Both at once: they are independent, and the first render waits for both.
                let (patch, ports) = futures::join!(api::patch(), api::ports());
                Ok((patch?, ports?))
            })
        };
        refill(self.sync, self.error, fetch, move |(mut file, mut ports): (PatchFile, PortMap), held| {
            // Held changes that do not fit are older than the answer: it has them.
            for change in &held {
                file.apply(change);
                ports.apply(change);
            }
            store.file.set(Some(file));
            store.ports.set(ports);
            true
        });
    }
}

/// The patch and its ports from their JSON; `None` if either does not parse.
fn parse(patch: &[u8], ports: &[u8]) -> Option<(PatchFile, PortMap)> {
    Some((serde_json::from_slice(patch).ok()?, serde_json::from_slice(ports).ok()?))
}
