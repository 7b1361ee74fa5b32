//! The plugin's import graph, checked by the one rule of `tests/source_scan` (modules in layers,
//! each naming only modules of lower layers, nothing of its folder's root file; comments and
//! strings not read, `#[cfg(test)]` code read):
//! - [`protocol`] (the server's wire protocol) and [`engine`] (the Genesys engine) never name
//!   each other; both name only [`logical`], the model they share, and `logical` names neither.
//!   So the engine can be tested without gRPC and the protocol without Genesys.
//! - Inside the engine, its modules are laid out in [`ENGINE_LAYERS`]: no circle, no upward
//!   import.
//! - The engine's path modules and its periodic pass take narrow contexts, never the engine
//!   whole: none of [`TAKE_CONTEXTS`] names `backend` (where `GenesysBackend` lives).

use std::path::Path;

#[path = "../../../tests/source_scan/mod.rs"]
mod source_scan;
use source_scan::{assert_layered, assert_no_circles, check_layers, crate_paths, has_edge, module_edges};

/// The crate's top-level modules, bottom to top.
const CRATE_LAYERS: &[&[&str]] = &[&["logical"], &["engine", "protocol"]];

/// The engine's modules, bottom to top. A module names only modules of layers below its own,
/// and nothing of `engine/mod.rs` (the `Backend` face, which names them all and routes each
/// request to its path's module).
const ENGINE_LAYERS: &[&[&str]] = &[
    // Time, limits, paths, fields, the storage layout, lease terms, the way to Genesys, what a
    // created client is for.
    &[
        "clock", "limits", "paths", "fields", "store", "lease", "genesys", "purpose",
    ],
    // The stored records; which clients a static role may rotate; the org's client count in
    // memory.
    &[
        "config",
        "role",
        "root_rotation",
        "identity",
        "wal",
        "static_guard",
        "org_room",
    ],
    // The engine's state in narrow contexts: the way to the org and the clock, the locks, the
    // `token/` clients in memory, when the periodic pass last listed the org.
    &["org", "locks", "token_cache", "last_listing"],
    // The engine whole, owning the contexts (named only by `mod.rs` and the test fixture).
    &["backend"],
    // The test fixture (an engine over an emulator), below every module whose tests use it.
    &["testing"],
    // The clients the engine creates; new secrets behind a write-ahead record; the `config`
    // and `rotate-root` paths.
    &["managed", "rekey", "configure", "root"],
    // Which clients go; leases; bearer tokens; static roles.
    &["reconcile", "creds", "token", "static_roles"],
    // Roles (a delete retires the role's `token/` client); the periodic pass.
    &["roles", "periodic"],
];

/// The engine's path modules and its periodic pass, and what they build on: each takes the
/// narrow contexts it uses (`org`, `locks`, `token_cache`, `last_listing`), never the engine
/// whole, so none names anything of `backend`.
const TAKE_CONTEXTS: &[&str] = &[
    "configure",
    "creds",
    "managed",
    "periodic",
    "rekey",
    "roles",
    "root",
    "static_roles",
    "token",
];

/// Each naming of module `whole` by one of `modules` (of the folder `folder`), as
/// `file names path`.
fn namings_of(src: &Path, folder: &[&str], modules: &[&str], whole: &str) -> Vec<String> {
    let (_, edges) = module_edges(src, folder, &[]);
    edges
        .iter()
        .filter(|e| modules.contains(&e.from.as_str()) && e.to == whole)
        .map(|e| format!("{} names {}", e.file, e.path))
        .collect()
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn protocol_and_engine_meet_only_in_logical() {
    let edges = assert_layered(&src(), &[], &[], CRATE_LAYERS);
    assert!(has_edge(&edges, "engine", "logical"), "{edges:?}");
    assert!(has_edge(&edges, "protocol", "logical"), "{edges:?}");
}

#[test]
fn the_engines_modules_import_only_downwards() {
    let edges = assert_layered(&src(), &["engine"], &[], ENGINE_LAYERS);
    // The check saw the graph at all, test code included.
    assert!(has_edge(&edges, "periodic", "reconcile"), "{edges:?}");
    assert!(has_edge(&edges, "creds", "managed"), "{edges:?}");
    assert!(has_edge(&edges, "configure", "testing"), "{edges:?}");
}

#[test]
fn the_engines_modules_take_contexts_not_the_whole_backend() {
    let src = src();
    for m in TAKE_CONTEXTS {
        assert!(
            src.join("engine").join(format!("{m}.rs")).is_file(),
            "TAKE_CONTEXTS names {m}, which is no module of the engine"
        );
    }
    let namings = namings_of(&src, &["engine"], TAKE_CONTEXTS, "backend");
    assert!(
        namings.is_empty(),
        "modules that take narrow contexts name the whole engine; hand them the contexts they use:\n{}",
        namings.join("\n")
    );
    // Nor does any module added since: only the test fixture builds the engine whole.
    let (modules, edges) = module_edges(&src, &["engine"], &[]);
    let others: Vec<&str> = modules.iter().map(String::as_str).filter(|m| *m != "testing").collect();
    let namings = namings_of(&src, &["engine"], &others, "backend");
    assert!(namings.is_empty(), "{}", namings.join("\n"));
    // The check saw the graph: the contexts are named, and the fixture names the whole engine.
    for (from, to) in [
        ("token", "org"),
        ("roles", "locks"),
        ("periodic", "last_listing"),
        ("testing", "backend"),
    ] {
        assert!(has_edge(&edges, from, to), "{from} -> {to}: {edges:?}");
    }
}

#[test]
fn a_module_naming_the_whole_backend_again_is_named_with_its_file() {
    let dir = std::env::temp_dir().join(format!("contexts-check-{}", std::process::id()));
    let engine = dir.join("src").join("engine");
    std::fs::create_dir_all(&engine).unwrap();
    let write = |name: &str, text: &str| std::fs::write(engine.join(name), text).unwrap();
    write(
        "mod.rs",
        "pub mod backend; pub mod org; pub mod managed; pub mod rekey; pub mod testing;",
    );
    write(
        "backend.rs",
        "use super::org::Org; pub struct GenesysBackend { org: Org }",
    );
    write("org.rs", "pub struct Org;");
    write("testing.rs", "use super::backend::GenesysBackend;");
    write(
        "managed.rs",
        "use super::backend::GenesysBackend; pub fn f(b: &GenesysBackend) {}",
    );
    write(
        "rekey.rs",
        "use super::org::Org; pub fn g(o: &Org, b: &crate::engine::backend::GenesysBackend) {}",
    );
    let found = namings_of(&dir.join("src"), &["engine"], &["managed", "rekey"], "backend");
    write("managed.rs", "use super::org::Org; pub fn f(o: &Org) {}");
    write("rekey.rs", "use super::org::Org; pub fn g(o: &Org) {}");
    let clean = namings_of(&dir.join("src"), &["engine"], &["managed", "rekey"], "backend");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        [
            "managed.rs names engine::backend::GenesysBackend",
            "rekey.rs names engine::backend::GenesysBackend",
        ]
    );
    assert!(clean.is_empty(), "{clean:?}");
}

#[test]
fn no_module_of_the_plugin_names_a_sibling_that_names_it_back() {
    // The crate root, `engine/` and `protocol/`.
    assert_eq!(assert_no_circles(&src(), &[]), 3);
}

#[test]
fn every_form_of_naming_a_module_is_read() {
    let text = r##"
        use super::wal::Wal;
        use crate::engine::config::Config;
        use super::{age, store::{self, StoredSecret}, GenesysBackend};
        // use super::commented::Out;
        /* use super::blocked::Out; */
        const S: &str = "super::quoted::Out {";
        const C: char = '{';
        const Q: char = '\'';
        const B: &[u8] = br#"super::raw::Out {"#;
        fn f<'a>(x: &'a str) { let _ = super::genesys::call(x); }
        #[cfg(test)]
        mod tests {
            use super::*;
            use super::super::rfc3339;
            use crate::engine::testing::Fixture;
        }
        fn g() { super::limits::SETTLE; }
    "##;
    let module: Vec<String> = ["engine", "creds"].map(String::from).to_vec();
    let paths: Vec<String> = crate_paths(text, &module).into_iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "engine::wal::Wal",
            "engine::config::Config",
            "engine::age",
            "engine::store::self",
            "engine::store::StoredSecret",
            "engine::GenesysBackend",
            "engine::genesys::call",
            "engine::creds::*",
            "engine::rfc3339",
            "engine::testing::Fixture",
            "engine::limits::SETTLE",
        ]
    );
}

#[test]
fn an_upward_import_or_a_circle_is_named_with_its_file_and_edge() {
    let dir = std::env::temp_dir().join(format!("layers-check-{}", std::process::id()));
    let src = dir.join("src");
    let engine = src.join("engine");
    std::fs::create_dir_all(&engine).unwrap();
    let write = |name: &str, text: &str| std::fs::write(engine.join(name), text).unwrap();
    write("mod.rs", "pub mod low; pub mod high; pub struct Root;");
    write("low.rs", "use super::high::H; pub struct L;");
    write("high.rs", "use crate::engine::low::L; pub struct H;");
    let (breaches, _) = check_layers(&src, &["engine"], &[], &[&["low"], &["high"]]);
    write("low.rs", "pub fn f() -> super::Root { super::Root }");
    let (root_breaches, _) = check_layers(&src, &["engine"], &[], &[&["low"], &["high"]]);
    write("low.rs", "pub struct L;");
    let (clean, edges) = check_layers(&src, &["engine"], &[], &[&["low"], &["high"]]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        breaches,
        [
            "src/engine/low.rs names engine::high::H: low -> high points up (layer 1 is not below low's layer 0)",
            "src/engine: circle high -> low -> high",
        ]
    );
    assert_eq!(
        root_breaches,
        ["src/engine/low.rs names engine::Root: an item of src/engine/mod.rs, which names every module; move it down into a module"]
    );
    assert!(clean.is_empty(), "{clean:?}");
    assert!(has_edge(&edges, "high", "low"), "{edges:?}");
}

#[test]
fn the_engine_builds_on_the_core_without_aws() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("genesys-core"),
        "the engine must reuse the Genesys core"
    );
    for line in manifest.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(
            !line.trim_start().starts_with("aws-"),
            "the plugin depends on an AWS crate: {line}"
        );
    }
}
