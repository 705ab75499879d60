//! Cuts `tests/fixtures/openapi-subset.json` out of `@octokit/openapi`'s full description:
//! `cargo run -p fake-github --example openapi_subset -- <api.github.com.json> <out.json>`.

use std::path::Path;

use fake_github::openapi::OpenApi;

/// Everything the crate's tests validate against.
const OPERATIONS: &[&str] = &[
    "users/get-authenticated",
    "repos/list-for-authenticated-user",
    "repos/get",
    "repos/list-webhooks",
    "repos/create-webhook",
    "repos/get-webhook",
    "repos/update-webhook",
    "repos/create-commit-status",
    "repos/list-commit-statuses-for-ref",
    "repos/get-combined-status-for-ref",
    "repos/get-commit",
    "rate-limit/get",
];
const WEBHOOKS: &[&str] = &[
    "ping",
    "push",
    "pull-request-opened",
    "pull-request-synchronize",
    "pull-request-reopened",
    "pull-request-closed",
    "pull-request-edited",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [from, to] = &args[..] else {
        eprintln!("usage: openapi_subset <api.github.com.json> <out.json>");
        std::process::exit(2);
    };
    let spec = OpenApi::load(Path::new(from)).unwrap_or_else(|e| panic!("{e}"));
    let subset = spec.subset(OPERATIONS, WEBHOOKS).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        to,
        serde_json::to_string_pretty(&subset).expect("JSON serializes") + "\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {to}: {e}"));
}
