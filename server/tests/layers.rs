//! The layers point one way: a module may use its own layer and the ones below it, never above.
//!
//! protocol -> store -> session -> commands -> net (config, longdouble and alloc are leaves).

use std::path::{Path, PathBuf};

/// Layer of a top-level module of the crate; higher may use lower.
fn layer(module: &str) -> Option<usize> {
    match module {
        "config" | "longdouble" | "alloc" => Some(0),
        "protocol" => Some(1),
        "store" => Some(2),
        "session" => Some(3),
        "commands" => Some(4),
        "net" => Some(5),
        _ => None,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level modules named by `crate::<name>` in `text`.
fn crate_refs(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        refs.push(name);
    }
    refs
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for path in files {
        let rel = path.strip_prefix(&src).expect("under src");
        let top = rel.components().next().expect("non-empty").as_os_str().to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let own =
            layer(module).unwrap_or_else(|| panic!("{}: module '{module}' has no layer", rel.display()));
        let text = std::fs::read_to_string(&path).expect("readable");
        for used in crate_refs(&text) {
            match layer(&used) {
                Some(l) if l > own => violations.push(format!("{} uses crate::{used}", rel.display())),
                Some(_) => checked += 1,
                // Crate-root items (REDIS_VERSION, ALLOCATOR) are below every layer.
                None => assert!(
                    used.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                    "{}: crate::{used} is not a known layer",
                    rel.display()
                ),
            }
        }
    }
    assert!(checked > 20, "the scan found only {checked} crate paths: is it reading the sources?");
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}
