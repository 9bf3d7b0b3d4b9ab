//! Projects: opening, closing and deleting them, and keeping them on disk.

use std::collections::BTreeSet;
use std::sync::Arc;

use patchbay_shared::{action, Project, ProjectCreate, ProjectUpdate};
use uuid::Uuid;

use super::macs::{mac_string, parse_mac};
use super::pcs::PcEntry;
use super::store::{ProjectFile, VmRecord};
use super::switches::SwitchEntry;
use super::validate::valid_name;
use super::{Lab, LabError, ProjectState, Result};

impl Lab {
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
    pub(super) fn unload(&self, id: Uuid) -> Result<ProjectState> {
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
                self.announce(action::VM_STOPPED, vm.json(id, self.vm_directory(id)));
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

    /// Puts a saved project into memory and books its ports. Returns the VMs
    /// that were running when it was saved.
    pub(super) fn adopt(&self, file: ProjectFile) -> Vec<Uuid> {
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
                at: record.at,
            });
        }
        for record in file.switches {
            let mut switch = SwitchEntry::from_record(record);
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
    pub(super) async fn save(&self, id: Uuid) -> Result<()> {
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
            location: self.store.root().display().to_string(),
        }
    }
}

impl ProjectState {
    /// Every tunnel of the project's nodes, as (node, port number, lport).
    pub(super) fn nio_lports(&self) -> impl Iterator<Item = (Uuid, u32, u16)> + '_ {
        let vms = self.vms.iter().filter_map(|vm| vm.nio.as_ref().map(|n| (vm.id, 0, n.lport)));
        let switches = self.switches.iter().flat_map(|sw| {
            sw.ports
                .iter()
                .enumerate()
                .filter_map(move |(i, n)| n.as_ref().map(|n| (sw.id, i as u32, n.lport)))
        });
        vms.chain(switches)
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
                at: vm.at,
            })
            .collect();
        let mut file = ProjectFile::new(self.id, self.name.clone(), self.temporary, closed, vms);
        file.switches = self.switches.iter().map(|s| s.record(closed)).collect();
        file
    }
}
