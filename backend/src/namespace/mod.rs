//! The address tree over the whole server, with seed 001's query semantics:
//! every input gets replies whose address is the input's, whose first
//! argument is a return code (negative: an error, then a message), globs
//! expand to a count reply and one reply per match, a trailing `/` lists,
//! and `documentation`, `type-signature` and `current-value` work on every
//! address. Built over [`Model`] alone: no transport, no HTTP.
//!
//! Layout (this file dispatches; each subtree answers in its own file):
//! - [`values`]: engine values to OSC arguments and back, and type tags;
//! - `patch.rs`: `/patch/...`, the engine's graph;
//! - `builtins.rs`: `/advance-clock`, `/main_clock`, `/transform-types`,
//!   `/thread/`, `/osc_server/`, `/audio/`, `/osw-quit`, `/osw-restart`,
//!   `/load-osx`, `/save-patch`;
//! - `lab.rs`: `/lab/...`, the projects, PCs, switches and links of the lab;
//! - [`oscquery`]: the same tree as OSCQuery JSON.

mod builtins;
mod lab;
pub(crate) mod oscquery;
mod patch;
pub(crate) mod values;

#[cfg(test)]
mod tests;

use crate::access::Role;
use crate::engine::{Value, ValueType};
use crate::model::Model;
use crate::osc::codec::{Arg, Message};
use crate::osc::pattern;
use values::{type_tag, value_args};

pub(crate) const QUERIES: [&str; 3] = ["documentation", "type-signature", "current-value"];

/// Methods that only answer, and so may be reached by a glob.
const READ_ONLY_METHODS: [&str; 6] =
    ["get-inlets", "get-outlets", "persistent-states", "get-coactivators", "get-effects", "transform-types"];

/// Most addresses one pattern may expand to; more is an error reply.
pub(crate) const MAX_GLOB_MATCHES: usize = 4096;
/// Most bytes of replies one pattern may produce; the rest is cut with an error reply.
pub(crate) const MAX_GLOB_REPLY_BYTES: usize = 1 << 20;

/// What happened, besides the replies: the server may have to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum After {
    #[default]
    Nothing,
    Quit,
}

/// A method's name, documentation and argument type tags.
type MethodSpec = (&'static str, &'static str, &'static str);

fn ok(addr: &str, mut args: Vec<Arg>) -> Message {
    args.insert(0, Arg::Int(0));
    Message::new(addr, args)
}

fn code(addr: &str, n: usize, mut args: Vec<Arg>) -> Message {
    args.insert(0, Arg::Int(n as i32));
    Message::new(addr, args)
}

/// An error reply: `-1` and a readable message, at the input's address,
/// cut to its first [`pattern::MAX_ADDRESS`] bytes: an error about a huge
/// address must not be a huge reply (to a sender UDP cannot verify).
pub(crate) fn error(addr: &str, message: impl ToString) -> Message {
    let cut =
        (0..=addr.len().min(pattern::MAX_ADDRESS)).rev().find(|&i| addr.is_char_boundary(i)).unwrap_or(0);
    Message::new(&addr[..cut], vec![Arg::Int(-1), Arg::Str(message.to_string())])
}

fn strs<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<Arg> {
    items.into_iter().map(|s| Arg::Str(s.into())).collect()
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// A node of the tree as the queries see it.
enum Node {
    /// Lists children; `current-value` and set-value are errors.
    Container { doc: String, children: Vec<String>, signature: Vec<String> },
    /// A state: readable, maybe settable.
    /// `range`: the values that mean something (OSCQuery's RANGE), if said.
    State { doc: String, value: Value, ty: ValueType, active: bool, range: Option<(f64, f64)> },
    /// Takes arguments and does something.
    Method { doc: String, tags: &'static str },
    /// A read-only builtin state given directly as its OSC argument, for a
    /// type the engine has no value for (`/main_clock/seconds`, a double).
    Reading { doc: String, arg: Arg, tag: &'static str, type_name: &'static str },
}

/// The tree over one model, for the length of one request.
pub(crate) struct Namespace<'a> {
    pub model: &'a Model,
    /// What the sender may do: a viewer's set-values and methods are refused.
    pub role: Role,
    /// The time of the timed bundle the message came in, if it did: its
    /// value changes take effect on the engine's frame for that time.
    pub at: Option<std::time::SystemTime>,
}

impl Namespace<'_> {
    /// The reply to the two commonest requests (an explicit engine
    /// address's `current-value`, or a set-value on it), without the
    /// general path's future; `None` for everything else. The same answer
    /// [`Namespace::handle`] gives, which tries this first too.
    pub(crate) fn handle_at_once(&self, msg: &Message) -> Option<Message> {
        let addr = msg.addr.as_str();
        if addr.len() > pattern::MAX_ADDRESS || addr.ends_with('/') || self.role == Role::Viewer {
            return None;
        }
        let (target, query) = split_query(addr);
        self.patch_fast_path(addr, target, query, &msg.args)
    }

    /// Every reply to one message, and what the server must do after sending them.
    pub(crate) async fn handle(&self, msg: &Message) -> (Vec<Message>, After) {
        let addr = msg.addr.as_str();
        if addr.len() > pattern::MAX_ADDRESS {
            let message = format!("Address longer than {} bytes", pattern::MAX_ADDRESS);
            return (vec![error(addr, message)], After::Nothing);
        }
        if addr.ends_with('/') && !pattern::is_pattern(addr) {
            return (vec![self.listing(addr)], After::Nothing);
        }
        let (target, query) = split_query(addr);
        let normalized = if target.starts_with('/') { target.to_owned() } else { format!("/{target}") };
        if pattern::is_pattern(&normalized) {
            return (self.expand(addr, &normalized, query, &msg.args).await, After::Nothing);
        }
        self.explicit(addr, target, query, &msg.args).await
    }

    /// A glob: the count of matches, then one reply per match. Methods are
    /// not run from a glob (each gets -1), so that no pattern creates,
    /// deletes, loads or quits; at most [`MAX_GLOB_MATCHES`] matches and
    /// [`MAX_GLOB_REPLY_BYTES`] of replies, past which the client is told.
    async fn expand(&self, addr: &str, pattern: &str, query: Option<&str>, args: &[Arg]) -> Vec<Message> {
        let matches: Vec<String> =
            self.all_addresses().into_iter().filter(|a| pattern::matches(pattern, a)).collect();
        if matches.len() > MAX_GLOB_MATCHES {
            let message = format!(
                "The pattern matches {} addresses, more than {MAX_GLOB_MATCHES}: narrow it",
                matches.len()
            );
            return vec![error(addr, message)];
        }
        let mut replies = vec![code(addr, matches.len(), vec![])];
        let mut bytes = 0;
        for m in matches {
            let explicit = match query {
                Some(q) => format!("{m}/{q}"),
                None => m.clone(),
            };
            let found = if query.is_none() && self.is_action(&m) {
                vec![error(&explicit, "Methods need an explicit address, not a pattern")]
            } else {
                self.explicit(&explicit, &m, query, args).await.0
            };
            bytes += found.iter().map(|r| crate::osc::codec::encode_message(r).len()).sum::<usize>();
            if bytes > MAX_GLOB_REPLY_BYTES {
                let message = format!("The replies exceed {MAX_GLOB_REPLY_BYTES} bytes: narrow the pattern");
                replies.push(error(addr, message));
                break;
            }
            replies.extend(found);
        }
        replies
    }

    /// Whether calling `addr` does something (creates, deletes, renames,
    /// connects, starts, loads, writes, quits) rather than only answering.
    fn is_action(&self, addr: &str) -> bool {
        if is_read_only_method(addr) {
            return false;
        }
        self.method(addr).is_some() || matches!(self.node(addr), Some(Node::Method { .. }))
    }

    /// One explicit address: a query, a set-value or a method call.
    async fn explicit(
        &self,
        addr: &str,
        target: &str,
        query: Option<&str>,
        args: &[Arg],
    ) -> (Vec<Message>, After) {
        if self.role == Role::Viewer && query.is_none() && !is_read_only_method(target) {
            return (
                vec![error(addr, "A viewer may only read: this sets a value or calls a method")],
                After::Nothing,
            );
        }
        if let Some(reply) = self.patch_fast_path(addr, target, query, args) {
            return (vec![reply], After::Nothing);
        }
        let reply = match query {
            Some(q) => self.query(addr, target, q),
            None => return self.set_or_call(addr, args).await,
        };
        (vec![reply], After::Nothing)
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
                names.extend(builtins::children_of(path));
                names.sort();
                code(addr, names.len(), strs(names))
            }
            None => error(addr, "Invalid address"),
        }
    }

    /// The methods under `path`, beyond its children.
    fn methods_of(&self, path: &str) -> Vec<MethodSpec> {
        match segments(path).first() {
            Some(&"lab") => lab::methods(path),
            Some(&"patch") => self.patch_methods(path),
            _ => builtins::methods(path),
        }
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
                Node::Container { doc, .. }
                | Node::State { doc, .. }
                | Node::Method { doc, .. }
                | Node::Reading { doc, .. },
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
            ("type-signature", Node::Reading { tag, type_name, .. }) => {
                ok(addr, strs([tag, "State", type_name]))
            }
            ("current-value", Node::State { value, .. }) => ok(addr, value_args(&value)),
            ("current-value", Node::Reading { arg, .. }) => ok(addr, vec![arg]),
            ("current-value", _) => error(addr, "Address does not have a readable type"),
            _ => error(addr, "Invalid address"),
        }
    }

    fn node(&self, path: &str) -> Option<Node> {
        let segs = segments(path);
        match segs.as_slice() {
            ["patch", ..] => self.patch_node(path),
            ["lab", rest @ ..] => self.lab_node(rest),
            _ => self.builtin_node(&segs),
        }
    }

    async fn set_or_call(&self, addr: &str, args: &[Arg]) -> (Vec<Message>, After) {
        if let Some((parent, name, _, _)) = self.method(addr) {
            let reply = match segments(&parent).first() {
                Some(&"lab") => self.lab_call(addr, &parent, name, args).await,
                Some(&"patch") => self.patch_call(addr, &parent, name, args),
                _ => builtins::call(addr, &parent, name),
            };
            return (vec![reply], After::Nothing);
        }
        let segs = segments(addr);
        let reply = match segs.as_slice() {
            ["patch", ..] => self.patch_set(addr, args),
            ["lab", rest @ ..] => match self.lab_node(rest) {
                Some(Node::State { .. }) => {
                    error(addr, "Lab states are read-only here: use the lab's methods")
                }
                Some(_) => error(addr, "Target object is not an OSW state."),
                None => error(addr, "Invalid address"),
            },
            _ => match self.builtin_set(addr, &segs, args).await {
                Some(done) => return done,
                None => match self.node(addr) {
                    Some(Node::State { .. } | Node::Reading { .. }) => error(addr, "State is read-only"),
                    Some(_) => error(addr, "Target object is not an OSW state."),
                    None => error(addr, "Invalid address"),
                },
            },
        };
        (vec![reply], After::Nothing)
    }

    /// Every explicit address, for glob expansion.
    pub(crate) fn all_addresses(&self) -> Vec<String> {
        let mut out = builtins::addresses();
        self.patch_addresses(&mut out);
        self.lab_addresses(&mut out);
        out
    }
}

/// Whether `addr` names a method that only answers.
fn is_read_only_method(addr: &str) -> bool {
    READ_ONLY_METHODS.contains(&addr.rsplit('/').next().unwrap_or_default())
}

/// Whether a message to `addr` may have to wait (on the lab or on files)
/// rather than answer at once. Patterns never wait: they run no methods.
pub(crate) fn may_wait(addr: &str) -> bool {
    !pattern::is_pattern(addr) && (addr.starts_with("/lab/") || addr == "/load-osx" || addr == "/save-patch")
}

/// Splits `/a/b/documentation` into (`/a/b`, Some("documentation")).
fn split_query(addr: &str) -> (&str, Option<&str>) {
    match addr.rsplit_once('/') {
        Some((target, q)) if QUERIES.contains(&q) => (target, Some(q)),
        None if QUERIES.contains(&addr) => ("", Some(addr)),
        _ => (addr, None),
    }
}
