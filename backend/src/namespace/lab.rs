//! `/lab/...`: the lab's projects and PCs as addresses, with methods for
//! every operation the HTTP API has.

use patchbay_shared::{Nio, ProjectCreate, VmCreate, VmStatus};
use uuid::Uuid;

use super::{error, ok, segments, MethodSpec, Namespace, Node};
use crate::engine::{Value, ValueType};
use crate::osc::codec::{Arg, Message};

pub(super) fn methods(path: &str) -> Vec<MethodSpec> {
    let segs = segments(path);
    match segs.as_slice() {
        ["lab"] => vec![("create-project", "Creates a project: NAME; replies with its id", "s")],
        ["lab", "projects", _] => vec![
            ("create-vm", "Creates a VPCS VM: NAME; replies with its id", "s"),
            ("close", "Closes the project (its VMs stop)", ""),
            ("delete", "Deletes the project and its files", ""),
        ],
        ["lab", "projects", _, "vms", _] => vec![
            ("start", "Starts the VM", ""),
            ("stop", "Stops the VM", ""),
            ("reload", "Stops and starts the VM", ""),
            ("delete", "Deletes the VM", ""),
            ("add-nio", "Attaches a UDP tunnel: LPORT RHOST RPORT", "isi"),
            ("remove-nio", "Detaches the UDP tunnel", ""),
        ],
        _ => vec![],
    }
}

impl Namespace<'_> {
    pub(super) fn lab_node(&self, rest: &[&str]) -> Option<Node> {
        let lab = &self.model.lab;
        let container = |doc: &str, children: Vec<String>| Node::Container {
            doc: doc.into(),
            children,
            signature: vec!["N".into()],
        };
        let state =
            |doc: &str, value: Value, ty| Some(Node::State { doc: doc.into(), value, ty, active: false });
        match rest {
            [] => Some(container(
                "The lab: projects of virtual PCs (GNS3 API v1 over OSC)",
                vec!["projects".into()],
            )),
            ["projects"] => Some(container(
                "Open projects, by id",
                lab.list_projects().iter().map(|p| p.project_id.to_string()).collect(),
            )),
            ["projects", id, rest @ ..] => {
                let pid = Uuid::parse_str(id).ok()?;
                let project = lab.get_project(pid).ok()?;
                match rest {
                    [] => Some(container(
                        &format!("Project {:?}", project.name),
                        vec!["name".into(), "vms".into()],
                    )),
                    ["name"] => state("The project's name", Value::String(project.name), ValueType::String),
                    ["vms"] => Some(container(
                        "The project's VPCS VMs, by id",
                        lab.list_vms(pid).ok()?.iter().map(|v| v.vm_id.to_string()).collect(),
                    )),
                    ["vms", vm, rest @ ..] => {
                        let vid = Uuid::parse_str(vm).ok()?;
                        let vm = lab.list_vms(pid).ok()?.into_iter().find(|v| v.vm_id == vid)?;
                        let s = |x: String| Value::String(x);
                        match rest {
                            [] => Some(container(
                                &format!("VPCS VM {:?}", vm.name),
                                ["name", "status", "console", "mac_address", "ip_address", "nio"]
                                    .map(String::from)
                                    .to_vec(),
                            )),
                            ["name"] => state("The VM's name", s(vm.name), ValueType::String),
                            ["status"] => {
                                let started = vm.status == VmStatus::Started;
                                state(
                                    "started or stopped",
                                    s(if started { "started" } else { "stopped" }.into()),
                                    ValueType::String,
                                )
                            }
                            ["console"] => state(
                                "The telnet console's TCP port",
                                Value::Integer(vm.console as i64),
                                ValueType::Integer,
                            ),
                            ["mac_address"] => {
                                state("The adapter's MAC address", s(vm.mac_address), ValueType::String)
                            }
                            ["ip_address"] => state(
                                "The address set on the console (ADDR/LEN), Nil when none",
                                vm.ip_address.map_or(Value::Nil, s),
                                ValueType::String,
                            ),
                            ["nio"] => state(
                                "The UDP tunnel: LPORT RHOST RPORT, Nil when none",
                                vm.nio.map_or(Value::Nil, |n| {
                                    Value::List(vec![
                                        Value::Integer(n.lport as i64),
                                        s(n.rhost),
                                        Value::Integer(n.rport as i64),
                                    ])
                                }),
                                ValueType::List,
                            ),
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    pub(super) fn lab_addresses(&self, out: &mut Vec<String>) {
        let lab = &self.model.lab;
        out.extend(["/lab/projects".to_owned(), "/lab/create-project".into()]);
        for p in lab.list_projects() {
            let base = format!("/lab/projects/{}", p.project_id);
            out.extend(["name", "vms", "create-vm", "close", "delete"].iter().map(|x| format!("{base}/{x}")));
            for vm in lab.list_vms(p.project_id).unwrap_or_default() {
                let v = format!("{base}/vms/{}", vm.vm_id);
                out.extend(
                    [
                        "name",
                        "status",
                        "console",
                        "mac_address",
                        "ip_address",
                        "nio",
                        "start",
                        "stop",
                        "reload",
                        "delete",
                        "add-nio",
                        "remove-nio",
                    ]
                    .iter()
                    .map(|x| format!("{v}/{x}")),
                );
                out.push(v);
            }
            out.push(base);
        }
    }

    pub(super) async fn lab_call(&self, addr: &str, parent: &str, name: &str, args: &[Arg]) -> Message {
        let lab = &self.model.lab;
        let segs: Vec<&str> = parent.split('/').filter(|s| !s.is_empty()).collect();
        let id = |i: usize| segs.get(i).and_then(|s| Uuid::parse_str(s).ok());
        let result: Result<Vec<Arg>, String> = async {
            match (segs.as_slice(), name) {
                (["lab"], "create-project") => {
                    let name = args.first().and_then(Arg::as_str).map(str::to_owned);
                    let p = lab
                        .create_project(ProjectCreate { name, ..Default::default() })
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(vec![Arg::Str(p.project_id.to_string())])
                }
                (["lab", "projects", _], _) => {
                    let pid = id(2).ok_or("Invalid address")?;
                    match name {
                        "create-vm" => {
                            let name = args.first().and_then(Arg::as_str).ok_or("Give a name")?.to_owned();
                            let vm = lab
                                .create_vm(pid, VmCreate { name, ..Default::default() })
                                .await
                                .map_err(|e| e.to_string())?;
                            Ok(vec![Arg::Str(vm.vm_id.to_string())])
                        }
                        "close" => lab.close_project(pid).await.map(|_| vec![]).map_err(|e| e.to_string()),
                        _ => lab.delete_project(pid).await.map(|_| vec![]).map_err(|e| e.to_string()),
                    }
                }
                (["lab", "projects", _, "vms", _], _) => {
                    let (pid, vid) = (id(2).ok_or("Invalid address")?, id(4).ok_or("Invalid address")?);
                    let r = match name {
                        "start" => lab.start_vm(pid, vid).await,
                        "stop" => lab.stop_vm(pid, vid).await,
                        "reload" => lab.reload_vm(pid, vid).await,
                        "delete" => lab.delete_vm(pid, vid).await,
                        "remove-nio" => lab.remove_nio(pid, vid, 0, 0).await,
                        _ => {
                            let (Some(lport), Some(rhost), Some(rport)) = (
                                args.first().and_then(Arg::as_i64),
                                args.get(1).and_then(Arg::as_str),
                                args.get(2).and_then(Arg::as_i64),
                            ) else {
                                return Err("Give LPORT RHOST RPORT".into());
                            };
                            let (Ok(lport), Ok(rport)) = (u16::try_from(lport), u16::try_from(rport)) else {
                                return Err("Ports are 0 to 65535".into());
                            };
                            lab.add_nio(pid, vid, 0, 0, Nio::udp(lport, rhost, rport)).await.map(drop)
                        }
                    };
                    r.map(|_| vec![]).map_err(|e| e.to_string())
                }
                _ => Err("Invalid address".into()),
            }
        }
        .await;
        match result {
            Ok(args) => ok(addr, args),
            Err(e) => error(addr, e),
        }
    }
}
