//! The project list: create, select, delete.

use leptos::prelude::*;
use uuid::Uuid;

use crate::api;
use crate::state::Live;

#[component]
pub fn Projects(selected: RwSignal<Option<Uuid>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let projects = LocalResource::new(move || {
        live.version.track();
        api::projects()
    });
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
            selected.set(Some(project.project_id));
            Ok(())
        });
    };

    view! {
        <section class="panel projects">
            <h2>"Projects"</h2>
            <form on:submit=create>
                <input id="new-project-name" placeholder="New project name" bind:value=name />
                <button id="create-project" type="submit">"Create"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match projects.await {
                        Err(e) => view! { <p class="error">{e}</p> }.into_any(),
                        Ok(list) if list.is_empty() => {
                            view! { <p class="muted">"No project yet."</p> }.into_any()
                        }
                        Ok(list) => view! {
                            <ul id="project-list">
                                <For each=move || list.clone() key=|p| (p.project_id, p.name.clone()) let:project>
                                    <ProjectItem project selected />
                                </For>
                            </ul>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ProjectItem(project: patchbay_shared::Project, selected: RwSignal<Option<Uuid>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let id = project.project_id;
    let delete = move |ev: leptos::ev::MouseEvent| {
        ev.stop_propagation();
        if selected.get_untracked() == Some(id) {
            selected.set(None);
        }
        live.act(api::delete_project(id));
    };
    view! {
        <li class="project" class:selected=move || selected.get() == Some(id) on:click=move |_| selected.set(Some(id))>
            <span class="name">{project.name}</span>
            <button class="danger small" title="Delete project" on:click=delete>"✕"</button>
        </li>
    }
}
