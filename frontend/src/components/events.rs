//! The live event log: every notification, newest first.

use leptos::prelude::*;

use crate::state::Live;

#[component]
pub fn Events() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        <section class="panel events">
            <h2>"Events"</h2>
            <ol id="events">
                <For each=move || live.log.get() key=|(seq, _)| *seq let:entry>
                    <li class="event" data-action=entry.1.action.clone()>
                        <span class="action">{entry.1.action.clone()}</span>
                        " "
                        <span class="subject">{summary(&entry.1.event)}</span>
                    </li>
                </For>
            </ol>
        </section>
    }
}

/// The most telling field of an event: its name or message.
fn summary(event: &serde_json::Value) -> String {
    ["name", "message"]
        .iter()
        .find_map(|k| event.get(*k).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_owned()
}
