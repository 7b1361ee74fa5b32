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
    // The deployment context: the store, the masters, the served secrets, the guard's inputs.
    &["deployment"],
    // Over the deployment: the four steps and master rotation; the scheduled pass and the
    // read-only inventory, which need no step.
    &["rotation", "sweep", "inventory"],
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
    assert!(has_edge(&edges, "cleanup", "deployment"), "{edges:?}");
}

/// The deployment context's own folder, bottom to top.
const DEPLOYMENT_LAYERS: &[&[&str]] = &[
    // Its error, the per-invocation reads, the master cache.
    &["error", "invocation", "master_cache"],
    // The context and its checked reads.
    &["context"],
    // The master clients.
    &["masters"],
    // The guard's inputs: holders, standing.
    &["guard"],
];

#[test]
fn the_deployment_context_is_layered_and_names_nothing_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = assert_layered(&src, &["deployment"], &[], DEPLOYMENT_LAYERS);
    assert!(has_edge(&edges, "guard", "context"), "{edges:?}");
}

/// Narrow contexts: what only reads the deployment's secrets (the scheduled pass, the
/// inventory, `status`, the cleanup) takes the deployment, not the rotation steps.
#[test]
fn the_readers_of_the_deployment_do_not_depend_on_the_rotation_steps() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (_, edges) = source_scan::module_edges(&src, &[], OUTSIDE);
    for reader in ["sweep", "inventory", "status", "cleanup"] {
        assert!(has_edge(&edges, reader, "deployment"), "{reader}: {edges:?}");
        assert!(
            !has_edge(&edges, reader, "rotation"),
            "{reader} names the rotation steps: {edges:?}"
        );
    }
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

/// The circle check reads a folder's root file too: a root that names a child's item while the
/// child names an item of the root is a circle (here a root re-exporting a child's type, the
/// child naming a type the root defines); the same folder without the re-export is none.
#[test]
fn a_root_file_and_a_child_that_name_each_other_are_a_circle() {
    let src = std::env::temp_dir().join(format!("layers-root-circle-{}", std::process::id()));
    let folder = src.join("room");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod room;\n").unwrap();
    std::fs::write(folder.join("child.rs"), "use super::Root;\npub struct Thing(Root);\n").unwrap();
    std::fs::write(folder.join("other.rs"), "pub struct Other;\n").unwrap();
    let root = |reexport: &str| {
        std::fs::write(
            folder.join("mod.rs"),
            format!("mod child;\nmod other;\n{reexport}\npub struct Root;\n// child::Thing in a comment\n"),
        )
        .unwrap();
        source_scan::circles(&source_scan::module_edges(&src, &["room"], &[]).1)
    };
    let found = root("pub use child::Thing;");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(&"child".to_owned()), "{found:?}");
    assert!(root("pub use other::Other;").is_empty());
    assert!(root("pub use self::child::Thing;").len() == 1);
    std::fs::remove_dir_all(&src).unwrap();
}
