//! The palette: every transform type the engine builds, by category, with a
//! search over names, categories and documentation. Pick one to read its
//! documentation (its ports and arguments), then add it to the patch the
//! canvas shows with `add-transform`, as any OSC tool would.

use leptos::prelude::*;
use patchbay_shared::engine::TypeInfo;
use patchbay_shared::palette_markup::palette_groups;
use patchbay_shared::OscArg;
use wasm_bindgen::JsCast;

use super::edits::addition;
use super::engine::Bridge;
use crate::api;
use crate::state::Live;

/// Every transform type, fetched once for the palette and the inspector.
pub fn transform_types() -> RwSignal<Vec<TypeInfo>> {
    let live = expect_context::<Live>();
    let types: RwSignal<Vec<TypeInfo>> = RwSignal::new(vec![]);
    leptos::task::spawn_local(async move {
        match api::transform_types().await {
            Ok(list) => types.set(list),
            Err(e) => live.error.set(Some(format!("the transform types: {e}"))),
        }
    });
    types
}

#[component]
pub fn Palette(bridge: Bridge, at: RwSignal<String>, types: RwSignal<Vec<TypeInfo>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let search = RwSignal::new(String::new());
    let picked = RwSignal::new(Option::<String>::None);
    let (name, args) = (RwSignal::new(String::new()), RwSignal::new(String::new()));

    let groups = move || -> Vec<(String, Vec<TypeInfo>)> {
        let wanted = search.get().trim().to_lowercase();
        types.with(|all| {
            let mut groups: Vec<(String, Vec<TypeInfo>)> = vec![];
            for t in all.iter().filter(|t| matches(t, &wanted)) {
                match groups.iter_mut().find(|(c, _)| *c == t.category) {
                    Some((_, members)) => members.push(t.clone()),
                    None => groups.push((t.category.clone(), vec![t.clone()])),
                }
            }
            groups
        })
    };
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(ty) = picked.get_untracked() else {
            live.error.set(Some("Pick a transform type in the palette first".into()));
            return;
        };
        let (parent, chosen) = (at.get_untracked(), name.get_untracked().trim().to_owned());
        let extra = args.get_untracked();
        if chosen.is_empty() {
            // The server names it: nothing here could delete it by name to undo.
            let mut a = vec![OscArg::String(ty), OscArg::String(chosen)];
            if !extra.trim().is_empty() {
                a.push(OscArg::String(extra));
            }
            bridge.edits.forget();
            bridge.send(&format!("{parent}/add-transform"), a);
        } else {
            let extra = if extra.trim().is_empty() { String::new() } else { extra };
            bridge.edit(addition(&parent, &ty, &chosen, &extra));
        }
        name.set(String::new());
    };
    let pick = move |ev: leptos::ev::MouseEvent| {
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let button = target.and_then(|t| t.closest(".palette-type").ok().flatten());
        if let Some(ty) = button.and_then(|b| b.get_attribute("data-type")) {
            picked.set(Some(ty));
        }
    };
    // A pick marks its button in place: the list is not drawn again, so the
    // button keeps the focus a keyboard gave it.
    let list: NodeRef<leptos::html::Div> = NodeRef::new();
    Effect::new(move |_| {
        let picked = picked.get();
        let Some(buttons) = list.get().and_then(|l| l.query_selector_all(".palette-type").ok()) else {
            return;
        };
        for i in 0..buttons.length() {
            let Some(button) = buttons.item(i).and_then(|b| b.dyn_into::<web_sys::Element>().ok()) else {
                continue;
            };
            let on = picked.is_some() && button.get_attribute("data-type") == picked;
            let _ = button.class_list().toggle_with_force("picked", on);
        }
    });
    let doc = move || {
        let ty = picked.get()?;
        types.with(|all| all.iter().find(|t| t.name == ty).cloned())
    };

    view! {
        <div id="palette">
            <input id="palette-search" type="search" placeholder="search transforms (name, kind, what it does)"
                prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev)) />
            // Markup, its clicks told apart by the button's type (see `palette_markup`).
            <div class="palette-list" node_ref=list on:click=pick
                inner_html=move || picked.with_untracked(|p| palette_groups(&groups(), p.as_deref()))></div>
            {move || doc().map(|t| view! {
                <div id="type-doc" data-type=t.name.clone()>
                    <strong>{t.name.clone()}</strong> " " <span class="muted">{t.category.clone()}</span>
                    <pre>{t.documentation.clone()}</pre>
                </div>
            })}
            <form id="add-transform" on:submit=add>
                <input id="palette-name" placeholder="name (optional)" prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev)) />
                <input id="palette-args" placeholder="arguments" prop:value=move || args.get()
                    on:input=move |ev| args.set(event_target_value(&ev)) />
                <button id="palette-add" type="submit" disabled=move || picked.get().is_none()>
                    {move || match picked.get() {
                        Some(ty) => format!("Add {ty} to {}", at.get().trim_start_matches('/')),
                        None => "Add".to_owned(),
                    }}
                </button>
            </form>
        </div>
    }
}

/// Whether a type matches a search (lowercase words, all of them).
fn matches(t: &TypeInfo, wanted: &str) -> bool {
    let text = format!("{} {} {}", t.name, t.category, t.documentation).to_lowercase();
    wanted.split_whitespace().all(|w| text.contains(w))
}
