//! Sicuro's user interface and the types shared by the server and the browser.
pub mod api;
