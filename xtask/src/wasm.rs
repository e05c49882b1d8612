//! Builds a workspace of adapters for `wasm32-wasip2`. Shared by `cargo xtask` and
//! `tests/build.rs` (included there with `#[path]`), so both build adapters the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target adapters are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// One built adapter: its component and its manifest.
#[derive(Debug, Clone)]
pub struct Built {
    /// The crate name, which is also the package file name (`NAME.wasm`, `NAME.toml`).
    pub name: String,
    pub wasm: PathBuf,
    pub manifest: PathBuf,
}

/// Runs `cargo build --release --target wasm32-wasip2` on `workspace` into `target_dir`
/// and returns every member that has a `manifest.toml`.
pub fn build_workspace(cargo: &Path, workspace: &Path, target_dir: &Path) -> Result<Vec<Built>, String> {
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // A nested cargo must not inherit the outer build's flags (build scripts set these).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let status = command.status().map_err(|e| format!("failed to run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {} for {TARGET} failed ({status})", workspace.display()));
    }
    let mut built = Vec::new();
    let mut members: Vec<_> = std::fs::read_dir(workspace)
        .map_err(|e| format!("cannot read {}: {e}", workspace.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.toml").is_file() && p.join("Cargo.toml").is_file())
        .collect();
    members.sort();
    for member in members {
        let name = member.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let wasm = target_dir.join(TARGET).join("release").join(format!("{}.wasm", name.replace('-', "_")));
        if !wasm.is_file() {
            return Err(format!("expected {} after the build", wasm.display()));
        }
        built.push(Built { name, wasm, manifest: member.join("manifest.toml") });
    }
    Ok(built)
}

/// Copies built adapters into `dir` as `NAME.wasm` + `NAME.toml`, the layout `panjereh
/// serve --plugins` loads.
#[allow(dead_code)] // used by xtask, not by tests/build.rs
pub fn install(built: &[Built], dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for b in built {
        for (from, ext) in [(&b.wasm, "wasm"), (&b.manifest, "toml")] {
            let to = dir.join(format!("{}.{ext}", b.name));
            std::fs::copy(from, &to).map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        }
    }
    Ok(())
}
