//! The project list: create, select, delete.

use leptos::prelude::*;
use uuid::Uuid;

use crate::api;
use crate::state::Live;

#[component]
pub fn Projects() -> impl IntoView {
    let live = expect_context::<Live>();
    let lab = live.lab;
    let name = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = name.get_untracked();
        if wanted.trim().is_empty() {
            return;
        }
        name.set(String::new());
        live.act(async move {
            let project = api::create_project(wanted).await?;
            lab.selected.set(Some(project.project_id));
            Ok(())
        });
    };
    let ids = move || lab.projects.with(|p| p.0.iter().map(|p| p.project_id).collect::<Vec<_>>());

    view! {
        <section class="panel projects">
            <h2>"Projects"</h2>
            <form on:submit=create>
                <input id="new-project-name" placeholder="New project name" bind:value=name />
                <button id="create-project" type="submit">"Create"</button>
            </form>
            {move || match (lab.loaded.get(), ids().is_empty()) {
                (false, _) => view! { <p class="muted">"Loading…"</p> }.into_any(),
                (true, true) => view! { <p class="muted">"No project yet."</p> }.into_any(),
                (true, false) => ().into_any(),
            }}
            <ul id="project-list">
                <For each=ids key=|id| *id let:id>
                    <ProjectItem id />
                </For>
            </ul>
        </section>
    }
}

/// One project's row, redrawn only when that project changes.
#[component]
fn ProjectItem(id: Uuid) -> impl IntoView {
    let live = expect_context::<Live>();
    let selected = live.lab.selected;
    let name = Memo::new(move |_| {
        live.lab.projects.with(|p| p.0.iter().find(|p| p.project_id == id).map(|p| p.name.clone()))
    });
    let delete = move |ev: leptos::ev::MouseEvent| {
        ev.stop_propagation();
        if selected.get_untracked() == Some(id) {
            selected.set(None);
        }
        live.act(api::delete_project(id));
    };
    view! {
        <li class="project" data-project=id.to_string() class:selected=move || selected.get() == Some(id)
            on:click=move |_| selected.set(Some(id))>
            <span class="name">{move || name.get().unwrap_or_default()}</span>
            <button class="danger small" title="Delete project" on:click=delete>"✕"</button>
        </li>
    }
}
