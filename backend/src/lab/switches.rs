//! The lab's Ethernet switches: the same lifecycle, locking, persistence and
//! notifications as VPCS VMs, with one tunnel per port.

use super::ethernet_switch::RunningSwitch;
use super::store::{Place, SwitchRecord};
use patchbay_shared::{action, Nio, Switch, SwitchCreate, SwitchPort, SwitchUpdate, VmStatus};
use std::net::IpAddr;
use uuid::Uuid;

use super::lifecycle::{find, find_mut, Node};
use super::validate::{check_nio, valid_name};
use super::{Lab, LabError, ProjectState, Result, State};

pub(crate) const NODE_TYPE: &str = "ethernet_switch";
const MAX_PORTS: u32 = 64;

pub(crate) struct SwitchEntry {
    pub id: Uuid,
    pub name: String,
    pub ports: Vec<Option<Nio>>,
    pub running: Option<RunningSwitch>,
    pub at: Place,
}

impl SwitchEntry {
    pub(crate) fn json(&self, project_id: Uuid) -> Switch {
        Switch {
            vm_id: self.id,
            project_id,
            name: self.name.clone(),
            node_type: NODE_TYPE.into(),
            status: if self.running.is_some() { VmStatus::Started } else { VmStatus::Stopped },
            ports: (0..)
                .zip(&self.ports)
                .map(|(port_number, nio)| SwitchPort { port_number, nio: nio.clone() })
                .collect(),
            x: self.at.x,
            y: self.at.y,
        }
    }

    pub(crate) fn record(&self, closed: bool) -> SwitchRecord {
        SwitchRecord {
            vm_id: self.id,
            name: self.name.clone(),
            ports: self.ports.clone(),
            started: self.running.is_some() && !closed,
            at: self.at,
        }
    }

    pub(crate) fn from_record(record: SwitchRecord) -> Self {
        SwitchEntry { id: record.vm_id, name: record.name, ports: record.ports, running: None, at: record.at }
    }
}

impl Node for SwitchEntry {
    type Json = Switch;
    type Running = RunningSwitch;
    type Spec = (IpAddr, Vec<Option<Nio>>);

    fn all(project: &ProjectState) -> &Vec<Self> {
        &project.switches
    }

    fn all_mut(project: &mut ProjectState) -> &mut Vec<Self> {
        &mut project.switches
    }

    fn id(&self) -> Uuid {
        self.id
    }

    fn json(&self, _lab: &Lab, project: Uuid) -> Switch {
        SwitchEntry::json(self, project)
    }

    fn running(&mut self) -> &mut Option<RunningSwitch> {
        &mut self.running
    }

    fn release(&self, state: &mut State, project: Uuid) {
        for nio in self.ports.iter().flatten() {
            state.release_udp(project, nio.lport);
        }
    }

    fn spec(&self, lab: &Lab) -> Self::Spec {
        (lab.host, self.ports.clone())
    }

    async fn start((host, ports): Self::Spec) -> Result<RunningSwitch> {
        RunningSwitch::start(host, &ports)
            .await
            .map_err(|e| LabError::Conflict(format!("Cannot start the switch: {e}")))
    }

    async fn stop(running: RunningSwitch) {
        running.stop().await;
    }
}

impl ProjectState {
    fn switch(&self, id: Uuid) -> Result<&SwitchEntry> {
        find(self, id)
    }

    fn switch_mut(&mut self, id: Uuid) -> Result<&mut SwitchEntry> {
        find_mut(self, id)
    }
}

impl Lab {
    pub fn list_switches(&self, project: Uuid) -> Result<Vec<Switch>> {
        let state = self.state();
        Ok(state.project(project)?.switches.iter().map(|s| s.json(project)).collect())
    }

    fn switch_json(&self, project: Uuid, id: Uuid) -> Result<Switch> {
        self.node_json::<SwitchEntry>(project, id)
    }

    pub async fn get_switch(&self, project: Uuid, id: Uuid) -> Result<Switch> {
        let _serial = self.lock_vm(id).await;
        self.switch_json(project, id)
    }

    pub async fn create_switch(&self, project: Uuid, req: SwitchCreate) -> Result<Switch> {
        let name = valid_name("name", req.name)?;
        let ports = req.ports.unwrap_or(8);
        if !(1..=MAX_PORTS).contains(&ports) {
            return Err(LabError::Invalid(format!("ports: must be between 1 and {MAX_PORTS}")));
        }
        let id = req.vm_id.unwrap_or_else(Uuid::new_v4);
        let _serial = self.lock_vm(id).await;
        {
            let mut state = self.state();
            state.project(project)?;
            if state.node_exists(id) {
                return Err(LabError::Conflict(format!("VM ID {id} already exists")));
            }
            let ports = vec![None; ports as usize];
            let switch = SwitchEntry { id, name, ports, running: None, at: Place::default() };
            state.project_mut(project)?.switches.push(switch);
        }
        self.save(project).await?;
        let json = self.switch_json(project, id)?;
        self.announce(action::VM_CREATED, &json);
        Ok(json)
    }

    /// Renames or moves a switch.
    pub async fn update_switch(&self, project: Uuid, id: Uuid, req: SwitchUpdate) -> Result<Switch> {
        let name = req.name.map(|n| valid_name("name", n)).transpose()?;
        let _serial = self.lock_vm(id).await;
        {
            let mut state = self.state();
            let entry = find_mut::<SwitchEntry>(state.project_mut(project)?, id)?;
            if let Some(name) = name {
                entry.name = name;
            }
            entry.at = entry.at.moved(req.x, req.y);
        }
        self.save(project).await?;
        let json = self.switch_json(project, id)?;
        self.announce(action::VM_UPDATED, &json);
        Ok(json)
    }

    pub async fn delete_switch(&self, project: Uuid, id: Uuid) -> Result<()> {
        self.delete_node::<SwitchEntry>(project, id).await
    }

    pub async fn start_switch(&self, project: Uuid, id: Uuid) -> Result<()> {
        let _serial = self.lock_vm(id).await;
        self.set_running::<SwitchEntry>(project, id, true, false).await
    }

    pub async fn stop_switch(&self, project: Uuid, id: Uuid) -> Result<()> {
        let _serial = self.lock_vm(id).await;
        self.set_running::<SwitchEntry>(project, id, false, false).await
    }

    pub async fn add_switch_nio(
        &self,
        project: Uuid,
        id: Uuid,
        adapter: u32,
        port: u32,
        nio: Nio,
    ) -> Result<Nio> {
        check_nio(&nio)?;
        let _serial = self.lock_vm(id).await;
        let running = {
            let mut state = self.state();
            let switch = state.project(project)?.switch(id)?;
            let index = port_index(switch, adapter, port)?;
            let old = switch.ports[index].as_ref().map(|n| n.lport);
            let running = switch.running.is_some();
            state.claim_lport(project, nio.lport, old, (id, port))?;
            state.project_mut(project)?.switch_mut(id)?.ports[index] = Some(nio.clone());
            running
        };
        self.tunnels_changed(project, id, running).await?;
        Ok(nio)
    }

    pub async fn remove_switch_nio(&self, project: Uuid, id: Uuid, adapter: u32, port: u32) -> Result<()> {
        let _serial = self.lock_vm(id).await;
        let running = {
            let mut state = self.state();
            let switch = state.project_mut(project)?.switch_mut(id)?;
            let index = port_index(switch, adapter, port)?;
            let nio = switch.ports[index]
                .take()
                .ok_or_else(|| LabError::NotFound(format!("No NIO on adapter {adapter} port {port}")))?;
            let running = switch.running.is_some();
            state.release_udp(project, nio.lport);
            running
        };
        self.tunnels_changed(project, id, running).await
    }

    /// Saves, restarts a running switch so the change takes effect at once, announces.
    async fn tunnels_changed(&self, project: Uuid, id: Uuid, running: bool) -> Result<()> {
        if running {
            self.set_running::<SwitchEntry>(project, id, true, true).await?;
        }
        self.save(project).await?;
        self.announce(action::VM_UPDATED, self.switch_json(project, id)?);
        Ok(())
    }
}

fn port_index(switch: &SwitchEntry, adapter: u32, port: u32) -> Result<usize> {
    if adapter != 0 {
        return Err(LabError::NotFound(format!(
            "Adapter {adapter} doesn't exist on a switch (it has adapter 0)"
        )));
    }
    let index = port as usize;
    if index >= switch.ports.len() {
        return Err(LabError::NotFound(format!("Port {port} doesn't exist on this switch")));
    }
    Ok(index)
}
