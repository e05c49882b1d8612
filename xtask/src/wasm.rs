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

/// Makes sure the standard library for [`TARGET`] is installed for the toolchain `cargo`
/// belongs to, and installs it with rustup when it is not: rustup adds the targets listed in
/// `rust-toolchain.toml` only when it installs the toolchain itself, and a nested cargo started
/// through `$CARGO` bypasses rustup's proxy. Returns a one-line message for the user when it
/// installed something, and an error naming the command to run when it cannot.
pub fn ensure_target(cargo: &Path, repo_root: &Path) -> Result<Option<String>, String> {
    let rustc = toolchain_rustc(cargo);
    if target_installed(&rustc) {
        return Ok(None);
    }
    let toolchain = toolchain_name(&rustc).or_else(|| pinned_channel(repo_root)).unwrap_or_else(|| "stable".into());
    let add = format!("rustup target add {TARGET} --toolchain {toolchain}");
    let rustup = Command::new("rustup")
        .args(["target", "add", TARGET, "--toolchain", &toolchain])
        .output()
        .map_err(|_| format!("the {TARGET} target is not installed and rustup was not found: run `{add}`"))?;
    if !rustup.status.success() || !target_installed(&rustc) {
        let why = String::from_utf8_lossy(&rustup.stderr);
        return Err(format!("`{add}` failed: {}", why.trim()));
    }
    Ok(Some(format!("installed the {TARGET} target for toolchain {toolchain} (`{add}`)")))
}

/// The `rustc` next to `cargo` (the toolchain's own, not rustup's proxy), or the one on PATH.
fn toolchain_rustc(cargo: &Path) -> PathBuf {
    cargo.parent().map(|dir| dir.join("rustc")).filter(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("rustc"))
}

/// Whether `rustc`'s sysroot holds `libcore` for [`TARGET`].
fn target_installed(rustc: &Path) -> bool {
    let Ok(out) = Command::new(rustc).args(["--print", "target-libdir", "--target", TARGET]).output() else {
        return false;
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
        })
}

/// The rustup toolchain `rustc` belongs to: the name of its sysroot folder under
/// `~/.rustup/toolchains/`.
fn toolchain_name(rustc: &Path) -> Option<String> {
    let out = Command::new(rustc).args(["--print", "sysroot"]).output().ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let parent = sysroot.parent()?;
    (parent.file_name()? == "toolchains").then(|| sysroot.file_name()?.to_str().map(str::to_owned)).flatten()
}

/// The `channel` pinned in the repository's `rust-toolchain.toml`.
fn pinned_channel(repo_root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(repo_root.join("rust-toolchain.toml")).ok()?;
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("channel")?.trim_start().strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    })
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
