//! Linking two ends (a PC, or a switch's next free port) with a pair of
//! tunnels, as GNS3's client does.

use leptos::prelude::*;
use patchbay_shared::topology::Attachment;
use uuid::Uuid;

use crate::api;
use crate::state::Live;

/// The two ends picked, kept outside the redrawn lab view so that a
/// change arriving mid-choice does not reset them.
#[derive(Clone, Copy)]
pub struct LinkPicks(RwSignal<Option<Attachment>>, RwSignal<Option<Attachment>>);

impl LinkPicks {
    pub fn new() -> Self {
        LinkPicks(RwSignal::new(None), RwSignal::new(None))
    }
}

#[component]
pub fn LinkForm(project: Uuid, free: Signal<Vec<(Attachment, String)>>, picks: LinkPicks) -> impl IntoView {
    let live = expect_context::<Live>();
    // A pick that is no longer free falls back to the first (or second) end.
    let chosen = move |pick: RwSignal<Option<Attachment>>, default: usize| {
        pick.get().and_then(|p| free.with(|f| f.iter().position(|(a, _)| *a == p))).unwrap_or(default)
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ends = free.with_untracked(|f| {
            let end = |pick, default| f.get(untrack(|| chosen(pick, default))).map(|(a, _)| *a);
            (end(picks.0, 0), end(picks.1, 1))
        });
        match ends {
            (Some(a), Some(b)) if a.node() != b.node() => {
                picks.0.set(None);
                picks.1.set(None);
                live.act(async move { api::link(project, a, b).await });
            }
            _ => live.error.set(Some("Pick two different ends to link".into())),
        }
    };
    let options = move |pick: RwSignal<Option<Attachment>>, default: usize| {
        move || {
            free.with(|f| {
            f.iter()
                .enumerate()
                .map(|(i, (_, label))| {
                    view! { <option value=i.to_string() selected=move || chosen(pick, default) == i>{label.clone()}</option> }
                })
                .collect_view()
        })
        }
    };
    let pick = move |pick: RwSignal<Option<Attachment>>| {
        move |ev| {
            let i: usize = event_target_value(&ev).parse().unwrap_or(0);
            pick.set(free.with_untracked(|f| f.get(i).map(|(a, _)| *a)));
        }
    };
    view! {
        <h3>"Link"</h3>
        <form id="link" on:submit=submit>
            <select id="link-a" on:change=pick(picks.0)>{options(picks.0, 0)}</select>
            " ↔ "
            <select id="link-b" on:change=pick(picks.1)>{options(picks.1, 1)}</select>
            <button id="create-link" type="submit">"Link"</button>
        </form>
    }
}
