//! `/patch/...`: the engine's graph as addresses. Transforms are containers
//! of their ports; ports are states; patches, transforms, states and
//! outlets each answer a few methods.

use super::values::{arg_number, args_value, value_args};
use super::{code, error, ok, strs, MethodSpec, Namespace, Node};
use crate::engine::graph::{Kind, Node as EngineNode, NodeId, Target as EngineTarget, ROOT};
use crate::engine::{library, Engine, EngineError};
use crate::osc::codec::{Arg, Message};
use crate::osc::pattern;

/// Methods every object of a kind answers, with their documentation and argument tags.
const PATCH_METHODS: [MethodSpec; 2] = [
    ("add-transform", "Adds a transform: TYPE NAME [ARGS] (an empty NAME picks one)", "ss"),
    ("delete-transform", "Deletes the transform NAME and its connections", "s"),
];
/// Transforms and subpatches answer it; the root patch has no box to place.
const SET_LAYOUT: MethodSpec = (
    "set-layout",
    "Places this box on a canvas: X Y, its top-left corner in pixels (saved with the patch)",
    "ff",
);
const TRANSFORM_METHODS: [MethodSpec; 5] = [
    ("set-name", "Renames this transform", "s"),
    SET_LAYOUT,
    ("get-inlets", "Pairs of activation order and inlet address", ""),
    ("get-outlets", "Pairs of activation order and outlet address", ""),
    ("persistent-states", "The names of the states saved with the patch", ""),
];
const STATE_METHODS: [MethodSpec; 3] = [
    ("get-coactivators", "The inlets that must all change before the activation runs", ""),
    ("get-effects", "The outlets a change here may change", ""),
    ("set-name", "Renames this state, inlet or outlet (its connections and value stay)", "s"),
];
const OUTLET_METHODS: [MethodSpec; 2] = [
    ("connect", "Connects this outlet to the inlet at the given address", "s"),
    ("disconnect", "Removes the connection to the inlet at the given address", "s"),
];

/// The methods of the root patch, a subpatch or a transform.
fn node_methods(id: NodeId, node: &EngineNode) -> Vec<MethodSpec> {
    match id {
        ROOT => PATCH_METHODS.to_vec(),
        _ if node.is_container() => PATCH_METHODS.iter().copied().chain([SET_LAYOUT]).collect(),
        _ => TRANSFORM_METHODS.to_vec(),
    }
}

impl Namespace<'_> {
    /// The two commonest requests on an engine address, answered with one
    /// lock and no detours: `current-value` and a set-value. `None`: take the
    /// general path (patterns, other queries, methods, errors).
    pub(super) fn patch_fast_path(
        &self,
        addr: &str,
        target: &str,
        query: Option<&str>,
        args: &[Arg],
    ) -> Option<Message> {
        if !target.starts_with("/patch/") || pattern::is_pattern(target) {
            return None;
        }
        match query {
            Some("current-value") => match self.model.engine.quick({
                let target = target.to_owned();
                move |e| e.current_value(&target)
            }) {
                Ok(v) => Some(ok(addr, value_args(&v))),
                Err(_) => None,
            },
            None => {
                let last = addr.rsplit('/').next().unwrap_or_default();
                let is_method =
                    [PATCH_METHODS.as_slice(), &TRANSFORM_METHODS, &STATE_METHODS, &OUTLET_METHODS]
                        .iter()
                        .any(|m| m.iter().any(|(n, _, _)| *n == last));
                if is_method {
                    return None;
                }
                let (addr_owned, value, at) = (addr.to_owned(), args_value(args), self.at);
                match self.model.engine.quick(move |e| e.at_time(at, |e| e.set_value(&addr_owned, value))) {
                    Ok(()) => Some(ok(addr, vec![])),
                    Err(_) => None, // the general path words the error
                }
            }
            Some(_) => None,
        }
    }

    pub(super) fn patch_node(&self, path: &str) -> Option<Node> {
        let path = path.to_owned();
        self.model.engine.quick(move |e| node(e, &path))
    }

    /// A set-value on an engine address.
    pub(super) fn patch_set(&self, addr: &str, args: &[Arg]) -> Message {
        let value = args_value(args);
        let (owned, at) = (addr.to_owned(), self.at);
        match self.model.engine.with(move |e| e.at_time(at, |e| e.set_value(&owned, value))) {
            Ok(()) => ok(addr, vec![]),
            Err(EngineError::NotAState) => error(addr, "Target object is not an OSW state."),
            Err(e) => error(addr, e),
        }
    }

    pub(super) fn patch_methods(&self, path: &str) -> Vec<MethodSpec> {
        let path = path.to_owned();
        self.model.engine.quick(move |e| match e.graph().resolve(&path) {
            Ok(EngineTarget::Node(id)) => node_methods(id, &e.graph().nodes[&id]),
            Ok(EngineTarget::Port(id, p)) => {
                let mut m = STATE_METHODS.to_vec();
                if e.graph().nodes[&id].ports[p].is_outlet() {
                    m.extend(OUTLET_METHODS);
                }
                m
            }
            Err(_) => vec![],
        })
    }

    pub(super) fn patch_call(&self, addr: &str, parent: &str, name: &str, args: &[Arg]) -> Message {
        let xy = (args.first().and_then(arg_number), args.get(1).and_then(arg_number));
        let args = args.to_vec();
        let s = move |i: usize| args.get(i).and_then(Arg::as_str).map(str::to_owned);
        let (addr, parent, name) = (addr.to_owned(), parent.to_owned(), name.to_owned());
        let reply_to = addr.clone();
        let reply = self.model.engine.with(move |e| -> Result<Message, String> {
            let (addr, parent, name) = (addr.as_str(), parent.as_str(), name.as_str());
            Ok(match name {
                "add-transform" => {
                    let (ty, n) = (s(0).ok_or("Give a type and a name")?, s(1).unwrap_or_default());
                    e.add_transform(parent, &ty, &n, &s(2).unwrap_or_default()).map_err(|e| e.to_string())?;
                    ok(addr, vec![])
                }
                "delete-transform" => {
                    e.delete_transform(parent, &s(0).ok_or("Give a name")?).map_err(|e| e.to_string())?;
                    ok(addr, vec![])
                }
                "set-name" => match e.graph().resolve(parent) {
                    Ok(EngineTarget::Node(_)) => {
                        e.rename(parent, &s(0).ok_or("Give a name")?).map_err(|e| e.to_string())?;
                        ok(addr, vec![])
                    }
                    Ok(EngineTarget::Port(..)) => {
                        e.rename_port(parent, &s(0).ok_or("Give a name")?).map_err(|e| e.to_string())?;
                        ok(addr, vec![])
                    }
                    Err(e) => return Err(e.to_string()),
                },
                "set-layout" => {
                    let (Some(x), Some(y)) = xy else { return Err("Give X and Y, two numbers".into()) };
                    e.set_layout(parent, x, y).map_err(|e| e.to_string())?;
                    ok(addr, vec![])
                }
                "get-inlets" | "get-outlets" => {
                    let Ok(EngineTarget::Node(id)) = e.graph().resolve(parent) else {
                        return Err("Invalid address".into());
                    };
                    let node = &e.graph().nodes[&id];
                    let want_in = name == "get-inlets";
                    let mut ports: Vec<(i32, String)> = node
                        .ports
                        .iter()
                        .filter(|p| if want_in { p.is_inlet() } else { p.is_outlet() })
                        .map(|p| (p.order, format!("{parent}/{}", p.name)))
                        .collect();
                    ports.sort();
                    let args = ports.iter().flat_map(|(o, a)| [Arg::Int(*o), Arg::Str(a.clone())]).collect();
                    code(addr, 2 * ports.len(), args)
                }
                "persistent-states" => {
                    let Ok(EngineTarget::Node(id)) = e.graph().resolve(parent) else {
                        return Err("Invalid address".into());
                    };
                    let names: Vec<&str> = e.graph().nodes[&id]
                        .ports
                        .iter()
                        .filter(|p| p.is_persistent())
                        .map(|p| p.name.as_str())
                        .collect();
                    ok(addr, vec![Arg::Str(names.join(" "))])
                }
                "get-coactivators" | "get-effects" => {
                    let Ok(EngineTarget::Port(id, p)) = e.graph().resolve(parent) else {
                        return Err("Invalid address".into());
                    };
                    let node = &e.graph().nodes[&id];
                    let spec = &node.ports[p];
                    let path = e.graph().path(id);
                    let list: Vec<String> = if !spec.is_active() {
                        vec![]
                    } else if name == "get-coactivators" {
                        node.ports
                            .iter()
                            .filter(|q| q.is_active() && q.group == spec.group)
                            .map(|q| format!("{path}/{}", q.name))
                            .collect()
                    } else {
                        node.ports
                            .iter()
                            .filter(|q| q.is_outlet())
                            .map(|q| format!("{path}/{}", q.name))
                            .collect()
                    };
                    code(addr, list.len(), strs(list))
                }
                "connect" => {
                    e.connect(parent, &s(0).ok_or("Give the inlet's address")?).map_err(|e| e.to_string())?;
                    ok(addr, vec![])
                }
                "disconnect" => {
                    e.disconnect(parent, &s(0).ok_or("Give the inlet's address")?)
                        .map_err(|e| e.to_string())?;
                    ok(addr, vec![])
                }
                _ => return Err("Invalid address".into()),
            })
        });
        reply.unwrap_or_else(|e| error(&reply_to, e))
    }

    /// Every address under `/patch`, methods included.
    pub(super) fn patch_addresses(&self, out: &mut Vec<String>) {
        let mut found = std::mem::take(out);
        *out = self.model.engine.quick(move |e| {
            let out = &mut found;
            let mut stack = vec![(ROOT, "/patch".to_owned())];
            while let Some((id, path)) = stack.pop() {
                let node = &e.graph().nodes[&id];
                out.extend(node_methods(id, node).iter().map(|(m, _, _)| format!("{path}/{m}")));
                for p in &node.ports {
                    let port = format!("{path}/{}", p.name);
                    out.extend(STATE_METHODS.iter().map(|(m, _, _)| format!("{port}/{m}")));
                    if p.is_outlet() {
                        out.extend(OUTLET_METHODS.iter().map(|(m, _, _)| format!("{port}/{m}")));
                    }
                    out.push(port);
                }
                for (name, &child) in &node.children {
                    let child_path = format!("{path}/{name}");
                    // The transform or subpatch itself, so that globs reach it
                    // (`/patch/*/documentation`), not only what is under it.
                    out.push(child_path.clone());
                    stack.push((child, child_path));
                }
            }
            found
        });
    }
}

fn node(e: &Engine, path: &str) -> Option<Node> {
    match e.graph().resolve(path).ok()? {
        EngineTarget::Node(id) => {
            let node = &e.graph().nodes[&id];
            let entry = library::get(&node.type_name);
            let doc =
                entry.map_or_else(|| "The root patch: build patches here".to_owned(), |t| t.doc.to_owned());
            let doc = if id == ROOT { "The root patch: build patches here".to_owned() } else { doc };
            let mut children: Vec<String> = node.children.keys().cloned().collect();
            children.extend(node.ports.iter().map(|p| p.name.clone()));
            let signature = match node.kind {
                Kind::Patch => vec!["N".into(), "Patch".into()],
                _ => vec!["N".into(), "Transform".into(), node.type_name.clone()],
            };
            Some(Node::Container { doc, children, signature })
        }
        EngineTarget::Port(id, p) => {
            let node = &e.graph().nodes[&id];
            let spec = &node.ports[p];
            Some(Node::State {
                doc: spec.doc.clone(),
                value: node.value(p),
                ty: spec.ty,
                active: spec.is_active(),
                range: spec.range,
            })
        }
    }
}
