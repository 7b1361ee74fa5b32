//! The plugin's import graph, checked: [`protocol`] (the server's wire protocol) and [`engine`]
//! (the Genesys engine) never name each other; both name only [`logical`], the model they share,
//! and `logical` names neither. So the engine can be tested without gRPC and the protocol
//! without Genesys. Comments are not read.

use std::path::Path;

#[path = "../../../tests/source_scan/mod.rs"]
mod source_scan;
use source_scan::{code, rust_files};

/// Files under `src/<module>` (a folder or a single file) that name `crate::<forbidden>`.
fn offenders(module: &str, forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let dir = src.join(module);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        files.push(file);
    }
    assert!(!files.is_empty(), "no source for module {module}");
    let mut found = Vec::new();
    for f in files {
        let text = code(&f);
        for name in forbidden {
            if text.contains(&format!("crate::{name}")) || text.contains(&format!("super::super::{name}")) {
                found.push(format!("{} names {name}", f.display()));
            }
        }
    }
    found
}

#[test]
fn protocol_and_engine_meet_only_in_logical() {
    let mut found = offenders("protocol", &["engine"]);
    found.extend(offenders("engine", &["protocol"]));
    found.extend(offenders("logical", &["engine", "protocol"]));
    assert!(
        found.is_empty(),
        "imports that break the plugin's layering:\n{}",
        found.join("\n")
    );
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
