//! One project: the lab canvas, its PCs and switches as tables, the links
//! between them, and the PCs' consoles.

use leptos::prelude::*;
use patchbay_shared::lab_delta::Nodes;
use patchbay_shared::topology::{self, Attachment};
use patchbay_shared::{Vm, VmStatus};
use uuid::Uuid;

use super::console::{ConsolePanes, Consoles};
use super::lab_canvas::LabCanvas;
use super::links::{LinkForm, LinkPicks};
use super::switches::{AddSwitch, Switches};
use crate::api;
use crate::state::Live;

#[component]
pub fn ProjectView() -> impl IntoView {
    let lab = expect_context::<Live>().lab;
    move || match lab.selected.get() {
        None => view! {
            <section class="panel vms"><p class="muted">"Select or create a project."</p></section>
        }
        .into_any(),
        Some(project) => view! { <Vms project /> }.into_any(),
    }
}

#[component]
fn Vms(project: Uuid) -> impl IntoView {
    let live = expect_context::<Live>();
    let nodes = live.lab.current();
    let name = RwSignal::new(String::new());
    // Outside the table and the canvas, so that a change redrawing them keeps consoles open.
    provide_context(Consoles::new());
    let picks = LinkPicks::new();
    let switch_count = Signal::derive(move || nodes.with(|n| n.switches.len()));
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut wanted = name.get_untracked().trim().to_owned();
        if wanted.is_empty() {
            wanted = format!("PC{}", nodes.with_untracked(|n| n.vms.len()) + 1);
        }
        name.set(String::new());
        live.act(async move { api::create_vm(project, wanted).await.map(drop) });
    };
    let links = Memo::new(move |_| nodes.with(|n| n.links()));
    let ids = move || nodes.with(|n| n.vms.iter().map(|vm| vm.vm_id).collect::<Vec<_>>());
    let free = Signal::derive(move || nodes.with(|n| topology::free_attachments(&n.vms, &n.switches)));

    view! {
        <section class="panel vms">
            <h2>"Lab"</h2>
            <form on:submit=create>
                <input id="new-vm-name" placeholder="PC name (optional)" bind:value=name />
                <button id="create-vm" type="submit">"Add VPCS"</button>
            </form>
            <AddSwitch project count=switch_count />
            <LabCanvas project />
            <div class="table-scroll">
                <table id="vm-table">
                    <thead><tr><th>"Name"</th><th>"Console"</th><th>"IP"</th><th>"MAC"</th><th>"Tunnel"</th><th>"Status"</th><th></th></tr></thead>
                    <tbody>
                        <For each=ids key=|id| *id let:id>
                            <VmRow id nodes links />
                        </For>
                    </tbody>
                </table>
            </div>
            <Switches nodes links />
            <LinkForm project free picks />
            <ConsolePanes project />
        </section>
    }
}

/// One PC's row: the row stays while the PC exists, its cells follow it.
#[component]
fn VmRow(id: Uuid, nodes: Signal<Nodes>, links: Memo<Vec<(Attachment, Attachment)>>) -> impl IntoView {
    let vm = Memo::new(move |_| nodes.with(|n| n.vm(id).cloned()));
    let peer = Memo::new(move |_| links.with(|l| topology::peer(l, Attachment::Pc(id))));
    view! {
        <tr class="vm" data-row=move || vm.with(|v| v.as_ref().map(|v| v.name.clone()))>
            {move || vm.get().map(|vm| view! { <VmCells vm peer=peer.get() /> })}
        </tr>
    }
}

#[component]
fn VmCells(vm: Vm, peer: Option<Attachment>) -> impl IntoView {
    let live = expect_context::<Live>();
    let (project, id) = (vm.project_id, vm.vm_id);
    let started = vm.status == VmStatus::Started;
    let toggle = move |_| live.act(api::vm_action(project, id, if started { "stop" } else { "start" }));
    let delete = move |_| live.act(api::delete_vm(project, id));
    let consoles = expect_context::<Consoles>();
    let name = vm.name.clone();
    let console = move |_| consoles.open(id, name.clone());
    let linked = vm.nio.is_some();
    // Both ends go, so that a switch's port is free again.
    let ends: Vec<Attachment> = std::iter::once(Attachment::Pc(id)).chain(peer).collect();
    let unlink = move |_| {
        let ends = ends.clone();
        live.act(async move { api::unlink(project, &ends).await })
    };
    let tunnel =
        vm.nio.as_ref().map_or("—".to_owned(), |n| format!("{} → {}:{}", n.lport, n.rhost, n.rport));
    // Within this server the host says nothing: ports only, the whole in the tooltip.
    let short = match &vm.nio {
        Some(n) if n.rhost == "127.0.0.1" => format!("{} → {}", n.lport, n.rport),
        _ => tunnel.clone(),
    };
    view! {
            <td class="name">{vm.name}</td>
            <td><code>{format!("telnet {}", vm.console)}</code></td>
            <td class="ip">{vm.ip_address.unwrap_or_else(|| "—".to_owned())}</td>
            <td><code>{vm.mac_address}</code></td>
            <td class="tunnel" title=tunnel>{short}</td>
            <td><span class="badge" class:started=started>{if started { "started" } else { "stopped" }}</span></td>
            <td class="actions">
                <button class="toggle" on:click=toggle>{if started { "Stop" } else { "Start" }}</button>
                <button class="console" on:click=console disabled=!started>"Console"</button>
                <button class="unlink" on:click=unlink disabled=!linked>"Unlink"</button>
                <button class="danger" on:click=delete>"Delete"</button>
            </td>
    }
}
