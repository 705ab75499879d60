//! Command-line commands besides `serve`.

pub mod images;
pub mod run;
