//! `/lab/...`: the lab as addresses, so that OSC alone can build and run a
//! lab as the dashboard does: projects (create, open, close, delete), PCs
//! and switches (create, start, stop, delete, tunnels, captures), and links
//! between them. Every state here is read-only; methods change things.
//!
//! ```text
//! /lab/projects/{p}                     name vms switches; create-vm create-switch link unlink close delete
//! /lab/projects/{p}/vms/{v}             name status console mac_address ip_address nio; start stop ...
//! /lab/projects/{p}/switches/{s}        name status ports/{n}; start stop delete add-nio remove-nio
//! ```

use patchbay_shared::topology::Attachment;
use patchbay_shared::{canonical_id, CaptureStart, Nio, ProjectCreate, SwitchCreate, VmCreate, VmStatus};
use uuid::Uuid;

use super::{error, ok, segments, MethodSpec, Namespace, Node};
use crate::engine::{Value, ValueType};
use crate::lab::LabError;
use crate::osc::codec::{Arg, Message};

const LAB_METHODS: [MethodSpec; 2] = [
    ("create-project", "Creates a project: NAME; replies with its id", "s"),
    ("open-project", "Opens a closed project again: ID", "s"),
];
const PROJECT_STATES: [&str; 3] = ["name", "vms", "switches"];
const PROJECT_METHODS: [MethodSpec; 6] = [
    ("create-vm", "Creates a VPCS VM: NAME; replies with its id", "s"),
    ("create-switch", "Creates an Ethernet switch: NAME [PORTS, 8 unless given]; replies with its id", "si"),
    (
        "link",
        "Links two ends, each a node's id and a port (0 for a PC): NODE PORT NODE PORT; \
         replies with the two tunnels' local ports",
        "sisi",
    ),
    ("unlink", "Removes the link at NODE PORT, both of its tunnels", "si"),
    ("close", "Closes the project (its VMs stop)", ""),
    ("delete", "Deletes the project and its files", ""),
];
const VM_STATES: [&str; 6] = ["name", "status", "console", "mac_address", "ip_address", "nio"];
const VM_METHODS: [MethodSpec; 9] = [
    (
        "console",
        "Types LINE on the started VM's console (shared with its other clients); replies with the output",
        "s",
    ),
    ("start", "Starts the VM", ""),
    ("stop", "Stops the VM", ""),
    ("reload", "Stops and starts the VM", ""),
    ("delete", "Deletes the VM", ""),
    ("add-nio", "Attaches a UDP tunnel: LPORT RHOST RPORT", "isi"),
    ("remove-nio", "Detaches the UDP tunnel", ""),
    (
        "start-capture",
        "Writes the VM's traffic to FILE (a plain name) in the project's captures; replies with its path",
        "s",
    ),
    ("stop-capture", "Stops the capture; the file is complete when this replies", ""),
];
const SWITCH_STATES: [&str; 3] = ["name", "status", "ports"];
const SWITCH_METHODS: [MethodSpec; 5] = [
    ("start", "Starts the switch", ""),
    ("stop", "Stops the switch", ""),
    ("delete", "Deletes the switch", ""),
    ("add-nio", "Attaches a UDP tunnel to a port: PORT LPORT RHOST RPORT", "iisi"),
    ("remove-nio", "Detaches the UDP tunnel of PORT", "i"),
];

pub(super) fn methods(path: &str) -> Vec<MethodSpec> {
    match segments(path).as_slice() {
        ["lab"] => LAB_METHODS.to_vec(),
        ["lab", "projects", _] => PROJECT_METHODS.to_vec(),
        ["lab", "projects", _, "vms", _] => VM_METHODS.to_vec(),
        ["lab", "projects", _, "switches", _] => SWITCH_METHODS.to_vec(),
        _ => vec![],
    }
}

fn container(doc: &str, children: Vec<String>) -> Option<Node> {
    Some(Node::Container { doc: doc.into(), children, signature: vec!["N".into()] })
}

fn state(doc: &str, value: Value, ty: ValueType) -> Option<Node> {
    Some(Node::State { doc: doc.into(), value, ty, active: false, range: None })
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn status(s: VmStatus) -> Value {
    Value::String(if s == VmStatus::Started { "started" } else { "stopped" }.into())
}

fn nio_value(nio: Option<Nio>) -> Value {
    nio.map_or(Value::Nil, |n| {
        Value::List(vec![
            Value::Integer(n.lport as i64),
            Value::String(n.rhost),
            Value::Integer(n.rport as i64),
        ])
    })
}

/// The arguments of a call, read by position with the error the client sees.
struct Args<'a>(&'a [Arg]);

impl Args<'_> {
    fn str(&self, i: usize, what: &str) -> Result<&str, String> {
        self.0.get(i).and_then(Arg::as_str).ok_or_else(|| format!("Give {what}"))
    }

    fn int<T: TryFrom<i64>>(&self, i: usize, what: &str) -> Result<T, String> {
        let n = self.0.get(i).and_then(Arg::as_i64).ok_or_else(|| format!("Give {what}"))?;
        T::try_from(n).map_err(|_| format!("{what}: {n} is out of range"))
    }

    fn uuid(&self, i: usize, what: &str) -> Result<Uuid, String> {
        let s = self.str(i, what)?;
        canonical_id::parse(s).ok_or_else(|| format!("{what}: {s:?} is not an id"))
    }

    fn nio(&self, from: usize) -> Result<Nio, String> {
        let lport = self.int(from, "LPORT RHOST RPORT")?;
        let rhost = self.str(from + 1, "LPORT RHOST RPORT")?;
        let rport = self.int(from + 2, "LPORT RHOST RPORT")?;
        Ok(Nio::udp(lport, rhost, rport))
    }
}

impl Namespace<'_> {
    pub(super) fn lab_node(&self, rest: &[&str]) -> Option<Node> {
        let lab = &self.model.lab;
        match rest {
            [] => container(
                "The lab: projects of virtual PCs and switches (GNS3 API v1 over OSC)",
                names(&["projects"]),
            ),
            ["projects"] => container(
                "Open projects, by id",
                lab.list_projects().iter().map(|p| p.project_id.to_string()).collect(),
            ),
            ["projects", id, rest @ ..] => {
                let pid = canonical_id::parse(id)?;
                let project = lab.get_project(pid).ok()?;
                match rest {
                    [] => container(&format!("Project {:?}", project.name), names(&PROJECT_STATES)),
                    ["name"] => state("The project's name", Value::String(project.name), ValueType::String),
                    ["vms"] => container(
                        "The project's VPCS VMs, by id",
                        lab.list_vms(pid).ok()?.iter().map(|v| v.vm_id.to_string()).collect(),
                    ),
                    ["vms", vm, rest @ ..] => self.vm_node(pid, vm, rest),
                    ["switches"] => container(
                        "The project's Ethernet switches, by id",
                        lab.list_switches(pid).ok()?.iter().map(|s| s.vm_id.to_string()).collect(),
                    ),
                    ["switches", sw, rest @ ..] => self.switch_node(pid, sw, rest),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn vm_node(&self, pid: Uuid, vm: &str, rest: &[&str]) -> Option<Node> {
        let vid = canonical_id::parse(vm)?;
        let vm = self.model.lab.list_vms(pid).ok()?.into_iter().find(|v| v.vm_id == vid)?;
        let s = Value::String;
        match rest {
            [] => container(&format!("VPCS VM {:?}", vm.name), names(&VM_STATES)),
            ["name"] => state("The VM's name", s(vm.name), ValueType::String),
            ["status"] => state("started or stopped", status(vm.status), ValueType::String),
            ["console"] => {
                state("The telnet console's TCP port", Value::Integer(vm.console as i64), ValueType::Integer)
            }
            ["mac_address"] => state("The adapter's MAC address", s(vm.mac_address), ValueType::String),
            ["ip_address"] => state(
                "The address set on the console (ADDR/LEN), Nil when none",
                vm.ip_address.map_or(Value::Nil, s),
                ValueType::String,
            ),
            ["nio"] => {
                state("The UDP tunnel: LPORT RHOST RPORT, Nil when none", nio_value(vm.nio), ValueType::List)
            }
            _ => None,
        }
    }

    fn switch_node(&self, pid: Uuid, sw: &str, rest: &[&str]) -> Option<Node> {
        let sid = canonical_id::parse(sw)?;
        let sw = self.model.lab.list_switches(pid).ok()?.into_iter().find(|s| s.vm_id == sid)?;
        match rest {
            [] => container(&format!("Ethernet switch {:?}", sw.name), names(&SWITCH_STATES)),
            ["name"] => state("The switch's name", Value::String(sw.name), ValueType::String),
            ["status"] => state("started or stopped", status(sw.status), ValueType::String),
            ["ports"] => container(
                "The switch's ports, by number",
                sw.ports.iter().map(|p| p.port_number.to_string()).collect(),
            ),
            ["ports", n] => {
                let port = sw.ports.into_iter().find(|p| p.port_number.to_string() == *n)?;
                state(
                    "The port's UDP tunnel: LPORT RHOST RPORT, Nil when none",
                    nio_value(port.nio),
                    ValueType::List,
                )
            }
            _ => None,
        }
    }

    pub(super) fn lab_addresses(&self, out: &mut Vec<String>) {
        let lab = &self.model.lab;
        out.push("/lab/projects".into());
        out.extend(LAB_METHODS.iter().map(|(m, _, _)| format!("/lab/{m}")));
        let under = |base: &str, states: &[&str], methods: &[MethodSpec]| -> Vec<String> {
            let states = states.iter().copied();
            states.chain(methods.iter().map(|(m, _, _)| *m)).map(|x| format!("{base}/{x}")).collect()
        };
        for p in lab.list_projects() {
            let base = format!("/lab/projects/{}", p.project_id);
            out.extend(under(&base, &PROJECT_STATES, &PROJECT_METHODS));
            for vm in lab.list_vms(p.project_id).unwrap_or_default() {
                let v = format!("{base}/vms/{}", vm.vm_id);
                out.extend(under(&v, &VM_STATES, &VM_METHODS));
                out.push(v);
            }
            for sw in lab.list_switches(p.project_id).unwrap_or_default() {
                let s = format!("{base}/switches/{}", sw.vm_id);
                out.extend(under(&s, &SWITCH_STATES, &SWITCH_METHODS));
                out.extend(sw.ports.iter().map(|port| format!("{s}/ports/{}", port.port_number)));
                out.push(s);
            }
            out.push(base);
        }
    }

    pub(super) async fn lab_call(&self, addr: &str, parent: &str, name: &str, args: &[Arg]) -> Message {
        let segs = segments(parent);
        let id =
            |i: usize| segs.get(i).and_then(|s| canonical_id::parse(s)).ok_or("Invalid address".to_owned());
        let args = Args(args);
        let result = match segs.as_slice() {
            ["lab"] => self.lab_root_call(name, &args).await,
            ["lab", "projects", _] => match id(2) {
                Ok(pid) => self.project_call(pid, name, &args).await,
                Err(e) => Err(e),
            },
            ["lab", "projects", _, "vms", _] => match (id(2), id(4)) {
                (Ok(pid), Ok(vid)) => self.vm_call(pid, vid, name, &args).await,
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
            ["lab", "projects", _, "switches", _] => match (id(2), id(4)) {
                (Ok(pid), Ok(sid)) => self.switch_call(pid, sid, name, &args).await,
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
            _ => Err("Invalid address".into()),
        };
        match result {
            Ok(args) => ok(addr, args),
            Err(e) => error(addr, e),
        }
    }

    async fn lab_root_call(&self, name: &str, args: &Args<'_>) -> Result<Vec<Arg>, String> {
        let lab = &self.model.lab;
        let req = match name {
            "create-project" => {
                ProjectCreate { name: args.str(0, "a name").ok().map(str::to_owned), ..Default::default() }
            }
            _ => ProjectCreate { project_id: Some(args.uuid(0, "the project's id")?), ..Default::default() },
        };
        let p = lab.create_project(req).await.map_err(text)?;
        Ok(vec![Arg::Str(p.project_id.to_string())])
    }

    async fn project_call(&self, pid: Uuid, name: &str, args: &Args<'_>) -> Result<Vec<Arg>, String> {
        let lab = &self.model.lab;
        match name {
            "create-vm" => {
                let req = VmCreate { name: args.str(0, "a name")?.to_owned(), ..Default::default() };
                let vm = lab.create_vm(pid, req).await.map_err(text)?;
                Ok(vec![Arg::Str(vm.vm_id.to_string())])
            }
            "create-switch" => {
                // Without a count the lab's default (8, as GNS3's switch has) applies.
                let ports = if args.0.len() > 1 { Some(args.int(1, "the number of ports")?) } else { None };
                let req = SwitchCreate { name: args.str(0, "a name")?.to_owned(), ports, vm_id: None };
                let sw = lab.create_switch(pid, req).await.map_err(text)?;
                Ok(vec![Arg::Str(sw.vm_id.to_string())])
            }
            "link" => {
                let a = self.attachment(pid, args, 0)?;
                let b = self.attachment(pid, args, 2)?;
                let (at_a, at_b) = lab.link(pid, a, b).await.map_err(text)?;
                Ok(vec![Arg::Int(at_a.lport as i32), Arg::Int(at_b.lport as i32)])
            }
            "unlink" => {
                let at = self.attachment(pid, args, 0)?;
                lab.unlink(pid, at).await.map(|_| vec![]).map_err(text)
            }
            "close" => lab.close_project(pid).await.map(|_| vec![]).map_err(text),
            _ => lab.delete_project(pid).await.map(|_| vec![]).map_err(text),
        }
    }

    /// The link end named by `NODE PORT` at `args[from..]`: a PC or a switch's port.
    fn attachment(&self, pid: Uuid, args: &Args<'_>, from: usize) -> Result<Attachment, String> {
        let node = args.uuid(from, "NODE PORT NODE PORT")?;
        let port: u32 = args.int(from + 1, "NODE PORT NODE PORT")?;
        let lab = &self.model.lab;
        if lab.list_vms(pid).map_err(text)?.iter().any(|v| v.vm_id == node) {
            if port != 0 {
                return Err(format!("A PC has one port, 0: {port} is not one"));
            }
            return Ok(Attachment::Pc(node));
        }
        if lab.list_switches(pid).map_err(text)?.iter().any(|s| s.vm_id == node) {
            return Ok(Attachment::SwitchPort(node, port));
        }
        Err(format!("No PC or switch {node} in this project"))
    }

    async fn vm_call(&self, pid: Uuid, vid: Uuid, name: &str, args: &Args<'_>) -> Result<Vec<Arg>, String> {
        let lab = &self.model.lab;
        let done = match name {
            "start" => lab.start_vm(pid, vid).await,
            "stop" => lab.stop_vm(pid, vid).await,
            "reload" => lab.reload_vm(pid, vid).await,
            "delete" => lab.delete_vm(pid, vid).await,
            "remove-nio" => lab.remove_nio(pid, vid, 0, 0).await,
            "add-nio" => lab.add_nio(pid, vid, 0, 0, args.nio(0)?).await.map(drop),
            "console" => {
                let output =
                    lab.console_line(pid, vid, args.str(0, "a line to type")?).await.map_err(text)?;
                return Ok(vec![Arg::Str(output)]);
            }
            "start-capture" => {
                let req = CaptureStart {
                    capture_file_name: args.str(0, "a file name")?.to_owned(),
                    data_link_type: None,
                };
                let path = lab.start_capture(pid, vid, 0, 0, req).await.map_err(text)?;
                return Ok(vec![Arg::Str(path)]);
            }
            _ => lab.stop_capture(pid, vid, 0, 0).await,
        };
        done.map(|_| vec![]).map_err(text)
    }

    async fn switch_call(
        &self,
        pid: Uuid,
        sid: Uuid,
        name: &str,
        args: &Args<'_>,
    ) -> Result<Vec<Arg>, String> {
        let lab = &self.model.lab;
        let done = match name {
            "start" => lab.start_switch(pid, sid).await,
            "stop" => lab.stop_switch(pid, sid).await,
            "delete" => lab.delete_switch(pid, sid).await,
            "add-nio" => lab.add_switch_nio(pid, sid, 0, args.int(0, "PORT")?, args.nio(1)?).await.map(drop),
            _ => lab.remove_switch_nio(pid, sid, 0, args.int(0, "PORT")?).await,
        };
        done.map(|_| vec![]).map_err(text)
    }
}

fn text(e: LabError) -> String {
    e.to_string()
}
