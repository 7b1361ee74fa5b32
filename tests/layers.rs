//! The import graph, checked: imports point one way, from the entry points (handlers, the
//! command line, `lambda`) down through the AWS adapters to the Genesys core, which knows nothing
//! of AWS. Each of the library's top-level modules has a layer; a module may name (`crate::x`)
//! only modules of lower layers, so there can be no circle and no upward edge. Comments are not
//! read; code in `#[cfg(test)]` modules is, so tests beside the code obey the same order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod source_scan;
use source_scan::{code, rust_files};

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

/// `crate::<name>` references in `text`.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if !name.is_empty() {
            refs.insert(name);
        }
    }
    refs
}

#[test]
fn the_librarys_modules_import_only_downwards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, mods)| mods.iter().map(move |m| (*m, i)))
        .collect();
    let core_modules = [
        "backoff",
        "classify",
        "deadline",
        "domain",
        "drain",
        "genesys",
        "ownership",
        "region",
        "secret",
    ];
    let mut edges = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_str().unwrap();
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "bin" {
            continue;
        }
        let Some(&layer) = layer_of.get(module) else {
            panic!("src/{module} has no layer: add it to LAYERS");
        };
        for target in crate_refs(&code(file)) {
            if target == module {
                continue;
            }
            match layer_of.get(target.as_str()) {
                Some(&t) => {
                    assert!(
                        t < layer,
                        "{} names crate::{target}: layer {t} is not below {module}'s layer {layer}",
                        rel.display()
                    );
                    edges.insert((module.to_owned(), target));
                }
                None => assert!(
                    core_modules.contains(&target.as_str()),
                    "{} names crate::{target}, which is neither a module with a layer nor the core's",
                    rel.display()
                ),
            }
        }
    }
    // The check saw the graph at all.
    assert!(
        edges.contains(&("rotation".to_owned(), "reconcile".to_owned())),
        "{edges:?}"
    );
    assert!(
        edges.contains(&("cleanup".to_owned(), "rotation".to_owned())),
        "{edges:?}"
    );
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
