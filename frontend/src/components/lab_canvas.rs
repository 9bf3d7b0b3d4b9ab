//! The lab canvas: PCs (circles) and switches (boxes) where the server keeps
//! them, a line per link. Drag a node to move it (its `x`, `y` are saved on
//! the server, so every page and GNS3 client sees the move); drag from a
//! node's handle to another node to link them (the two tunnels a GNS3
//! client makes, undone if the second is refused); right-click a node for
//! start, stop, console, capture and delete; double-click a PC for its
//! console. Geometry comes from `patchbay_shared::lab_layout`.

use std::collections::HashMap;

use leptos::prelude::*;
use patchbay_shared::lab_layout::{LabView, NodeView, NODE_RADIUS};
use uuid::Uuid;

use super::canvas::capture;
use super::console::Consoles;
use crate::api;
use crate::state::Live;

/// What the pointer is doing.
#[derive(Clone, Debug, PartialEq)]
enum Drag {
    Idle,
    /// Moving a node, held at this offset from its centre.
    Move {
        id: Uuid,
        switch: bool,
        grip: (f64, f64),
    },
    /// Drawing a link from a node.
    Link {
        from: Uuid,
        start: (f64, f64),
        at: (f64, f64),
    },
}

/// The context menu open on a node, at a place on the canvas.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Menu {
    node: Uuid,
    at: (f64, f64),
}

#[component]
pub fn LabCanvas(project: Uuid) -> impl IntoView {
    let live = expect_context::<Live>();
    let consoles = expect_context::<Consoles>();
    let nodes = live.lab.current();
    // Places being dragged or saved, ahead of the server's word.
    let moved: RwSignal<HashMap<Uuid, (f64, f64)>> = RwSignal::new(HashMap::new());
    let drag = RwSignal::new(Drag::Idle);
    let menu: RwSignal<Option<Menu>> = RwSignal::new(None);
    let svg: NodeRef<leptos::svg::Svg> = NodeRef::new();
    let view_of = Memo::new(move |_| moved.with(|m| nodes.with(|n| LabView::of(n, m))));
    // A saved move is the server's once the store shows the node there.
    Effect::new(move |_| {
        let at: HashMap<Uuid, (i32, i32)> = nodes.with(|n| {
            let pcs = n.vms.iter().map(|v| (v.vm_id, (v.x, v.y)));
            pcs.chain(n.switches.iter().map(|s| (s.vm_id, (s.x, s.y)))).collect()
        });
        let dragging = match drag.get_untracked() {
            Drag::Move { id, .. } => Some(id),
            _ => None,
        };
        moved.update(|m| {
            m.retain(|id, p| Some(*id) == dragging || at.get(id).is_some_and(|&s| s != rounded(*p)))
        });
    });

    let point = move |ev: &leptos::ev::PointerEvent| -> (f64, f64) {
        let Some(el) = svg.get_untracked() else { return (0.0, 0.0) };
        let rect = web_sys::Element::get_bounding_client_rect(&el);
        (ev.client_x() as f64 - rect.left(), ev.client_y() as f64 - rect.top())
    };
    let on_move = move |ev: leptos::ev::PointerEvent| match drag.get_untracked() {
        Drag::Idle => {}
        Drag::Move { id, grip, .. } => {
            let (x, y) = point(&ev);
            let at = ((x - grip.0).max(NODE_RADIUS), (y - grip.1).max(NODE_RADIUS));
            moved.update(|m| {
                m.insert(id, at);
            });
        }
        Drag::Link { from, start, .. } => drag.set(Drag::Link { from, start, at: point(&ev) }),
    };
    let on_up = move |ev: leptos::ev::PointerEvent| {
        let (x, y) = point(&ev);
        match drag.get_untracked() {
            Drag::Idle => {}
            Drag::Move { id, switch, .. } => {
                if let Some(at) = moved.with_untracked(|m| m.get(&id).copied()) {
                    let (x, y) = rounded(at);
                    spawn_save(live, project, id, switch, (x, y), moved);
                }
            }
            Drag::Link { from, .. } => {
                let target = view_of.with_untracked(|v| v.node_at(x, y).map(|n| n.id));
                if let Some(to) = target.filter(|to| *to != from) {
                    match view_of.with_untracked(|v| v.link_ends(from, to)) {
                        Ok((a, b)) => live.act(api::link(project, a, b)),
                        Err(why) => live.error.set(Some(why)),
                    }
                }
            }
        }
        drag.set(Drag::Idle);
    };

    let draw_node = move |n: NodeView| {
        let (id, switch, name) = (n.id, n.switch, n.name.clone());
        let grab = move |ev: leptos::ev::PointerEvent| {
            if ev.button() != 0 {
                return;
            }
            ev.stop_propagation();
            menu.set(None);
            capture(svg.get_untracked(), &ev);
            let (x, y) = point(&ev);
            drag.set(Drag::Move { id, switch, grip: (x - n.x, y - n.y) });
        };
        let start_link = move |ev: leptos::ev::PointerEvent| {
            ev.stop_propagation();
            menu.set(None);
            capture(svg.get_untracked(), &ev);
            let start = (n.x, n.y);
            drag.set(Drag::Link { from: id, start, at: point(&ev) });
        };
        let open_menu = move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            ev.stop_propagation();
            menu.set(Some(Menu { node: id, at: (n.x, n.y) }));
        };
        let console = {
            let name = name.clone();
            move |_| {
                if !switch && n.started {
                    consoles.open(id, name.clone());
                }
            }
        };
        let shape = if switch {
            view! { <rect class="body" x=-22.0 y=-14.0 width=44.0 height=28.0 rx=4.0></rect> }.into_any()
        } else {
            view! { <circle class="body" r=18.0></circle> }.into_any()
        };
        view! {
            <g class="node" class:pc=!switch class:switch=switch class:started=n.started class:capturing=n.capturing
                data-node=name.clone() transform=format!("translate({}, {})", n.x, n.y)
                on:pointerdown=grab on:contextmenu=open_menu on:dblclick=console>
                {shape}
                <text class="label" y=34.0 text-anchor="middle">{name.clone()}</text>
                <circle class="link-handle" class:full=n.free.is_none() cx=20.0 cy=-14.0 r=6.0
                    on:pointerdown=start_link><title>"Drag to another node to link"</title></circle>
            </g>
        }
    };

    view! {
        <div class="lab-canvas">
            <svg id="lab-canvas" class="topology" node_ref=svg
                width=move || view_of.with(|v| v.size.0) height=move || view_of.with(|v| v.size.1)
                on:pointermove=on_move on:pointerup=on_up
                on:pointerdown=move |_| menu.set(None)>
                <g class="links">
                    {move || view_of.get().links.into_iter().map(|l| view! {
                        <line class="link" class:capturing=l.capturing data-link=l.label
                            x1=l.from.0 y1=l.from.1 x2=l.to.0 y2=l.to.1 />
                    }).collect_view()}
                </g>
                <g class="nodes">{move || view_of.get().nodes.into_iter().map(draw_node).collect_view()}</g>
                {move || match drag.get() {
                    Drag::Link { start, at, .. } => Some(view! {
                        <line class="link pending" x1=start.0 y1=start.1 x2=at.0 y2=at.1 />
                    }),
                    _ => None,
                }}
            </svg>
            {move || menu.get().and_then(|m| {
                let node = view_of.with(|v| v.nodes.iter().find(|n| n.id == m.node).cloned())?;
                Some(view! { <NodeMenu project node at=m.at close=Callback::new(move |()| menu.set(None)) /> })
            })}
        </div>
    }
}

/// A node's context menu: what can be done to it now.
#[component]
fn NodeMenu(project: Uuid, node: NodeView, at: (f64, f64), close: Callback<()>) -> impl IntoView {
    let live = expect_context::<Live>();
    let consoles = expect_context::<Consoles>();
    let (id, switch, started, capturing) = (node.id, node.switch, node.started, node.capturing);
    let act = move |call: std::pin::Pin<Box<dyn std::future::Future<Output = api::ApiResult<()>>>>| {
        close.run(());
        live.act(call);
    };
    let toggle = move |_| {
        let action = if started { "stop" } else { "start" };
        act(if switch {
            Box::pin(api::switch_action(project, id, action))
        } else {
            Box::pin(api::vm_action(project, id, action))
        })
    };
    let delete = move |_| {
        act(if switch {
            Box::pin(api::delete_switch(project, id))
        } else {
            Box::pin(api::delete_vm(project, id))
        })
    };
    let name = node.name.clone();
    let capture = move |_| {
        let file = format!("{name}.pcap");
        act(if capturing {
            Box::pin(api::stop_capture(project, id))
        } else {
            Box::pin(api::start_capture(project, id, file))
        })
    };
    let name = node.name.clone();
    let console = move |_| {
        close.run(());
        consoles.open(id, name.clone());
    };
    view! {
        <div class="context-menu" data-menu=node.name.clone()
            style=format!("left: {}px; top: {}px", at.0 + NODE_RADIUS, at.1)>
            <button class="toggle" on:click=toggle>{if started { "Stop" } else { "Start" }}</button>
            {(!switch).then(|| view! {
                <button class="console" disabled=!started on:click=console>"Console"</button>
                <button class="capture" disabled=!started on:click=capture>
                    {if capturing { "Stop capture" } else { "Capture" }}
                </button>
            })}
            <button class="danger" on:click=delete>"Delete"</button>
        </div>
    }
}

/// Saves a moved node's place; on failure it goes back to where it was.
fn spawn_save(
    live: Live,
    project: Uuid,
    id: Uuid,
    switch: bool,
    (x, y): (i32, i32),
    moved: RwSignal<HashMap<Uuid, (f64, f64)>>,
) {
    leptos::task::spawn_local(async move {
        if let Err(e) = api::place(project, id, switch, x, y).await {
            moved.update(|m| {
                m.remove(&id);
            });
            live.error.set(Some(e));
        }
    });
}

/// A canvas place as the server keeps it (whole pixels).
fn rounded((x, y): (f64, f64)) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}
