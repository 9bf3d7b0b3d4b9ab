//! Scopes and spectra: every Scope transform's waveform and every
//! FFTMagnitude's spectrum in the patch (at any depth), drawn from their
//! `view` states, which the page reads over the bridge 15 times a second
//! (the server caps each at 1,024 points, so a view costs a few kilobytes
//! a read). At most [`MAX_VIEWS`] are drawn.

use std::collections::BTreeMap;

use leptos::prelude::*;
use patchbay_shared::engine::{PatchFile, TransformFile};
use patchbay_shared::OscArg;

use super::engine::Bridge;

/// What the page reads of each view, after the transform's address.
pub const VIEW_POLL: &str = "/view/current-value";

/// Views drawn and read at once: more would be more traffic than a page should ask for.
pub const MAX_VIEWS: usize = 8;
/// Reads a second of each view.
pub const VIEW_RATE_HZ: u64 = 15;
const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 80.0;
/// The spectrum's floor: magnitudes below read as this.
const FLOOR_DB: f64 = -90.0;

/// What a view draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Scope,
    Spectrum,
}

/// The addresses of the views in `file`, in the patch's order, at most [`MAX_VIEWS`].
pub fn views_in(file: &PatchFile) -> Vec<(String, Kind)> {
    let mut out = vec![];
    let mut stack: Vec<(String, &TransformFile)> =
        file.transforms.iter().rev().map(|t| ("/patch".to_owned(), t)).collect();
    while let Some((parent, t)) = stack.pop() {
        let address = format!("{parent}/{}", t.name);
        match t.type_name.as_str() {
            "Scope" => out.push((address.clone(), Kind::Scope)),
            "FFTMagnitude" => out.push((address.clone(), Kind::Spectrum)),
            _ => {}
        }
        if out.len() == MAX_VIEWS {
            break;
        }
        if let Some(body) = &t.patch {
            stack.extend(body.transforms.iter().rev().map(|m| (address.clone(), m)));
        }
    }
    out
}

/// The points of a reply to [`VIEW_POLL`]: a table is a blob of
/// little-endian `f32`s.
pub fn points_of(args: &[OscArg]) -> Option<Vec<f32>> {
    match args {
        [OscArg::Int(0), OscArg::Blob(bytes), ..] => {
            Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        _ => None,
    }
}

/// An SVG polyline's points for `values` across the view.
fn polyline(values: &[f32], kind: Kind) -> String {
    let n = values.len().max(2) as f64 - 1.0;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let level = match kind {
                // -1 at the bottom, 1 at the top.
                Kind::Scope => (v as f64).clamp(-1.1, 1.1) / 2.2 + 0.5,
                // 0 dB at the top, the floor at the bottom.
                Kind::Spectrum => {
                    let db = 20.0 * (v as f64).max(1e-9).log10();
                    1.0 - db.clamp(FLOOR_DB, 0.0) / FLOOR_DB
                }
            };
            format!("{:.1},{:.1}", i as f64 / n * WIDTH, (1.0 - level) * HEIGHT)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One view: its name, and its picture once a read came back.
#[component]
fn View(address: String, kind: Kind, shown: RwSignal<BTreeMap<String, Vec<f32>>>) -> impl IntoView {
    let label = address.trim_start_matches("/patch/").to_owned();
    let key = address.clone();
    let points = Memo::new(move |_| shown.with(|s| s.get(&key).map(|v| polyline(v, kind))));
    let class = match kind {
        Kind::Scope => "view scope",
        Kind::Spectrum => "view spectrum",
    };
    view! {
        <figure class=class data-view=address>
            <figcaption>{label}</figcaption>
            <svg width=WIDTH height=HEIGHT viewBox=format!("0 0 {WIDTH} {HEIGHT}")>
                <line class="axis" x1="0" x2=WIDTH y1=HEIGHT / 2.0 y2=HEIGHT / 2.0></line>
                {move || points.get().map(|p| view! { <polyline points=p></polyline> })}
            </svg>
        </figure>
    }
}

/// Every view of the patch, kept reading while it is shown.
#[component]
pub fn Views(bridge: Bridge, views: Memo<Vec<(String, Kind)>>) -> impl IntoView {
    bridge.poll(VIEW_RATE_HZ, move || {
        views.with_untracked(|v| v.iter().map(|(address, _)| format!("{address}{VIEW_POLL}")).collect())
    });
    let shown = bridge.views;
    view! {
        <div id="views">
            <For each=move || views.get() key=|(a, k)| format!("{a}:{k:?}") let:entry>
                <View address=entry.0 kind=entry.1 shown />
            </For>
        </div>
    }
}
