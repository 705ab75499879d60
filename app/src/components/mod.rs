//! Pieces the pages share.

pub mod header;
pub mod log_viewer;
pub mod sse;
pub mod status;
pub mod test_report;
