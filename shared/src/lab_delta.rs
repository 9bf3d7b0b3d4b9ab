//! The lab as a client sees it, kept current by the notification stream.
//!
//! A client fetches the projects, and one project's PCs and switches, once;
//! then each `project.*` and `vm.*` notification, which carries the whole
//! object it is about, is a [`LabDelta`] applied to the one resource it
//! concerns. The lists keep the server's own order, so that what a client
//! shows after a delta is what it would show after fetching again.

use uuid::Uuid;

use crate::api::{Project, Switch, Vm};
use crate::notify::{action, Notification};
use crate::topology::{self, Attachment};

/// One change to the lab, read from a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum LabDelta {
    /// A project was created, opened again or changed.
    ProjectPut(Project),
    /// A project was closed or deleted: it is no longer on the server's list.
    ProjectGone(Uuid),
    /// A PC was created or changed (started, stopped, linked, given an address).
    VmPut(Vm),
    /// A switch was created or changed.
    SwitchPut(Switch),
    /// A PC or switch was deleted.
    NodeGone {
        /// Its project.
        project: Uuid,
        /// The PC's or switch's id.
        node: Uuid,
    },
}

impl LabDelta {
    /// The lab change a notification announces, if it announces one (a
    /// ping, a log record or an engine change does not).
    pub fn of(note: &Notification) -> Option<LabDelta> {
        let event = &note.event;
        let switch = event.get("node_type").and_then(|t| t.as_str()) == Some("ethernet_switch");
        match note.action.as_str() {
            action::PROJECT_CREATED | action::PROJECT_UPDATED => parse(event).map(LabDelta::ProjectPut),
            action::PROJECT_CLOSED | action::PROJECT_DELETED => {
                parse(&event["project_id"]).map(LabDelta::ProjectGone)
            }
            action::VM_DELETED => Some(LabDelta::NodeGone {
                project: parse(&event["project_id"])?,
                node: parse(&event["vm_id"])?,
            }),
            action::VM_CREATED | action::VM_UPDATED | action::VM_STARTED | action::VM_STOPPED => {
                if switch {
                    parse(event).map(LabDelta::SwitchPut)
                } else {
                    parse(event).map(LabDelta::VmPut)
                }
            }
            _ => None,
        }
    }

    /// The project whose PCs and switches it changes, if it changes any.
    pub fn node_project(&self) -> Option<Uuid> {
        match self {
            LabDelta::VmPut(vm) => Some(vm.project_id),
            LabDelta::SwitchPut(sw) => Some(sw.project_id),
            LabDelta::NodeGone { project, .. } => Some(*project),
            LabDelta::ProjectPut(_) | LabDelta::ProjectGone(_) => None,
        }
    }
}

/// The server's projects, in its order (by name, then id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projects(pub Vec<Project>);

impl Projects {
    /// Applies a delta; false when it does not concern the list or changes nothing.
    pub fn apply(&mut self, delta: &LabDelta) -> bool {
        let list = &mut self.0;
        match delta {
            LabDelta::ProjectPut(p) => {
                if list.iter().any(|q| q == p) {
                    return false;
                }
                list.retain(|q| q.project_id != p.project_id);
                let at = list.partition_point(|q| (&q.name, q.project_id) < (&p.name, p.project_id));
                list.insert(at, p.clone());
                true
            }
            LabDelta::ProjectGone(id) => {
                let before = list.len();
                list.retain(|q| q.project_id != *id);
                list.len() != before
            }
            _ => false,
        }
    }
}

/// One project's PCs and switches, each in the order they were created
/// (the server's order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nodes {
    /// The PCs.
    pub vms: Vec<Vm>,
    /// The switches.
    pub switches: Vec<Switch>,
}

impl Nodes {
    /// Applies a delta of this project's; false when it changes nothing.
    pub fn apply(&mut self, delta: &LabDelta) -> bool {
        match delta {
            LabDelta::VmPut(vm) => put(&mut self.vms, vm, |v| v.vm_id),
            LabDelta::SwitchPut(sw) => put(&mut self.switches, sw, |s| s.vm_id),
            LabDelta::NodeGone { node, .. } => {
                let before = self.vms.len() + self.switches.len();
                self.vms.retain(|v| v.vm_id != *node);
                self.switches.retain(|s| s.vm_id != *node);
                before != self.vms.len() + self.switches.len()
            }
            LabDelta::ProjectPut(_) | LabDelta::ProjectGone(_) => false,
        }
    }

    /// The PC with this id.
    pub fn vm(&self, id: Uuid) -> Option<&Vm> {
        self.vms.iter().find(|v| v.vm_id == id)
    }

    /// The switch with this id.
    pub fn switch(&self, id: Uuid) -> Option<&Switch> {
        self.switches.iter().find(|s| s.vm_id == id)
    }

    /// The links among its tunnels (see [`topology::links`]).
    pub fn links(&self) -> Vec<(Attachment, Attachment)> {
        topology::links(&topology::tunnels(&self.vms, &self.switches))
    }
}

/// An event's object, or part of one, as `T`; `None` when it is not one.
fn parse<T: serde::de::DeserializeOwned>(event: &serde_json::Value) -> Option<T> {
    T::deserialize(event).ok()
}

/// Replaces the item with `new`'s id in place, or appends it (it is new);
/// false when the list already holds exactly `new`.
fn put<T: Clone + PartialEq>(list: &mut Vec<T>, new: &T, id: impl Fn(&T) -> Uuid) -> bool {
    match list.iter_mut().find(|t| id(t) == id(new)) {
        Some(old) if old == new => false,
        Some(old) => {
            *old = new.clone();
            true
        }
        None => {
            list.push(new.clone());
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Nio, VmStatus};
    use crate::fixtures;

    fn project(name: &str) -> Project {
        Project {
            project_id: Uuid::new_v4(),
            name: name.into(),
            temporary: false,
            path: String::new(),
            location: String::new(),
        }
    }

    fn vm(project: Uuid, name: &str) -> Vm {
        fixtures::pc(project, name, None)
    }

    fn switch(project: Uuid, name: &str) -> Switch {
        fixtures::switch(project, name, vec![None, None])
    }

    /// The delta a server's notification of `action` about `object` carries.
    fn delta(action: &str, object: impl serde::Serialize) -> LabDelta {
        LabDelta::of(&Notification::new(action, object)).expect("a lab delta")
    }

    #[test]
    fn notifications_become_the_deltas_they_announce() {
        let p = project("lab");
        assert_eq!(delta(action::PROJECT_CREATED, &p), LabDelta::ProjectPut(p.clone()));
        assert_eq!(delta(action::PROJECT_CLOSED, &p), LabDelta::ProjectGone(p.project_id));
        let (pc, sw) = (vm(p.project_id, "PC1"), switch(p.project_id, "SW1"));
        assert_eq!(delta(action::VM_STARTED, &pc), LabDelta::VmPut(pc.clone()));
        // Switches and PCs share the vm.* actions; node_type tells them apart.
        assert_eq!(delta(action::VM_UPDATED, &sw), LabDelta::SwitchPut(sw.clone()));
        let gone = delta(action::VM_DELETED, &sw);
        assert_eq!(gone, LabDelta::NodeGone { project: p.project_id, node: sw.vm_id });
        assert_eq!(gone.node_project(), Some(p.project_id));
        for other in [action::PING, action::LOG_ERROR, action::ENGINE_CHANGED] {
            assert_eq!(LabDelta::of(&Notification::new(other, serde_json::json!({"name": "x"}))), None);
        }
        // A malformed event is no delta, not a panic.
        assert_eq!(LabDelta::of(&Notification::new(action::VM_CREATED, serde_json::json!({"x": 1}))), None);
    }

    #[test]
    fn projects_keep_the_servers_order_through_creates_renames_and_deletes() {
        let mut list = Projects::default();
        let (b, a) = (project("beta"), project("alpha"));
        assert!(list.apply(&LabDelta::ProjectPut(b.clone())));
        assert!(list.apply(&LabDelta::ProjectPut(a.clone())));
        assert!(!list.apply(&LabDelta::ProjectPut(a.clone())), "the same object changes nothing");
        let names = |l: &Projects| l.0.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&list), ["alpha", "beta"]);
        let renamed = Project { name: "gamma".into(), ..a.clone() };
        assert!(list.apply(&LabDelta::ProjectPut(renamed)));
        assert_eq!(names(&list), ["beta", "gamma"]);
        assert!(list.apply(&LabDelta::ProjectGone(b.project_id)));
        assert!(!list.apply(&LabDelta::ProjectGone(b.project_id)));
        assert_eq!(names(&list), ["gamma"]);
    }

    #[test]
    fn nodes_are_replaced_in_place_and_new_ones_come_last() {
        let p = Uuid::new_v4();
        let mut nodes = Nodes::default();
        let (pc1, pc2, sw1) = (vm(p, "PC1"), vm(p, "PC2"), switch(p, "SW1"));
        for d in
            [LabDelta::VmPut(pc1.clone()), LabDelta::VmPut(pc2.clone()), LabDelta::SwitchPut(sw1.clone())]
        {
            assert!(nodes.apply(&d));
        }
        let started = Vm { status: VmStatus::Started, ..pc1.clone() };
        assert!(nodes.apply(&LabDelta::VmPut(started)));
        assert!(!nodes.apply(&LabDelta::VmPut(nodes.vms[0].clone())));
        assert_eq!(nodes.vms.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["PC1", "PC2"]);
        assert_eq!(nodes.vm(pc1.vm_id).unwrap().status, VmStatus::Started);
        assert!(nodes.apply(&LabDelta::NodeGone { project: p, node: sw1.vm_id }));
        assert!(nodes.switches.is_empty());
        assert!(!nodes.apply(&LabDelta::ProjectGone(p)));
    }

    #[test]
    fn links_follow_the_tunnels_the_deltas_bring() {
        let p = Uuid::new_v4();
        let mut nodes = Nodes::default();
        let (pc, mut sw) = (vm(p, "PC1"), switch(p, "SW1"));
        nodes.apply(&LabDelta::VmPut(pc.clone()));
        nodes.apply(&LabDelta::SwitchPut(sw.clone()));
        assert!(nodes.links().is_empty());
        nodes.apply(&LabDelta::VmPut(Vm { nio: Some(Nio::udp(10000, "127.0.0.1", 10001)), ..pc.clone() }));
        sw.ports[1].nio = Some(Nio::udp(10001, "127.0.0.1", 10000));
        nodes.apply(&LabDelta::SwitchPut(sw.clone()));
        assert_eq!(nodes.links(), [(Attachment::Pc(pc.vm_id), Attachment::SwitchPort(sw.vm_id, 1))]);
    }
}
