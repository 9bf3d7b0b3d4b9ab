//! A picture of the project: each VM a node, each pair of tunnels that point
//! at each other a link.

use leptos::prelude::*;
use patchbay_shared::{Vm, VmStatus};

const SIZE: f64 = 260.0;

/// Index pairs of VMs whose tunnels face each other (A's lport is B's rport and back).
pub fn links(vms: &[Vm]) -> Vec<(usize, usize)> {
    let mut out = vec![];
    for (i, a) in vms.iter().enumerate() {
        for (j, b) in vms.iter().enumerate().skip(i + 1) {
            if let (Some(x), Some(y)) = (&a.nio, &b.nio) {
                if x.rport == y.lport && y.rport == x.lport {
                    out.push((i, j));
                }
            }
        }
    }
    out
}

#[component]
pub fn Topology(vms: Vec<Vm>) -> impl IntoView {
    if vms.is_empty() {
        return view! { <p class="muted">"No VM yet."</p> }.into_any();
    }
    let n = vms.len() as f64;
    let radius = if vms.len() == 1 { 0.0 } else { SIZE / 2.0 - 40.0 };
    let at = move |i: usize| {
        let angle = std::f64::consts::TAU * i as f64 / n - std::f64::consts::FRAC_PI_2;
        (SIZE / 2.0 + radius * angle.cos(), SIZE / 2.0 + radius * angle.sin())
    };
    let lines = links(&vms)
        .into_iter()
        .map(|(i, j)| {
            let ((x1, y1), (x2, y2)) = (at(i), at(j));
            view! { <line class="link" x1=x1 y1=y1 x2=x2 y2=y2 /> }
        })
        .collect_view();
    let nodes = vms
        .iter()
        .enumerate()
        .map(|(i, vm)| {
            let (x, y) = at(i);
            let started = vm.status == VmStatus::Started;
            view! {
                <g class="node" class:started=started>
                    <circle cx=x cy=y r="18" />
                    <text x=x y=y + 34.0 text-anchor="middle">{vm.name.clone()}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="topology" viewBox=format!("0 0 {SIZE} {SIZE}") width=SIZE height=SIZE>
            {lines}
            {nodes}
        </svg>
    }
    .into_any()
}
