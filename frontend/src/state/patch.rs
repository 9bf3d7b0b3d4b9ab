//! The engine's patch store: `GET /v1/engine/patch` and `/v1/engine/ports`
//! once, then every `engine.changed` event applied to both; one they cannot
//! place (a patch loaded, an edit they missed) fetches them again.

use leptos::prelude::*;
use patchbay_shared::engine::{Change, PatchFile};
use patchbay_shared::patch_delta::Applied;
use patchbay_shared::patch_ports::PortMap;
use patchbay_shared::resync::Resync;

use super::refill::refill;
use crate::api;

#[derive(Clone, Copy)]
pub struct PatchStore {
    /// The running patch, once fetched.
    pub file: RwSignal<Option<PatchFile>>,
    /// Every transform's ports, by address.
    pub ports: RwSignal<PortMap>,
    sync: StoredValue<Resync<Change>>,
    error: RwSignal<Option<String>>,
}

impl PatchStore {
    pub fn new(error: RwSignal<Option<String>>) -> Self {
        PatchStore {
            file: RwSignal::new(None),
            ports: RwSignal::new(PortMap::default()),
            sync: StoredValue::new(Resync::default()),
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

    pub fn apply(&self, change: Change) {
        let Some(change) = self.sync.try_update_value(|s| s.offer(change)).flatten() else { return };
        let mut refetch = false;
        self.file.maybe_update(|file| match file {
            Some(file) => {
                refetch = file.apply(&change) == Applied::Refetch;
                !refetch
            }
            None => {
                refetch = true;
                false
            }
        });
        // A value changes no port: the map is left alone, and nothing redraws for it.
        if !refetch && !matches!(change, Change::Value { .. }) {
            self.ports.update(|ports| refetch = ports.apply(&change) == Applied::Refetch);
        }
        if refetch {
            self.resync();
        }
    }

    pub fn resync(&self) {
        let store = *self;
        // Both at once: they are independent, and the first render waits for both.
        let fetch = || {
            Some(async {
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
