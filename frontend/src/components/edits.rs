//! The page's own patch edits, undoable: each is sent over the bridge as
//! the OSC messages any tool would send, and recorded once the server's
//! reply says it took it (a refused wire is not undone later). Undo and
//! redo send the reverse edit the same way (`patchbay_shared::patch_history`).

use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;
use patchbay_shared::engine::{ConnectionFile, PatchFile, TransformFile};
use patchbay_shared::patch_history::{Edit, History};

/// Replies awaited at once; older ones (a reply lost to a reconnect) are dropped.
const MAX_AWAITED: usize = 256;

/// What the page remembers of its edits.
#[derive(Clone, Copy)]
pub struct Edits {
    history: StoredValue<History>,
    /// By the address of an edit's first message, oldest first: the edit to
    /// record when the server takes it, or `None` for an undo or redo.
    awaited: StoredValue<BTreeMap<String, VecDeque<Option<Edit>>>>,
    /// How many edits can be undone and redone, for the buttons.
    pub depth: RwSignal<(usize, usize)>,
}

impl Edits {
    pub fn new() -> Edits {
        Edits {
            history: StoredValue::new(History::default()),
            awaited: StoredValue::new(BTreeMap::new()),
            depth: RwSignal::new((0, 0)),
        }
    }

    /// `edit` is being sent; `record`: it is new (not an undo or redo).
    pub fn sent(&self, edit: &Edit, record: bool) {
        self.awaited.update_value(|a| {
            if a.values().map(VecDeque::len).sum::<usize>() >= MAX_AWAITED {
                a.clear();
            }
            a.entry(edit.address()).or_default().push_back(record.then(|| edit.clone()));
        });
    }

    /// A reply to this page: a new edit the server took is recorded.
    pub fn reply(&self, address: &str, ok: bool) {
        let edit = self.awaited.try_update_value(|a| {
            let queue = a.get_mut(address)?;
            let edit = queue.pop_front();
            if queue.is_empty() {
                a.remove(address);
            }
            edit.flatten()
        });
        if let (Some(Some(edit)), true) = (edit, ok) {
            self.history.update_value(|h| h.record(edit));
            self.refresh();
        }
    }

    /// The edit that undoes the newest one, if any.
    pub fn take_undo(&self) -> Option<Edit> {
        let edit = self.history.try_update_value(|h| h.undo()).flatten();
        self.refresh();
        edit
    }

    /// The newest undone edit, to make again.
    pub fn take_redo(&self) -> Option<Edit> {
        let edit = self.history.try_update_value(|h| h.redo()).flatten();
        self.refresh();
        edit
    }

    /// An edit that cannot be reversed, or a whole patch loaded: nothing
    /// before it can be undone in order.
    pub fn forget(&self) {
        self.history.update_value(History::forget);
        self.refresh();
    }

    fn refresh(&self) {
        self.depth.set(self.history.with_value(History::depth));
    }
}

/// A transform of the patch at `parent` as a delete must remember it: all
/// of it, and the wires of `parent` that touch it.
pub fn deletion(file: &PatchFile, parent: &str, name: &str) -> Option<Edit> {
    let path = format!("{parent}/{name}");
    let transform = file.transform(&path)?.clone();
    let connections = match parent {
        "/patch" => &file.connections,
        _ => &file.transform(parent)?.patch.as_ref()?.connections,
    };
    let touches = |w: &&ConnectionFile| [&w.from, &w.to].iter().any(|p| p.split('/').next() == Some(name));
    let wires = connections.iter().filter(touches).cloned().collect();
    Some(Edit::Delete { parent: parent.to_owned(), transform, wires })
}

/// A new transform from the palette or a form.
pub fn addition(parent: &str, type_name: &str, name: &str, args: &str) -> Edit {
    let transform = TransformFile {
        name: name.to_owned(),
        type_name: type_name.to_owned(),
        args: args.to_owned(),
        renamed: Default::default(),
        values: Default::default(),
        patch: None,
        layout: None,
    };
    Edit::Add { parent: parent.to_owned(), transform, wires: vec![] }
}
