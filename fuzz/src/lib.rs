//! The code under fuzzing, included from the server and app sources by path: these modules
//! are pure (no Docker, database or HTTP), so the fuzz build compiles them and their few
//! dependencies only, not the whole server. Module names mirror the originals' `super::` uses.

#[path = "../../server/src/web/webhook/signature.rs"]
pub mod signature;

#[path = "../../server/src/web/webhook/decide.rs"]
pub mod decide;

#[path = "../../server/src/engine/language.rs"]
pub mod language;

#[path = "../../server/src/engine/service_kind.rs"]
pub mod service_kind;

#[path = "../../server/src/engine/sicuro_json.rs"]
pub mod sicuro_json;

#[path = "../../server/src/engine/plan.rs"]
pub mod plan;

#[path = "../../server/src/engine/node_package_manager.rs"]
pub mod node_package_manager;

#[path = "../../server/src/engine/project_files.rs"]
pub mod project_files;

#[path = "../../server/src/engine/python_tests.rs"]
pub mod python_tests;

#[path = "../../server/src/engine/output.rs"]
pub mod output;

#[path = "../../server/src/engine/mask.rs"]
pub mod mask;

#[path = "../../app/src/ansi.rs"]
pub mod ansi;
