//! Where a browser may be sent back to: after signing in (the portal's `next`, single
//! sign-on's `return_to`) and by the language switch, which links to the page being shown.
//!
//! Browsers are lenient with `Location` headers and links: they drop tabs and newlines, read
//! `\` as `/`, and take `//host` as another site. So `/\t/evil.example` (from
//! `next=/%09/evil.example`) starts with one slash and still lands off-site. A return path is
//! therefore accepted only when nothing in it can be read two ways: no control or white-space
//! character, no backslash, no `//` in its path, and, resolved as a relative reference
//! against this site, it stays on this site's origin. Everything else becomes `/`.

/// The longest return path kept; a longer one is refused.
pub const MAX_LEN: usize = 2048;

/// Whether `path` is a path on this site that every browser reads the same way.
pub fn is_local(path: &str) -> bool {
    if path.is_empty() || path.len() > MAX_LEN || !path.starts_with('/') {
        return false;
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return false;
    }
    // `//` in the path is how a path turns into a host; in the query it is only data.
    let path_part = path.split(['?', '#']).next().unwrap_or_default();
    if path_part.contains("//") {
        return false;
    }
    let Ok(base) = url::Url::parse("https://panjereh.invalid/") else {
        return false;
    };
    base.join(path).is_ok_and(|resolved| resolved.origin() == base.origin())
}

/// `path` if it is local, else the home page.
pub fn local_or_home(path: Option<&str>) -> String {
    match path {
        Some(path) if is_local(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unambiguous_same_site_paths_are_local() {
        for good in ["/", "/services?q=%DA%A9", "/applications/PJ-7KQM-3WXR-9HTN-C", "/a?next=//b", "/%09/x"] {
            assert!(is_local(good), "{good}");
        }
        for bad in [
            "",
            "evil",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "/ /evil.example",
            "/\u{3000}/evil.example",
            "/\u{7f}/evil.example",
            "/.//evil.example",
            "/a\r\nSet-Cookie: x",
            "/x/../\u{85}/evil",
        ] {
            assert!(!is_local(bad), "{bad:?}");
        }
        assert!(!is_local(&format!("/{}", "a".repeat(MAX_LEN))));
        assert_eq!(local_or_home(Some("/\t/evil.example")), "/");
        assert_eq!(local_or_home(None), "/");
    }
}
