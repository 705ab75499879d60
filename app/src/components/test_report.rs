//! A finished build's test report, fetched when the page shows the build finished: the counts,
//! each failing test with its message and output, the slowest tests, and which are flaky.

use leptos::prelude::*;
use sicuro_types::{TestCaseResult, TestReport, format_duration};

#[component]
pub fn TestReportPanel(
    build_id: i64,
    /// Fetch once this is true (the build finished).
    #[prop(into)]
    finished: Signal<bool>,
) -> impl IntoView {
    let report = RwSignal::new(None::<TestReport>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |done: Option<bool>| {
        if done == Some(true) || !finished.get() {
            return done.unwrap_or(false);
        }
        leptos::task::spawn_local(async move {
            let url = sicuro_types::routes::fill(sicuro_types::routes::path::BUILD_TESTS, &[&build_id]);
            if let Ok(r) = gloo_net::http::Request::get(&url)
                .header("Accept", "application/json")
                .send()
                .await
                && r.ok()
                && let Ok(t) = r.json::<TestReport>().await
            {
                report.set(Some(t));
            }
        });
        true
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (build_id, finished);
    move || report.get().map(|t| view! { <ReportView report=t/> })
}

#[component]
fn ReportView(report: TestReport) -> impl IntoView {
    let c = report.counts;
    let any_failed = c.failed > 0;
    view! {
        <section class="tests" aria-label="Test report" data-testid="tests">
            <h2>"Tests: "<span class="passed">{format!("{} passed", c.passed)}</span>", "
                <span class:failed=any_failed>{format!("{} failed", c.failed)}</span>
                {(c.skipped > 0).then(|| format!(", {} skipped", c.skipped))}
            </h2>
            {(!report.failing.is_empty()).then(|| view! {
                <h3>"Failing"</h3>
                <ul class="failing" data-testid="failing-tests">
                    {report.failing.into_iter().map(|t| view! { <FailingTest test=t/> }).collect_view()}
                </ul>
            })}
            {(!report.flaky.is_empty()).then(|| view! {
                <h3>"Flaky on this commit"</h3>
                <ul class="flaky" data-testid="flaky-tests">
                    {report.flaky.into_iter().map(|t| view! { <li><code>{full_name(&t)}</code>" failed and passed on this commit"</li> }).collect_view()}
                </ul>
            })}
            <details class="slowest">
                <summary>"Slowest tests"</summary>
                <table>
                    {report.slowest.into_iter().map(|t| view! {
                        <tr><td><code>{full_name(&t)}</code></td><td>{format_duration(t.duration_ms)}</td></tr>
                    }).collect_view()}
                </table>
            </details>
            {report.problems.into_iter().map(|p| view! { <p class="muted">{p}</p> }).collect_view()}
        </section>
    }
}

#[component]
fn FailingTest(test: TestCaseResult) -> impl IntoView {
    view! {
        <li class="failing-test">
            <code class="name">{full_name(&test)}</code>
            {test.flaky.then(|| view! { <span class="badge flaky">"flaky"</span> })}
            {test.message.map(|m| view! { <pre class="message">{m}</pre> })}
            {test.output.map(|o| view! { <details><summary>"Output"</summary><pre>{o}</pre></details> })}
        </li>
    }
}

fn full_name(t: &TestCaseResult) -> String {
    if t.classname.is_empty() || t.name.starts_with(&t.classname) {
        t.name.clone()
    } else {
        format!("{}::{}", t.classname, t.name)
    }
}
