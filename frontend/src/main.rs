//! Patchbay's dashboard: a Leptos app, rendered in the browser, that drives
//! the server through the same HTTP API and notification stream as any script.
//!
//! Layout:
//! - [`api`]: typed calls to `/v1/...`;
//! - [`auth`]: the token a server with `--token-file` asks for, sent with every call;
//! - [`boot`]: what `boot.js` started while the wasm loaded, taken over;
//! - [`state`]: the stores of what the server has (projects, nodes, the patch), kept
//!   current by the notification socket's deltas, shared through context;
//! - [`components`]: the project list, a project's VMs and topology, the engine
//!   (over the OSC bridge, with meters and OSC traffic), the event log.

// Leptos's #[component] gives each component a `pub` props struct, which a
// binary cannot export: the workspace's unreachable_pub has nothing to say here.
#![allow(unreachable_pub)]

mod api;
mod auth;
mod boot;
mod components;
mod state;

use leptos::prelude::*;

fn main() {
    console_error_panic_hook::set_once();
    // Leptos's own executor starts with the mount: this waits on the browser's.
    wasm_bindgen_futures::spawn_local(async {
        boot::patch_in(300).await;
        leptos::mount::mount_to_body(App);
    });
}

/// The dashboard, or the token form while the server does not let the page in.
#[component]
fn App() -> impl IntoView {
    // Connecting (the notification socket, then the stores' first fill)
    // starts at once, beside the check that the server lets the page in:
    // the dashboard's first render waits for both. A server that wants a
    // token refuses the socket, which tries again until the page has one.
    let live = state::Live::connect();
    provide_context(live);
    // Known at once if `boot.js` already has the answer.
    let admitted = RwSignal::new(boot::admitted_now().map(Ok));
    if admitted.get_untracked().is_none() {
        leptos::task::spawn_local(async move { admitted.set(Some(auth::admitted().await)) });
    }
    move || match admitted.get() {
        None => view! { <p class="status">"connecting…"</p> }.into_any(),
        Some(Ok(false)) => view! { <Login /> }.into_any(),
        Some(_) => view! { <Dashboard /> }.into_any(),
    }
}

/// Asks for the token once; it is kept for this tab (see [`auth`]).
#[component]
fn Login() -> impl IntoView {
    let token = RwSignal::new(String::new());
    let tried = auth::token().is_some();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        auth::remember(&token.get_untracked());
        let _ = web_sys::window().expect("a browser window").location().reload();
    };
    view! {
        <main class="login">
            <h1>"Patchbay"</h1>
            <form on:submit=submit>
                <p>{if tried { "That token is not valid here. Token:" } else { "This server needs a token:" }}</p>
                <input id="token" type="password" autocomplete="current-password"
                    prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev)) />
                <button id="login" type="submit">"Log in"</button>
                <p class="hint">"Make one on the server with " <code>"patchbay token new --token-file FILE"</code></p>
            </form>
        </main>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let live = expect_context::<state::Live>();

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
            <components::projects::Projects />
            <components::vms::ProjectView />
            <components::events::Events />
            <components::engine::Engine />
        </main>
    }
}
