//! A project's Ethernet switches: add one, start or stop it, delete it, and
//! see which of its ports are linked to what.

use leptos::prelude::*;
use patchbay_shared::lab_delta::Nodes;
use patchbay_shared::topology::{self, Attachment};
use patchbay_shared::{Switch, VmStatus};
use uuid::Uuid;

use crate::api;
use crate::state::Live;

/// The form that adds a switch; outside the redrawn lab view, so that a
/// change arriving while someone types keeps what they typed.
#[component]
pub fn AddSwitch(project: Uuid, count: Signal<usize>) -> impl IntoView {
    let live = expect_context::<Live>();
    let name = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut wanted = name.get_untracked().trim().to_owned();
        if wanted.is_empty() {
            wanted = format!("SW{}", count.get_untracked() + 1);
        }
        name.set(String::new());
        live.act(async move { api::create_switch(project, wanted).await.map(drop) });
    };
    view! {
        <form on:submit=create>
            <input id="new-switch-name" placeholder="switch name (optional)" bind:value=name />
            <button id="create-switch" type="submit">"Add switch"</button>
        </form>
    }
}

#[component]
pub fn Switches(nodes: Signal<Nodes>, links: Memo<Vec<(Attachment, Attachment)>>) -> impl IntoView {
    let ids = move || nodes.with(|n| n.switches.iter().map(|sw| sw.vm_id).collect::<Vec<_>>());
    view! {
        <Show when=move || !ids().is_empty()>
            <h3>"Switches"</h3>
            <table id="switch-table">
                <tbody>
                    <For each=ids key=|id| *id let:id>
                        <SwitchItem id nodes links />
                    </For>
                </tbody>
            </table>
        </Show>
    }
}

/// One switch's row: the row stays while the switch exists, its cells follow it.
#[component]
fn SwitchItem(id: Uuid, nodes: Signal<Nodes>, links: Memo<Vec<(Attachment, Attachment)>>) -> impl IntoView {
    let sw = Memo::new(move |_| nodes.with(|n| n.switch(id).cloned()));
    let linked = Memo::new(move |_| {
        sw.with(|sw| {
            sw.as_ref().map_or(0, |sw| {
                let at = |port: u32| Attachment::SwitchPort(sw.vm_id, port);
                links.with(|l| {
                    sw.ports.iter().filter(|p| topology::peer(l, at(p.port_number)).is_some()).count()
                })
            })
        })
    });
    view! {
        <tr class="switch" data-row=move || sw.with(|s| s.as_ref().map(|s| s.name.clone()))>
            {move || sw.get().map(|sw| view! { <SwitchRow sw linked=linked.get() /> })}
        </tr>
    }
}

#[component]
fn SwitchRow(sw: Switch, linked: usize) -> impl IntoView {
    let live = expect_context::<Live>();
    let (project, id) = (sw.project_id, sw.vm_id);
    let started = sw.status == VmStatus::Started;
    let toggle = move |_| live.act(api::switch_action(project, id, if started { "stop" } else { "start" }));
    let delete = move |_| live.act(api::delete_switch(project, id));
    view! {
            <td class="name">{sw.name}</td>
            <td class="ports">{format!("{linked} of {} ports linked", sw.ports.len())}</td>
            <td><span class="badge" class:started=started>{if started { "started" } else { "stopped" }}</span></td>
            <td class="actions">
                <button class="toggle" on:click=toggle>{if started { "Stop" } else { "Start" }}</button>
                <button class="danger" on:click=delete>"Delete"</button>
            </td>
    }
}
