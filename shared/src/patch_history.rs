//! Undo and redo of a page's own patch edits, as OSC messages: each edit is
//! recorded with what it takes to reverse it (a deleted transform keeps its
//! type, arguments, renamed ports, values, place, members and wires), and
//! undoing sends the reverse edit as any OSC tool would. Only this page's
//! edits are recorded; what other clients change is theirs.

use crate::engine::{ConnectionFile, TransformFile};
use crate::osc::OscArg;
use crate::value::Value;

/// How many edits can be undone.
pub const MAX_UNDO: usize = 100;

/// One edit of a patch. Addresses are absolute (`/patch/sub/sine0/freq`).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// A transform added, with everything it holds (a new one from the
    /// palette: just its type and arguments) and its wires.
    Add {
        /// The patch it is in: `/patch` or a subpatch's address.
        parent: String,
        /// The transform, as a patch file has it.
        transform: TransformFile,
        /// The wires of `parent` that touch it.
        wires: Vec<ConnectionFile>,
    },
    /// The same, deleted.
    Delete {
        /// The patch it was in.
        parent: String,
        /// The transform, as a patch file had it.
        transform: TransformFile,
        /// The wires of `parent` that touched it.
        wires: Vec<ConnectionFile>,
    },
    /// A wire made.
    Connect {
        /// The outlet's address.
        from: String,
        /// The inlet's address.
        to: String,
    },
    /// A wire removed.
    Disconnect {
        /// The outlet's address.
        from: String,
        /// The inlet's address.
        to: String,
    },
    /// A state or inlet set.
    Set {
        /// Its address.
        address: String,
        /// The value it had, as the arguments that set it.
        before: Vec<OscArg>,
        /// The value it was given.
        after: Vec<OscArg>,
    },
    /// A box moved on the canvas.
    Move {
        /// The transform's address.
        address: String,
        /// Where it was.
        before: (f64, f64),
        /// Where it went.
        after: (f64, f64),
    },
}

/// An OSC message: address and arguments.
pub type Osc = (String, Vec<OscArg>);

impl Edit {
    /// The edit that undoes this one.
    pub fn reverse(&self) -> Edit {
        match self.clone() {
            Edit::Add { parent, transform, wires } => Edit::Delete { parent, transform, wires },
            Edit::Delete { parent, transform, wires } => Edit::Add { parent, transform, wires },
            Edit::Connect { from, to } => Edit::Disconnect { from, to },
            Edit::Disconnect { from, to } => Edit::Connect { from, to },
            Edit::Set { address, before, after } => Edit::Set { address, before: after, after: before },
            Edit::Move { address, before, after } => Edit::Move { address, before: after, after: before },
        }
    }

    /// The OSC messages that make this edit, in order.
    pub fn messages(&self) -> Vec<Osc> {
        match self {
            Edit::Add { parent, transform, wires } => {
                let mut out = vec![];
                build(parent, transform, &mut out);
                out.extend(wires.iter().map(|w| connect(parent, w)));
                out
            }
            Edit::Delete { parent, transform, .. } => {
                vec![(format!("{parent}/delete-transform"), vec![OscArg::String(transform.name.clone())])]
            }
            Edit::Connect { from, to } => vec![(format!("{from}/connect"), vec![OscArg::String(to.clone())])],
            Edit::Disconnect { from, to } => {
                vec![(format!("{from}/disconnect"), vec![OscArg::String(to.clone())])]
            }
            Edit::Set { address, after, .. } => vec![(address.clone(), after.clone())],
            Edit::Move { address, after, .. } => {
                vec![(
                    format!("{address}/set-layout"),
                    vec![OscArg::Double(after.0), OscArg::Double(after.1)],
                )]
            }
        }
    }

    /// The address whose reply says whether the server took this edit: its
    /// first message's.
    pub fn address(&self) -> String {
        self.messages().into_iter().next().map(|(a, _)| a).unwrap_or_default()
    }
}

/// The messages that build `t` inside the patch at `parent`: the transform,
/// its renamed ports, its values and its place; then a subpatch's members,
/// each built whole, then their wires. A work list, not recursion: any depth
/// the page holds.
fn build(parent: &str, t: &TransformFile, out: &mut Vec<Osc>) {
    enum Task<'a> {
        Build(String, &'a TransformFile),
        Wires(Vec<Osc>),
    }
    let mut tasks = vec![Task::Build(parent.to_owned(), t)];
    while let Some(task) = tasks.pop() {
        let (parent, t) = match task {
            Task::Wires(wires) => {
                out.extend(wires);
                continue;
            }
            Task::Build(parent, t) => (parent, t),
        };
        let mut add = vec![OscArg::String(t.type_name.clone()), OscArg::String(t.name.clone())];
        if !t.args.is_empty() {
            add.push(OscArg::String(t.args.clone()));
        }
        out.push((format!("{parent}/add-transform"), add));
        let at = format!("{parent}/{}", t.name);
        for (original, name) in &t.renamed {
            out.push((format!("{at}/{original}/set-name"), vec![OscArg::String(name.clone())]));
        }
        for (port, value) in &t.values {
            if let Some(args) = value_args(value) {
                out.push((format!("{at}/{port}"), args));
            }
        }
        if let Some(l) = t.layout {
            out.push((format!("{at}/set-layout"), layout_args((l.x, l.y))));
        }
        if let Some(body) = &t.patch {
            // Last out: the wires, once every member is built.
            tasks.push(Task::Wires(body.connections.iter().map(|w| connect(&at, w)).collect()));
            tasks.extend(body.transforms.iter().rev().map(|m| Task::Build(at.clone(), m)));
        }
    }
}

/// A place as the canvas sends it (whole pixels: exact in an `f`).
fn layout_args((x, y): (f64, f64)) -> Vec<OscArg> {
    vec![OscArg::Float(x as f32), OscArg::Float(y as f32)]
}

fn connect(parent: &str, w: &ConnectionFile) -> Osc {
    (format!("{parent}/{}/connect", w.from), vec![OscArg::String(format!("{parent}/{}", w.to))])
}

/// A value as the arguments that set it, for the types a patch file keeps
/// and a page edits; `None` for those a set-value cannot give back.
pub fn value_args(v: &Value) -> Option<Vec<OscArg>> {
    Some(match v {
        Value::Float(f) => vec![OscArg::Double(*f)],
        Value::Integer(i) => match i32::try_from(*i) {
            Ok(i) => vec![OscArg::Int(i)],
            Err(_) => vec![OscArg::Long(*i)],
        },
        Value::Boolean(true) => vec![OscArg::True],
        Value::Boolean(false) => vec![OscArg::False],
        Value::String(s) => vec![OscArg::String(s.clone())],
        _ => return None,
    })
}

/// The edits that can be undone and redone, newest last.
#[derive(Debug, Default)]
pub struct History {
    undo: Vec<Edit>,
    redo: Vec<Edit>,
}

impl History {
    /// Records an edit the server took: it can be undone, and what was undone
    /// before can no longer be redone.
    pub fn record(&mut self, edit: Edit) {
        if self.undo.len() == MAX_UNDO {
            self.undo.remove(0);
        }
        self.undo.push(edit);
        self.redo.clear();
    }

    /// An edit that cannot be reversed (a value the page cannot give back):
    /// what came before it can no longer be undone in order.
    pub fn forget(&mut self) {
        self.undo.clear();
        self.redo.clear();
    }

    /// The edit that undoes the newest one, which moves to the redo list.
    pub fn undo(&mut self) -> Option<Edit> {
        let edit = self.undo.pop()?;
        let reverse = edit.reverse();
        self.redo.push(edit);
        Some(reverse)
    }

    /// The newest undone edit again, which moves back to the undo list.
    pub fn redo(&mut self) -> Option<Edit> {
        let edit = self.redo.pop()?;
        self.undo.push(edit.clone());
        Some(edit)
    }

    /// How many edits can be undone and redone.
    pub fn depth(&self) -> (usize, usize) {
        (self.undo.len(), self.redo.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PatchFile;

    fn s(x: &str) -> OscArg {
        OscArg::String(x.into())
    }

    fn msg(a: &str, args: Vec<OscArg>) -> Osc {
        (a.to_owned(), args)
    }

    /// A subpatch `sub` holding a renamed, valued Sig~ wired to an Outlet,
    /// placed on the canvas; its own wire in the root goes to `out`.
    fn subpatch() -> (TransformFile, Vec<ConnectionFile>) {
        let json = r#"{"format": "patchbay-patch", "version": 1, "transforms": [
            {"name": "sub", "type": "Patch", "layout": {"x": 10.0, "y": 20.0}, "patch": {
                "transforms": [
                    {"name": "dc", "type": "Sig~", "args": "0.5", "renamed": {"value": "level"},
                     "values": {"level": {"type": "Float", "value": 0.25}}},
                    {"name": "o", "type": "Outlet", "args": "samples"}
                ],
                "connections": [{"from": "dc/samplesOut", "to": "o/in"}]}},
            {"name": "out", "type": "AudioOutput"}],
            "connections": [{"from": "sub/o", "to": "out/mix"}]}"#;
        let file = PatchFile::parse(json).unwrap();
        (file.transforms[0].clone(), file.connections.clone())
    }

    #[test]
    fn a_deleted_subpatch_comes_back_whole() {
        let (sub, wires) = subpatch();
        let delete = Edit::Delete { parent: "/patch".into(), transform: sub, wires };
        assert_eq!(delete.messages(), [msg("/patch/delete-transform", vec![s("sub")])]);
        assert_eq!(delete.address(), "/patch/delete-transform");
        assert_eq!(
            delete.reverse().messages(),
            [
                msg("/patch/add-transform", vec![s("Patch"), s("sub")]),
                msg("/patch/sub/set-layout", vec![OscArg::Float(10.0), OscArg::Float(20.0)]),
                msg("/patch/sub/add-transform", vec![s("Sig~"), s("dc"), s("0.5")]),
                msg("/patch/sub/dc/value/set-name", vec![s("level")]),
                msg("/patch/sub/dc/level", vec![OscArg::Double(0.25)]),
                msg("/patch/sub/add-transform", vec![s("Outlet"), s("o"), s("samples")]),
                msg("/patch/sub/dc/samplesOut/connect", vec![s("/patch/sub/o/in")]),
                msg("/patch/sub/o/connect", vec![s("/patch/out/mix")]),
            ]
        );
    }

    #[test]
    fn every_edit_reversed_twice_is_itself() {
        let (sub, wires) = subpatch();
        let edits = [
            Edit::Add { parent: "/patch".into(), transform: sub.clone(), wires: wires.clone() },
            Edit::Delete { parent: "/patch".into(), transform: sub, wires },
            Edit::Connect { from: "/patch/a/out".into(), to: "/patch/b/in".into() },
            Edit::Disconnect { from: "/patch/a/out".into(), to: "/patch/b/in".into() },
            Edit::Set {
                address: "/patch/a/freq".into(),
                before: vec![OscArg::Double(1.0)],
                after: vec![OscArg::Int(2)],
            },
            Edit::Move { address: "/patch/a".into(), before: (1.0, 2.0), after: (3.0, 4.0) },
        ];
        for e in edits {
            assert_ne!(e.reverse(), e);
            assert_eq!(e.reverse().reverse(), e);
        }
        let set = Edit::Set {
            address: "/p/a/f".into(),
            before: vec![OscArg::Double(1.0)],
            after: vec![OscArg::Int(2)],
        };
        assert_eq!(set.reverse().messages(), [msg("/p/a/f", vec![OscArg::Double(1.0)])]);
        let wire = Edit::Connect { from: "/p/a/out".into(), to: "/p/b/in".into() };
        assert_eq!(wire.reverse().messages(), [msg("/p/a/out/disconnect", vec![s("/p/b/in")])]);
        let moved = Edit::Move { address: "/p/a".into(), before: (1.0, 2.0), after: (3.0, 4.0) };
        assert_eq!(
            moved.reverse().messages(),
            [msg("/p/a/set-layout", vec![OscArg::Double(1.0), OscArg::Double(2.0)])]
        );
    }

    #[test]
    fn history_undoes_and_redoes_in_order_and_forgets() {
        let wire = |n: &str| Edit::Connect { from: format!("/p/{n}/out"), to: "/p/x/in".into() };
        let mut h = History::default();
        assert_eq!(h.undo(), None);
        h.record(wire("a"));
        h.record(wire("b"));
        assert_eq!(h.undo(), Some(wire("b").reverse()));
        assert_eq!(h.depth(), (1, 1));
        assert_eq!(h.redo(), Some(wire("b")));
        assert_eq!(h.redo(), None);
        h.undo();
        h.record(wire("c"));
        assert_eq!(h.depth(), (2, 0), "a new edit ends what could be redone");
        h.forget();
        assert_eq!(h.depth(), (0, 0));
        for i in 0..MAX_UNDO + 5 {
            h.record(wire(&i.to_string()));
        }
        assert_eq!(h.depth(), (MAX_UNDO, 0));
        assert_eq!(h.undo(), Some(wire(&(MAX_UNDO + 4).to_string()).reverse()));
    }

    #[test]
    fn values_a_page_can_give_back() {
        assert_eq!(value_args(&Value::Integer(3)), Some(vec![OscArg::Int(3)]));
        assert_eq!(value_args(&Value::Integer(1 << 40)), Some(vec![OscArg::Long(1 << 40)]));
        assert_eq!(value_args(&Value::Boolean(false)), Some(vec![OscArg::False]));
        assert_eq!(value_args(&Value::Samples(vec![0.0])), None);
    }
}
