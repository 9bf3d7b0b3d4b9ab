//! A picture of the project: PCs on an outer ring, switches inside it, and
//! a line for each link (two tunnels that point at each other).

use std::collections::HashMap;

use leptos::prelude::*;
use patchbay_shared::topology::Attachment;
use patchbay_shared::{Switch, Vm, VmStatus};
use uuid::Uuid;

const SIZE: f64 = 280.0;

/// `count` points evenly on a circle of `radius` about the centre, the first at the top.
fn ring(count: usize, radius: f64) -> impl Iterator<Item = (f64, f64)> {
    let radius = if count == 1 { 0.0 } else { radius };
    (0..count).map(move |i| {
        let angle = std::f64::consts::TAU * i as f64 / count as f64 - std::f64::consts::FRAC_PI_2;
        (SIZE / 2.0 + radius * angle.cos(), SIZE / 2.0 + radius * angle.sin())
    })
}

#[component]
pub fn Topology(vms: Vec<Vm>, switches: Vec<Switch>, links: Vec<(Attachment, Attachment)>) -> impl IntoView {
    if vms.is_empty() && switches.is_empty() {
        return view! { <p class="muted">"No VM yet."</p> }.into_any();
    }
    // With switches in the middle, PCs keep to the outer ring.
    let outer = if switches.is_empty() { SIZE / 2.0 - 40.0 } else { SIZE / 2.0 - 36.0 };
    let inner = if switches.len() > 1 { SIZE / 2.0 - 100.0 } else { 0.0 };
    let mut at: HashMap<Uuid, (f64, f64)> =
        vms.iter().map(|vm| vm.vm_id).zip(ring(vms.len(), outer)).collect();
    at.extend(switches.iter().map(|sw| sw.vm_id).zip(ring(switches.len(), inner)));
    let lines = links
        .iter()
        .filter_map(|(a, b)| Some((at.get(&a.node())?, at.get(&b.node())?)))
        .map(|(&(x1, y1), &(x2, y2))| view! { <line class="link" x1=x1 y1=y1 x2=x2 y2=y2 /> })
        .collect_view();
    let pcs = vms
        .iter()
        .map(|vm| {
            let (x, y) = at[&vm.vm_id];
            view! {
                <g class="node pc" class:started=vm.status == VmStatus::Started>
                    <circle cx=x cy=y r="18" />
                    <text x=x y=y + 34.0 text-anchor="middle">{vm.name.clone()}</text>
                </g>
            }
        })
        .collect_view();
    let hubs = switches
        .iter()
        .map(|sw| {
            let (x, y) = at[&sw.vm_id];
            view! {
                <g class="node switch" class:started=sw.status == VmStatus::Started>
                    <rect x=x - 22.0 y=y - 13.0 width="44" height="26" rx="4" />
                    <text x=x y=y + 4.0 text-anchor="middle">{sw.name.clone()}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="topology" viewBox=format!("0 0 {SIZE} {SIZE}") width=SIZE height=SIZE>
            {lines}
            {pcs}
            {hubs}
        </svg>
    }
    .into_any()
}
