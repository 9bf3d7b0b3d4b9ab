//! The engine, driven through the OSC bridge (`/v1/osc/ws`) with the same
//! messages any OSC tool sends: the transforms of `/patch`, adding and
//! deleting them, connecting, setting values, live output meters, and the
//! OSC traffic the server sees.

use std::collections::BTreeMap;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use leptos::prelude::*;
use leptos::task::spawn_local;
use patchbay_shared::patch_history::{value_args, Edit};
use patchbay_shared::patch_markup;
use patchbay_shared::value_reading::reading;
use patchbay_shared::{OscArg, OscJson, OscTraffic};

use wasm_bindgen::JsCast;

use super::edits::{deletion, Edits};
use super::views::VIEW_POLL;
use crate::state::patch::PatchStore;
use crate::state::Live;

/// How many traffic lines the log keeps.
const TRAFFIC: usize = 60;
/// Meter polls: every AudioOutput's levels, 10 times a second.
const METERS: [&str; 2] = ["//level_left/current-value", "//level_right/current-value"];

/// The OSC bridge's socket and what its replies tell.
#[derive(Clone, Copy)]
pub struct Bridge {
    out: StoredValue<mpsc::UnboundedSender<String>>,
    /// Output address to peak level.
    levels: RwSignal<BTreeMap<String, f32>>,
    traffic: RwSignal<Vec<(u64, OscTraffic)>>,
    last_error: RwSignal<Option<String>>,
    /// This page's edits, to undo and redo.
    pub edits: Edits,
    /// The last picture of each scope and spectrum, by transform address.
    pub views: RwSignal<BTreeMap<String, Vec<f32>>>,
}

impl Bridge {
    pub fn send(&self, address: &str, args: Vec<OscArg>) {
        let json = serde_json::to_string(&OscJson { address: address.into(), args }).expect("serializes");
        let _ = self.out.with_value(|tx| tx.unbounded_send(json));
    }

    /// Makes an edit of the patch, which can be undone once the server takes it.
    pub fn edit(&self, edit: Edit) {
        self.edits.sent(&edit, true);
        self.send_all(&edit);
    }

    /// Sets a state or inlet that holds `before`: undoable when the page can
    /// give `before` back; else sent, and what came before can no longer be undone.
    pub fn set(&self, address: &str, before: Option<&patchbay_shared::value::Value>, after: Vec<OscArg>) {
        match before.and_then(value_args) {
            Some(before) => self.edit(Edit::Set { address: address.to_owned(), before, after }),
            None => {
                self.edits.forget();
                self.send(address, after);
            }
        }
    }

    pub fn undo(&self) {
        if let Some(edit) = self.edits.take_undo() {
            self.edits.sent(&edit, false);
            self.send_all(&edit);
        }
    }

    pub fn redo(&self) {
        if let Some(edit) = self.edits.take_redo() {
            self.edits.sent(&edit, false);
            self.send_all(&edit);
        }
    }

    fn send_all(&self, edit: &Edit) {
        for (address, args) in edit.messages() {
            self.send(&address, args);
        }
    }

    /// Sends each of `addresses()` (queries, without arguments) `hz` times
    /// a second for as long as the calling component lives: the meters,
    /// the views and the inspector read what the engine does not announce.
    pub fn poll(&self, hz: u64, addresses: impl Fn() -> Vec<String> + 'static) {
        let bridge = *self;
        let timer = set_interval_with_handle(
            move || {
                for address in addresses() {
                    bridge.send(&address, vec![]);
                }
            },
            std::time::Duration::from_millis(1000 / hz),
        )
        .ok();
        on_cleanup(move || {
            if let Some(t) = timer {
                t.clear();
            }
        });
    }

    /// Shows an error as the server's replies are shown.
    pub fn show_error(&self, error: String) {
        self.last_error.set(Some(error));
    }
}

/// Arguments past this many are counted, not shown: a namespace or
/// type listing would otherwise fill the traffic log with one message.
const SHOWN_ARGS: usize = 12;

/// A message's arguments as the traffic log shows them.
fn text(args: &[OscArg]) -> String {
    let shown = args
        .iter()
        .take(SHOWN_ARGS)
        .map(|a| match a {
            OscArg::Int(i) => i.to_string(),
            OscArg::Float(f) => format!("{f}"),
            OscArg::Double(f) => format!("{f}"),
            OscArg::String(s) | OscArg::Symbol(s) => format!("{s:?}"),
            OscArg::True => "T".into(),
            OscArg::False => "F".into(),
            OscArg::Nil => "Nil".into(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(" ");
    match args.len().checked_sub(SHOWN_ARGS) {
        Some(more @ 1..) => format!("{shown} … ({more} more)"),
        _ => shown,
    }
}

/// A typed value from a text field: numbers, T/F, else a string.
pub fn parse_value(s: &str) -> Vec<OscArg> {
    s.split_whitespace()
        .map(|w| {
            if let Ok(i) = w.parse::<i32>() {
                OscArg::Int(i)
            } else if let Ok(f) = w.parse::<f32>() {
                OscArg::Float(f)
            } else if w == "T" {
                OscArg::True
            } else if w == "F" {
                OscArg::False
            } else {
                OscArg::String(w.into())
            }
        })
        .collect()
}

/// One output's peak meter: its name, a bar on a full-scale track (so a
/// half-scale signal reads as half) and the level in dB.
#[component]
fn Meter(output: String, levels: RwSignal<BTreeMap<String, f32>>) -> impl IntoView {
    let label = output.trim_start_matches("/patch/").to_owned();
    let level = Memo::new(move |_| levels.with(|l| l.get(&output).copied().unwrap_or(0.0)));
    view! {
        <div class="meter">
            <span class="label">{label}</span>
            <span class="track">
                <span class="bar" style=move || lit(level.get())></span>
            </span>
            <span class="db">{move || dbfs(level.get())}</span>
        </div>
    }
}

/// The lit part of a meter's track. Its colour scale spans the whole
/// track, so that only a level near full scale shows red.
fn lit(peak: f32) -> String {
    let percent = (peak * 100.0).clamp(0.0, 100.0);
    let scale = if percent > 0.0 { 10000.0 / percent } else { 100.0 };
    format!("width: {percent:.0}%; background-size: {scale:.0}% 100%")
}

/// A peak level as a meter's readout: decibels below full scale.
fn dbfs(peak: f32) -> String {
    match peak > 1e-5 {
        // Rounded first, and -0 + 0 is 0: no "-0.0 dB" for a full-scale
        // peak a hair under 1.
        true => format!("{:.1} dB", (200.0 * peak.log10()).round() / 10.0 + 0.0),
        false => "-inf dB".to_owned(),
    }
}

/// The log shows what people and their tools do: not the meters' polling,
/// not the listings every dashboard fetches again after each change, and
/// not a reply to this page, which the traffic carries as "out" already.
fn worth_logging(frame: &OscTraffic) -> bool {
    let address = frame.message.address.as_str();
    // A dashboard's own reads: its listings, and its inspector's values.
    let refresh = frame.peer == "websocket"
        && (matches!(address, "/patch/" | "/transform-types") || address.ends_with(INSPECT_POLL));
    !(frame.direction == "reply" || refresh || is_poll(address) || METERS.contains(&address))
}

fn is_meter_poll(address: &str) -> bool {
    address.ends_with("/level_left/current-value") || address.ends_with("/level_right/current-value")
}

/// What the page reads by itself, over and over: not worth a line in the log.
fn is_poll(address: &str) -> bool {
    is_meter_poll(address) || address.ends_with(VIEW_POLL)
}

/// What an inspector reads of each of its transform's values (see `canvas`).
pub const INSPECT_POLL: &str = "/current-value";

fn connect(patch: PatchStore) -> Bridge {
    let (tx, mut rx) = mpsc::unbounded::<String>();
    let bridge = Bridge {
        out: StoredValue::new(tx),
        levels: RwSignal::new(BTreeMap::new()),
        traffic: RwSignal::new(vec![]),
        last_error: RwSignal::new(None),
        edits: Edits::new(),
        views: RwSignal::new(BTreeMap::new()),
    };
    spawn_local(async move {
        let Ok(socket) = crate::auth::open_socket("/v1/osc/ws") else { return };
        let (mut sink, mut stream) = socket.split();
        spawn_local(async move {
            while let Some(json) = rx.next().await {
                if sink.send(Message::Text(json)).await.is_err() {
                    break;
                }
            }
        });
        let mut seq = 0u64;
        while let Some(Ok(Message::Text(text))) = stream.next().await {
            let Ok(frame) = serde_json::from_str::<OscTraffic>(&text) else { continue };
            let m = &frame.message;
            if frame.direction == "reply" {
                if let Some(OscArg::Int(code)) = m.args.first() {
                    bridge.edits.reply(&m.address, *code >= 0);
                }
                match (m.address.as_str(), m.args.first()) {
                    (a, Some(OscArg::Int(0))) if is_meter_poll(a) => {
                        if let Some(OscArg::Float(x)) = m.args.get(1) {
                            let key = a.trim_end_matches("/current-value").to_owned();
                            bridge.levels.update(|l| {
                                l.insert(key, *x);
                            });
                        }
                    }
                    (a, Some(OscArg::Int(0))) if a.ends_with(VIEW_POLL) => {
                        if let Some(points) = super::views::points_of(&m.args) {
                            let key = a.trim_end_matches(VIEW_POLL).to_owned();
                            bridge.views.update(|v| {
                                v.insert(key, points);
                            });
                        }
                    }
                    // Any other value read back: the inspector's reads.
                    (a, Some(OscArg::Int(0))) if a.ends_with(INSPECT_POLL) => {
                        if let Some(read) = reading(&m.args) {
                            patch.observe(a.trim_end_matches(INSPECT_POLL), read);
                        }
                    }
                    (a, Some(OscArg::Int(code))) if *code < 0 => {
                        bridge.last_error.set(Some(format!("{a}: {}", text_of_error(&m.args))))
                    }
                    _ => {}
                }
            }
            if !worth_logging(&frame) {
                continue;
            }
            seq += 1;
            bridge.traffic.update(|t| {
                t.insert(0, (seq, frame));
                t.truncate(TRAFFIC);
            });
        }
    });
    bridge
}

fn text_of_error(args: &[OscArg]) -> String {
    match args.get(1) {
        Some(OscArg::String(s)) => s.clone(),
        _ => "error".into(),
    }
}

#[component]
pub fn Engine() -> impl IntoView {
    let live = expect_context::<Live>();
    let bridge = connect(live.patch);
    let transforms = live.patch.transforms();
    bridge.poll(10, || METERS.map(String::from).to_vec());

    // The patch the canvas shows (`/patch` or an open subpatch), where the palette adds.
    let at = RwSignal::new("/patch".to_owned());
    let types = super::palette::transform_types();
    let (from, to) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let wire = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        bridge.edit(Edit::Connect {
            from: format!("/patch/{}", from.get()),
            to: format!("/patch/{}", to.get()),
        });
    };
    let (target, value) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let set = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let address = format!("/patch/{}", target.get());
        let before = live.patch.file.with_untracked(|f| {
            let (path, port) = address.rsplit_once('/')?;
            f.as_ref()?.transform(path)?.values.get(port).cloned()
        });
        bridge.set(&address, before.as_ref(), parse_value(&value.get()));
    };

    // The list's Delete buttons are markup (see `patch_markup::transform_list`):
    // their clicks reach the list, which tells them apart by their row.
    let delete_listed = move |ev: leptos::ev::MouseEvent| {
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let Some(button) = target.and_then(|t| t.closest("button").ok().flatten()) else { return };
        let row = button.closest("[data-transform]").ok().flatten();
        let Some(n) = row.and_then(|r| r.get_attribute("data-transform")) else { return };
        match live.patch.file.with_untracked(|f| deletion(f.as_ref()?, "/patch", &n)) {
            Some(edit) => bridge.edit(edit),
            None => bridge.send("/patch/delete-transform", vec![OscArg::String(n)]),
        }
    };
    let list_open = RwSignal::new(false);
    let meters = move || -> Vec<(String, f32)> { bridge.levels.get().into_iter().collect() };
    let views = Memo::new(move |_| {
        live.patch.file.with(|f| f.as_ref().map(super::views::views_in).unwrap_or_default())
    });

    view! {
        <section class="panel engine">
            <h2>"Engine"</h2>
            {move || bridge.last_error.get().map(|e| view! {
                <div class="error" id="engine-error" on:click=move |_| bridge.last_error.set(None)>{e}</div>
            })}
            <div class="engine-main">
            <super::patch_files::PatchBar bridge />
            <super::canvas::PatchCanvas bridge at types />
            // The patch as text, closed at first: the canvas shows it, and a
            // list of 500 rows cost a tenth of the first render. Filled
            // only while open.
            <details id="transform-list" on:toggle=move |ev| {
                list_open.set(event_target::<web_sys::HtmlDetailsElement>(&ev).open())
            }>
                <summary>{move || format!("The patch as a list ({} transforms)", transforms.with(Vec::len))}</summary>
                <ul id="transforms" on:click=delete_listed inner_html=move || {
                    if list_open.get() { transforms.with(|t| patch_markup::transform_list(t)) } else { String::new() }
                }></ul>
            </details>
            <form id="connect" on:submit=wire>
                <input placeholder="sine0/samplesOut" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev)) />
                " → "
                <input placeholder="out/mix" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
                <button type="submit">"Connect"</button>
            </form>
            <form id="set-value" on:submit=set>
                <input placeholder="sine0/freq" prop:value=move || target.get() on:input=move |ev| target.set(event_target_value(&ev)) />
                <input placeholder="440" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
                <button type="submit">"Set"</button>
            </form>
            </div>
            <div class="engine-side">
            <super::palette::Palette bridge at types />
            <div id="meters">
                <For each=meters key=|(k, _)| k.clone() let:entry>
                    <Meter output=entry.0 levels=bridge.levels />
                </For>
            </div>
            <super::views::Views bridge views />
            <h3>"OSC traffic"</h3>
            <ol id="osc-traffic">
                <For each=move || bridge.traffic.get() key=|(seq, _)| *seq let:entry>
                    <li class="osc" data-direction=entry.1.direction.clone()>
                        <span class="direction">{entry.1.direction.clone()}</span>
                        <span class="peer">{entry.1.peer.clone()}</span>
                        " "
                        <code>{entry.1.message.address.clone()}</code>
                        " "
                        <span>{text(&entry.1.message.args)}</span>
                    </li>
                </For>
            </ol>
            </div>
        </section>
    }
}
