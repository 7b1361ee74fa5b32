//! The emulator's import graph, checked by the one rule of `tests/source_scan`: its modules are
//! laid out in [`LAYERS`], each naming only modules of lower layers (`crate::x`, `super::x`,
//! test code included, comments not) and nothing of `lib.rs` (the [`Emulator`] handle, which
//! names them all), so there is no circle and no upward import.
//!
//! [`Emulator`]: genesys_emulator::Emulator

use std::path::Path;

#[path = "../../source_scan/mod.rs"]
mod source_scan;
use source_scan::{assert_layered, assert_no_circles, has_edge};

/// Bottom to top. A module names only modules of layers below its own.
const LAYERS: &[&[&str]] = &[
    // The emulator's clock; the fault queue.
    &["clock", "faults"],
    // The wire models.
    &["models"],
    // The API's errors; the seeds and records the admin API exchanges.
    &["error", "records"],
    // Client credentials.
    &["credentials"],
    // The org's state.
    &["store"],
    // The HTTP face.
    &["http"],
];

/// The HTTP face's modules (`http/`), bottom to top; `http/mod.rs` (the router) names them all.
const HTTP_LAYERS: &[&[&str]] = &[
    // The state shared with the handle; our own connection loop.
    &["state", "server"],
    // What happens to every request of the real API (route key, faults, call log).
    &["pipeline"],
    // The handlers: the real API's, the admin API's.
    &["api", "credentials", "token", "admin"],
];

#[test]
fn the_emulators_modules_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = assert_layered(&src, &[], &[], LAYERS);
    // The check saw the graph at all.
    assert!(has_edge(&edges, "http", "store"), "{edges:?}");
    assert!(has_edge(&edges, "store", "faults"), "{edges:?}");
}

#[test]
fn the_http_faces_modules_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = assert_layered(&src, &["http"], &[], HTTP_LAYERS);
    assert!(has_edge(&edges, "api", "pipeline"), "{edges:?}");
}

#[test]
fn no_module_of_the_emulator_names_a_sibling_that_names_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // The crate root and `http/`.
    assert_eq!(assert_no_circles(&src, &[]), 2);
}
