//! PCs' consoles in the page, several at once, each in its own pane with
//! its scrollback: the server's console WebSocket, shared with every telnet
//! client of that PC. Lines typed here go to the PC; what it prints, from
//! anyone's commands, shows here.

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::Message;
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

/// The console output kept on screen, per pane.
const KEEP: usize = 32 * 1024;

/// The consoles open, by PC id with its name, in the order they were opened.
#[derive(Clone, Copy)]
pub struct Consoles(RwSignal<Vec<(Uuid, String)>>);

impl Consoles {
    pub fn new() -> Self {
        Consoles(RwSignal::new(vec![]))
    }

    /// Opens the PC's console, unless it is open already.
    pub fn open(self, vm: Uuid, name: String) {
        self.0.update(|open| {
            if !open.iter().any(|(id, _)| *id == vm) {
                open.push((vm, name));
            }
        });
    }

    pub fn close(self, vm: Uuid) {
        self.0.update(|open| open.retain(|(id, _)| *id != vm));
    }
}

/// Every open console, side by side.
#[component]
pub fn ConsolePanes(project: Uuid) -> impl IntoView {
    let consoles = expect_context::<Consoles>();
    view! {
        <div class="consoles">
            <For each=move || consoles.0.get() key=|(id, _)| *id let:open>
                <ConsolePane project vm=open.0 name=open.1 />
            </For>
        </div>
    }
}

#[component]
fn ConsolePane(project: Uuid, vm: Uuid, name: String) -> impl IntoView {
    let consoles = expect_context::<Consoles>();
    let text = RwSignal::new(String::new());
    let (lines, mut to_send) = mpsc::unbounded::<String>();
    // Dropped with the pane, which ends the sender below and so closes the socket.
    let lines = StoredValue::new(lines);
    spawn_local(async move {
        let Ok(socket) =
            crate::auth::open_socket(&format!("/v1/projects/{project}/vpcs/vms/{vm}/console/ws"))
        else {
            text.set("The console cannot be opened.\n".into());
            return;
        };
        let (mut sink, mut stream) = socket.split();
        spawn_local(async move {
            while let Some(line) = to_send.next().await {
                if sink.send(Message::Text(line)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        while let Some(Ok(Message::Text(chunk))) = stream.next().await {
            let kept = text.try_update(|t| {
                t.push_str(&chunk);
                if t.len() > KEEP {
                    let cut = t.len() - KEEP;
                    let cut = (cut..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
                    t.drain(..cut);
                }
            });
            if kept.is_none() {
                return; // the pane is gone
            }
        }
        let _ = text.try_update(|t| t.push_str("\n[console closed]\n"));
    });
    let line = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = line.get_untracked();
        line.set(String::new());
        lines.with_value(|l| drop(l.unbounded_send(typed)));
    };
    view! {
        <section class="console" data-console=name.clone()>
            <h3>
                {format!("Console of {name}")}
                <button class="close" on:click=move |_| consoles.close(vm)>"Close"</button>
            </h3>
            // column-reverse keeps the newest line in view.
            <div class="screen"><pre class="console-output">{move || text.get()}</pre></div>
            <form on:submit=submit>
                <input class="console-input" autocomplete="off" placeholder="ip 10.0.0.1/24, ping 10.0.0.2, ?" bind:value=line />
            </form>
        </section>
    }
}
