//! The core's import graph, checked by the one rule of `tests/source_scan`: its modules are laid
//! out in [`LAYERS`], each naming only modules of lower layers (`crate::x`, `super::x`, test code
//! included, comments not), so there is no circle and no upward import.

use std::path::Path;

#[path = "../../../tests/source_scan/mod.rs"]
mod source_scan;
use source_scan::{assert_layered, assert_no_circles, has_edge};

/// Bottom to top. A module names only modules of layers below its own.
const LAYERS: &[&[&str]] = &[
    // Validated ids and names, regions, the deadline, the backoff policy, the one error
    // classification.
    &["domain", "region", "deadline", "backoff", "classify"],
    // Credentials and tokens that cannot be printed.
    &["secret"],
    // The one HTTP client for Genesys Cloud.
    &["genesys"],
    // Whether a client may be touched (every rule of it); which role-divisions a master lacks;
    // what counts against the org's client limit.
    &["guard", "role_rule", "client_limit"],
    // The live check against a real org.
    &["conformance"],
    // The life of a managed client, stage by stage, over all of the above.
    &["lifecycle"],
];

#[test]
fn the_cores_modules_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = assert_layered(&src, &[], &[], LAYERS);
    // The check saw the graph at all.
    assert!(has_edge(&edges, "conformance", "guard"), "{edges:?}");
    assert!(has_edge(&edges, "genesys", "classify"), "{edges:?}");
}

/// The guard's rules, bottom to top; the decision over them is the folder's `mod.rs`.
const GUARD_LAYERS: &[&[&str]] = &[
    // Whose a client is; how long retired tokens live; who else holds what.
    &["ownership", "drain", "holders"],
    // A credential that proves possession; when an unheld client may go (by its retirement);
    // which clients are someone's master (by marker or roles).
    &["proof", "orphans", "masters"],
];

#[test]
fn the_guards_rules_import_only_downwards() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = assert_layered(&src, &["guard"], &[], GUARD_LAYERS);
    assert!(has_edge(&edges, "orphans", "ownership"), "{edges:?}");
}

#[test]
fn no_module_of_the_core_names_a_sibling_that_names_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // The crate root, `genesys/`, `guard/` and `lifecycle/`.
    assert_eq!(assert_no_circles(&src, &[]), 4);
}
