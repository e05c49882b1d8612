//! Checks on a component before it may serve: it is a component, imports only the host
//! world, exports the adapter interface of a contract release this host serves.

use semver::{Version, VersionReq};
use wasmtime::Engine;
use wasmtime::component::Component;

pub use crate::runtime::Release;

/// The WIT package version this host implements: the newest release it serves. Adapters
/// built for an older release it has bindings for ([`Release::ALL`]) are served too.
pub const HOST_WIT_VERSION: Version = Version::new(0, 2, 0);
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
    #[error("built for {WIT_PACKAGE}@{guest}, but this host serves {}: rebuild against one of those", served())]
    IncompatibleWit { guest: Version },
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

/// The releases served, as an error names them: `panjereh:adapter@0.1.0, panjereh:adapter@0.2.0`.
fn served() -> String {
    Release::ALL.map(|r| format!("{WIT_PACKAGE}@{}", r.version())).join(", ")
}

/// The release an adapter built for `guest` runs under: the served release it is
/// compatible with ([`wit_compatible`]), if any.
pub fn release_for(guest: &Version) -> Option<Release> {
    Release::ALL.into_iter().rev().find(|release| wit_compatible(guest, &release.version()))
}

/// Checks imports and exports; returns the WIT version the component was built for and
/// the release it runs under. Its contract imports must be of that release.
pub fn check_component(engine: &Engine, component: &Component) -> Result<(Version, Release), ComponentError> {
    let ty = component.component_type();

    let adapter_export = ty
        .exports(engine)
        .map(|(name, _)| split_name(name))
        .find(|(interface, _)| *interface == format!("{WIT_PACKAGE}/adapter"))
        .ok_or(ComponentError::MissingExport)?;
    let guest = adapter_export.1.and_then(|v| Version::parse(v).ok()).ok_or(ComponentError::MissingExport)?;
    let release = release_for(&guest).ok_or_else(|| ComponentError::IncompatibleWit { guest: guest.clone() })?;

    for (name, _) in ty.imports(engine) {
        let (interface, version) = split_name(name);
        let allowed = match interface.strip_prefix(WIT_PACKAGE).and_then(|rest| rest.strip_prefix('/')) {
            Some(contract) => {
                release.host_interfaces().contains(&contract)
                    && version
                        .and_then(|v| Version::parse(v).ok())
                        .is_some_and(|v| wit_compatible(&v, &release.version()))
            }
            None => ALLOWED_WASI.contains(&interface),
        };
        if !allowed {
            return Err(ComponentError::ForbiddenImport(name.to_owned()));
        }
    }
    Ok((guest, release))
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
    fn every_served_release_is_found_and_the_newest_is_the_hosts() {
        let v = |s: &str| Version::parse(s).unwrap();
        assert_eq!(Release::ALL.last().map(|r| r.version()), Some(HOST_WIT_VERSION));
        assert_eq!(release_for(&v("0.1.0")), Some(Release::V0_1));
        assert_eq!(release_for(&v("0.2.0")), Some(Release::V0_2));
        assert_eq!(release_for(&v("0.2.1")), None, "a newer patch than the host's");
        assert_eq!(release_for(&v("0.3.0")), None);
        assert_eq!(release_for(&v("1.0.0")), None);
        let refused = ComponentError::IncompatibleWit { guest: v("1.0.0") }.to_string();
        assert!(refused.contains("panjereh:adapter@0.1.0, panjereh:adapter@0.2.0"), "{refused}");
    }

    /// Architecture Invariant: `wit/` is the newest frozen release, byte for byte, and that
    /// release is the host's.
    #[test]
    fn the_contract_is_frozen_as_the_hosts_release() {
        let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        let frozen = wit.join("snapshots").join(HOST_WIT_VERSION.to_string());
        let mut files: Vec<_> = std::fs::read_dir(&wit)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "wit"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        for file in files {
            let name = file.file_name().unwrap();
            let snapshot = std::fs::read(frozen.join(name)).unwrap_or_default();
            assert!(std::fs::read(&file).unwrap() == snapshot, "wit/{name:?} differs from {}", frozen.display());
        }
        let world = std::fs::read_to_string(wit.join("world.wit")).unwrap();
        assert!(world.contains(&format!("package {WIT_PACKAGE}@{HOST_WIT_VERSION};")));
    }

    #[test]
    fn header_check_tells_modules_from_components() {
        assert_eq!(check_header(b"hello world"), Err(ComponentError::NotWasm));
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Err(ComponentError::CoreModule));
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0"), Ok(()));
    }
}
