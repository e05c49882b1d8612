//! The host's layering rule, checked: a module of `host/src` may use modules of its own
//! layer and of the layers below it, never one above. `ARCHITECTURE.md` explains the
//! layers; [`LAYERS`] is the rule itself. `cargo xtask test` runs the check first.
//!
//! A use is any `crate::module` path outside a comment. `crate::runtime::bindings` (the
//! contract's generated types) counts as the leaf `contract`, not as the runtime.

use std::path::Path;

/// The layers, top first. Leaves (`contract`, `names`, `text`, `tracking`) may be used by
/// every layer and use only each other.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("edges", &["main", "lib", "cli", "api", "portal", "watch"]),
    ("use cases", &["app", "window", "background", "payments"]),
    ("services", &["auth", "plugins", "audit", "config", "forms", "metrics"]),
    // The runtime links the capabilities; they answer the imports of the runtime's store.
    ("sandbox", &["runtime", "capabilities"]),
    ("storage", &["store"]),
    ("leaves", &["contract", "names", "text", "tracking"]),
];

/// A use of a module from a layer above.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    pub place: String,
    pub from: String,
    pub uses: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: `{}` uses `crate::{}`, a layer above it", self.place, self.from, self.uses)
    }
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The module a `crate::` path names.
fn used_module(path: &str) -> &str {
    let mut parts = path.split("::");
    match (parts.next(), parts.next()) {
        (Some("runtime"), Some("bindings")) => "contract",
        (Some(first), _) => first,
        _ => "",
    }
}

/// The paths after one `crate::`: one, or each of a group (`crate::{a::B, c}`).
fn paths(rest: &str) -> Vec<String> {
    let path_char = |c: &char| c.is_ascii_alphanumeric() || *c == '_' || *c == ':';
    let Some(group) = rest.strip_prefix('{') else {
        return vec![rest.chars().take_while(path_char).collect()];
    };
    let (mut depth, mut start, mut found) = (0, true, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                found.push(group[i..].chars().take_while(path_char).collect());
                start = false;
            }
            _ => {}
        }
    }
    found
}

/// The violations in one file's text; `module` is the top-level module it belongs to.
pub fn check_source(module: &str, place: &str, source: &str) -> Vec<Violation> {
    let Some(own) = layer(module) else {
        return vec![Violation { place: place.into(), from: module.into(), uses: "(a module not in LAYERS)".into() }];
    };
    let code: String =
        source.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let line = code[..at].matches('\n').count() + 1;
        for path in paths(&code[at + "crate::".len()..]) {
            let used = used_module(&path);
            if used.is_empty() || used == module {
                continue;
            }
            if layer(used).is_none_or(|theirs| theirs < own) {
                found.push(Violation { place: format!("{place}:{line}"), from: module.into(), uses: used.into() });
            }
        }
    }
    found
}

/// Every violation under `host/src`.
pub fn check(src: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src)?;
            let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
            let module = first.unwrap_or_default().trim_end_matches(".rs").to_owned();
            let place = format!("host/src/{}", relative.display());
            found.extend(check_source(&module, &place, &std::fs::read_to_string(&path)?));
        }
    }
    found.sort_by(|a, b| a.place.cmp(&b.place));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_keeps_its_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
        let violations = check(&src).unwrap();
        assert!(violations.is_empty(), "{}", violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    }

    #[test]
    fn a_use_from_above_is_found_and_comments_are_not() {
        let source =
            "use crate::store::Db;\n// crate::api in a comment\nfn f() { crate::api::problem::Problem::new(); }\n";
        let found = check_source("auth", "auth.rs", source);
        assert_eq!(found, vec![Violation { place: "auth.rs:3".into(), from: "auth".into(), uses: "api".into() }]);
        assert!(check_source("store", "store.rs", "use crate::runtime::bindings::Bill;").is_empty(), "a leaf");
        assert_eq!(check_source("store", "store.rs", "use crate::runtime::Runtime;").len(), 1);
        assert_eq!(check_source("novel", "novel.rs", "").len(), 1, "a new module must be given a layer");
        let grouped = check_source(
            "store",
            "store.rs",
            "use crate::{\n    names::Purpose,\n    app::{App, Other},\n    text,\n};",
        );
        assert_eq!(grouped.iter().map(|v| v.uses.as_str()).collect::<Vec<_>>(), ["app"]);
    }
}
