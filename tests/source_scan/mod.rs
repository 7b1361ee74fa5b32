//! Reading a crate's own sources as text, for the tests that check its import graph
//! (`tests/layers.rs`, the plugin's, the core's and the emulator's `tests/layers.rs`).
//!
//! The one rule, [`check_layers`]: the modules of one folder are laid out in layers, bottom to
//! top; a module may name only modules of lower layers, and never an item of the folder's own
//! root (`lib.rs`, `mod.rs`), which names them all. So there is no circle and no upward import.
//! Every form of naming counts: `crate::x`, `super::x` (however many `super`s, inside inline
//! modules such as `#[cfg(test)] mod tests` too) and `use` groups (`super::{x, y}`). Comments
//! and string literals are not read.
#![allow(dead_code)] // each test binary uses its part

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, appended to `out`.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line comments and doc comments).
pub fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The tokens of Rust source that matter to paths: identifiers, `::` and single punctuation.
/// Comments, string, byte-string, raw-string and char literals are dropped; lifetimes too.
fn tokens(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if ch == '\'' {
            if c.get(i + 1) == Some(&'\\') {
                i += 3; // the quote, the backslash, the escaped character
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1; // a lifetime
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw and byte strings: r"..", r#".."#, b"..", br#".."#.
            if (word == "r" || word == "br" || word == "b") && matches!(c.get(i), Some('"') | Some('#')) {
                let mut hashes = 0;
                while c.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if c.get(i) == Some(&'"') {
                    i += 1;
                    loop {
                        if i >= c.len() {
                            break;
                        }
                        if c[i] == '\\' && word == "b" {
                            i += 2;
                            continue;
                        }
                        if c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#')) {
                            i += 1 + hashes;
                            break;
                        }
                        i += 1;
                    }
                    continue;
                }
            }
            out.push(word);
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if ch.is_whitespace() {
            i += 1;
        } else {
            out.push(ch.to_string());
            i += 1;
        }
    }
    out
}

/// The paths of a `use` tree or path expression starting at `toks[i]`, each as its segments;
/// `i` is left after it.
fn path_tree(toks: &[String], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    while let Some(t) = toks.get(*i) {
        if t == "{" {
            *i += 1;
            loop {
                match toks.get(*i).map(String::as_str) {
                    None => return,
                    Some("}") => {
                        *i += 1;
                        return;
                    }
                    Some(",") => *i += 1,
                    Some(_) => path_tree(toks, i, path.clone(), out),
                }
            }
        }
        if t == "*" || t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_') {
            path.push(t.clone());
            *i += 1;
            if toks.get(*i).map(String::as_str) == Some("::") {
                *i += 1;
                continue;
            }
        }
        break;
    }
    out.push(path);
}

/// The module path (from the crate root) of the file `rel` (relative to the crate's `src`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// Every path a file names through `crate::` or `super::`, resolved to segments from the crate
/// root. `module` is the file's own module path; inline modules (`mod tests { .. }`) are
/// followed, so `super::` inside them means the file's module.
pub fn crate_paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inline modules open: (brace depth inside them, name).
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        match t {
            "{" => {
                depth += 1;
                if i >= 2 && toks[i - 2] == "mod" {
                    inline.push((depth, toks[i - 1].clone()));
                }
                i += 1;
            }
            "}" => {
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            "crate" | "super"
                if toks.get(i + 1).map(String::as_str) == Some("::")
                    && (i == 0 || toks[i - 1] != "$" && toks[i - 1] != "::") =>
            {
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(_, n)| n.clone()));
                let mut base = if t == "crate" { Vec::new() } else { here };
                while toks.get(i).map(String::as_str) == Some("super")
                    && toks.get(i + 1).map(String::as_str) == Some("::")
                {
                    base.pop();
                    i += 2;
                }
                if t == "crate" {
                    i += 2;
                }
                path_tree(&toks, &mut i, base, &mut out);
            }
            _ => i += 1,
        }
    }
    out
}

/// One import of one module by another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The file that names it (relative to the folder).
    pub file: String,
    /// The naming module.
    pub from: String,
    /// The module named, or [`ROOT`] for an item of the folder's root file.
    pub to: String,
    /// The path as written, resolved from the crate root.
    pub path: String,
}

/// The name an item of the folder's own root file (`lib.rs`, `mod.rs`) goes by in an [`Edge`].
pub const ROOT: &str = "(root)";

/// The imports between the modules of one folder. `src` is the crate's `src`; `folder` the
/// module path of the folder (`&[]` for the crate root, `&["engine"]`); `skip` names what is
/// neither read nor counted: a binary's own crate (`bin`), another crate's modules the root
/// re-exports. Returns the child modules found and the edges.
pub fn module_edges(src: &Path, folder: &[&str], skip: &[&str]) -> (BTreeSet<String>, BTreeSet<Edge>) {
    let dir = folder.iter().fold(src.to_path_buf(), |p, m| p.join(m));
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let folder: Vec<String> = folder.iter().map(|s| s.to_string()).collect();
    let mut modules = BTreeSet::new();
    let mut edges = BTreeSet::new();
    let mut root_files = Vec::new();
    for file in &files {
        let module = module_of(file.strip_prefix(src).unwrap());
        let Some(child) = module.get(folder.len()) else {
            root_files.push(file.clone());
            continue;
        };
        if skip.contains(&child.as_str()) {
            continue;
        }
        modules.insert(child.clone());
        let text = std::fs::read_to_string(file).unwrap();
        for path in crate_paths(&text, &module) {
            if path.len() <= folder.len() || path[..folder.len()] != folder[..] {
                continue; // outside the folder (or the folder itself, named whole)
            }
            let target = &path[folder.len()];
            if target == child || skip.contains(&target.as_str()) {
                continue;
            }
            // A child module of the folder, or an item of its root file.
            let is_module = dir.join(format!("{target}.rs")).is_file() || dir.join(target).join("mod.rs").is_file();
            edges.insert(Edge {
                file: file.strip_prefix(&dir).unwrap().display().to_string(),
                from: child.clone(),
                to: if is_module { target.clone() } else { ROOT.to_owned() },
                path: path.join("::"),
            });
        }
    }
    // The folder's root file names its children: downwards, unless a child names the root
    // back (an item defined or re-exported there), which makes a circle through the root.
    for file in root_files
        .iter()
        .filter(|f| module_of(f.strip_prefix(src).unwrap()) == folder)
    {
        let text = std::fs::read_to_string(file).unwrap();
        let mut paths = crate_paths(&text, &folder);
        paths.extend(root_relative_paths(&text, &folder, &modules));
        for path in paths {
            if path.len() <= folder.len() + 1 || path[..folder.len()] != folder[..] {
                continue; // outside the folder, or a child module named whole
            }
            let target = &path[folder.len()];
            if modules.contains(target) {
                edges.insert(Edge {
                    file: file.strip_prefix(&dir).unwrap().display().to_string(),
                    from: ROOT.to_owned(),
                    to: target.clone(),
                    path: path.join("::"),
                });
            }
        }
    }
    (modules, edges)
}

/// The paths a folder's root file names by a child module's own name (`child::x`,
/// `self::child::x`, `use child::{x, y}`), resolved from the crate root; `children` are the
/// folder's modules. A name inside another path's group (`other::{child::x}`) is not one.
fn root_relative_paths(text: &str, folder: &[String], children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let prev = i.checked_sub(1).map(|p| toks[p].as_str()).unwrap_or("");
        let after_self = prev == "::" && i >= 2 && toks[i - 2] == "self" && (i < 3 || toks[i - 3] != "::");
        let starts = children.contains(&toks[i])
            && toks.get(i + 1).map(String::as_str) == Some("::")
            && (!matches!(prev, "::" | "{" | ",") || after_self);
        if starts {
            path_tree(&toks, &mut i, folder.to_vec(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// The circles among `edges`, each as its modules in order (the first repeated at the end).
pub fn circles(edges: &BTreeSet<Edge>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in edges {
        next.entry(e.from.as_str()).or_default().insert(e.to.as_str());
    }
    let mut found = BTreeSet::new();
    // A path from each module back to itself, by breadth-first search: the shortest circle
    // through it.
    for &start in next.keys() {
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(m) = queue.pop_front() {
            for &n in next.get(m).into_iter().flatten() {
                if n == start {
                    let mut circle = vec![start.to_owned()];
                    let mut at = m;
                    while at != start {
                        circle.push(at.to_owned());
                        at = came_from[at];
                    }
                    circle.push(start.to_owned());
                    circle[1..].reverse();
                    circle.reverse();
                    // One rotation per circle: start from its least module.
                    let body = &circle[..circle.len() - 1];
                    let least = (0..body.len()).min_by_key(|&k| &body[k]).unwrap();
                    let mut canonical: Vec<String> = body[least..].iter().chain(&body[..least]).cloned().collect();
                    canonical.push(canonical[0].clone());
                    found.insert(canonical);
                    queue.clear();
                    break;
                }
                if !came_from.contains_key(n) && n != start {
                    came_from.insert(n, m);
                    queue.push_back(n);
                }
            }
        }
    }
    found.into_iter().collect()
}

/// The one rule: the modules of `folder` (see [`module_edges`]) each have a layer of `layers`
/// (bottom to top), and name only modules of lower layers and no item of the folder's root. The
/// breaches, each naming the file and the edge, and the circles; empty when the folder obeys.
/// Also returns the edges, so a test can see the check saw the graph at all.
pub fn check_layers(src: &Path, folder: &[&str], skip: &[&str], layers: &[&[&str]]) -> (Vec<String>, BTreeSet<Edge>) {
    let (modules, edges) = module_edges(src, folder, skip);
    let where_ = ["src"].iter().chain(folder).copied().collect::<Vec<_>>().join("/");
    let root_file = if folder.is_empty() { "lib.rs" } else { "mod.rs" };
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, mods)| mods.iter().map(move |m| (*m, i)))
        .collect();
    let mut breaches = Vec::new();
    for m in &modules {
        if !layer_of.contains_key(m.as_str()) {
            breaches.push(format!("{where_}: module {m} has no layer: add it to LAYERS"));
        }
    }
    for m in layer_of.keys() {
        if !modules.contains(*m) {
            breaches.push(format!("{where_}: LAYERS names {m}, which is no module there"));
        }
    }
    for e in &edges {
        let (Some(&from), to) = (layer_of.get(e.from.as_str()), layer_of.get(e.to.as_str())) else {
            continue;
        };
        match to {
            None if e.to == ROOT => breaches.push(format!(
                "{where_}/{} names {}: an item of {where_}/{root_file}, which names every module; move it down into a module",
                e.file, e.path
            )),
            None => {}
            Some(&to) if to >= from => breaches.push(format!(
                "{where_}/{} names {}: {} -> {} points {} (layer {to} is not below {}'s layer {from})",
                e.file,
                e.path,
                e.from,
                e.to,
                if to == from { "sideways" } else { "up" },
                e.from
            )),
            Some(_) => {}
        }
    }
    for circle in circles(&edges) {
        breaches.push(format!("{where_}: circle {}", circle.join(" -> ")));
    }
    (breaches, edges)
}

/// Panics with every breach of [`check_layers`], one a line.
pub fn assert_layered(src: &Path, folder: &[&str], skip: &[&str], layers: &[&[&str]]) -> BTreeSet<Edge> {
    let (breaches, edges) = check_layers(src, folder, skip, layers);
    assert!(
        breaches.is_empty(),
        "imports that break the layers ({} found):\n{}",
        breaches.len(),
        breaches.join("\n")
    );
    edges
}

/// Whether `edges` holds `from -> to`.
pub fn has_edge(edges: &BTreeSet<Edge>, from: &str, to: &str) -> bool {
    edges.iter().any(|e| e.from == from && e.to == to)
}

/// Every folder of modules below `src` (the crate root, `&[]`, first), but for `skip`.
pub fn folders(src: &Path, skip: &[&str]) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    let mut i = 0;
    while i < out.len() {
        let dir = out[i].iter().fold(src.to_path_buf(), |p, m| p.join(m));
        let mut subs: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .filter(|n| !skip.contains(&n.as_str()))
            .collect();
        subs.sort();
        for sub in subs {
            let mut f = out[i].clone();
            f.push(sub);
            out.push(f);
        }
        i += 1;
    }
    out
}

/// Panics naming every circle among sibling modules, in every folder of the crate (see
/// [`folders`]), the folder's root file (`lib.rs`, `mod.rs`) among them: a root that names a
/// child's item while that child names an item of the root (defined or re-exported there) is a
/// circle. Returns how many folders were read. [`check_layers`] goes further in the folders
/// that have layers: no module names its root at all.
pub fn assert_no_circles(src: &Path, skip: &[&str]) -> usize {
    let all = folders(src, skip);
    let mut found = Vec::new();
    for folder in &all {
        let folder: Vec<&str> = folder.iter().map(String::as_str).collect();
        let (_, edges) = module_edges(src, &folder, skip);
        for circle in circles(&edges) {
            let at = ["src"].iter().chain(&folder).copied().collect::<Vec<_>>().join("/");
            found.push(format!("{at}: circle {}", circle.join(" -> ")));
        }
    }
    assert!(found.is_empty(), "circles between modules:\n{}", found.join("\n"));
    all.len()
}
