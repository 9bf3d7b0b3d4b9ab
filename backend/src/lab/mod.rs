//! The lab: projects of virtual PCs and Ethernet switches, their links,
//! ports and persistence. Every change is saved before it is announced, and
//! announced on the hub. The model ([`crate::model`]) holds one `Lab`.
//!
//! Names: a PC is a `PcEntry` in its project (its configuration), a
//! [`vpc::driver::RunningPc`] while it is started (the task on the lab's
//! thread), and a [`vpc::pc::Pc`] inside that (the I/O-free machine). A
//! switch is likewise a [`switches::SwitchEntry`] and, started, an
//! [`ethernet_switch::RunningSwitch`].
//!
//! Layout:
//! - this file: the lab's state, its locks and the events of running PCs;
//! - `projects.rs`: opening, closing, deleting and saving projects;
//! - `lifecycle.rs`: what PCs and switches share (delete, start, stop);
//! - `pcs.rs`: the PCs' operations; `captures.rs`: their packet captures;
//! - [`switches`]: the switches' operations; [`ethernet_switch`]: the learning bridge that runs one;
//! - [`links`]: linking and unlinking two ends (a tunnel at each);
//! - [`console_line`]: one line typed on a PC's console from outside it;
//! - [`ports`]: console and tunnel port books; `macs.rs`: the PCs' MAC addresses;
//! - `validate.rs`: checks of names, hosts, NIOs and adapter ports;
//! - [`store`]: atomic project files in the data directory;
//! - [`network_thread`]: the one thread every started PC and switch runs on;
//! - [`tunnel`]: the UDP endpoints of NIOs; a frame to a PC or switch of this
//!   server is delivered inside its sender's send;
//! - [`vpc`]: the virtual PC.
//!
//! Locking: one short std mutex guards the in-memory state and is never held
//! across an await. Requests on one VM are serialized by that VM's async lock
//! ([`Lab::lock_vm`]); different VMs proceed concurrently. Saves of one
//! project are serialized by its own lock and always write the latest state.

mod captures;
pub(crate) mod console_line;
pub(crate) mod ethernet_switch;
mod lifecycle;
pub(crate) mod links;
mod macs;
pub(crate) mod network_thread;
mod pcs;
pub(crate) mod ports;
mod projects;
pub(crate) mod store;
pub(crate) mod switches;
#[cfg(test)]
mod tests;
pub(crate) mod tunnel;
mod validate;
pub(crate) mod vpc;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use patchbay_shared::{action, Notification, VmUpdate};
use tokio::sync::{mpsc, OwnedMutexGuard};
use uuid::Uuid;

use crate::notify::Hub;
use macs::MacAllocator;
use pcs::PcEntry;
use ports::{PortAllocator, PortError};
use store::{Store, StoreError};
use vpc::driver::Event;

/// Where the lab binds and keeps its files.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub host: IpAddr,
    pub data_dir: PathBuf,
    pub console_ports: RangeInclusive<u16>,
    pub udp_ports: RangeInclusive<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("Project ID {0} doesn't exist")]
    ProjectNotFound(Uuid),
    #[error("VM ID {0} doesn't exist")]
    VmNotFound(Uuid),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StoreError),
}

pub(crate) type Result<T, E = LabError> = std::result::Result<T, E>;

impl From<PortError> for LabError {
    fn from(e: PortError) -> Self {
        LabError::Conflict(e.to_string())
    }
}

pub struct Lab {
    state: Mutex<State>,
    store: Store,
    hub: Hub,
    host: IpAddr,
    vm_locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// Running PCs report here; the server hands these to [`Lab::handle_event`].
    events: mpsc::UnboundedSender<Event>,
    event_rx: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
}

struct State {
    projects: HashMap<Uuid, ProjectState>,
    consoles: PortAllocator,
    udp: PortAllocator,
    macs: MacAllocator,
}

struct ProjectState {
    id: Uuid,
    name: String,
    temporary: bool,
    /// In creation order, which is the order listings show.
    vms: Vec<PcEntry>,
    switches: Vec<switches::SwitchEntry>,
    /// Tunnel ports this project holds, from `ports/udp` or from its NIOs.
    udp_ports: BTreeSet<u16>,
    /// Serializes this project's saves.
    save_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Lab {
    /// Opens the data directory, loads every open project and starts the VMs
    /// that were running when the server last stopped.
    pub async fn open(config: LabConfig, hub: Hub) -> Result<Self> {
        let store = Store::open(&config.data_dir)?;
        let state = State {
            projects: HashMap::new(),
            consoles: PortAllocator::new(config.console_ports.clone(), ports::tcp_probe(config.host)),
            udp: PortAllocator::new(config.udp_ports.clone(), ports::udp_probe(config.host)),
            macs: MacAllocator::default(),
        };
        let (events, event_rx) = mpsc::unbounded_channel();
        let lab = Lab {
            state: Mutex::new(state),
            store,
            hub,
            host: config.host,
            vm_locks: Mutex::default(),
            events,
            event_rx: Mutex::new(Some(event_rx)),
        };
        let loaded = lab.store.run(Store::load_all).await;
        for file in loaded {
            match file {
                Ok(file) if file.closed => {}
                Ok(file) => {
                    let id = file.project_id;
                    let started_switches: Vec<Uuid> =
                        file.switches.iter().filter(|s| s.started).map(|s| s.vm_id).collect();
                    let started = lab.adopt(file);
                    tracing::info!(project_id = %id, started = started.len(), "loaded project");
                    for vm in started {
                        if let Err(e) = lab.start_vm(id, vm).await {
                            tracing::error!(vm_id = %vm, "cannot restart VM: {e}");
                        }
                    }
                    for switch in started_switches {
                        if let Err(e) = lab.start_switch(id, switch).await {
                            tracing::error!(vm_id = %switch, "cannot restart switch: {e}");
                        }
                    }
                }
                Err(e) => tracing::error!("skipping a saved project: {e}"),
            }
        }
        Ok(lab)
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding this lock; recover rather than wedge if one ever does.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn announce(&self, action: &str, event: impl serde::Serialize) {
        self.hub.publish(&Notification::new(action, event));
    }

    // ----- VMs -----

    /// Waits until no other request is working on this VM. Every VM operation
    /// below takes this first; a caller may also hold it to run several in a row.
    pub async fn lock_vm(&self, vm: Uuid) -> OwnedMutexGuard<()> {
        let lock = self.vm_locks.lock().unwrap_or_else(|e| e.into_inner()).entry(vm).or_default().clone();
        lock.lock_owned().await
    }

    /// Drops the lock of a deleted node.
    fn forget_lock(&self, id: Uuid) {
        self.vm_locks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// The receiver of the running PCs' events, for the server's event loop. Once.
    pub fn take_events(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        self.event_rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Acts on what a running PC reported.
    pub async fn handle_event(&self, event: Event) {
        let vm = match &event {
            Event::IpChanged(vm) | Event::ScriptSaved(vm, _) => *vm,
        };
        let Some(project) = self.state().project_of(vm) else { return }; // deleted meanwhile
        let result = match event {
            Event::IpChanged(_) => {
                self.vm_json(project, vm).map(|json| self.announce(action::VM_UPDATED, json))
            }
            Event::ScriptSaved(_, script) => {
                let update = VmUpdate { startup_script: Some(script), ..Default::default() };
                self.update_vm(project, vm, update).await.map(drop)
            }
        };
        if let Err(e) = result {
            tracing::warn!(vm_id = %vm, "{e}");
        }
    }
}

impl State {
    fn project(&self, id: Uuid) -> Result<&ProjectState> {
        self.projects.get(&id).ok_or(LabError::ProjectNotFound(id))
    }

    fn project_mut(&mut self, id: Uuid) -> Result<&mut ProjectState> {
        self.projects.get_mut(&id).ok_or(LabError::ProjectNotFound(id))
    }

    /// Whether any project has a VM or switch with this id.
    fn node_exists(&self, id: Uuid) -> bool {
        self.projects
            .values()
            .any(|p| p.vms.iter().any(|v| v.id == id) || p.switches.iter().any(|s| s.id == id))
    }

    fn project_of(&self, vm: Uuid) -> Option<Uuid> {
        self.projects.values().find(|p| p.vms.iter().any(|v| v.id == vm)).map(|p| p.id)
    }

    /// Books `lport` for the NIO on `owner`'s port, giving back the port it replaces.
    fn claim_lport(&mut self, project: Uuid, lport: u16, old: Option<u16>, owner: (Uuid, u32)) -> Result<()> {
        let entry = self.project(project)?;
        if entry.nio_lports().any(|(node, port, used)| used == lport && (node, port) != owner) {
            return Err(LabError::Conflict(format!("UDP port {lport} is already used by another NIO")));
        }
        let range = self.udp.range();
        if !range.contains(&lport) {
            let (low, high) = (range.start(), range.end());
            return Err(LabError::Conflict(format!("UDP port {lport} is outside the range {low}-{high}")));
        }
        if !entry.udp_ports.contains(&lport) {
            self.udp
                .reserve(lport)
                .map_err(|_| LabError::Conflict(format!("UDP port {lport} is already in use on host")))?;
            self.project_mut(project)?.udp_ports.insert(lport);
        }
        if let Some(old) = old.filter(|p| *p != lport) {
            self.release_udp(project, old);
        }
        Ok(())
    }

    /// Gives a tunnel port back to the host pool.
    fn release_udp(&mut self, project: Uuid, port: u16) {
        if let Some(p) = self.projects.get_mut(&project) {
            p.udp_ports.remove(&port);
        }
        self.udp.release(port);
    }
}
