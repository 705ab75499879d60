//! Where a sign-in that did not complete ends: what happened and what to do.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The text for each reason the server gives.
pub fn explain(reason: &str) -> &'static str {
    match reason {
        "denied" => "You declined to let Sicuro use your GitHub account, so you are not signed in.",
        "state" => "The sign-in link expired or did not start in this browser (the state did not match). Start again.",
        "exchange" => "GitHub did not accept the sign-in code (it may have been used already or expired). Start again.",
        "unavailable" => "GitHub could not be reached to finish the sign-in. Try again in a moment.",
        "not_configured" => "Sign-in with GitHub is not set up on this server (it runs in local mode).",
        "not_allowed" => {
            "This GitHub account is not allowed to use this Sicuro server: it admits only the people and the members of \
             the organisations its operators listed. Ask the people who run it to add your account or organisation \
             (SICURO_ALLOWED_USERS, SICURO_ALLOWED_ORGS), then sign in again."
        }
        _ => "The sign-in did not complete.",
    }
}

#[component]
pub fn AuthErrorPage() -> impl IntoView {
    crate::mark_hydrated();
    let query = use_query_map();
    let reason = move || query.read().get("reason").unwrap_or_default();
    let login = move || query.read().get("login").filter(|l| !l.is_empty());
    view! {
        <h1>"Not signed in"</h1>
        {move || login().map(|l| view! { <p>"Signed in on GitHub as "<strong>{l}</strong>"."</p> })}
        <p class="error" role="alert" data-testid="auth-error">{move || explain(&reason())}</p>
        <p><a class="button primary" href="/auth/github" rel="external">"Sign in with GitHub"</a>" "<a href="/">"Back to the repositories"</a></p>
    }
}
