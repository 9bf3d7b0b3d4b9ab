//! The address tree over the whole server, with seed 001's query semantics:
//! every input gets replies whose address is the input's, whose first
//! argument is a return code (negative: an error, then a message), globs
//! expand to a count reply and one reply per match, a trailing `/` lists,
//! and `documentation`, `type-signature` and `current-value` work on every
//! address.
//!
//! Layout of the tree: `/patch/...` is the engine's graph; the builtins
//! (`/advance-clock`, `/main_clock`, `/transform-types`, `/thread/`,
//! `/osc_server/`, `/audio/`, `/osw-quit`, `/osw-restart`, `/load-osx`,
//! `/save-patch`); and `/lab/...`, the projects and VMs of the lab.

use std::path::PathBuf;

use patchbay_shared::{Nio, ProjectCreate, VmCreate, VmStatus};
use uuid::Uuid;

use crate::engine::graph::{Kind, Target as EngineTarget};
use crate::engine::library;
use crate::engine::patch_file::{self, PatchFile};
use crate::engine::{Engine, EngineError, Value, ValueType};
use crate::http::AppState;
use crate::osc::codec::{Arg, Message};
use crate::osc::pattern;

pub const QUERIES: [&str; 3] = ["documentation", "type-signature", "current-value"];

/// What the OSC side may do beyond queries and edits.
#[derive(Debug, Clone, Default)]
pub struct Powers {
    /// `/osw-quit` and `/osw-restart` work (they can be turned off).
    pub quit: bool,
    /// Where `/load-osx` and `/save-patch` read and write patch files.
    pub patches_dir: PathBuf,
    /// The patch `/osw-restart` loads again.
    pub start_patch: Option<PathBuf>,
    pub osc_port: u16,
}

/// What happened, besides the replies: the server may have to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum After {
    #[default]
    Nothing,
    Quit,
}

fn ok(addr: &str, mut args: Vec<Arg>) -> Message {
    args.insert(0, Arg::Int(0));
    Message::new(addr, args)
}

fn code(addr: &str, n: usize, mut args: Vec<Arg>) -> Message {
    args.insert(0, Arg::Int(n as i32));
    Message::new(addr, args)
}

pub fn error(addr: &str, message: impl ToString) -> Message {
    Message::new(addr, vec![Arg::Int(-1), Arg::Str(message.to_string())])
}

fn strs<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<Arg> {
    items.into_iter().map(|s| Arg::Str(s.into())).collect()
}

/// A value as OSC arguments.
pub fn value_args(v: &Value) -> Vec<Arg> {
    match v {
        Value::Nil => vec![Arg::Nil],
        Value::Bang => vec![Arg::Impulse],
        Value::Float(x) => vec![Arg::Float(*x as f32)],
        Value::Integer(i) => vec![i32::try_from(*i).map_or(Arg::Long(*i), Arg::Int)],
        Value::Boolean(b) => vec![if *b { Arg::True } else { Arg::False }],
        Value::String(s) => vec![Arg::Str(s.clone())],
        Value::Time(t) => vec![Arg::Time(seconds_to_ntp(*t))],
        Value::Complex(re, im) => vec![Arg::Complex(*re, *im)],
        Value::Samples(s) => vec![Arg::Samples(s.clone())],
        Value::List(l) => l.iter().flat_map(value_args).collect(),
        Value::Table(t) => {
            vec![Arg::Blob(t.iter().flat_map(|x| x.to_le_bytes()).collect()), Arg::Str("Table".into())]
        }
        Value::Raw { type_name, bytes } => vec![Arg::Blob(bytes.clone()), Arg::Str(type_name.clone())],
    }
}

fn seconds_to_ntp(t: f64) -> u64 {
    (t.max(0.0) * 4294967296.0) as u64
}

/// OSC arguments as a value: none is a bang, one is itself, more are a list.
pub fn args_value(args: &[Arg]) -> Value {
    fn one(a: &Arg) -> Value {
        match a {
            Arg::Int(i) => Value::Integer(*i as i64),
            Arg::Long(i) => Value::Integer(*i),
            Arg::Float(f) => Value::Float(*f as f64),
            Arg::Double(d) => Value::Float(*d),
            Arg::Str(s) | Arg::Symbol(s) => Value::String(s.clone()),
            Arg::Char(c) => Value::String(c.to_string()),
            Arg::True => Value::Boolean(true),
            Arg::False => Value::Boolean(false),
            Arg::Nil => Value::Nil,
            Arg::Impulse => Value::Bang,
            Arg::Time(t) => Value::Time(*t as f64 / 4294967296.0),
            Arg::Complex(re, im) => Value::Complex(*re, *im),
            Arg::Samples(s) => Value::Samples(s.clone()),
            Arg::Array(a) => Value::List(a.iter().map(one).collect()),
            Arg::Blob(b) => Value::Raw { type_name: "Blob".into(), bytes: b.clone() },
            Arg::Color(c) => Value::Integer(*c as i64),
            Arg::Midi(m) => Value::List(m.iter().map(|x| Value::Integer(*x as i64)).collect()),
        }
    }
    match args {
        [] => Value::Bang,
        [a] => one(a),
        many => Value::List(many.iter().map(one).collect()),
    }
}

/// The OSC type tag of a port type (Booleans show their current value, as the seed says).
fn type_tag(ty: ValueType, current: &Value) -> &'static str {
    match ty {
        ValueType::Float => "f",
        ValueType::Integer => "i",
        ValueType::Boolean if current.is_true() => "T",
        ValueType::Boolean => "F",
        ValueType::String => "s",
        ValueType::Time => "t",
        ValueType::Complex => "C",
        ValueType::Samples => "v",
        ValueType::Bang => "I",
        ValueType::Table | ValueType::Raw => "bs",
        ValueType::List | ValueType::Any => "N",
    }
}

/// Methods every object of a kind answers, with their documentation and argument tags.
const PATCH_METHODS: [(&str, &str, &str); 2] = [
    ("add-transform", "Adds a transform: TYPE NAME [ARGS] (an empty NAME picks one)", "ss"),
    ("delete-transform", "Deletes the transform NAME and its connections", "s"),
];
const TRANSFORM_METHODS: [(&str, &str, &str); 4] = [
    ("set-name", "Renames this transform", "s"),
    ("get-inlets", "Pairs of activation order and inlet address", ""),
    ("get-outlets", "Pairs of activation order and outlet address", ""),
    ("persistent-states", "The names of the states saved with the patch", ""),
];
const STATE_METHODS: [(&str, &str, &str); 3] = [
    ("get-coactivators", "The inlets that must all change before the activation runs", ""),
    ("get-effects", "The outlets a change here may change", ""),
    ("set-name", "Renames this state (inlets, outlets and states keep their names here: refused)", "s"),
];
const OUTLET_METHODS: [(&str, &str, &str); 2] = [
    ("connect", "Connects this outlet to the inlet at the given address", "s"),
    ("disconnect", "Removes the connection to the inlet at the given address", "s"),
];

/// Builtin root entries: (name, documentation).
const BUILTINS: [(&str, &str); 12] = [
    ("advance-clock", "Advances the clock by one frame (or by N: an integer argument), even with audio off"),
    ("audio", "The audio driver: sample rate, block size and what drives the clock"),
    ("lab", "The lab: projects of virtual PCs (GNS3 API v1 over OSC)"),
    ("load-osx", "Loads a patch file (JSON) from the patches directory into /patch: a plain file name"),
    ("main_clock", "The Main Clock: engine time in seconds"),
    ("osc_server", "The OSC server: its communicator and dispatcher"),
    ("osw-quit", "Force this server to exit"),
    ("osw-restart", "Clears /patch and loads the start patch again (when allowed by configuration)"),
    ("patch", "The root patch: build patches here"),
    ("save-patch", "Saves /patch as a patch file in the patches directory: a plain file name"),
    ("thread", "The server's threads"),
    ("transform-types", "Lists every transform type that can be created"),
];
const THREADS: [(&str, &str); 3] = [
    ("audio", "Runs the DSP program once per block: the sound card's callback, or a timer"),
    ("control", "Runs timers and hands patch edits to the audio thread"),
    ("osc", "Receives OSC, dispatches it and sends the replies (tokio tasks)"),
];

/// A node of the tree as the queries see it.
enum Node {
    /// Lists children; `current-value` and set-value are errors.
    Container { doc: String, children: Vec<String>, signature: Vec<String> },
    /// A state: readable, maybe settable.
    State { doc: String, value: Value, ty: ValueType, active: bool },
    /// Takes arguments and does something.
    Method { doc: String, tags: &'static str },
}

pub struct Namespace<'a> {
    pub state: &'a AppState,
    pub powers: &'a Powers,
}

impl Namespace<'_> {
    /// Every reply to one message, and what the server must do after sending them.
    pub async fn handle(&self, msg: &Message) -> (Vec<Message>, After) {
        let addr = msg.addr.as_str();
        if addr.ends_with('/') && !pattern::is_pattern(addr) {
            return (vec![self.listing(addr)], After::Nothing);
        }
        let (target, query) = split_query(addr);
        if let Some(reply) = self.fast_path(addr, target, query, &msg.args) {
            return (vec![reply], After::Nothing);
        }
        let normalized = if target.starts_with('/') { target.to_owned() } else { format!("/{target}") };
        if pattern::is_pattern(&normalized) {
            let matches: Vec<String> =
                self.all_addresses().into_iter().filter(|a| pattern::matches(&normalized, a)).collect();
            let mut replies = vec![code(addr, matches.len(), vec![])];
            let mut after = After::Nothing;
            for m in matches {
                let explicit = match query {
                    Some(q) => format!("{m}/{q}"),
                    None => m,
                };
                let (r, a) = Box::pin(self.handle(&Message::new(explicit, msg.args.clone()))).await;
                replies.extend(r);
                after = if a == After::Quit { a } else { after };
            }
            return (replies, after);
        }
        let reply = match query {
            Some(q) => self.query(addr, target, q),
            None => return self.set_or_call(addr, &msg.args).await,
        };
        (vec![reply], After::Nothing)
    }

    /// The two commonest requests on an engine address, answered with one
    /// lock and no detours: `current-value` and a set-value. `None`: take the
    /// general path (patterns, other queries, methods, errors).
    fn fast_path(&self, addr: &str, target: &str, query: Option<&str>, args: &[Arg]) -> Option<Message> {
        if !target.starts_with("/patch/") || pattern::is_pattern(target) {
            return None;
        }
        match query {
            Some("current-value") => match self.state.sound.quick(|e| e.current_value(target)) {
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
                match self.state.sound.quick(|e| e.set_value(addr, args_value(args))) {
                    Ok(()) => Some(ok(addr, vec![])),
                    Err(_) => None, // the general path words the error
                }
            }
            Some(_) => None,
        }
    }

    fn node(&self, path: &str) -> Option<Node> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segs.as_slice() {
            [] => Some(Node::Container {
                doc: format!("Patchbay {}", env!("CARGO_PKG_VERSION")),
                children: BUILTINS.iter().map(|(n, _)| n.to_string()).collect(),
                signature: vec!["N".into()],
            }),
            ["patch", ..] => self.state.sound.quick(|e| engine_node(e, path)),
            ["lab", rest @ ..] => self.lab_node(rest),
            [name] => {
                let (_, doc) = BUILTINS.iter().find(|(n, _)| n == name)?;
                let doc = doc.to_string();
                Some(match *name {
                    "main_clock" => Node::State {
                        doc,
                        value: Value::Time(self.state.sound.quick(|e| e.now())),
                        ty: ValueType::Time,
                        active: true,
                    },
                    "thread" => Node::Container {
                        doc,
                        children: THREADS.iter().map(|(n, _)| n.to_string()).collect(),
                        signature: vec!["N".into()],
                    },
                    "osc_server" => Node::Container {
                        doc,
                        children: vec!["communicator".into(), "dispatcher".into()],
                        signature: vec!["N".into(), "Patch".into()],
                    },
                    "audio" => Node::Container {
                        doc,
                        children: ["block_size", "clock", "sample_rate"].map(String::from).to_vec(),
                        signature: vec!["N".into(), "AudioDriver".into()],
                    },
                    "advance-clock" => Node::Method { doc, tags: "i" },
                    "load-osx" | "save-patch" => Node::Method { doc, tags: "s" },
                    "transform-types" | "osw-quit" | "osw-restart" => Node::Method { doc, tags: "" },
                    _ => return None,
                })
            }
            ["thread", name] => THREADS.iter().find(|(n, _)| n == name).map(|(_, d)| Node::Container {
                doc: d.to_string(),
                children: vec![],
                signature: vec!["N".into(), "Thread".into()],
            }),
            ["osc_server", "communicator"] => Some(Node::Container {
                doc: "Receives and sends OSC over UDP and TCP".into(),
                children: vec!["basePort".into()],
                signature: vec!["N".into(), "Transform".into(), "OSCCommunicator".into()],
            }),
            ["osc_server", "communicator", "basePort"] => Some(Node::State {
                doc: "The UDP and TCP port OSC arrives on (set with --osc-port)".into(),
                value: Value::Integer(self.powers.osc_port as i64),
                ty: ValueType::Integer,
                active: false,
            }),
            ["osc_server", "dispatcher"] => Some(Node::Container {
                doc: "Matches addresses and runs queries and edits".into(),
                children: vec![],
                signature: vec!["N".into(), "Transform".into(), "OSCDispatch".into()],
            }),
            ["audio", name] => {
                let sound = &self.state.sound;
                let (doc, value, ty) = match *name {
                    "sample_rate" => ("Samples per second", Value::Float(sound.setup.rate), ValueType::Float),
                    "block_size" => (
                        "Samples per block (per clock tick)",
                        Value::Integer(sound.setup.block as i64),
                        ValueType::Integer,
                    ),
                    "clock" => (
                        "What drives the clock: a device's name, or why it is a timer",
                        Value::String(sound.clock_description()),
                        ValueType::String,
                    ),
                    _ => return None,
                };
                Some(Node::State { doc: doc.into(), value, ty, active: false })
            }
            _ => None,
        }
    }

    fn listing(&self, addr: &str) -> Message {
        let path = addr.trim_end_matches('/');
        match self.node(path) {
            Some(Node::Container { children, .. }) => {
                let mut names = children;
                names.extend(self.methods_of(path).into_iter().map(|(n, _, _)| n.to_string()));
                names.sort();
                names.dedup();
                code(addr, names.len(), strs(names))
            }
            Some(_) => {
                let mut names: Vec<String> =
                    self.methods_of(path).into_iter().map(|(n, _, _)| n.to_string()).collect();
                names.sort();
                code(addr, names.len(), strs(names))
            }
            None => error(addr, "Invalid address"),
        }
    }

    /// The methods under `path`, beyond its children.
    fn methods_of(&self, path: &str) -> Vec<(&'static str, &'static str, &'static str)> {
        if path.starts_with("/lab") {
            return lab_methods(path);
        }
        if path == "/osc_server/communicator" {
            return vec![("persistent-states", "The names of the states saved with the patch", "")];
        }
        if !path.starts_with("/patch") {
            return vec![];
        }
        self.state.sound.quick(|e| match e.graph.resolve(path) {
            Ok(EngineTarget::Node(id)) if e.graph.nodes[&id].is_container() => PATCH_METHODS.to_vec(),
            Ok(EngineTarget::Node(_)) => TRANSFORM_METHODS.to_vec(),
            Ok(EngineTarget::Port(id, p)) => {
                let mut m = STATE_METHODS.to_vec();
                if e.graph.nodes[&id].ports[p].is_outlet() {
                    m.extend(OUTLET_METHODS);
                }
                m
            }
            Err(_) => vec![],
        })
    }

    /// The method called `last` under `parent`, if it is one.
    fn method(&self, path: &str) -> Option<(String, &'static str, &'static str, &'static str)> {
        let (parent, last) = path.rsplit_once('/')?;
        let parent = if parent.is_empty() { "/" } else { parent };
        self.methods_of(parent)
            .into_iter()
            .find(|(n, _, _)| *n == last)
            .map(|(n, d, t)| (parent.to_owned(), n, d, t))
    }

    fn query(&self, addr: &str, target: &str, query: &str) -> Message {
        let target = if target.is_empty() { "/" } else { target };
        let node = match self.node(target) {
            Some(n) => n,
            None => match self.method(target) {
                Some((_, _, doc, tags)) => Node::Method { doc: doc.into(), tags },
                None => return error(addr, "Invalid address"),
            },
        };
        match (query, node) {
            (
                "documentation",
                Node::Container { doc, .. } | Node::State { doc, .. } | Node::Method { doc, .. },
            ) => ok(addr, vec![Arg::Str(doc)]),
            ("type-signature", Node::Container { signature, .. }) => ok(addr, strs(signature)),
            ("type-signature", Node::State { value, ty, active, .. }) => {
                let mut sig = vec![type_tag(ty, &value).to_owned(), "State".into(), ty.name().to_owned()];
                if active {
                    sig.push("Activator".into());
                }
                ok(addr, strs(sig))
            }
            ("type-signature", Node::Method { tags, .. }) => ok(addr, strs([tags, "Method"])),
            ("current-value", Node::State { value, .. }) => ok(addr, value_args(&value)),
            ("current-value", _) => error(addr, "Address does not have a readable type"),
            _ => error(addr, "Invalid address"),
        }
    }

    async fn set_or_call(&self, addr: &str, args: &[Arg]) -> (Vec<Message>, After) {
        if let Some((parent, name, _, _)) = self.method(addr) {
            return self.call(addr, &parent, name, args).await;
        }
        let segs: Vec<&str> = addr.split('/').filter(|s| !s.is_empty()).collect();
        let reply = match segs.as_slice() {
            ["advance-clock"] => {
                let n = args.first().and_then(Arg::as_i64).unwrap_or(1).clamp(1, 1 << 20) as u32;
                self.state.sound.with(|e| e.advance_clock(n));
                ok(addr, vec![])
            }
            ["transform-types"] => {
                let names: Vec<&str> = library::all().map(|t| t.name).collect();
                code(addr, names.len(), strs(names))
            }
            ["osw-quit"] if self.powers.quit => return (vec![ok(addr, vec![])], After::Quit),
            ["osw-restart"] if self.powers.quit => {
                let result = self.state.sound.with(|e| {
                    e.clear();
                    match &self.powers.start_patch {
                        Some(p) => crate::sound::load_file(e, p).map_err(|e| e.to_string()),
                        None => Ok(()),
                    }
                });
                match result {
                    Ok(()) => ok(addr, vec![]),
                    Err(e) => error(addr, e),
                }
            }
            ["osw-quit" | "osw-restart"] => error(addr, "Disabled by configuration (--osc-no-quit)"),
            ["load-osx"] => self.load_patch(addr, args),
            ["save-patch"] => self.save_patch(addr, args),
            ["patch", ..] => {
                let value = args_value(args);
                match self.state.sound.with(|e| e.set_value(addr, value)) {
                    Ok(()) => ok(addr, vec![]),
                    Err(EngineError::NotAState) => error(addr, "Target object is not an OSW state."),
                    Err(e) => error(addr, e),
                }
            }
            ["lab", ..] => match self.lab_node(&segs[1..]) {
                Some(Node::State { .. }) => {
                    error(addr, "Lab states are read-only here: use the lab's methods")
                }
                Some(_) => error(addr, "Target object is not an OSW state."),
                None => error(addr, "Invalid address"),
            },
            _ => match self.node(addr) {
                Some(Node::State { .. }) => error(addr, "State is read-only"),
                Some(_) => error(addr, "Target object is not an OSW state."),
                None => error(addr, "Invalid address"),
            },
        };
        (vec![reply], After::Nothing)
    }

    fn file_arg(&self, args: &[Arg]) -> Result<PathBuf, String> {
        let name = args.first().and_then(Arg::as_str).ok_or("Give a file name")?;
        crate::engine::library::io::sandboxed(&self.powers.patches_dir, name)
    }

    fn load_patch(&self, addr: &str, args: &[Arg]) -> Message {
        let result = self.file_arg(args).and_then(|path| {
            let json = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let file = PatchFile::parse(&json).map_err(|e| e.to_string())?;
            self.state.sound.with(|e| patch_file::load(e, &file)).map_err(|e| e.to_string())
        });
        match result {
            Ok(()) => ok(addr, vec![]),
            Err(e) => error(addr, e),
        }
    }

    fn save_patch(&self, addr: &str, args: &[Arg]) -> Message {
        let result = self.file_arg(args).and_then(|path| {
            let json = self.state.sound.quick(|e| patch_file::save(e)).to_json();
            crate::lab::store::write_atomically(&path, json.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))
        });
        match result {
            Ok(()) => ok(addr, vec![]),
            Err(e) => error(addr, e),
        }
    }

    async fn call(&self, addr: &str, parent: &str, name: &str, args: &[Arg]) -> (Vec<Message>, After) {
        if parent.starts_with("/lab") {
            return (vec![self.lab_call(addr, parent, name, args).await], After::Nothing);
        }
        if parent == "/osc_server/communicator" {
            return (vec![ok(addr, vec![Arg::Str("basePort".into())])], After::Nothing);
        }
        let s = |i: usize| args.get(i).and_then(Arg::as_str).map(str::to_owned);
        let reply = self.state.sound.with(|e| -> Result<Message, String> {
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
                "set-name" => match e.graph.resolve(parent) {
                    Ok(EngineTarget::Node(_)) => {
                        e.rename(parent, &s(0).ok_or("Give a name")?).map_err(|e| e.to_string())?;
                        ok(addr, vec![])
                    }
                    _ => return Err("Ports keep the names their transform gives them".into()),
                },
                "get-inlets" | "get-outlets" => {
                    let Ok(EngineTarget::Node(id)) = e.graph.resolve(parent) else {
                        return Err("Invalid address".into());
                    };
                    let node = &e.graph.nodes[&id];
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
                    let Ok(EngineTarget::Node(id)) = e.graph.resolve(parent) else {
                        return Err("Invalid address".into());
                    };
                    let names: Vec<&str> = e.graph.nodes[&id]
                        .ports
                        .iter()
                        .filter(|p| p.is_persistent())
                        .map(|p| p.name.as_str())
                        .collect();
                    ok(addr, vec![Arg::Str(names.join(" "))])
                }
                "get-coactivators" | "get-effects" => {
                    let Ok(EngineTarget::Port(id, p)) = e.graph.resolve(parent) else {
                        return Err("Invalid address".into());
                    };
                    let node = &e.graph.nodes[&id];
                    let spec = &node.ports[p];
                    let path = e.graph.path(id);
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
        (vec![reply.unwrap_or_else(|e| error(addr, e))], After::Nothing)
    }

    /// Every explicit address, for glob expansion.
    pub fn all_addresses(&self) -> Vec<String> {
        let mut out = vec![];
        for (name, _) in BUILTINS {
            out.push(format!("/{name}"));
        }
        for (t, _) in THREADS {
            out.push(format!("/thread/{t}"));
        }
        for a in [
            "/osc_server/communicator",
            "/osc_server/communicator/basePort",
            "/osc_server/communicator/persistent-states",
            "/osc_server/dispatcher",
        ] {
            out.push(a.into());
        }
        for a in ["sample_rate", "block_size", "clock"] {
            out.push(format!("/audio/{a}"));
        }
        self.state.sound.quick(|e| {
            let mut stack = vec![(crate::engine::graph::ROOT, "/patch".to_owned())];
            while let Some((id, path)) = stack.pop() {
                let node = &e.graph.nodes[&id];
                let methods =
                    if node.is_container() { PATCH_METHODS.to_vec() } else { TRANSFORM_METHODS.to_vec() };
                out.extend(methods.iter().map(|(m, _, _)| format!("{path}/{m}")));
                for p in &node.ports {
                    let port = format!("{path}/{}", p.name);
                    out.extend(STATE_METHODS.iter().map(|(m, _, _)| format!("{port}/{m}")));
                    if p.is_outlet() {
                        out.extend(OUTLET_METHODS.iter().map(|(m, _, _)| format!("{port}/{m}")));
                    }
                    out.push(port);
                }
                for (name, &child) in &node.children {
                    stack.push((child, format!("{path}/{name}")));
                }
            }
        });
        out.extend(self.lab_addresses());
        out
    }
}

/// Splits `/a/b/documentation` into (`/a/b`, Some("documentation")).
fn split_query(addr: &str) -> (&str, Option<&str>) {
    match addr.rsplit_once('/') {
        Some((target, q)) if QUERIES.contains(&q) => (target, Some(q)),
        None if QUERIES.contains(&addr) => ("", Some(addr)),
        _ => (addr, None),
    }
}

fn engine_node(e: &Engine, path: &str) -> Option<Node> {
    match e.graph.resolve(path).ok()? {
        EngineTarget::Node(id) => {
            let node = &e.graph.nodes[&id];
            let entry = library::get(&node.type_name);
            let doc =
                entry.map_or_else(|| "The root patch: build patches here".to_owned(), |t| t.doc.to_owned());
            let doc = if id == crate::engine::graph::ROOT {
                "The root patch: build patches here".to_owned()
            } else {
                doc
            };
            let mut children: Vec<String> = node.children.keys().cloned().collect();
            children.extend(node.ports.iter().map(|p| p.name.clone()));
            let signature = match node.kind {
                Kind::Patch => vec!["N".into(), "Patch".into()],
                _ => vec!["N".into(), "Transform".into(), node.type_name.clone()],
            };
            Some(Node::Container { doc, children, signature })
        }
        EngineTarget::Port(id, p) => {
            let node = &e.graph.nodes[&id];
            let spec = &node.ports[p];
            Some(Node::State {
                doc: spec.doc.clone(),
                value: node.value(p),
                ty: spec.ty,
                active: spec.is_active(),
            })
        }
    }
}

fn lab_methods(path: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
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
    fn lab_node(&self, rest: &[&str]) -> Option<Node> {
        let lab = &self.state.lab;
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

    fn lab_addresses(&self) -> Vec<String> {
        let lab = &self.state.lab;
        let mut out = vec!["/lab/projects".to_owned(), "/lab/create-project".into()];
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
        out
    }

    async fn lab_call(&self, addr: &str, parent: &str, name: &str, args: &[Arg]) -> Message {
        let lab = &self.state.lab;
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
