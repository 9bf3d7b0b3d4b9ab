//! The lab's stores: the server's projects, and the PCs and switches of the
//! project the user selected (only that one: the others' deltas pass by).

use leptos::prelude::*;
use patchbay_shared::lab_delta::{LabDelta, Nodes, Projects};
use patchbay_shared::resync::Resync;
use uuid::Uuid;

use super::refill::refill;
use crate::api;

#[derive(Clone, Copy)]
pub struct LabStore {
    pub projects: RwSignal<Projects>,
    /// Whether the projects were fetched at least once.
    pub loaded: RwSignal<bool>,
    pub selected: RwSignal<Option<Uuid>>,
    /// The selected project's nodes, once fetched.
    pub nodes: RwSignal<Option<(Uuid, Nodes)>>,
    projects_sync: StoredValue<Resync<LabDelta>>,
    nodes_sync: StoredValue<Resync<LabDelta>>,
    error: RwSignal<Option<String>>,
}

impl LabStore {
    pub fn new(error: RwSignal<Option<String>>) -> Self {
        let store = LabStore {
            projects: RwSignal::new(Projects::default()),
            loaded: RwSignal::new(false),
            selected: RwSignal::new(None),
            nodes: RwSignal::new(None),
            projects_sync: StoredValue::new(Resync::default()),
            nodes_sync: StoredValue::new(Resync::default()),
            error,
        };
        // A newly selected project's nodes are fetched once.
        Effect::new(move |_| {
            if store.selected.get().is_some() {
                store.resync_nodes();
            } else {
                store.nodes.set(None);
            }
        });
        store
    }

    /// The selected project's nodes (empty while they are being fetched).
    pub fn current(&self) -> Signal<Nodes> {
        let (nodes, selected) = (self.nodes, self.selected);
        Signal::derive(move || {
            nodes.with(|n| match n {
                Some((project, nodes)) if Some(*project) == selected.get() => nodes.clone(),
                _ => Nodes::default(),
            })
        })
    }

    /// Fills both stores again (after a reconnect).
    pub fn resync(&self) {
        self.resync_projects();
        if self.selected.get_untracked().is_some() {
            self.resync_nodes();
        }
    }

    /// Applies a delta to the store it concerns, or holds it while that
    /// store is being fetched.
    pub fn apply(&self, delta: LabDelta) {
        if let LabDelta::ProjectGone(id) = delta {
            if self.selected.get_untracked() == Some(id) {
                self.selected.set(None);
            }
        }
        match delta.node_project() {
            None => {
                if let Some(d) = self.projects_sync.try_update_value(|s| s.offer(delta)).flatten() {
                    self.projects.maybe_update(|p| p.apply(&d));
                }
            }
            Some(project) if Some(project) == self.selected.get_untracked() => {
                if let Some(d) = self.nodes_sync.try_update_value(|s| s.offer(delta)).flatten() {
                    self.nodes.maybe_update(|n| match n {
                        Some((p, nodes)) if *p == project => nodes.apply(&d),
                        _ => false,
                    });
                }
            }
            Some(_) => {}
        }
    }

    fn resync_projects(&self) {
        let store = *self;
        refill(
            self.projects_sync,
            self.error,
            || Some(api::projects()),
            move |list, held| {
                let mut projects = Projects(list);
                for d in &held {
                    projects.apply(d);
                }
                store.projects.set(projects);
                store.loaded.set(true);
                true
            },
        );
    }

    fn resync_nodes(&self) {
        let store = *self;
        // Each round fetches the project selected then.
        let fetch = move || {
            let project = store.selected.get_untracked()?;
            Some(async move { fetch_nodes(project).await.map(|nodes| (project, nodes)) })
        };
        refill(self.nodes_sync, self.error, fetch, move |(project, mut nodes), held| {
            if store.selected.get_untracked() != Some(project) {
                return false; // selected elsewhere meanwhile
            }
            for d in held.iter().filter(|d| d.node_project() == Some(project)) {
                nodes.apply(d);
            }
            store.nodes.set(Some((project, nodes)));
            true
        });
    }
}

async fn fetch_nodes(project: Uuid) -> api::ApiResult<Nodes> {
    Ok(Nodes { vms: api::vms(project).await?, switches: api::switches(project).await? })
}
