//! The lab's virtual PCs: their configuration, lifecycle and tunnel.

use std::net::IpAddr;

use patchbay_shared::{action, Nio, Vm, VmCreate, VmStatus, VmUpdate};
use uuid::Uuid;

use super::lifecycle::{find, find_mut, Node};
use super::macs::mac_string;
use super::store::Place;
use super::validate::{check_adapter_port, check_nio, console_taken, valid_name};
use super::vpc::driver::{Command, RunningPc, Spec};
use super::{Lab, LabError, ProjectState, Result, State};

/// A startup script set through the API, with `%h` read as the PC's name:
/// GNS3's GUI gives every VPCS `set pcname %h`, which its server fills in.
fn with_name(script: &str, name: &str) -> String {
    script.replace("%h", name)
}

/// A PC of a project: its configuration, and its task while started.
pub(super) struct PcEntry {
    pub(super) id: Uuid,
    pub(super) mac: [u8; 6],
    pub(super) name: String,
    pub(super) console: u16,
    pub(super) startup_script: Option<String>,
    pub(super) nio: Option<Nio>,
    pub(super) running: Option<RunningPc>,
    pub(super) at: Place,
}

impl PcEntry {
    /// Its JSON; `vm_directory` is its project's directory (the lab knows where that is).
    pub(super) fn json(&self, project_id: Uuid, vm_directory: String) -> Vm {
        Vm {
            vm_id: self.id,
            project_id,
            name: self.name.clone(),
            console: self.console,
            status: if self.running.is_some() { VmStatus::Started } else { VmStatus::Stopped },
            startup_script: self.startup_script.clone(),
            startup_script_path: self.startup_script.as_ref().map(|_| "startup.vpc".to_owned()),
            command_line: String::new(),
            vm_directory,
            nio: self.nio.clone(),
            mac_address: mac_string(self.mac),
            ip_address: self
                .running
                .as_ref()
                .and_then(RunningPc::ip)
                .map(|c| format!("{}/{}", c.addr, c.prefix)),
            capture_file_path: self.running.as_ref().and_then(|r| r.capture_path.clone()),
            x: self.at.x,
            y: self.at.y,
        }
    }
}

impl Node for PcEntry {
    type Json = Vm;
    type Running = RunningPc;
    type Spec = Spec;

    fn all(project: &ProjectState) -> &Vec<Self> {
        &project.vms
    }

    fn all_mut(project: &mut ProjectState) -> &mut Vec<Self> {
        &mut project.vms
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn json(&self, lab: &Lab, project: Uuid) -> Vm {
        PcEntry::json(self, project, lab.vm_directory(project))
    }

    fn running(&mut self) -> &mut Option<RunningPc> {
        &mut self.running
    }

    fn release(&self, state: &mut State, project: Uuid) {
        state.consoles.release(self.console);
        state.macs.release(self.mac);
        if let Some(nio) = &self.nio {
            state.release_udp(project, nio.lport);
        }
    }

    fn spec(&self, lab: &Lab) -> Spec {
        Spec {
            vm_id: self.id,
            host: lab.host,
            console: self.console,
            mac: self.mac,
            nio: self.nio.clone(),
            script: self.startup_script.clone(),
            events: lab.events.clone(),
        }
    }

    async fn start(spec: Spec) -> Result<RunningPc> {
        let console = spec.console;
        RunningPc::start(spec).map_err(|e| {
            LabError::Conflict(format!("Cannot start: console port {console} is unavailable: {e}"))
        })
    }

    async fn stop(running: RunningPc) {
        running.stop().await;
    }
}

impl ProjectState {
    pub(super) fn vm(&self, id: Uuid) -> Result<&PcEntry> {
        find(self, id)
    }

    pub(super) fn vm_mut(&mut self, id: Uuid) -> Result<&mut PcEntry> {
        find_mut(self, id)
    }
}

impl Lab {
    pub fn list_vms(&self, project: Uuid) -> Result<Vec<Vm>> {
        let state = self.state();
        let dir = self.vm_directory(project);
        Ok(state.project(project)?.vms.iter().map(|vm| vm.json(project, dir.clone())).collect())
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

    pub(super) fn vm_json(&self, project: Uuid, vm: Uuid) -> Result<Vm> {
        self.node_json::<PcEntry>(project, vm)
    }

    /// Where a project's PCs keep their files, as their JSON names it.
    pub(super) fn vm_directory(&self, project: Uuid) -> String {
        self.store.project_dir(project).display().to_string()
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
            let startup_script = req.startup_script.map(|s| with_name(&s, &name));
            let at = Place::default();
            let vm = PcEntry { id, mac, name, console, startup_script, nio: None, running: None, at };
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
            entry.at = entry.at.moved(req.x, req.y);
            if let Some(script) = req.startup_script.map(|s| with_name(&s, &entry.name)) {
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
        self.delete_node::<PcEntry>(project, vm).await
    }

    pub async fn start_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        self.set_running::<PcEntry>(project, vm, true, false).await
    }

    pub async fn stop_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        self.set_running::<PcEntry>(project, vm, false, false).await
    }

    /// Stops the VM if it runs, then starts it; both are announced.
    pub async fn reload_vm(&self, project: Uuid, vm: Uuid) -> Result<()> {
        let _serial = self.lock_vm(vm).await;
        self.set_running::<PcEntry>(project, vm, false, false).await?;
        self.set_running::<PcEntry>(project, vm, true, false).await
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
}
