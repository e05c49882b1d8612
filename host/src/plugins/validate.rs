//! Checks on a component before it may serve: it is a component, imports only the host
//! world, exports the adapter interface at a WIT version this host understands.

use semver::{Version, VersionReq};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The WIT package version this host implements.
pub const HOST_WIT_VERSION: Version = Version::new(0, 1, 0);
/// The contract's package name.
pub const WIT_PACKAGE: &str = "panjereh:adapter";

/// Interfaces a guest may import besides the contract's own: the inert WASI set that any
/// Rust `std` guest links against. Filesystem, sockets and anything else are refused.
const ALLOWED_WASI: &[&str] = &[
    "wasi:io/poll",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Host interfaces of the contract an adapter may import.
const CONTRACT_IMPORTS: &[&str] = &["types", "log", "config", "kv", "http", "clock"];

/// Why a component was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComponentError {
    #[error("not a WebAssembly file")]
    NotWasm,
    #[error("a core WebAssembly module, not a component: build for the wasm32-wasip2 target")]
    CoreModule,
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error(
        "imports `{0}`, which adapters may not use: adapters have no filesystem or sockets; keep state with the kv capability and reach your back-end with the http capability"
    )]
    ForbiddenImport(String),
    #[error("does not export `{WIT_PACKAGE}/adapter`")]
    MissingExport,
    #[error(
        "built for {WIT_PACKAGE}@{guest}, but this host implements {WIT_PACKAGE}@{host}: rebuild against a version with the same major and a minor not newer than the host's"
    )]
    IncompatibleWit { guest: Version, host: Version },
    #[error("the manifest says WIT {manifest} but the component was built for {component}")]
    ManifestWitMismatch { manifest: Version, component: Version },
    #[error("cannot be linked against the host: {0}")]
    Link(String),
}

/// Quick structural check of the binary header, before spending time compiling it.
pub fn check_header(wasm: &[u8]) -> Result<(), ComponentError> {
    const MAGIC: &[u8] = b"\0asm";
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err(ComponentError::NotWasm);
    }
    // Bytes 4..8: version (u16) and layer (u16); layer 1 is a component.
    match wasm[6..8] {
        [1, 0] => Ok(()),
        [0, 0] => Err(ComponentError::CoreModule),
        _ => Err(ComponentError::NotWasm),
    }
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, version).
fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (name, None),
    }
}

/// Whether adapters built for `guest` may run on a host at `host`: same major, the host
/// not older (semver caret rules, so under 0.x the minor must match).
pub fn wit_compatible(guest: &Version, host: &Version) -> bool {
    VersionReq::parse(&format!("^{guest}")).is_ok_and(|req| req.matches(host))
}

/// Checks imports and exports; returns the WIT version the component was built for.
pub fn check_component(engine: &Engine, component: &Component) -> Result<Version, ComponentError> {
    let ty = component.component_type();

    let adapter_export = ty
        .exports(engine)
        .map(|(name, _)| split_name(name))
        .find(|(interface, _)| *interface == format!("{WIT_PACKAGE}/adapter"))
        .ok_or(ComponentError::MissingExport)?;
    let guest = adapter_export.1.and_then(|v| Version::parse(v).ok()).ok_or(ComponentError::MissingExport)?;
    if !wit_compatible(&guest, &HOST_WIT_VERSION) {
        return Err(ComponentError::IncompatibleWit { guest, host: HOST_WIT_VERSION });
    }

    for (name, _) in ty.imports(engine) {
        let (interface, version) = split_name(name);
        let allowed = match interface.strip_prefix(WIT_PACKAGE).and_then(|rest| rest.strip_prefix('/')) {
            Some(contract) => {
                CONTRACT_IMPORTS.contains(&contract)
                    && version
                        .and_then(|v| Version::parse(v).ok())
                        .is_some_and(|v| wit_compatible(&v, &HOST_WIT_VERSION))
            }
            None => ALLOWED_WASI.contains(&interface),
        };
        if !allowed {
            return Err(ComponentError::ForbiddenImport(name.to_owned()));
        }
    }
    Ok(guest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_rules_for_wit_versions() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert!(wit_compatible(&v("0.1.0"), &v("0.1.0")));
        assert!(wit_compatible(&v("0.1.0"), &v("0.1.3")));
        assert!(!wit_compatible(&v("0.1.4"), &v("0.1.3")), "a newer patch than the host");
        assert!(!wit_compatible(&v("0.2.0"), &v("0.1.0")));
        assert!(!wit_compatible(&v("1.0.0"), &v("0.1.0")));
        assert!(wit_compatible(&v("1.1.0"), &v("1.4.0")));
        assert!(!wit_compatible(&v("1.5.0"), &v("1.4.0")));
        assert!(!wit_compatible(&v("2.0.0"), &v("1.4.0")));
    }

    #[test]
    fn header_check_tells_modules_from_components() {
        assert_eq!(check_header(b"hello world"), Err(ComponentError::NotWasm));
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Err(ComponentError::CoreModule));
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0"), Ok(()));
    }
}
