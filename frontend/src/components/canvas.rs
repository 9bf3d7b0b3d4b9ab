//! The patch canvas: a box per transform with its inlets on top and outlets
//! below (audio ports filled, control ports hollow), a wire per connection.
//! Drag from an outlet to an inlet to connect, click a wire and press
//! Delete (or its button) to remove it, drag a box to move it (`set-layout`:
//! the patch file keeps where it is, and every canvas follows), double-click
//! a subpatch to open it, click a box to inspect and edit its values.
//! Every edit is the OSC message any tool would send, over the bridge; the
//! canvas redraws from the patch store when the server announces the change,
//! whoever made it. Geometry comes from `patchbay_shared::patch_layout`;
//! the boxes and wires are drawn as one piece of markup each
//! (`patchbay_shared::patch_markup`: the boxes in strips the browser renders
//! only in view), their events handled by the canvas, and a drag moves the
//! one box and its wires in place. The selected box opens the
//! [`Inspector`].

use std::collections::BTreeMap;

use leptos::prelude::*;
use patchbay_shared::engine::TypeInfo;
use patchbay_shared::patch_history::Edit;
use patchbay_shared::patch_layout::{Members, PatchView, WireView, BOX_HEIGHT};
use patchbay_shared::patch_markup;
use wasm_bindgen::JsCast;

use super::engine::Bridge;
use super::inspector::Inspector;
use crate::state::Live;

/// How far from a wire a click still picks it, in pixels.
const WIRE_REACH: f64 = 6.0;

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
    // The box being dragged and how far it has gone from its place.
    let dragged: RwSignal<Option<(String, (f64, f64))>> = RwSignal::new(None);
    let selected_wire: RwSignal<Option<WireView>> = RwSignal::new(None);
    let selected_box: RwSignal<Option<String>> = RwSignal::new(None);
    let canvas: NodeRef<leptos::html::Div> = NodeRef::new();
    let lifted: StoredValue<Option<Lifted>, LocalStorage> = StoredValue::new_local(None);
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
        let moved = placed.with(|p| p.get(&path).cloned().unwrap_or_default());
        file.with(|f| {
            let Some(body) = f.as_ref().and_then(|f| members_at(f, &path)) else {
                return PatchView::default();
            };
            ports.with(|ports| PatchView::of(&path, body, ports, &moved))
        })
    });
    // A subpatch that went away (deleted, renamed, a patch loaded) closes.
    Effect::new(move |_| {
        let path = at.get();
        if path != "/patch" && file.with(|f| f.as_ref().is_some_and(|f| f.transform(&path).is_none())) {
            at.set("/patch".to_owned());
        }
    });

    let point = move |ev: &leptos::ev::PointerEvent| -> (f64, f64) {
        let Some(el) = canvas.get_untracked() else { return (0.0, 0.0) };
        let rect = web_sys::Element::get_bounding_client_rect(&el);
        (ev.client_x() as f64 - rect.left(), ev.client_y() as f64 - rect.top())
    };
    let address = move |rel: &str| format!("{}/{rel}", at.get_untracked());
    let on_move = move |ev: leptos::ev::PointerEvent| match drag.get_untracked() {
        Drag::Idle => {}
        Drag::Wire { from, start, .. } => drag.set(Drag::Wire { from, start, at: point(&ev) }),
        Drag::Move { name, grip, from } => {
            // Only the box and its wires follow the pointer; the layout is
            // drawn again once, on the drop.
            let (x, y) = point(&ev);
            let to = |v: f64| v.max(0.0).round();
            let offset = (to(x - grip.0) - from.0, to(y - grip.1) - from.1);
            view_of.with_untracked(|v| move_drawn(canvas, lifted, v, &name, offset));
            dragged.set(Some((name, offset)));
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

    // Events reach the canvas and are told apart by what they hit: the
    // boxes and wires are markup the browser parsed, with no handlers of
    // their own (see `patch_markup`).
    let hit = |ev: &leptos::ev::PointerEvent| ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
    let on_down = move |ev: leptos::ev::PointerEvent| {
        let Some(target) = hit(&ev) else { return };
        let within = |css: &str| target.closest(css).ok().flatten();
        let box_name = within("[data-transform]").and_then(|g| g.get_attribute("data-transform"));
        if let Some(port) = within(".outlet").and_then(|p| p.get_attribute("data-port")) {
            let wire = view_of.with_untracked(|v| {
                let b = v.find(box_name.as_deref()?)?;
                let (start, _) = b.port_end(&port, true)?;
                Some(Drag::Wire { from: b.port_address(&port, true), start, at: start })
            });
            if let Some(wire) = wire {
                drag.set(wire);
            }
        } else if within(".body").is_some() {
            let Some(name) = box_name else { return };
            let Some(corner) = view_of.with_untracked(|v| v.find(&name).map(|b| (b.x, b.y))) else { return };
            capture(canvas.get_untracked(), &ev);
            let (x, y) = point(&ev);
            selected_box.set(Some(name.clone()));
            drag.set(Drag::Move { name, grip: (x - corner.0, y - corner.1), from: corner });
        } else if let Some(w) = within(".wire") {
            let ends = (w.get_attribute("data-from"), w.get_attribute("data-to"));
            let picked = view_of.with_untracked(|v| {
                v.wires
                    .iter()
                    .find(|w| (Some(&w.from), Some(&w.to)) == (ends.0.as_ref(), ends.1.as_ref()))
                    .cloned()
            });
            selected_wire.set(picked);
        } else if let Some(near) = view_of.with_untracked(|v| v.wire_near(point(&ev), WIRE_REACH).cloned()) {
            // A click beside a wire picks it too: a 1.5 px line is hard to hit.
            selected_wire.set(Some(near));
        } else {
            selected_wire.set(None);
            selected_box.set(None);
        }
    };
    let on_up = move |ev: leptos::ev::PointerEvent| {
        let target = hit(&ev);
        let inlet = target.as_ref().and_then(|t| t.closest(".inlet").ok().flatten());
        if let Some(inlet) = inlet {
            let name = inlet
                .closest("[data-transform]")
                .ok()
                .flatten()
                .and_then(|g| g.get_attribute("data-transform"));
            let port = inlet.get_attribute("data-port");
            let rel = view_of.with_untracked(|v| Some(v.find(&name?)?.port_address(&port?, false)));
            if let Some(rel) = rel {
                connect_to(rel);
            }
        }
        if let Drag::Move { name, from, .. } = drag.get_untracked() {
            put_back(lifted);
            let offset = dragged.with_untracked(|d| d.as_ref().filter(|(n, _)| *n == name).map(|(_, o)| *o));
            if let Some((dx, dy)) = offset.filter(|o| *o != (0.0, 0.0)) {
                // Dropped: the layout has it where it was let go, and the server is told.
                let (path, to) = (at.get_untracked(), (from.0 + dx, from.1 + dy));
                placed.update(|p| {
                    p.entry(path.clone()).or_default().insert(name.clone(), to);
                });
                bridge.edit(Edit::Move { address: format!("{path}/{name}"), before: from, after: to });
            }
            dragged.set(None);
        }
        drag.set(Drag::Idle)
    };
    // A port's name shows on hover: its `<title>` is made the first time
    // the pointer comes over it (see `patch_markup`).
    let name_port = move |ev: leptos::ev::PointerEvent| {
        let Some(port) = hit(&ev).filter(|t| t.matches(".port").unwrap_or(false)) else { return };
        if port.first_element_child().is_some() {
            return;
        }
        let (Some(name), Some(document)) = (port.get_attribute("data-port"), port.owner_document()) else {
            return;
        };
        if let Ok(title) = document.create_element_ns(Some("http://www.w3.org/2000/svg"), "title") {
            title.set_text_content(Some(&name));
            let _ = port.append_child(&title);
        }
    };
    let on_double = move |ev: leptos::ev::MouseEvent| {
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let subpatch = target.and_then(|t| t.closest(".box.subpatch").ok().flatten());
        if let Some(name) = subpatch.and_then(|g| g.get_attribute("data-transform")) {
            at.update(|p| *p = format!("{p}/{name}"));
            selected_box.set(None);
        }
    };
    // The selected box and wire, drawn over the markup (which never changes for a click).
    let box_outline = move || {
        let name = selected_box.get()?;
        let (dx, dy) =
            dragged.with(|d| d.as_ref().filter(|(n, _)| *n == name).map(|(_, o)| *o)).unwrap_or_default();
        view_of.with(|v| {
            let b = v.find(&name)?;
            Some(view! {
                <rect class="selection" x=b.x + dx - 2.0 y=b.y + dy - 2.0 width=b.width + 4.0
                    height=BOX_HEIGHT + 4.0 rx=5.0></rect>
            })
        })
    };
    let wire_outline = move || {
        selected_wire
            .get()
            .map(|w| view! { <path class="wire-selection" d=patch_markup::curve(w.start, w.end)></path> })
    };

    let size = Memo::new(move |_| view_of.with(PatchView::canvas_size));

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
            // Three layers in the canvas's coordinates: the wires, the boxes
            // in strips (see `patch_markup`), and what is drawn over them.
            <div id="patch-canvas" node_ref=canvas
                style:width=move || format!("{}px", size.get().0)
                style:height=move || format!("{}px", size.get().1)
                on:pointermove=on_move on:pointerup=on_up on:pointerdown=on_down on:pointerover=name_port
                on:dblclick=on_double>
                <svg class="wires" width=move || size.get().0 height=move || size.get().1
                    inner_html=move || view_of.with(patch_markup::wires)></svg>
                <div class="boxes" inner_html=move || view_of.with(patch_markup::boxes)></div>
                <svg class="over" width=move || size.get().0 height=move || size.get().1>
                    <g class="lifted"></g>
                    {wire_outline}
                    {box_outline}
                    {move || match drag.get() {
                        Drag::Wire { start, at, .. } => Some(view! { <path class="wire pending" d=patch_markup::curve(start, at)></path> }),
                        _ => None,
                    }}
                </svg>
            </div>
        </div>
        {move || selected_box.get().map(|name| view! { <Inspector at=at.get() name bridge types /> })}
    }
}

/// A box being dragged, lifted out of its strip into the layer over the
/// canvas: a strip clips its picture to itself.
struct Lifted {
    g: web_sys::Element,
    /// The strip's `<svg>` it came from.
    home: web_sys::Element,
}

/// Moves the drawn box `name` and the ends of its wires by `offset` from
/// where the layout put them, in place: a drag redraws one box and its
/// wires, not the patch.
fn move_drawn(
    canvas: NodeRef<leptos::html::Div>,
    lifted: StoredValue<Option<Lifted>, LocalStorage>,
    view: &PatchView,
    name: &str,
    (dx, dy): (f64, f64),
) {
    let Some(canvas) = canvas.get_untracked() else { return };
    let find = |css: String| canvas.query_selector(&css).ok().flatten();
    // The first match: a box redrawn in its strip since it was lifted comes
    // before the lifted one, which is then dropped (see `lift`).
    if let (Some(g), Some(b)) =
        (find(format!(".box[data-transform=\"{}\"]", css_string(name))), view.find(name))
    {
        lift(&canvas, lifted, g.clone());
        let _ = g.set_attribute("transform", &patch_markup::translate(b.x + dx, b.y + dy));
    }
    let box_of = |end: &str| end.split('/').next().unwrap_or_default().to_owned();
    for w in view.wires.iter().filter(|w| box_of(&w.from) == name || box_of(&w.to) == name) {
        let shift = |(x, y): (f64, f64), moves: bool| if moves { (x + dx, y + dy) } else { (x, y) };
        let d =
            patch_markup::curve(shift(w.start, box_of(&w.from) == name), shift(w.end, box_of(&w.to) == name));
        let css = format!(".wire[data-from=\"{}\"][data-to=\"{}\"]", css_string(&w.from), css_string(&w.to));
        if let Some(path) = find(css) {
            let _ = path.set_attribute("d", &d);
        }
    }
}

/// Lifts `g` over the canvas, unless it is lifted already.
fn lift(canvas: &web_sys::Element, lifted: StoredValue<Option<Lifted>, LocalStorage>, g: web_sys::Element) {
    if lifted.with_value(|l| l.as_ref().is_some_and(|l| l.g == g)) {
        return;
    }
    put_back(lifted);
    let (Some(home), Ok(Some(layer))) = (g.parent_element(), canvas.query_selector(".lifted")) else {
        return;
    };
    if layer.append_child(&g).is_ok() {
        lifted.set_value(Some(Lifted { g, home }));
    }
}

/// Puts a lifted box back into its strip; if the strips were drawn again
/// meanwhile, the new ones have it already, and the lifted copy goes.
fn put_back(lifted: StoredValue<Option<Lifted>, LocalStorage>) {
    let Some(Lifted { g, home }) = lifted.try_update_value(Option::take).flatten() else { return };
    if home.is_connected() {
        let _ = home.append_child(&g);
    } else {
        g.remove();
    }
}

/// Text inside a CSS attribute selector's double quotes.
fn css_string(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Keeps the pointer's moves and release coming to the canvas while a box
/// is dragged past its edge (a wire is not captured: it ends on an inlet).
pub(super) fn capture(el: Option<impl AsRef<web_sys::Element>>, ev: &leptos::ev::PointerEvent) {
    if let Some(el) = el {
        let _ = el.as_ref().set_pointer_capture(ev.pointer_id());
    }
}

/// The members of the patch at `path`, the root's included.
fn members_at<'a>(file: &'a patchbay_shared::engine::PatchFile, path: &str) -> Option<Members<'a>> {
    if path == "/patch" {
        return Some(Members { transforms: &file.transforms, connections: &file.connections });
    }
    file.transform(path)?.patch.as_ref().map(Members::from)
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
