//! Changing an inspector's number by dragging its name up or down (the
//! steps are `patchbay_shared::number_drag`'s). Each new value is sent as
//! it is reached; the whole drag is one edit to undo, recorded when the
//! pointer is let go. The pointer is followed on the window, so the drag
//! goes on while the row under it is redrawn with the values the server
//! announces.

use leptos::prelude::*;
use patchbay_shared::number_drag::dragged;
use patchbay_shared::patch_history::value_args;
use patchbay_shared::value::Value;

use super::engine::Bridge;

/// A drag under way.
struct Dragging {
    address: String,
    /// Where the pointer was pressed (client y).
    from_y: f64,
    start: Value,
    /// The last value sent.
    last: Option<Value>,
}

/// Follows drags for the component it is called in (until it goes), and
/// returns what starts one: the press, the state's address, its value.
pub fn number_drag(bridge: Bridge) -> impl Fn(&leptos::ev::PointerEvent, String, Value) + Copy + 'static {
    let dragging: StoredValue<Option<Dragging>> = StoredValue::new(None);
    let moves = window_event_listener(leptos::ev::pointermove, move |ev| {
        dragging.update_value(|d| {
            let Some(d) = d else { return };
            let up = d.from_y - f64::from(ev.client_y());
            let Some(value) = dragged(&d.start, up, ev.shift_key()) else { return };
            if d.last.as_ref() != Some(&value) {
                if let Some(args) = value_args(&value) {
                    bridge.send(&d.address, args);
                }
                d.last = Some(value);
            }
        });
    });
    let ups = window_event_listener(leptos::ev::pointerup, move |_| {
        let Some(d) = dragging.try_update_value(Option::take).flatten() else { return };
        if let Some(last) = d.last.filter(|v| *v != d.start) {
            if let Some(args) = value_args(&last) {
                bridge.set(&d.address, Some(&d.start), args);
            }
        }
    });
    on_cleanup(move || {
        moves.remove();
        ups.remove();
    });
    move |ev: &leptos::ev::PointerEvent, address: String, start: Value| {
        // No text selection while dragging.
        ev.prevent_default();
        dragging.set_value(Some(Dragging { address, from_y: f64::from(ev.client_y()), start, last: None }));
    }
}
