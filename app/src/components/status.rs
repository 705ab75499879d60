//! A build's status as a labelled badge (colour is never the only signal).

use leptos::prelude::*;

use sicuro_types::BuildStatus;

#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<BuildStatus>) -> impl IntoView {
    view! {
        <span
            class=move || format!("status status-{}", status.get().as_str())
            role="status"
            aria-label=move || format!("Build {}", status.get().label())
        >
            <span class="dot" aria-hidden="true"></span>
            {move || status.get().label()}
        </span>
    }
}
