//! What `boot.js` started before the wasm ran: the admission check, the
//! notification socket with the notifications it held, and the patch with
//! its ports. Each is taken once, by the code that would otherwise start
//! it; a reconnect or a refetch later starts its own. An answer that is
//! already in is read at once, so the first render can show it.

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `window.patchbayBoot`, if `boot.js` ran.
fn boot() -> Option<JsValue> {
    let boot = Reflect::get(&web_sys::window()?.into(), &"patchbayBoot".into()).ok()?;
    (!boot.is_undefined() && !boot.is_null()).then_some(boot)
}

/// Removes `field` from `window.patchbayBoot` and returns it, if it was there.
fn take(field: &str) -> Option<JsValue> {
    let boot = boot()?;
    let value = Reflect::get(&boot, &field.into()).ok()?;
    Reflect::delete_property(boot.unchecked_ref::<js_sys::Object>(), &field.into()).ok()?;
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

/// Whether the server lets the page in, if its answer is already in.
pub fn admitted_now() -> Option<bool> {
    Reflect::get(&boot()?, &"admittedNow".into()).ok()?.as_bool()
}

/// Whether the server let the page in, as `boot.js` asked it.
pub async fn admitted() -> Option<Result<bool, String>> {
    let promise: Promise = take("admitted")?.dyn_into().ok()?;
    Some(JsFuture::from(promise).await.map(|v| v.as_bool() == Some(true)).map_err(describe))
}

/// The notification socket `boot.js` opened.
pub struct Socket {
    pub socket: web_sys::WebSocket,
    /// What it brought before now, oldest first.
    pub held: Vec<String>,
    /// The patch and its ports (JSON), fetched once the socket was open, if
    /// they are in and no change to the patch came on the socket while they
    /// were fetched (which they may or may not have: see
    /// `patchbay_shared::resync`).
    pub patch_now: Option<(Vec<u8>, Vec<u8>)>,
}

/// Takes the socket over. Its message handler stops here: from now on the
/// caller's listeners see every message (nothing runs between the two, so
/// none is lost or seen twice). Its open handler stays: it starts the
/// patch's fetch, if that has not started yet.
pub fn socket() -> Option<Socket> {
    let socket: web_sys::WebSocket = take("socket")?.dyn_into().ok()?;
    socket.set_onmessage(None);
    let held = take("held").and_then(|h| h.dyn_into::<Array>().ok());
    let held = held.map(|h| h.iter().filter_map(|m| m.as_string()).collect()).unwrap_or_default();
    let patch_now = take("patchNow").and_then(|p| {
        let quiet = Reflect::get(&p, &"changedBefore".into()).ok()?.as_f64() == Some(0.0);
        quiet.then(|| pair(&Reflect::get(&p, &"json".into()).ok()?)).flatten()
    });
    if patch_now.is_some() {
        take("patch");
    }
    Some(Socket { socket, held, patch_now })
}

/// The patch and its ports as the server sent them (JSON), once they are in.
pub fn patch() -> Option<JsFuture> {
    let promise: Promise = take("patch")?.dyn_into().ok()?;
    Some(JsFuture::from(promise))
}

/// The two JSON documents of a `[patch, ports]` answer (`ArrayBuffer`s).
pub fn pair(value: &JsValue) -> Option<(Vec<u8>, Vec<u8>)> {
    let pair: &Array = value.dyn_ref()?;
    let bytes =
        |v: JsValue| v.dyn_into::<js_sys::ArrayBuffer>().ok().map(|b| js_sys::Uint8Array::new(&b).to_vec());
    Some((bytes(pair.get(0))?, bytes(pair.get(1))?))
}

fn describe(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// Waits until the patch `boot.js` is fetching is in (or failed), for at
/// most `ms`: the first render then shows it, and the page does not draw
/// an empty dashboard first on the same main thread the answer waits for.
pub async fn patch_in(ms: u32) {
    let Some(promise) =
        boot().and_then(|b| Reflect::get(&b, &"patch".into()).ok()?.dyn_into::<Promise>().ok())
    else {
        return;
    };
    let settled = JsFuture::from(promise);
    let timeout = gloo_timers::future::TimeoutFuture::new(ms);
    futures::future::select(Box::pin(settled), timeout).await;
}
