//! The fake's own tests: each starts a fake on a free port and talks to it over HTTP (and git),
//! asserting on its answers and on the state it keeps.

mod admin;
mod api;
mod deliveries;
mod faults;
mod git_http;
mod hooks;
mod oauth;
mod openapi_shapes;
mod support;
