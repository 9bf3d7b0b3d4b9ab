//! Patchbay's dashboard: a Leptos app, rendered in the browser, that drives
//! the server through the same HTTP API and notification stream as any script.
//!
//! Layout:
//! - [`api`]: typed calls to `/v1/...`;
//! - [`state`]: the live notification socket, shared through context;
//! - [`components`]: the project list, a project's VMs and topology, the engine
//!   (over the OSC bridge, with meters and OSC traffic), the event log.

// Leptos's #[component] gives each component a `pub` props struct, which a
// binary cannot export: the workspace's unreachable_pub has nothing to say here.
#![allow(unreachable_pub)]

mod api;
mod components;
mod state;

use leptos::prelude::*;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let live = state::Live::connect();
    provide_context(live);
    let selected = RwSignal::new(None::<uuid::Uuid>);

    view! {
        <header>
            <h1>"Patchbay"</h1>
            <span class="status" class:online=move || live.connected.get()>
                {move || if live.connected.get() { "live" } else { "connecting…" }}
            </span>
        </header>
        {move || live.error.get().map(|e| view! {
            <div class="error" id="error" on:click=move |_| live.error.set(None)>{e}</div>
        })}
        <main>
            <components::projects::Projects selected />
            <components::vms::ProjectView selected />
            <components::engine::Engine />
            <components::events::Events />
        </main>
    }
}
