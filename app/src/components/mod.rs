//! Pieces the pages share.

pub mod header;
#[cfg(feature = "hydrate")]
mod log_feeds;
pub mod log_geometry;
pub(crate) mod log_row;
pub mod log_viewer;
pub mod sse;
pub mod status;
pub mod test_report;
