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
//! - this file: projects, PCs and their tunnels and captures, and the state they share;
//! - [`switches`]: the lab's switch operations; [`ethernet_switch`]: the learning bridge that runs one;
//! - [`links`]: linking and unlinking two ends (a tunnel at each);
//! - [`console_line`]: one line typed on a PC's console from outside it;
//! - [`ports`]: console and tunnel port books;
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

pub mod console_line;
pub mod ethernet_switch;
pub mod links;
pub mod network_thread;
pub mod ports;
pub mod store;
pub mod switches;
pub mod tunnel;
pub mod vpc;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use patchbay_shared::{
    action, CaptureStart, Nio, Notification, Project, ProjectCreate, ProjectUpdate, Vm, VmCreate, VmStatus,
    VmUpdate,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::notify::Hub;
use ports::{PortAllocator, PortError};
use store::{ProjectFile, Store, StoreError, VmRecord};
use tokio::sync::mpsc;
use vpc::driver::RunningPc;
use vpc::driver::{Command, Event, Spec};

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

pub type Result<T, E = LabError> = std::result::Result<T, E>;

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

/// A PC of a project: its configuration, and its task while started.
struct PcEntry {
    id: Uuid,
    mac: [u8; 6],
    name: String,
    console: u16,
    startup_script: Option<String>,
    nio: Option<Nio>,
    running: Option<RunningPc>,
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

    // ----- projects -----

    pub fn list_projects(&self) -> Vec<Project> {
        let state = self.state();
        let mut projects: Vec<Project> = state.projects.values().map(|p| self.project_json(p)).collect();
        projects.sort_by(|a, b| a.name.cmp(&b.name).then(a.project_id.cmp(&b.project_id)));
        projects
    }

    pub fn get_project(&self, id: Uuid) -> Result<Project> {
        let state = self.state();
        state.project(id).map(|p| self.project_json(p))
    }

    /// Creates a project, or opens a closed one again when its id is given.
    pub async fn create_project(&self, req: ProjectCreate) -> Result<Project> {
        let name = match req.name {
            Some(name) => Some(valid_name("name", name)?),
            None => None,
        };
        let id = req.project_id.unwrap_or_else(Uuid::new_v4);
        if self.state().projects.contains_key(&id) {
            return Err(LabError::Conflict(format!("Project ID {id} is already open")));
        }
        let saved = { self.store.run(move |store| store.load(id)).await? };
        let mut file = saved.unwrap_or_else(|| ProjectFile::new(id, "untitled".into(), false, false, vec![]));
        file.closed = false;
        if let Some(name) = name {
            file.name = name;
        }
        if let Some(temporary) = req.temporary {
            file.temporary = temporary;
        }
        {
            // Checked again under the lock: two racing creates must not both adopt.
            let state = self.state();
            if state.projects.contains_key(&id) {
                return Err(LabError::Conflict(format!("Project ID {id} is already open")));
            }
        }
        self.adopt(file);
        self.save(id).await?;
        let project = self.get_project(id)?;
        self.announce(action::PROJECT_CREATED, &project);
        Ok(project)
    }

    pub async fn update_project(&self, id: Uuid, req: ProjectUpdate) -> Result<Project> {
        let name = req.name.map(|n| valid_name("name", n)).transpose()?;
        {
            let mut state = self.state();
            let project = state.project_mut(id)?;
            if let Some(name) = name {
                project.name = name;
            }
            if let Some(temporary) = req.temporary {
                project.temporary = temporary;
            }
        }
        self.save(id).await?;
        let project = self.get_project(id)?;
        self.announce(action::PROJECT_UPDATED, &project);
        Ok(project)
    }

    /// Stops the project's VMs and frees its ports. Its files stay (unless it
    /// is temporary) and posting its id to `create_project` opens it again.
    pub async fn close_project(&self, id: Uuid) -> Result<()> {
        let project = self.unload(id)?;
        let _saving = project.save_lock.clone().lock_owned().await;
        let json = self.project_json(&project);
        if project.temporary {
            self.remove_files(id).await?;
        } else {
            let file = project.to_file(true);
            self.store.run(move |store| store.save(&file)).await?;
        }
        self.announce(action::PROJECT_CLOSED, &json);
        Ok(())
    }

    pub async fn delete_project(&self, id: Uuid) -> Result<()> {
        let project = self.unload(id)?;
        let _saving = project.save_lock.clone().lock_owned().await;
        self.remove_files(id).await?;
        self.announce(action::PROJECT_DELETED, self.project_json(&project));
        Ok(())
    }

    /// Takes a project out of memory: stops its VMs and releases its ports.
    fn unload(&self, id: Uuid) -> Result<ProjectState> {
        let mut project = {
            let mut state = self.state();
            let project = state.projects.remove(&id).ok_or(LabError::ProjectNotFound(id))?;
            for vm in &project.vms {
                state.consoles.release(vm.console);
                state.macs.release(vm.mac);
            }
            for port in &project.udp_ports {
                state.udp.release(*port);
            }
            project
        };
        let mut locks = self.vm_locks.lock().unwrap_or_else(|e| e.into_inner());
        for vm in &mut project.vms {
            locks.remove(&vm.id);
            if vm.running.take().is_some() {
                self.announce(action::VM_STOPPED, vm.json(id));
            }
        }
        for switch in &mut project.switches {
            locks.remove(&switch.id);
            if switch.running.take().is_some() {
                self.announce(action::VM_STOPPED, switch.json(id));
            }
        }
        Ok(project)
    }

    async fn remove_files(&self, id: Uuid) -> Result<()> {
        self.store.run(move |store| store.remove(id)).await?;
        Ok(())
    }

    /// Books a tunnel port for the project (`POST .../ports/udp`).
    pub async fn allocate_udp_port(&self, id: Uuid) -> Result<u16> {
        let mut state = self.state();
        state.project(id)?;
        let port = state.udp.allocate()?;
        state.project_mut(id)?.udp_ports.insert(port);
        Ok(port)
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

    pub fn list_vms(&self, project: Uuid) -> Result<Vec<Vm>> {
        let state = self.state();
        Ok(state.project(project)?.vms.iter().map(|vm| vm.json(project)).collect())
    }

    /// Where a started VM's console listens, for clients inside the server.
    pub async fn console_addr(&self, project: Uuid, vm: Uuid) -> Result<std::net::SocketAddr> {
        let vm = self.get_vm(project, vm).await?;
        if vm.status != VmStatus::Started {
            return Err(LabError::Conflict("The VM is stopped: start it to open its console".into()));
        }
        let host = if self.host.is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { self.host };
        Ok(std::net::SocketAddr::new(host, vm.console))
    }

    pub async fn get_vm(&self, project: Uuid, vm: Uuid) -> Result<Vm> {
        let _serial = self.lock_vm(vm).await;
        self.vm_json(project, vm)
    }

    fn vm_json(&self, project: Uuid, vm: Uuid) -> Result<Vm> {
        let state = self.state();
        Ok(state.project(project)?.vm(vm)?.json(project))
    }

    pub async fn create_vm(&self, project: Uuid, req: VmCreate) -> Result<Vm> {
        let name = valid_name("name", req.name)?;
        let id = req.vm_id.unwrap_or_else(Uuid::new_v4);
        let _serial = self.lock_vm(id).await;
        {
            let mut state = self.state();
            state.project(project)?;
            if state.node_exists(id) {
                return Err(LabError::Conflict(format!("VM ID {id} already exists")));
            }
            let console = match req.console {
                Some(port) => {
                    state.consoles.reserve(port).map_err(|_| console_taken(port))?;
                    port
                }
                None => state.consoles.allocate()?,
            };
            let Some(mac) = state.macs.allocate() else {
                state.consoles.release(console);
                return Err(LabError::Conflict("No MAC address left for a new VM".into()));
            };
            let vm = PcEntry {
                id,
                mac,
                name,
                console,
                startup_script: req.startup_script,
                nio: None,
                running: None,
            };
            state.project_mut(project)?.vms.push(vm);
        }
        self.save(project).await?;
        let vm = self.vm_json(project, id)?;
        self.announce(action::VM_CREATED, &vm);
        Ok(vm)
    }

    pub async fn update_vm(&self, project: Uuid, vm: Uuid, req: VmUpdate) -> Result<Vm> {
        let name = req.name.map(|n| valid_name("name", n)).transpose()?;
        let _serial = self.lock_vm(vm).await;
        {
            let mut state = self.state();
            let current = state.project(project)?.vm(vm)?;
            let (old_console, running) = (current.console, current.running.is_some());
            if let Some(port) = req.console.filter(|p| *p != old_console) {
                if running {
                    return Err(LabError::Conflict("Stop the VM before changing its console port".into()));
                }
                state.consoles.reserve(port).map_err(|_| console_taken(port))?;
                state.consoles.release(old_console);
            }
            let entry = state.project_mut(project)?.vm_mut(vm)?;
            if let Some(port) = req.console {
                entry.console = port;
            }
            if let Some(name) = name {
                entry.name = name;
            }
            if let Some(script) = req.startup_script {
                if let Some(runtime) = &entry.running {
                    runtime.send(Command::SetScript(Some(script.clone())));
                }
                entry.startup_script = Some(script);
            }
        }
        self.save(project).await?;
        let vm = self.vm_json(project, vm)?;
        self.announce(action::VM_UPDATED, &vm);
        Ok(vm)
    }

    pub async fn delete_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        let removed = {
            let mut state = self.state();
            let entry = state.project(project)?;
            let index = entry.vms.iter().position(|v| v.id == vm).ok_or(LabError::VmNotFound(vm))?;
            let removed = state.project_mut(project)?.vms.remove(index);
            state.consoles.release(removed.console);
            state.macs.release(removed.mac);
            if let Some(nio) = &removed.nio {
                state.release_udp(project, nio.lport);
            }
            removed
        };
        self.save(project).await?;
        self.forget_lock(vm);
        let mut removed = removed;
        let runtime = removed.running.take();
        let json = removed.json(project);
        if let Some(runtime) = runtime {
            runtime.stop().await;
            self.announce(action::VM_STOPPED, &json);
        }
        self.announce(action::VM_DELETED, &json);
        Ok(())
    }

    pub async fn start_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        self.set_running(project, vm, true).await
    }

    pub async fn stop_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        self.set_running(project, vm, false).await
    }

    /// Stops the VM if it runs, then starts it.
    pub async fn reload_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        self.set_running(project, vm, false).await?;
        self.set_running(project, vm, true).await
    }

    /// Starts or stops a VM; doing what is already done is not an error and
    /// announces nothing.
    async fn set_running(&self, project: Uuid, vm: Uuid, run: bool) -> Result<()> {
        let mut stopped = None;
        let changed = {
            let mut state = self.state();
            let entry = state.project_mut(project)?.vm_mut(vm)?;
            match (&entry.running, run) {
                (None, true) => {
                    let spec = Spec {
                        vm_id: vm,
                        host: self.host,
                        console: entry.console,
                        mac: entry.mac,
                        nio: entry.nio.clone(),
                        script: entry.startup_script.clone(),
                        events: self.events.clone(),
                    };
                    let runtime = RunningPc::start(spec).map_err(|e| {
                        LabError::Conflict(format!(
                            "Cannot start: console port {} is unavailable: {e}",
                            entry.console
                        ))
                    })?;
                    entry.running = Some(runtime);
                    true
                }
                (Some(_), false) => {
                    stopped = entry.running.take();
                    true
                }
                _ => false,
            }
        };
        if let Some(runtime) = stopped {
            // Its sockets are closed when this returns, so a restart can bind them again.
            runtime.stop().await;
        }
        if changed {
            self.save(project).await?;
            let json = self.vm_json(project, vm)?;
            self.announce(if run { action::VM_STARTED } else { action::VM_STOPPED }, &json);
        }
        Ok(())
    }

    /// Attaches a tunnel to the VM's adapter port. Takes effect at once, even while running.
    pub async fn add_nio(&self, project: Uuid, vm: Uuid, adapter: u32, port: u32, nio: Nio) -> Result<Nio> {
        check_adapter_port(adapter, port)?;
        check_nio(&nio)?;
        let _serial = self.lock_vm(vm).await;
        {
            let mut state = self.state();
            let old_lport = state.project(project)?.vm(vm)?.nio.as_ref().map(|old| old.lport);
            state.claim_lport(project, nio.lport, old_lport, (vm, 0))?;
            let entry = state.project_mut(project)?.vm_mut(vm)?;
            entry.nio = Some(nio.clone());
            if let Some(runtime) = &entry.running {
                runtime.send(Command::SetNio(Some(nio.clone())));
            }
        }
        self.save(project).await?;
        self.announce(action::VM_UPDATED, self.vm_json(project, vm)?);
        Ok(nio)
    }

    pub async fn remove_nio(&self, project: Uuid, vm: Uuid, adapter: u32, port: u32) -> Result<()> {
        check_adapter_port(adapter, port)?;
        let _serial = self.lock_vm(vm).await;
        {
            let mut state = self.state();
            let entry = state.project_mut(project)?.vm_mut(vm)?;
            let Some(nio) = entry.nio.take() else {
                return Err(LabError::NotFound(format!("No NIO on adapter {adapter} port {port}")));
            };
            if let Some(runtime) = &entry.running {
                runtime.send(Command::SetNio(None));
            }
            state.release_udp(project, nio.lport);
        }
        self.save(project).await?;
        self.announce(action::VM_UPDATED, self.vm_json(project, vm)?);
        Ok(())
    }

    /// Starts writing the VM's traffic to a pcap file in the project's
    /// `project-files/captures/`; returns the file's path.
    pub async fn start_capture(
        &self,
        project: Uuid,
        vm: Uuid,
        adapter: u32,
        port: u32,
        req: CaptureStart,
    ) -> Result<String> {
        check_adapter_port(adapter, port)?;
        let name = req.capture_file_name;
        let plain = !name.is_empty()
            && name.len() <= 255
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(LabError::Invalid("capture_file_name: must be a plain file name".into()));
        }
        if req.data_link_type.as_deref().is_some_and(|t| t != "DLT_EN10MB") {
            return Err(LabError::Invalid("data_link_type: only DLT_EN10MB (Ethernet) is supported".into()));
        }
        let _serial = self.lock_vm(vm).await;
        if self.state().project(project)?.vm(vm)?.running.is_none() {
            return Err(LabError::Conflict("Cannot capture traffic on a stopped VM: start it first".into()));
        }
        let dir = self.store.project_dir(project).join("project-files").join("captures");
        let path = dir.join(&name);
        let file = tokio::task::spawn_blocking({
            let path = path.clone();
            move || std::fs::create_dir_all(&dir).and_then(|()| std::fs::File::create(&path))
        })
        .await
        .expect("creating a file does not panic")
        .map_err(|e| LabError::Conflict(format!("Cannot create {}: {e}", path.display())))?;
        let state = self.state();
        let runtime = state.project(project)?.vm(vm)?.running.as_ref();
        runtime.ok_or_else(|| LabError::Conflict("The VM stopped".into()))?.send(Command::StartCapture(file));
        Ok(path.display().to_string())
    }

    pub async fn stop_capture(&self, project: Uuid, vm: Uuid, adapter: u32, port: u32) -> Result<()> {
        check_adapter_port(adapter, port)?;
        let _serial = self.lock_vm(vm).await;
        let (done, written) = tokio::sync::oneshot::channel();
        {
            let state = self.state();
            if let Some(runtime) = &state.project(project)?.vm(vm)?.running {
                runtime.send(Command::StopCapture(done));
            }
        }
        // Once this returns, the file holds every frame captured.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), written).await;
        Ok(())
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

    // ----- loading and saving -----

    /// Puts a saved project into memory and books its ports. Returns the VMs
    /// that were running when it was saved.
    fn adopt(&self, file: ProjectFile) -> Vec<Uuid> {
        let mut state = self.state();
        let mut started = vec![];
        let mut project = ProjectState {
            id: file.project_id,
            name: file.name,
            temporary: file.temporary,
            vms: vec![],
            switches: vec![],
            udp_ports: BTreeSet::new(),
            save_lock: Arc::default(),
        };
        for record in file.vms {
            let mut console = record.console;
            if !state.consoles.reserve_unchecked(console) {
                // Another project took the console while this one was closed: keep the VM, move its console.
                match state.consoles.allocate() {
                    Ok(port) => console = port,
                    Err(e) => {
                        tracing::error!(vm_id = %record.vm_id, "dropping a saved VM: {e}");
                        continue;
                    }
                }
                tracing::warn!(vm_id = %record.vm_id, "console {} was taken, moved to {console}", record.console);
            }
            let mut nio = record.nio;
            if let Some(lport) = nio.as_ref().map(|n| n.lport) {
                if state.udp.reserve_unchecked(lport) {
                    project.udp_ports.insert(lport);
                } else {
                    tracing::warn!(vm_id = %record.vm_id, "UDP port {lport} was taken, tunnel removed");
                    nio = None;
                }
            }
            let saved_mac =
                record.mac_address.as_deref().and_then(parse_mac).filter(|m| state.macs.reserve(*m));
            let Some(mac) = saved_mac.or_else(|| state.macs.allocate()) else {
                tracing::error!(vm_id = %record.vm_id, "dropping a saved VM: no MAC address left");
                state.consoles.release(console);
                continue;
            };
            if record.started {
                started.push(record.vm_id);
            }
            project.vms.push(PcEntry {
                id: record.vm_id,
                mac,
                name: record.name,
                console,
                startup_script: record.startup_script,
                nio,
                running: None,
            });
        }
        for record in file.switches {
            let mut switch = switches::SwitchEntry::from_record(record);
            for nio in &mut switch.ports {
                let Some(lport) = nio.as_ref().map(|n| n.lport) else { continue };
                if state.udp.reserve_unchecked(lport) {
                    project.udp_ports.insert(lport);
                } else {
                    tracing::warn!(vm_id = %switch.id, "UDP port {lport} was taken, tunnel removed");
                    *nio = None;
                }
            }
            project.switches.push(switch);
        }
        state.projects.insert(project.id, project);
        started
    }

    /// Writes the project's current state. Saves of one project run one at a
    /// time and each snapshots the state when its turn comes, so the last
    /// write on disk is always the latest state.
    async fn save(&self, id: Uuid) -> Result<()> {
        let Some(lock) = self.state().projects.get(&id).map(|p| p.save_lock.clone()) else {
            return Ok(());
        };
        let _turn = lock.lock_owned().await;
        let Some(file) = self.state().projects.get(&id).map(|p| p.to_file(false)) else {
            return Ok(()); // closed or deleted meanwhile: nothing to keep
        };
        let result = self.store.run(move |store| store.save(&file)).await;
        if let Err(e) = &result {
            tracing::error!(project_id = %id, "{e}");
        }
        Ok(result?)
    }

    fn project_json(&self, p: &ProjectState) -> Project {
        Project {
            project_id: p.id,
            name: p.name.clone(),
            temporary: p.temporary,
            path: self.store.project_dir(p.id).display().to_string(),
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

impl ProjectState {
    /// Every tunnel of the project's nodes, as (node, port number, lport).
    fn nio_lports(&self) -> impl Iterator<Item = (Uuid, u32, u16)> + '_ {
        let vms = self.vms.iter().filter_map(|vm| vm.nio.as_ref().map(|n| (vm.id, 0, n.lport)));
        let switches = self.switches.iter().flat_map(|sw| {
            sw.ports
                .iter()
                .enumerate()
                .filter_map(move |(i, n)| n.as_ref().map(|n| (sw.id, i as u32, n.lport)))
        });
        vms.chain(switches)
    }

    fn vm(&self, id: Uuid) -> Result<&PcEntry> {
        self.vms.iter().find(|vm| vm.id == id).ok_or(LabError::VmNotFound(id))
    }

    fn vm_mut(&mut self, id: Uuid) -> Result<&mut PcEntry> {
        self.vms.iter_mut().find(|vm| vm.id == id).ok_or(LabError::VmNotFound(id))
    }

    fn to_file(&self, closed: bool) -> ProjectFile {
        let vms = self
            .vms
            .iter()
            .map(|vm| VmRecord {
                vm_id: vm.id,
                mac_address: Some(mac_string(vm.mac)),
                name: vm.name.clone(),
                console: vm.console,
                startup_script: vm.startup_script.clone(),
                nio: vm.nio.clone(),
                started: vm.running.is_some() && !closed,
            })
            .collect();
        let mut file = ProjectFile::new(self.id, self.name.clone(), self.temporary, closed, vms);
        file.switches = self.switches.iter().map(|s| s.record(closed)).collect();
        file
    }
}

impl PcEntry {
    fn json(&self, project_id: Uuid) -> Vm {
        Vm {
            vm_id: self.id,
            project_id,
            name: self.name.clone(),
            console: self.console,
            status: if self.running.is_some() { VmStatus::Started } else { VmStatus::Stopped },
            startup_script: self.startup_script.clone(),
            nio: self.nio.clone(),
            mac_address: mac_string(self.mac),
            ip_address: self
                .running
                .as_ref()
                .and_then(RunningPc::ip)
                .map(|c| format!("{}/{}", c.addr, c.prefix)),
        }
    }
}

/// MACs `00:50:79:66:XX:XX` as VPCS uses them, from `…:68:00` upwards,
/// unique across the whole server (GNS3 repeats them across projects).
#[derive(Default)]
struct MacAllocator {
    taken: BTreeSet<u16>,
}

const MAC_PREFIX: [u8; 4] = [0x00, 0x50, 0x79, 0x66];
const MAC_FIRST: u16 = 0x6800;

impl MacAllocator {
    fn allocate(&mut self) -> Option<[u8; 6]> {
        let n = (MAC_FIRST..=u16::MAX).find(|n| !self.taken.contains(n))?;
        self.taken.insert(n);
        Some(mac_bytes(n))
    }

    /// Books a saved MAC; false if it is not ours to give or already given.
    fn reserve(&mut self, mac: [u8; 6]) -> bool {
        mac[..4] == MAC_PREFIX && self.taken.insert(u16::from_be_bytes([mac[4], mac[5]]))
    }

    fn release(&mut self, mac: [u8; 6]) {
        self.taken.remove(&u16::from_be_bytes([mac[4], mac[5]]));
    }
}

fn mac_bytes(n: u16) -> [u8; 6] {
    let [hi, lo] = n.to_be_bytes();
    [MAC_PREFIX[0], MAC_PREFIX[1], MAC_PREFIX[2], MAC_PREFIX[3], hi, lo]
}

fn mac_string(mac: [u8; 6]) -> String {
    vpc::pc::mac_text(smoltcp::wire::EthernetAddress(mac))
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn check_nio(nio: &Nio) -> Result<()> {
    if nio.lport == 0 || nio.rport == 0 {
        return Err(LabError::Invalid("lport and rport must be between 1 and 65535".into()));
    }
    if !valid_host(&nio.rhost) {
        return Err(LabError::Invalid(format!("rhost: {:?} is not a host name or IP address", nio.rhost)));
    }
    Ok(())
}

fn console_taken(port: u16) -> LabError {
    LabError::Conflict(format!("Console port {port} is already in use"))
}

/// VPCS has one adapter with one port.
fn check_adapter_port(adapter: u32, port: u32) -> Result<()> {
    if adapter != 0 {
        return Err(LabError::NotFound(format!(
            "Adapter {adapter} doesn't exist on VPCS (it has adapter 0)"
        )));
    }
    if port != 0 {
        return Err(LabError::NotFound(format!("Port {port} doesn't exist on adapter 0 (it has port 0)")));
    }
    Ok(())
}

fn valid_name(field: &str, name: String) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(LabError::Invalid(format!("{field}: must not be empty")));
    }
    if trimmed.chars().count() > 255 || trimmed.chars().any(char::is_control) {
        return Err(LabError::Invalid(format!("{field}: must be at most 255 printable characters")));
    }
    Ok(trimmed.to_owned())
}

/// An IP address, or a DNS name's syntax.
fn valid_host(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A lab on port ranges of its own: tests run in parallel, and one that
    /// restarts a VM needs its saved ports to be free.
    async fn lab(dir: &std::path::Path) -> Lab {
        // Two opens of the same directory share a range, so the VM gets its old ports back.
        static SLOTS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());
        let slot = {
            let mut slots = SLOTS.lock().unwrap();
            match slots.iter().position(|d| d == dir) {
                Some(i) => i,
                None => {
                    slots.push(dir.to_owned());
                    slots.len() - 1
                }
            }
        } as u16;
        assert!(slot < 40, "more lab tests than port ranges");
        let (console, udp) = (42000 + slot * 25, 43000 + slot * 25);
        let config = LabConfig {
            host: [127, 0, 0, 1].into(),
            data_dir: dir.to_owned(),
            console_ports: console..=console + 24,
            udp_ports: udp..=udp + 24,
        };
        Lab::open(config, Hub::new(64, Duration::from_secs(5))).await.unwrap()
    }

    fn vm(name: &str) -> VmCreate {
        VmCreate { name: name.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn everything_comes_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (pid, a, b, udp);
        {
            let lab = lab(dir.path()).await;
            pid = lab
                .create_project(ProjectCreate { name: Some("net".into()), ..Default::default() })
                .await
                .unwrap()
                .project_id;
            a = lab.create_vm(pid, vm("PC1")).await.unwrap();
            b = lab.create_vm(pid, vm("PC2")).await.unwrap();
            let port = lab.allocate_udp_port(pid).await.unwrap();
            let nio = Nio::udp(port, "127.0.0.1", 43999);
            lab.add_nio(pid, a.vm_id, 0, 0, nio).await.unwrap();
            lab.start_vm(pid, a.vm_id).await.unwrap();
            udp = port;
        }
        // The dropped lab's VM task lets go of its sockets asynchronously (a
        // restarted server is a new process, where this never arises).
        for _ in 0..200 {
            let console_free = std::net::TcpListener::bind(("127.0.0.1", a.console)).is_ok();
            if console_free && std::net::UdpSocket::bind(("127.0.0.1", udp)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let lab = lab(dir.path()).await;
        let vms = lab.list_vms(pid).unwrap();
        assert_eq!(vms.len(), 2);
        assert_eq!(vms[0].name, "PC1");
        assert_eq!(vms[0].status, VmStatus::Started);
        assert!(vms[0].nio.is_some());
        assert_eq!(vms[1].vm_id, b.vm_id);
        assert_eq!(vms[1].status, VmStatus::Stopped);
        // The ports are booked again: new VMs do not get the same console.
        let c = lab.create_vm(pid, vm("PC3")).await.unwrap();
        assert!(![a.console, b.console].contains(&c.console));
    }

    #[tokio::test]
    async fn closing_frees_ports_and_reopening_restores() {
        let dir = tempfile::tempdir().unwrap();
        let lab = lab(dir.path()).await;
        let pid = lab.create_project(ProjectCreate::default()).await.unwrap().project_id;
        let a = lab.create_vm(pid, vm("PC1")).await.unwrap();
        lab.close_project(pid).await.unwrap();
        assert!(matches!(lab.get_project(pid), Err(LabError::ProjectNotFound(_))));
        let reopened = ProjectCreate { project_id: Some(pid), ..Default::default() };
        lab.create_project(reopened).await.unwrap();
        assert_eq!(lab.list_vms(pid).unwrap()[0].console, a.console);
    }

    #[tokio::test]
    async fn tunnel_ports_are_released_when_no_longer_used() {
        let dir = tempfile::tempdir().unwrap();
        let lab = lab(dir.path()).await;
        let pid = lab.create_project(ProjectCreate::default()).await.unwrap().project_id;
        let a = lab.create_vm(pid, vm("PC1")).await.unwrap();
        let port = lab.allocate_udp_port(pid).await.unwrap();
        let nio = Nio::udp(port, "localhost", 9);
        lab.add_nio(pid, a.vm_id, 0, 0, nio.clone()).await.unwrap();
        assert_ne!(lab.allocate_udp_port(pid).await.unwrap(), port);
        lab.remove_nio(pid, a.vm_id, 0, 0).await.unwrap();
        assert_eq!(lab.allocate_udp_port(pid).await.unwrap(), port);
    }
}
