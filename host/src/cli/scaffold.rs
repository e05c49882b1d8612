//! `panjereh plugin new` and `panjereh plugin build`: the agency developer's first steps.
//!
//! `new` writes a complete adapter crate (a Cargo workspace of its own) from a template in
//! `templates/` (one inquiry, an application kept in kv, or an inquiry answered by a
//! back-end) with native unit tests, so `cargo test` passes and `panjereh plugin build`
//! produces a loadable package before the developer has changed a line. `build` compiles a
//! crate for `wasm32-wasip2`, loads the component as a host would (`plugins::load`), and
//! only then writes the package (`ID.wasm` + `ID.toml`) that `panjereh serve --plugins DIR`
//! loads.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::plugins::manifest::Manifest;

/// The target adapters are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The version of `panjereh-plugin-sdk` a new crate depends on: the SDK shares the
/// workspace's version with this host (checked by a test below).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SDK next to this host's sources, when this binary was built from a checkout that is
/// still there (`cargo run`, `cargo install --path host`); `None` for a binary built
/// elsewhere, whose new crates use the published SDK.
pub fn local_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("plugin-sdk");
    sdk.join("Cargo.toml").is_file().then_some(sdk)
}

/// What `plugin new` needs.
#[derive(Debug, Clone)]
pub struct NewAdapter {
    /// Crate, package and agency id (kebab-case), e.g. `civil-registry`.
    pub name: String,
    /// The folder the crate folder is created in.
    pub parent: PathBuf,
    /// A local `plugin-sdk/` to build against instead of the published crate, written as a
    /// `[patch.crates-io]` override; `None` depends on the published SDK only.
    pub sdk: Option<PathBuf>,
    /// What the crate starts as.
    pub template: Template,
}

/// Writes a new adapter crate into `parent/name` and returns its folder.
pub fn new_adapter(options: &NewAdapter) -> anyhow::Result<PathBuf> {
    let name = &options.name;
    if !is_kebab_id(name) {
        bail!("`{name}` is not a valid adapter name: use lowercase letters, digits and dashes, like `civil-registry`");
    }
    let sdk = match &options.sdk {
        None => None,
        Some(path) => {
            let sdk = path.canonicalize().with_context(|| {
                format!("the plugin SDK was not found at {} (give its folder with --sdk)", path.display())
            })?;
            if !sdk.join("Cargo.toml").is_file() {
                bail!("{} is not the plugin SDK: it has no Cargo.toml", sdk.display());
            }
            Some(sdk)
        }
    };
    let dir = options.parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk.as_deref(), options.template)),
        ("manifest.toml", manifest_toml(name, options.template)),
        ("rust-toolchain.toml", TOOLCHAIN.to_owned()),
        (".gitignore", "/target\n/dist\n".to_owned()),
        ("src/lib.rs", lib_rs(name, options.template)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(dir)
}

/// A built package, checked the way a host loads it.
#[derive(Debug, Clone)]
pub struct Package {
    /// The adapter id from the manifest.
    pub id: String,
    /// The version from the manifest (and the crate).
    pub version: String,
    /// `out/ID.wasm`.
    pub wasm: PathBuf,
    /// `out/ID.toml`.
    pub manifest: PathBuf,
    /// The agency id `describe` answered.
    pub agency: String,
    /// The service ids `describe` answered.
    pub services: Vec<String>,
    /// The contract release the component was built against.
    pub wit: String,
}

/// What `plugin build` needs.
#[derive(Debug, Clone)]
pub struct BuildAdapter {
    /// The adapter crate (with `Cargo.toml` and `manifest.toml`).
    pub dir: PathBuf,
    /// Where the package goes; `DIR/dist` by default.
    pub out: Option<PathBuf>,
    /// Cargo's target folder; `DIR/target` by default.
    pub target_dir: Option<PathBuf>,
}

/// Builds the crate for `wasm32-wasip2` in release mode, loads the component the way
/// `panjereh serve` would (manifest, contract release, imports, `describe` against the
/// manifest, the caps on descriptions), and only then writes its package. A package the
/// host would refuse is not written: the error is the host's own reason.
pub async fn build_adapter(options: &BuildAdapter) -> anyhow::Result<Package> {
    let dir = &options.dir;
    let manifest_path = dir.join("manifest.toml");
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("failed to read {}", manifest_path.display()))?;
    let manifest =
        Manifest::parse(&manifest_text).with_context(|| format!("{} is invalid", manifest_path.display()))?;
    let krate = crate_identity(dir)?;
    check_versions(&manifest, &krate)?;
    let target_dir = options.target_dir.clone().unwrap_or_else(|| dir.join("target"));

    tokio::task::spawn_blocking({
        let (dir, target_dir) = (dir.clone(), target_dir.clone());
        move || cargo_build(&dir, &target_dir)
    })
    .await
    .context("the build was interrupted")??;
    let artifact = target_dir.join(TARGET).join("release").join(format!("{}.wasm", krate.name.replace('-', "_")));
    if !artifact.is_file() {
        bail!("expected {} after the build; is the crate a `cdylib`?", artifact.display());
    }
    let wasm_bytes = std::fs::read(&artifact).with_context(|| format!("failed to read {}", artifact.display()))?;
    let loaded = check_package(wasm_bytes, &manifest_text)
        .await
        .map_err(|reason| anyhow::anyhow!("a host would refuse this package: {reason}"))?;

    let out = options.out.clone().unwrap_or_else(|| dir.join("dist"));
    std::fs::create_dir_all(&out).with_context(|| format!("failed to create {}", out.display()))?;
    let wasm = out.join(format!("{}.wasm", manifest.id));
    let toml = out.join(format!("{}.toml", manifest.id));
    std::fs::copy(&artifact, &wasm).with_context(|| format!("failed to write {}", wasm.display()))?;
    std::fs::write(&toml, manifest_text).with_context(|| format!("failed to write {}", toml.display()))?;
    // A signature from an earlier build signs other bytes: installing it would be refused.
    let stale = out.join(format!("{}.wasm.sig", manifest.id));
    if stale.exists() {
        std::fs::remove_file(&stale).with_context(|| format!("failed to remove {}", stale.display()))?;
        eprintln!("removed {}: it signed the previous build (sign this one with `--sign KEY`)", stale.display());
    }
    Ok(Package {
        id: manifest.id,
        version: manifest.version.to_string(),
        wasm,
        manifest: toml,
        agency: loaded.agency.id.clone(),
        services: loaded.agency.services.iter().map(|s| s.id.clone()).collect(),
        wit: loaded.wit.to_string(),
    })
}

/// Loads a package as `panjereh serve` does, with the host's default limits and no
/// grants (`describe` may only log), on an engine of its own. Nothing is registered.
pub async fn check_package(
    wasm: Vec<u8>,
    manifest: &str,
) -> Result<crate::plugins::Adapter, crate::plugins::LoadError> {
    use crate::runtime::{CallLimits, Runtime, RuntimeOptions};
    // No pooling: one throwaway load needs no reserved address space. The slots a call
    // takes are still counted against the same pool sizes as a host's defaults.
    let options = RuntimeOptions { pooling: false, ..RuntimeOptions::default() };
    let runtime = Runtime::new(&options).map_err(|e| {
        crate::plugins::LoadError::Component(crate::plugins::ComponentError::Compile(format!(
            "cannot start the wasm engine: {e:#}"
        )))
    })?;
    crate::plugins::load(
        &runtime,
        wasm,
        manifest,
        &crate::config::AdapterSettings::default(),
        CallLimits::default(),
        None,
        &crate::capabilities::HostServices::default(),
    )
    .await
}

/// Runs `cargo build --release --target wasm32-wasip2` for the crate.
fn cargo_build(dir: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let mut command = Command::new("cargo");
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    // When run from a build script or another cargo command, do not inherit its settings.
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WRAPPER"] {
        command.env_remove(var);
    }
    let status = command.status().context("failed to run cargo (is it installed and on PATH?)")?;
    if !status.success() {
        bail!("cargo build for {TARGET} failed ({status}); if the target is missing: rustup target add {TARGET}");
    }
    Ok(())
}

/// The crate's name and version, as Cargo resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CrateIdentity {
    name: String,
    version: String,
}

/// Reads `[package]` of the crate's Cargo.toml; a version inherited from a workspace
/// (`version.workspace = true`) is asked of `cargo metadata`.
fn crate_identity(dir: &Path) -> anyhow::Result<CrateIdentity> {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let value: toml::Table = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let package = value.get("package").with_context(|| format!("{} has no [package]", path.display()))?;
    let name = package
        .get("name")
        .and_then(|n| n.as_str())
        .with_context(|| format!("{} has no [package] name", path.display()))?
        .to_owned();
    let version = match package.get("version") {
        Some(toml::Value::String(version)) => version.clone(),
        // Cargo's default when a crate gives none.
        None => "0.0.0".to_owned(),
        Some(_) => metadata_version(dir, &name)?,
    };
    Ok(CrateIdentity { name, version })
}

fn metadata_version(dir: &Path, name: &str) -> anyhow::Result<String> {
    let output = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .context("failed to run cargo metadata (is cargo installed and on PATH?)")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata answered no JSON")?;
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("cargo metadata does not list the crate `{name}`"))
}

/// One version number: operators install, activate and roll back by the manifest's
/// version, and the developer bumps the crate's; a package whose two disagree is refused.
fn check_versions(manifest: &Manifest, krate: &CrateIdentity) -> anyhow::Result<()> {
    let crate_version = semver::Version::parse(&krate.version)
        .with_context(|| format!("the crate's version `{}` is not a semver version", krate.version))?;
    if crate_version != manifest.version {
        bail!(
            "manifest.toml says version {} but Cargo.toml says {}: give both the same version (the host stores, activates and rolls back by the manifest's, and `cargo` stamps the crate's)",
            manifest.version,
            crate_version
        );
    }
    Ok(())
}

fn is_kebab_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.as_bytes()[0].is_ascii_lowercase()
        && !s.ends_with('-')
}

/// The project's toolchain file, so a new crate builds with the same compiler and target.
const TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");

fn cargo_toml(name: &str, sdk: Option<&Path>, template: Template) -> String {
    let patch = match sdk {
        None => String::new(),
        Some(sdk) => {
            // TOML basic strings need backslashes escaped (Windows paths).
            let sdk = sdk.display().to_string().replace('\\', "\\\\");
            format!(
                r#"
# Builds against a local checkout of the SDK instead of the published crate (written by
# `panjereh plugin new` because it found one). Delete this section to build against the
# published `panjereh-plugin-sdk`, e.g. to share the crate.
[patch.crates-io]
panjereh-plugin-sdk = {{ path = "{sdk}" }}
"#
            )
        }
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"   # keep equal to `version` in manifest.toml (`plugin build` checks)
edition = "2024"
publish = false

[lib]
# A WebAssembly component is a C-style dynamic library.
crate-type = ["cdylib"]

[dependencies]
panjereh-plugin-sdk = "{SDK_VERSION}"
{dependencies}{patch}
# Small, fast components: optimise for size, one codegen unit, no unwinding.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A crate of its own, even when created inside another Cargo workspace.
[workspace]
"#,
        dependencies = template.dependencies(),
    )
}

fn manifest_toml(name: &str, template: Template) -> String {
    format!(
        r#"# What this adapter is and what it asks the host for. An operator approves each
# capability; anything not approved is refused at run time with a `not-granted` error.
id = "{name}"
version = "0.1.0"   # keep equal to `version` in Cargo.toml (`plugin build` checks)
agency = "{name}"
wit = "{wit}"

[capabilities]
{capabilities}
[limits]
cpu-ms = 50
memory-mib = 16
"#,
        wit = crate::plugins::HOST_WIT_VERSION,
        capabilities = template.capabilities(),
    )
}

/// What a new crate starts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// One inquiry answered by the adapter itself.
    #[default]
    Inquiry,
    /// An application whose cases are kept in kv storage (serde JSON), with a fee billed
    /// on the receipt, moved on by its payment, and its status.
    ApplicationKv,
    /// An inquiry answered by the agency's back-end over HTTP, with a payable bill.
    HttpBackend,
}

impl Template {
    fn source(self) -> &'static str {
        match self {
            Template::Inquiry => include_str!("templates/inquiry.rs.tmpl"),
            Template::ApplicationKv => include_str!("templates/application-kv.rs.tmpl"),
            Template::HttpBackend => include_str!("templates/http-backend.rs.tmpl"),
        }
    }

    /// The `[capabilities]` of its manifest.
    fn capabilities(self) -> &'static str {
        match self {
            Template::Inquiry => {
                "# Settings the operator provides, e.g. your back-end's address and API key:
# config = [\"base-url\", \"api-key\"]
# Your back-end, host:port:
# http = [\"api.example.ir:443\"]
# Key-value storage for state between calls, in KiB:
# kv-quota-kib = 256
# The signed-in citizen's attributes (national-id, mobile):
# identity = [\"national-id\"]
"
            }
            Template::ApplicationKv => {
                "# Key-value storage for the cases, in KiB (the operator grants it too):
kv-quota-kib = 256
"
            }
            Template::HttpBackend => {
                "# Your back-end's address and API key, set by the operator:
config = [\"base-url\", \"api-key\"]
# Your back-end, host:port (the operator grants it too):
http = [\"api.example.ir:443\"]
"
            }
        }
    }

    /// Dependencies besides the SDK.
    fn dependencies(self) -> &'static str {
        match self {
            Template::Inquiry => "",
            Template::ApplicationKv | Template::HttpBackend => {
                "serde = { version = \"1\", features = [\"derive\"] }\nserde_json = \"1\"\n"
            }
        }
    }
}

fn lib_rs(name: &str, template: Template) -> String {
    template.source().replace("{name}", name).replace("{Type}", &type_name(name))
}

/// `civil-registry` -> `CivilRegistryAdapter`.
fn type_name(name: &str) -> String {
    let mut out: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    out.push_str("Adapter");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_writes_a_crate_and_refuses_bad_names_and_existing_folders() {
        let parent = std::env::temp_dir().join(format!("panjereh-scaffold-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&parent).unwrap();
        let options = NewAdapter {
            name: "civil-registry".into(),
            parent: parent.clone(),
            sdk: local_sdk(),
            template: Template::Inquiry,
        };
        let crate_dir = new_adapter(&options).unwrap();
        let manifest = Manifest::parse(&std::fs::read_to_string(crate_dir.join("manifest.toml")).unwrap()).unwrap();
        assert_eq!(manifest.id, "civil-registry");
        let identity = crate_identity(&crate_dir).unwrap();
        assert_eq!(identity, CrateIdentity { name: "civil-registry".into(), version: "0.1.0".into() });
        check_versions(&manifest, &identity).unwrap();
        let bumped = CrateIdentity { version: "0.2.0".into(), ..identity };
        let error = check_versions(&manifest, &bumped).unwrap_err().to_string();
        assert!(error.contains("manifest.toml says version 0.1.0 but Cargo.toml says 0.2.0"), "{error}");
        let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("id: \"civil-registry\""));
        assert!(lib.contains("impl Adapter for CivilRegistryAdapter"));
        assert!(new_adapter(&options).unwrap_err().to_string().contains("already exists"));
        for bad in ["Civil", "a b", "-a", "", "1abc"] {
            let options = NewAdapter { name: bad.into(), ..options.clone() };
            assert!(new_adapter(&options).is_err(), "{bad}");
        }
        let cargo = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
        assert!(cargo.contains(&format!("panjereh-plugin-sdk = \"{SDK_VERSION}\"")), "{cargo}");
        assert!(cargo.contains("[patch.crates-io]"), "in the checkout, the local SDK is patched in: {cargo}");
        let published = new_adapter(&NewAdapter { name: "published".into(), sdk: None, ..options.clone() }).unwrap();
        let cargo = std::fs::read_to_string(published.join("Cargo.toml")).unwrap();
        assert!(!cargo.contains("[patch") && !cargo.contains("path ="), "{cargo}");
        let options = NewAdapter { name: "x".into(), sdk: Some(parent.join("nowhere")), ..options.clone() };
        assert!(new_adapter(&options).unwrap_err().to_string().contains("--sdk"));
        std::fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    fn new_crates_depend_on_the_sdk_version_of_this_checkout() {
        let sdk: toml::Table =
            toml::from_str(&std::fs::read_to_string(local_sdk().unwrap().join("Cargo.toml")).unwrap()).unwrap();
        let version = match &sdk["package"]["version"] {
            toml::Value::String(version) => version.clone(),
            _ => {
                let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
                let root: toml::Table = toml::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
                root["workspace"]["package"]["version"].as_str().unwrap().to_owned()
            }
        };
        assert_eq!(version, SDK_VERSION);
        assert_ne!(sdk["package"].get("publish"), Some(&toml::Value::Boolean(false)), "the SDK is publishable");
    }
}
