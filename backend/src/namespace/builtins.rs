//! The builtins at the root of the tree, as seed 001 lists them: the clock,
//! the transform types, the threads, the OSC server, the audio driver,
//! quitting and restarting, and loading and saving patch files.

use std::path::PathBuf;

use super::{code, error, ok, After, MethodSpec, Namespace, Node};
use crate::engine::patch_file::{self, PatchFile};
use crate::engine::{library, Value, ValueType};
use crate::osc::codec::{Arg, Message};

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

const COMMUNICATOR: &str = "/osc_server/communicator";
const COMMUNICATOR_METHODS: [MethodSpec; 1] =
    [("persistent-states", "The names of the states saved with the patch", "")];

/// The methods of a builtin container.
pub(super) fn methods(path: &str) -> Vec<MethodSpec> {
    if path == COMMUNICATOR {
        COMMUNICATOR_METHODS.to_vec()
    } else {
        vec![]
    }
}

/// What sits under a builtin that is not a container: the clock's reading
/// in seconds, and the transform types under `/transform-types`.
pub(super) fn children_of(path: &str) -> Vec<String> {
    match path {
        "/main_clock" => vec!["seconds".into()],
        "/transform-types" => library::all().map(|t| t.name.to_owned()).collect(),
        _ => vec![],
    }
}

/// Calls a builtin container's method (only the communicator has one).
pub(super) fn call(addr: &str, _parent: &str, _name: &str) -> Message {
    ok(addr, vec![Arg::Str("basePort".into())])
}

/// Every builtin address.
pub(super) fn addresses() -> Vec<String> {
    let mut out: Vec<String> = BUILTINS.iter().map(|(name, _)| format!("/{name}")).collect();
    out.extend(THREADS.iter().map(|(t, _)| format!("/thread/{t}")));
    out.extend(
        [
            COMMUNICATOR,
            "/osc_server/communicator/basePort",
            "/osc_server/communicator/refused",
            "/osc_server/dispatcher",
        ]
        .map(String::from),
    );
    out.extend(COMMUNICATOR_METHODS.iter().map(|(m, _, _)| format!("{COMMUNICATOR}/{m}")));
    out.extend(["sample_rate", "block_size", "clock"].iter().map(|a| format!("/audio/{a}")));
    for parent in ["/main_clock", "/transform-types"] {
        out.extend(children_of(parent).into_iter().map(|c| format!("{parent}/{c}")));
    }
    out
}

impl Namespace<'_> {
    pub(super) fn builtin_node(&self, segs: &[&str]) -> Option<Node> {
        match segs {
            [] => Some(Node::Container {
                doc: format!("Patchbay {}", env!("CARGO_PKG_VERSION")),
                children: BUILTINS.iter().map(|(n, _)| n.to_string()).collect(),
                signature: vec!["N".into()],
            }),
            [name] => {
                let (_, doc) = BUILTINS.iter().find(|(n, _)| n == name)?;
                let doc = doc.to_string();
                Some(match *name {
                    "main_clock" => Node::State {
                        doc,
                        value: Value::Time(self.model.engine.quick(|e| e.now())),
                        ty: ValueType::Time,
                        active: true,
                        range: None,
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
            ["main_clock", "seconds"] => Some(Node::Reading {
                doc:
                    "Engine time in seconds, as a double (for clients that cannot read the t of /main_clock)"
                        .into(),
                arg: Arg::Double(self.model.engine.quick(|e| e.now())),
                tag: "d",
                type_name: "Double",
            }),
            ["transform-types", name] => library::get(name).map(|t| Node::Container {
                doc: t.doc.to_owned(),
                children: vec![],
                signature: vec!["N".into(), "TransformType".into(), t.name.to_owned()],
            }),
            ["thread", name] => THREADS.iter().find(|(n, _)| n == name).map(|(_, d)| Node::Container {
                doc: d.to_string(),
                children: vec![],
                signature: vec!["N".into(), "Thread".into()],
            }),
            ["osc_server", "communicator"] => Some(Node::Container {
                doc: "Receives and sends OSC over UDP and TCP".into(),
                children: vec!["basePort".into(), "refused".into()],
                signature: vec!["N".into(), "Transform".into(), "OSCCommunicator".into()],
            }),
            ["osc_server", "communicator", "basePort"] => Some(Node::State {
                doc: "The UDP and TCP port OSC arrives on (set with --osc-port)".into(),
                value: Value::Integer(self.model.powers.osc_port as i64),
                ty: ValueType::Integer,
                active: false,
                range: None,
            }),
            ["osc_server", "communicator", "refused"] => Some(Node::State {
                doc: "Datagrams and connections dropped because their source is not in --osc-allow".into(),
                value: Value::Integer(self.model.powers.osc_sources.refused() as i64),
                ty: ValueType::Integer,
                active: false,
                range: None,
            }),
            ["osc_server", "dispatcher"] => Some(Node::Container {
                doc: "Matches addresses and runs queries and edits".into(),
                children: vec![],
                signature: vec!["N".into(), "Transform".into(), "OSCDispatch".into()],
            }),
            ["audio", name] => {
                let engine = &self.model.engine;
                let (doc, value, ty) = match *name {
                    "sample_rate" => {
                        ("Samples per second", Value::Float(engine.setup.rate), ValueType::Float)
                    }
                    "block_size" => (
                        "Samples per block (per clock tick)",
                        Value::Integer(engine.setup.block as i64),
                        ValueType::Integer,
                    ),
                    "clock" => (
                        "What drives the clock: a device's name, or why it is a timer",
                        Value::String(engine.clock_description()),
                        ValueType::String,
                    ),
                    _ => return None,
                };
                Some(Node::State { doc: doc.into(), value, ty, active: false, range: None })
            }
            _ => None,
        }
    }

    /// A set-value or call on a builtin; `None` when `segs` names none that takes one.
    pub(super) async fn builtin_set(
        &self,
        addr: &str,
        segs: &[&str],
        args: &[Arg],
    ) -> Option<(Vec<Message>, After)> {
        let powers = &self.model.powers;
        let reply = match segs {
            ["advance-clock"] => {
                let n = args.first().and_then(Arg::as_i64).unwrap_or(1).clamp(1, 1 << 20) as u32;
                self.model.engine.with(move |e| e.advance_clock(n));
                ok(addr, vec![])
            }
            ["transform-types"] => {
                let names: Vec<&str> = library::all().map(|t| t.name).collect();
                code(addr, names.len(), super::strs(names))
            }
            ["osw-quit"] if powers.quit => return Some((vec![ok(addr, vec![])], After::Quit)),
            ["osw-restart"] if powers.quit => {
                let start_patch = powers.start_patch.clone();
                let result = self.model.engine.with(move |e| {
                    e.clear();
                    match &start_patch {
                        Some(p) => crate::engine_host::load_file(e, p).map_err(|e| e.to_string()),
                        None => Ok(()),
                    }
                });
                match result {
                    Ok(()) => ok(addr, vec![]),
                    Err(e) => error(addr, e),
                }
            }
            ["osw-quit" | "osw-restart"] => error(addr, "Disabled by configuration (--osc-no-quit)"),
            ["load-osx"] => self.load_patch(addr, args).await,
            ["save-patch"] => self.save_patch(addr, args).await,
            _ => return None,
        };
        Some((vec![reply], After::Nothing))
    }

    fn file_arg(&self, args: &[Arg]) -> Result<PathBuf, String> {
        let name = args.first().and_then(Arg::as_str).ok_or("Give a file name")?;
        library::io::sandboxed(&self.model.powers.patches_dir, name)
    }

    /// Reads the file off the OSC thread (a disk may be slow), then loads it.
    async fn load_patch(&self, addr: &str, args: &[Arg]) -> Message {
        let result = match self.file_arg(args) {
            Ok(path) => off_thread(move || {
                let json = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                PatchFile::parse(&json).map_err(|e| e.to_string())
            })
            .await
            .and_then(|file| {
                self.model.engine.with(move |e| patch_file::load(e, &file)).map_err(|e| e.to_string())
            }),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => ok(addr, vec![]),
            Err(e) => error(addr, e),
        }
    }

    /// Takes the patch at once, and writes it off the OSC thread.
    async fn save_patch(&self, addr: &str, args: &[Arg]) -> Message {
        let result = match self.file_arg(args) {
            Ok(path) => {
                let json = self.model.engine.quick(|e| patch_file::save(e)).to_json();
                off_thread(move || {
                    crate::lab::store::write_atomically(&path, json.as_bytes())
                        .map_err(|e| format!("{}: {e}", path.display()))
                })
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => ok(addr, vec![]),
            Err(e) => error(addr, e),
        }
    }
}

/// Runs file work on tokio's blocking pool, so that the request becomes a
/// task and the OSC loop goes on answering meanwhile.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| Err(format!("file work failed: {e}")))
}
