//! The import graph, checked: imports point one way, from the entry points (handlers, the
//! command line, `lambda`) down through the AWS adapters to the Genesys core, which knows nothing
//! of AWS. Each of the library's top-level modules has a layer; a module may name (`crate::x`,
//! `super::x`) only modules of lower layers, so there can be no circle and no upward edge
//! (the one rule of `tests/source_scan`, shared with the plugin's, the core's and the
//! emulator's layers tests). Comments are not read; code in `#[cfg(test)]` modules is, so tests
//! beside the code obey the same order.

use std::path::Path;

mod source_scan;
use source_scan::{assert_layered, assert_no_circles, code, has_edge, rust_files};

/// Bottom to top. A module names only modules of layers below its own.
const LAYERS: &[&[&str]] = &[
    // The environment, Secrets Manager, metrics, the errorType scheme.
    &["config", "store", "metrics", "error_type"],
    // The secrets' JSON; retirement and the drain queue.
    &["secret_format", "drain"],
    // The reconciliation rules (which clients go, and when), createSecret's pass; the consumer API.
    &["reconcile", "consumer"],
    // The four steps, master rotation, the retirement guard.
    &["rotation"],
    // The scheduled pass and the read-only inventory, over the rotator's secret reads.
    &["sweep", "inventory"],
    // The operator's enrollment and status (status counts drains as the inventory does).
    &["enroll", "status"],
    // The cleanup function's logic.
    &["cleanup"],
    // The Lambda frame both functions share.
    &["lambda"],
];

/// Not read or counted: the command line's own crate (`bin`), and the core's modules the
/// library's root re-exports (`pub use genesys_core::{..}`), another crate's.
const OUTSIDE: &[&str] = &[
    "bin",
    "classify",
    "conformance",
    "deadline",
    "domain",
    "genesys",
    "guard",
    "ownership",
    "region",
    "role_rule",
    "secret",
];

#[test]
fn the_librarys_modules_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = assert_layered(&src, &[], OUTSIDE, LAYERS);
    // The check saw the graph at all.
    assert!(has_edge(&edges, "rotation", "reconcile"), "{edges:?}");
    assert!(has_edge(&edges, "cleanup", "rotation"), "{edges:?}");
}

#[test]
fn no_module_of_the_library_names_a_sibling_that_names_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // The crate root and its folders of modules (`drain/`, `rotation/`, ...).
    assert!(assert_no_circles(&src, &["bin"]) >= 4);
}

#[test]
fn the_genesys_core_knows_nothing_of_the_front_end_or_aws() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/genesys-core/src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for file in &files {
        let text = code(file);
        for foreign in [
            "genesys_rotator",
            "aws_sdk",
            "aws_config",
            "aws_lambda_events",
            "lambda_runtime",
        ] {
            assert!(!text.contains(foreign), "{} names {foreign}", file.display());
        }
    }
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/genesys-core/Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for line in deps.lines() {
        assert!(
            !line.trim_start().starts_with("aws") && !line.contains("lambda"),
            "genesys-core depends on {line:?}"
        );
    }
}
