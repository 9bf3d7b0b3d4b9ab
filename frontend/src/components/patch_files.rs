//! The patch as a file, and the page's edits: save the running patch as a
//! JSON file (`GET /v1/engine/patch`), load one (`PUT`: the server checks
//! it and says what is wrong), undo and redo this page's edits.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::engine::Bridge;
use crate::api;

/// How long a saved file's object URL lives: long enough for any download to start.
const KEEP_URL_MS: u32 = 60_000;

#[component]
pub fn PatchBar(bridge: Bridge) -> impl IntoView {
    let depth = bridge.edits.depth;
    let save = move |_| {
        spawn_local(async move {
            let saved = api::patch_text().await.and_then(|text| download("patch.json", &text));
            if let Err(e) = saved {
                bridge.show_error(format!("Saving the patch: {e}"));
            }
        })
    };
    let load = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        input.set_value(""); // the same file can be loaded again
        spawn_local(async move {
            let text = JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string());
            let Some(text) = text else {
                return bridge.show_error(format!("{}: cannot be read as text", file.name()));
            };
            match api::load_patch(text).await {
                // The patch was replaced whole: earlier edits no longer apply.
                Ok(()) => bridge.edits.forget(),
                Err(e) => bridge.show_error(format!("{}: {e}", file.name())),
            }
        });
    };
    view! {
        <div id="patch-bar">
            <button id="undo" title="Undo this page's last edit (Ctrl+Z)"
                disabled=move || depth.get().0 == 0 on:click=move |_| bridge.undo()>"Undo"</button>
            <button id="redo" title="Redo (Ctrl+Shift+Z)"
                disabled=move || depth.get().1 == 0 on:click=move |_| bridge.redo()>"Redo"</button>
            <button id="save-patch" title="Download the running patch as a patch file" on:click=save>"Save patch"</button>
            <label class="file-button" title="Replace the running patch with a patch file">
                "Load patch"
                <input id="load-patch" type="file" accept=".json,application/json" on:change=load />
            </label>
        </div>
    }
}

/// Hands `text` to the browser as a file download named `name`.
fn download(name: &str, text: &str) -> Result<(), String> {
    let js = |e: JsValue| format!("{e:?}");
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a").map_err(js)?.unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.click();
    gloo_timers::callback::Timeout::new(KEEP_URL_MS, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}
