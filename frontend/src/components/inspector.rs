//! The inspector: the selected box's control inlets with their values, in
//! `get-inlets` order, each editable inline (a number typed or dragged by
//! its name, a truth as a toggle, text), and its type's documentation.
//! The engine tells every page of values set; a value that arrives over a
//! connection it does not announce, so the inspector reads its inlets a few
//! times a second while open (see `PatchStore::observe`).

use leptos::prelude::*;
use patchbay_shared::engine::{PortInfo, TypeInfo};
use patchbay_shared::value::Value;
use patchbay_shared::OscArg;

use super::engine::{parse_value, Bridge, INSPECT_POLL};
use super::number_drag::number_drag;
use crate::state::Live;

/// How often the inspector reads its transform's values.
const INSPECT_RATE_HZ: u64 = 5;

/// The selected box: its control inlets with their values, editable.
#[component]
pub fn Inspector(at: String, name: String, bridge: Bridge, types: RwSignal<Vec<TypeInfo>>) -> impl IntoView {
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
    // Values that arrive over connections are not announced: the inspector
    // reads its transform's control inlets a few times a second while open,
    // and the patch store takes what is news (see `PatchStore::observe`).
    {
        let path = path.clone();
        bridge.poll(INSPECT_RATE_HZ, move || {
            ports.with_untracked(|p| {
                let inlets = p.get(&path).map(|p| p.inlets.as_slice()).unwrap_or_default();
                inlets
                    .iter()
                    .filter(|p| !p.audio)
                    .map(|p| format!("{path}/{}{INSPECT_POLL}", p.name))
                    .collect()
            })
        });
    }
    let inspecting = path.clone();
    let start_drag = number_drag(bridge);
    view! {
        <div id="inspector" data-inspecting=inspecting>
            <h3>{name.clone()} " " <span class="type">{type_name}</span></h3>
            <table>
                {move || rows().into_iter().map(|(port, value)| {
                    let address = format!("{path}/{}", port.name);
                    // A number's name is a handle: drag it up or down to change it.
                    let number = value.clone().filter(|v| matches!(v, Value::Float(_) | Value::Integer(_)));
                    let press = {
                        let (address, number) = (address.clone(), number.clone());
                        move |ev: leptos::ev::PointerEvent| {
                            if let Some(start) = number.clone() {
                                start_drag(&ev, address.clone(), start);
                            }
                        }
                    };
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
                            <th class:drag-number=number.is_some() on:pointerdown=press
                                title=number.as_ref().map(|_| "Drag up or down to change (Shift: by hundredths)")>
                                {port.name.clone()}
                            </th>
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

/// A value as its field shows it.
fn show(v: &Value) -> String {
    match v {
        Value::Float(f) => format!("{f}"),
        Value::Integer(i) => i.to_string(),
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}
