//! The patch canvas: a box per transform with its inlets on top and outlets
//! below (audio ports filled, control ports hollow), a wire per connection.
//! Drag from an outlet to an inlet to connect, click a wire and press
//! Delete (or its button) to remove it, drag a box to move it (`set-layout`:
//! the patch file keeps where it is, and every canvas follows), double-click
//! a subpatch to open it, click a box to inspect and edit its values.
//! Every edit is the OSC message any tool would send, over the bridge; the
//! canvas redraws from the patch store when the server announces the change,
//! whoever made it. Geometry comes from `patchbay_shared::patch_layout`.

use std::collections::{BTreeMap, HashMap};

use leptos::prelude::*;
use patchbay_shared::engine::{Body, PortInfo, TypeInfo};
use patchbay_shared::patch_layout::{BoxView, PatchView, WireView, BOX_HEIGHT, PORT};
use patchbay_shared::value::Value;
use patchbay_shared::OscArg;

use patchbay_shared::patch_history::Edit;

use super::engine::{parse_value, Bridge};
use crate::state::Live;

/// Boxes being dragged, or dropped and not yet placed by the server, by name.
type Positions = BTreeMap<String, (f64, f64)>;

/// What the pointer is doing.
#[derive(Clone, Debug, PartialEq)]
enum Drag {
    Idle,
    /// Drawing a wire from an outlet (its address relative to the patch shown).
    Wire {
        from: String,
        start: (f64, f64),
        at: (f64, f64),
    },
    /// Moving a box from `from` (its corner), held at `grip` from its corner.
    Move {
        name: String,
        grip: (f64, f64),
        from: (f64, f64),
    },
}

#[component]
pub fn PatchCanvas(bridge: Bridge, at: RwSignal<String>, types: RwSignal<Vec<TypeInfo>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let (file, ports) = (live.patch.file, live.patch.ports);
    // Boxes being moved, per patch shown.
    let placed: RwSignal<BTreeMap<String, Positions>> = RwSignal::new(BTreeMap::new());
    // A dropped box is the server's once the file has it where it was dropped.
    Effect::new(move |_| {
        file.with(|f| {
            let Some(f) = f else { return };
            // Told only when a box was let go: every change of the file
            // would otherwise lay the patch out a second time.
            placed.maybe_update(|p| {
                let before: usize = p.values().map(BTreeMap::len).sum();
                for (path, boxes) in p.iter_mut() {
                    boxes.retain(|name, at| {
                        let layout = f.transform(&format!("{path}/{name}")).and_then(|t| t.layout);
                        layout.is_none_or(|l| (l.x, l.y) != *at)
                    });
                }
                p.values().map(BTreeMap::len).sum::<usize>() != before
            });
        });
    });
    let drag = RwSignal::new(Drag::Idle);
    let offsets = Offsets::default();
    let selected_wire: RwSignal<Option<WireView>> = RwSignal::new(None);
    let selected_box: RwSignal<Option<String>> = RwSignal::new(None);
    let svg: NodeRef<leptos::svg::Svg> = NodeRef::new();
    // The inspector closes when its transform goes (deleted, a patch loaded).
    Effect::new(move |_| {
        let Some(name) = selected_box.get() else { return };
        let path = format!("{}/{name}", at.get());
        if file.with(|f| f.as_ref().is_some_and(|f| f.transform(&path).is_none())) {
            selected_box.set(None);
        }
    });

    let view_of = Memo::new(move |_| {
        let path = at.get();
        let body = file.with(|f| f.as_ref().and_then(|f| body_at(f, &path)));
        let Some(body) = body else { return PatchView::default() };
        let moved = placed.with(|p| p.get(&path).cloned().unwrap_or_default());
        ports.with(|ports| PatchView::of(&path, &body, ports, &moved))
    });
    // A subpatch that went away (deleted, renamed, a patch loaded) closes.
    Effect::new(move |_| {
        let path = at.get();
        if path != "/patch" && file.with(|f| f.as_ref().is_some_and(|f| f.transform(&path).is_none())) {
            at.set("/patch".to_owned());
        }
    });

    let point = move |ev: &leptos::ev::PointerEvent| -> (f64, f64) {
        let Some(el) = svg.get_untracked() else { return (0.0, 0.0) };
        let rect = web_sys::Element::get_bounding_client_rect(&el);
        (ev.client_x() as f64 - rect.left(), ev.client_y() as f64 - rect.top())
    };
    let address = move |rel: &str| format!("{}/{rel}", at.get_untracked());
    let on_move = move |ev: leptos::ev::PointerEvent| match drag.get_untracked() {
        Drag::Idle => {}
        Drag::Wire { from, start, .. } => drag.set(Drag::Wire { from, start, at: point(&ev) }),
        Drag::Move { name, grip, from } => {
            // Only the box and its wires follow the pointer (their offset
            // signal); the layout is drawn again once, on the drop.
            let (x, y) = point(&ev);
            let to = |v: f64| v.max(0.0).round();
            offsets.moved(&name).set((to(x - grip.0) - from.0, to(y - grip.1) - from.1));
        }
    };
    let connect_to = move |inlet: String| {
        if let Drag::Wire { from, .. } = drag.get_untracked() {
            bridge.edit(Edit::Connect { from: address(&from), to: address(&inlet) });
        }
        drag.set(Drag::Idle);
    };
    let delete_wire = move || {
        if let Some(w) = selected_wire.get_untracked() {
            bridge.edit(Edit::Disconnect { from: address(&w.link.from), to: address(&w.link.to) });
            selected_wire.set(None);
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let command = ev.ctrl_key() || ev.meta_key();
        match ev.key().as_str() {
            "Delete" | "Backspace" => delete_wire(),
            "z" | "Z" if command && ev.shift_key() => bridge.redo(),
            "z" if command => bridge.undo(),
            "y" if command => bridge.redo(),
            _ => return,
        }
        ev.prevent_default();
    };

    let draw_box = move |b: BoxView| {
        let name = b.name.clone();
        let is_patch = b.type_name == "Patch";
        let grab = {
            let (name, bx, by) = (name.clone(), b.x, b.y);
            move |ev: leptos::ev::PointerEvent| {
                ev.stop_propagation(); // the canvas would clear the selection
                capture(svg, &ev);
                let (x, y) = point(&ev);
                selected_box.set(Some(name.clone()));
                drag.set(Drag::Move { name: name.clone(), grip: (x - bx, y - by), from: (bx, by) });
            }
        };
        let open = {
            let name = name.clone();
            move |_| {
                if is_patch {
                    at.update(|p| *p = format!("{p}/{name}"));
                    selected_box.set(None);
                }
            }
        };
        let inlets = b.inlets.iter().map(|(p, x)| {
            let rel = b.port_address(&p.name, false);
            let up = move |ev: leptos::ev::PointerEvent| {
                ev.stop_propagation();
                connect_to(rel.clone());
            };
            view! {
                <rect class=port_class(p, "inlet") data-port=p.name.clone() x=*x y=-3.0 width=PORT height=6.0
                    on:pointerup=up><title>{p.name.clone()}</title></rect>
            }
        });
        let outlets = b.outlets.iter().map(|(p, x)| {
            let rel = b.port_address(&p.name, true);
            let start = (b.x + x + PORT / 2.0, b.y + BOX_HEIGHT);
            let down = move |ev: leptos::ev::PointerEvent| {
                ev.stop_propagation();
                drag.set(Drag::Wire { from: rel.clone(), start, at: start });
            };
            view! {
                <rect class=port_class(p, "outlet") data-port=p.name.clone() x=*x y=BOX_HEIGHT - 3.0 width=PORT height=6.0
                    on:pointerdown=down><title>{p.name.clone()}</title></rect>
            }
        });
        let selected = {
            let name = name.clone();
            move || selected_box.get().as_deref() == Some(name.as_str())
        };
        let moved = offsets.moved(&name);
        view! {
            <g class="box" class:selected=selected class:subpatch=is_patch data-transform=name.clone()
                transform=move || { let (dx, dy) = moved.get(); format!("translate({}, {})", b.x + dx, b.y + dy) }>
                <rect class="body" width=b.width height=BOX_HEIGHT rx=4.0 on:pointerdown=grab on:dblclick=open></rect>
                <text class="name" x=8.0 y=16.0>{name.clone()}</text>
                <text class="type" x=8.0 y=29.0>{b.type_name.clone()}</text>
                {inlets.collect_view()}
                {outlets.collect_view()}
            </g>
        }
    };
    let draw_wire = move |w: WireView| {
        // Each end follows its box while that box is dragged.
        let box_of = |end: &str| end.split('/').next().unwrap_or_default().to_owned();
        let (from_box, to_box) = (offsets.moved(&box_of(&w.from)), offsets.moved(&box_of(&w.to)));
        let (start, end) = (w.start, w.end);
        let d = move || {
            let ((ax, ay), (bx, by)) = (from_box.get(), to_box.get());
            curve((start.0 + ax, start.1 + ay), (end.0 + bx, end.1 + by))
        };
        let pick = {
            let w = w.clone();
            move |ev: leptos::ev::PointerEvent| {
                ev.stop_propagation();
                selected_wire.set(Some(w.clone()));
            }
        };
        let selected = {
            let w = w.clone();
            move || selected_wire.get().as_ref() == Some(&w)
        };
        view! {
            <path class="wire" class:audio=w.audio class:selected=selected data-from=w.from.clone() data-to=w.to.clone()
                d=d on:pointerdown=pick></path>
        }
    };

    view! {
        <div class="canvas-bar">
            <nav id="breadcrumbs">
                {move || crumbs(&at.get()).into_iter().map(|(label, path)| view! {
                    <button class="crumb" on:click=move |_| at.set(path.clone())>{label}</button>
                }).collect_view()}
            </nav>
            {move || selected_wire.get().map(|w| view! {
                <button id="delete-wire" class="danger" on:click=move |_| delete_wire()>
                    {format!("Delete {} → {}", w.from, w.to)}
                </button>
            })}
        </div>
        <div class="canvas" tabindex="0" on:keydown=on_key>
            <svg id="patch-canvas" node_ref=svg
                width=move || view_of.with(|v| v.size.0.max(400.0))
                height=move || view_of.with(|v| v.size.1.max(240.0))
                on:pointermove=on_move
                on:pointerup=move |_| {
                    if let Drag::Move { name, from, .. } = drag.get_untracked() {
                        let (dx, dy) = offsets.moved(&name).get_untracked();
                        if (dx, dy) != (0.0, 0.0) {
                            // Dropped: the layout has it where it was let go, and the server is told.
                            let (path, to) = (at.get_untracked(), (from.0 + dx, from.1 + dy));
                            placed.update(|p| {
                                p.entry(path.clone()).or_default().insert(name.clone(), to);
                            });
                            offsets.moved(&name).set((0.0, 0.0));
                            bridge.edit(Edit::Move { address: format!("{path}/{name}"), before: from, after: to });
                        }
                    }
                    drag.set(Drag::Idle)
                }
                on:pointerdown=move |_| { selected_wire.set(None); selected_box.set(None); }>
                // Keyed by what a box or wire looks like: a drag redraws the
                // box it moves and its wires, not the other 500.
                <g class="wires">
                    <For each=move || view_of.get().wires key=wire_key children=draw_wire />
                </g>
                <g class="boxes">
                    <For each=move || view_of.get().boxes key=box_key children=draw_box />
                </g>
                {move || match drag.get() {
                    Drag::Wire { start, at, .. } => Some(view! { <path class="wire pending" d=curve(start, at)></path> }),
                    _ => None,
                }}
            </svg>
        </div>
        {move || selected_box.get().map(|name| view! { <Inspector at=at.get() name bridge types /> })}
    }
}

/// The selected box: its control inlets with their values, editable.
#[component]
fn Inspector(at: String, name: String, bridge: Bridge, types: RwSignal<Vec<TypeInfo>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let path = format!("{at}/{name}");
    let (file, ports) = (live.patch.file, live.patch.ports);
    let rows = {
        let path = path.clone();
        move || -> Vec<(PortInfo, Option<Value>)> {
            let values = file.with(|f| f.as_ref().and_then(|f| f.transform(&path)).map(|t| t.values.clone()));
            let values = values.unwrap_or_default();
            ports
                .with(|p| p.get(&path).map(|p| p.inlets.clone()).unwrap_or_default())
                .into_iter()
                .filter(|p| !p.audio)
                .map(|p| {
                    let v = values.get(&p.name).cloned();
                    (p, v)
                })
                .collect()
        }
    };
    let type_name = {
        let path = path.clone();
        move || file.with(|f| f.as_ref().and_then(|f| f.transform(&path)).map(|t| t.type_name.clone()))
    };
    // What the type does and what each port means: its documentation.
    let documentation = {
        let type_name = type_name.clone();
        move || {
            let ty = type_name()?;
            types.with(|all| all.iter().find(|t| t.name == ty).map(|t| t.documentation.clone()))
        }
    };
    let inspecting = path.clone();
    view! {
        <div id="inspector" data-inspecting=inspecting>
            <h3>{name.clone()} " " <span class="type">{type_name}</span></h3>
            <table>
                {move || rows().into_iter().map(|(port, value)| {
                    let address = format!("{path}/{}", port.name);
                    let shown = value.as_ref().map(show).unwrap_or_default();
                    let toggle = matches!(value, Some(Value::Boolean(_)));
                    let on = matches!(value, Some(Value::Boolean(true)));
                    let edit = {
                        let address = address.clone();
                        // A field left empty sends nothing (it is not a value).
                        move |ev: leptos::ev::Event| {
                            let text = event_target_value(&ev);
                            if !text.trim().is_empty() {
                                bridge.set(&address, value.as_ref(), parse_value(&text))
                            }
                        }
                    };
                    let flip = move |_| {
                        let after = vec![if on { OscArg::False } else { OscArg::True }];
                        bridge.set(&address, Some(&Value::Boolean(on)), after)
                    };
                    view! {
                        <tr data-state=port.name.clone()>
                            <th>{port.name.clone()}</th>
                            <td>{if toggle {
                                view! { <input type="checkbox" prop:checked=on on:change=flip /> }.into_any()
                            } else {
                                view! { <input class="value" prop:value=shown on:change=edit /> }.into_any()
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </table>
            <p class="doc">{documentation}</p>
        </div>
    }
}

/// How far each box has been dragged from where the layout put it: a signal
/// per box, so that a move redraws that box and its wires and nothing else
/// (no layout, no keyed diff of the other boxes). Shared-count signals: a
/// box drawn again keeps its own.
#[derive(Clone, Copy, Default)]
struct Offsets(StoredValue<HashMap<String, ArcRwSignal<(f64, f64)>>>);

impl Offsets {
    fn moved(&self, name: &str) -> ArcRwSignal<(f64, f64)> {
        self.0
            .try_update_value(|m| {
                m.entry(name.to_owned()).or_insert_with(|| ArcRwSignal::new((0.0, 0.0))).clone()
            })
            .expect("the canvas's offsets live as long as the canvas")
    }
}

/// Keeps the pointer's moves and release coming to the canvas while a box
/// is dragged past its edge (a wire is not captured: it ends on an inlet).
pub(super) fn capture(svg: NodeRef<leptos::svg::Svg>, ev: &leptos::ev::PointerEvent) {
    if let Some(el) = svg.get_untracked() {
        let _ = web_sys::Element::set_pointer_capture(&el, ev.pointer_id());
    }
}

/// A box's identity for keyed drawing: its name, type, place and ports.
fn box_key(b: &BoxView) -> String {
    let names =
        |ports: &[(PortInfo, f64)]| ports.iter().map(|(p, _)| p.name.as_str()).collect::<Vec<_>>().join(",");
    format!(
        "{}:{}@{},{},{}:{}:{}",
        b.name,
        b.type_name,
        b.x,
        b.y,
        b.width,
        names(&b.inlets),
        names(&b.outlets)
    )
}

fn wire_key(w: &WireView) -> String {
    format!("{}>{}@{:?}{:?}", w.link.from, w.link.to, w.start, w.end)
}

/// The members of the patch at `path`, the root's included.
fn body_at(file: &patchbay_shared::engine::PatchFile, path: &str) -> Option<Body> {
    if path == "/patch" {
        return Some(Body { transforms: file.transforms.clone(), connections: file.connections.clone() });
    }
    file.transform(path)?.patch.clone()
}

/// `/patch/fx/inner` as links: patch, fx, inner.
fn crumbs(path: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut so_far = String::new();
    for part in path.trim_start_matches('/').split('/') {
        so_far = format!("{so_far}/{part}");
        out.push((part.to_owned(), so_far.clone()));
    }
    out
}

fn port_class(p: &PortInfo, side: &str) -> String {
    format!("port {side} {}", if p.audio { "audio" } else { "control" })
}

/// A wire's curve: down out of the outlet, into the inlet from above.
fn curve((x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> String {
    let bend = ((y1 - y0).abs() / 2.0).max(30.0);
    format!("M {x0} {y0} C {x0} {} {x1} {} {x1} {y1}", y0 + bend, y1 - bend)
}

/// A value as its field shows it.
fn show(v: &Value) -> String {
    match v {
        Value::Float(f) => format!("{f}"),
        Value::Integer(i) => i.to_string(),
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}
