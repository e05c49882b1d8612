//! Project automation (`cargo xtask ...`, matklad's xtask convention).
//!
//! - `cargo xtask run`: build the sample adapters, start the mock agency back-ends
//!   (`mock-agencies`) and serve everything on 127.0.0.1:8080.
//! - `cargo xtask test`: every test of the workspace (adapters are built from source), then
//!   the portal's end-to-end tests in headless Chromium.
//! - `cargo xtask e2e`: only the end-to-end tests (`tests/e2e/`).
//! - `cargo xtask plugins`: build the sample adapters into `plugins-dist/`.
//! - `cargo xtask bench`: the criterion benchmarks.

mod wasm;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("plugins") => plugins().map(|_| ()),
        Some("e2e") => e2e(),
        Some("bench") => plugins()
            .and_then(|_| bench_adapters(20))
            .and_then(|_| cargo(&["bench", "-p", "panjereh-host"], &args[1..])),
        _ => {
            eprintln!("usage: cargo xtask <run|test|e2e|plugins|bench> [args]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn cargo(args: &[&str], extra: &[String]) -> anyhow::Result<()> {
    let status = Command::new(cargo_bin()).args(args).args(extra).current_dir(root()).status()?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Installs the OpenID provider the single sign-on tests start (`tests/oidc`, pinned by
/// its package-lock.json) unless it is already there.
fn oidc_provider() -> anyhow::Result<()> {
    let dir = root().join("tests").join("oidc");
    if dir.join("node_modules").join("oidc-provider").join("package.json").exists() {
        return Ok(());
    }
    eprintln!("xtask: npm ci in {}", dir.display());
    let status = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status()?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", dir.display());
    }
    Ok(())
}

/// Builds the sample adapters into `plugins-dist/`.
fn plugins() -> anyhow::Result<PathBuf> {
    let root = root();
    eprintln!("xtask: building the sample adapters for {}", wasm::TARGET);
    let built = wasm::build_workspace(&cargo_bin(), &root.join("plugins"), &root.join("target").join("wasm"))
        .map_err(anyhow::Error::msg)?;
    let dist = root.join("plugins-dist");
    wasm::install(&built, &dist).map_err(anyhow::Error::msg)?;
    eprintln!("xtask: {} adapters in {}", built.len(), dist.display());
    Ok(dist)
}

/// Builds the adapters, starts the mock back-ends and serves them with the development
/// configuration.
fn run(extra: &[String]) -> anyhow::Result<()> {
    let dist = plugins()?;
    let root = root();
    // Build both binaries at once, so neither start waits on the other's build.
    cargo(&["build", "-p", "mock-agencies", "-p", "panjereh-host"], &[])?;
    audit_key(&root)?;
    let _mocks = MockAgencies::start()?;
    let status = Command::new(cargo_bin())
        .args(["run", "-p", "panjereh-host", "--bin", "panjereh", "--", "serve", "--plugins"])
        .arg(&dist)
        .arg("--config")
        .arg(root.join("config").join("dev.toml"))
        .args(extra)
        .current_dir(&root)
        .status()
        .context("failed to start the host")?;
    if !status.success() {
        bail!("the host exited with {status}");
    }
    Ok(())
}

/// Makes the evidence log's checkpoint key that `config/dev.toml` names, on first run.
fn audit_key(root: &Path) -> anyhow::Result<()> {
    let data = root.join("data");
    if data.join("audit-checkpoint.key").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&data).with_context(|| format!("failed to create {}", data.display()))?;
    eprintln!("xtask: making the audit checkpoint key data/audit-checkpoint.key");
    let status = Command::new(cargo_bin())
        .args(["run", "--quiet", "-p", "panjereh-host", "--bin", "panjereh", "--", "keygen", "--out"])
        .arg(data.join("audit-checkpoint"))
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .status()
        .context("failed to run panjereh keygen")?;
    if !status.success() {
        bail!("panjereh keygen failed ({status})");
    }
    Ok(())
}

/// The mock agency back-ends as a child process, stopped when dropped.
struct MockAgencies(Option<Child>);

impl MockAgencies {
    /// The addresses `config/dev.toml` grants the adapters.
    const ADDRS: [&str; 2] = ["127.0.0.1:9101", "127.0.0.1:9102"];

    fn start() -> anyhow::Result<MockAgencies> {
        if Self::answering() {
            eprintln!("xtask: mock agency back-ends already answer on {}; using them", Self::ADDRS.join(", "));
            return Ok(MockAgencies(None));
        }
        let mut child = Command::new(cargo_bin())
            .args(["run", "--quiet", "-p", "mock-agencies", "--"])
            .current_dir(root())
            .spawn()
            .context("failed to start mock-agencies")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Self::answering() {
            if let Some(status) = child.try_wait()? {
                bail!("mock-agencies exited with {status}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("mock-agencies did not listen on {} within 60 s", Self::ADDRS.join(", "));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("xtask: mock agency back-ends on {}", Self::ADDRS.join(", "));
        Ok(MockAgencies(Some(child)))
    }

    fn answering() -> bool {
        Self::ADDRS.iter().all(|addr| {
            addr.parse::<SocketAddr>()
                .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
        })
    }
}

impl Drop for MockAgencies {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs every test in the workspace, then the end-to-end tests. The `panjereh` binary is
/// built first: the crash test runs it as a real process and kills it.
fn test(extra: &[String]) -> anyhow::Result<()> {
    oidc_provider()?;
    cargo(&["build", "-p", "panjereh-host", "--bin", "panjereh"], &[])?;
    cargo(&["test", "--workspace"], extra)?;
    polyglot()?;
    e2e()
}

/// The Python adapter's test, when componentize-py is installed (`.ci/run` installs it);
/// it is `#[ignore]`d in plain `cargo test` because building CPython in takes a minute.
fn polyglot() -> anyhow::Result<()> {
    let found = Command::new("componentize-py").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!(
            "xtask: SKIPPING the Python adapter test: componentize-py is not on PATH (pip install componentize-py==0.25.1)"
        );
        return Ok(());
    }
    cargo(&["test", "-p", "panjereh-tests", "--test", "all", "a_python_adapter"], &["--".into(), "--ignored".into()])
}

/// Where Chromium is: `$CHROMIUM`, or Debian's `/usr/bin/chromium`.
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from));
    candidates.into_iter().find(|p| p.is_file())
}

/// The portal's end-to-end tests: a real host with the sample adapters and the applicant
/// test guest, driven by headless Chromium through playwright-core (`tests/e2e/run.mjs`).
fn e2e() -> anyhow::Result<()> {
    let Some(chromium) = chromium() else {
        eprintln!(
            "xtask: SKIPPING the end-to-end browser tests: no Chromium at /usr/bin/chromium \
             (install it with `apt-get install -y chromium`, or set CHROMIUM)"
        );
        return Ok(());
    };
    let root = root();
    let e2e_dir = root.join("tests").join("e2e");
    let wasm_target = root.join("target").join("wasm");
    let mut built =
        wasm::build_workspace(&cargo_bin(), &root.join("plugins"), &wasm_target).map_err(anyhow::Error::msg)?;
    // Only the adapters the run drives: the others need mock back-ends and grants, and their
    // services would change what the searches find.
    built.retain(|b| b.name == "utility-bills");
    let guests = wasm::build_workspace(&cargo_bin(), &root.join("tests").join("guests"), &wasm_target)
        .map_err(anyhow::Error::msg)?;
    built.extend(guests.into_iter().filter(|b| b.name == "applicant"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let work = target.join("e2e");
    let plugins = work.join("plugins");
    let _ = std::fs::remove_dir_all(&plugins);
    wasm::install(&built, &plugins).map_err(anyhow::Error::msg)?;

    cargo(&["build", "-p", "panjereh-host", "--bin", "panjereh"], &[])?;
    // The target folder may be shared by several work trees: run a copy of this build.
    let bin = work.join(format!("panjereh-{}", std::process::id()));
    std::fs::copy(target.join("debug").join("panjereh"), &bin).context("failed to copy the panjereh binary")?;

    let npm = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&e2e_dir)
        .status()
        .context("failed to run npm (install Node.js and npm)")?;
    if !npm.success() {
        bail!("npm ci in tests/e2e failed ({npm})");
    }
    eprintln!("xtask: end-to-end tests in {}", chromium.display());
    let status = Command::new("node")
        .arg(e2e_dir.join("run.mjs"))
        .env("PANJEREH_BIN", &bin)
        .env("PANJEREH_PLUGINS", &plugins)
        .env("CHROMIUM", &chromium)
        .current_dir(&root)
        .status()
        .context("failed to run node")?;
    let _ = std::fs::remove_file(&bin);
    if !status.success() {
        bail!("the end-to-end tests failed ({status})");
    }
    Ok(())
}

/// Generates and builds `n` small adapters (one agency each) for the start-up benchmark.
fn bench_adapters(n: usize) -> anyhow::Result<()> {
    let root = root();
    let ws = root.join("target").join("bench-adapters");
    std::fs::create_dir_all(&ws)?;
    let members: Vec<String> = (1..=n).map(|i| format!("bench-{i:02}")).collect();
    std::fs::write(
        ws.join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[profile.release]\nopt-level = \"s\"\nstrip = true\npanic = \"abort\"\n",
            members.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
        ),
    )?;
    for name in &members {
        let dir = ws.join(name);
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\npanjereh-plugin-sdk = {{ path = \"../../../plugin-sdk\" }}\n"
            ),
        )?;
        std::fs::write(
            dir.join("manifest.toml"),
            format!("id = \"{name}\"\nversion = \"0.1.0\"\nagency = \"{name}\"\nwit = \"0.1.0\"\n"),
        )?;
        std::fs::write(
            dir.join("src/lib.rs"),
            format!(
                r#"use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{{Adapter, export}};
struct A;
impl Adapter for A {{
    fn describe() -> Agency {{
        Agency {{ id: "{name}".into(), name: Text::new("{name}", "{name}"), services: vec![Service::inquiry(
            "ping", Text::new("پینگ", "Ping"), Text::new("پینگ", "Ping"), Category::new("bench", Text::new("آزمون", "Bench")))] }}
    }}
    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {{
        Ok(Document::new(Text::new("پینگ", "Ping")))
    }}
}}
export!(A);
"#
            ),
        )?;
    }
    eprintln!("xtask: building {n} generated adapters for the start-up benchmark");
    let built = wasm::build_workspace(&cargo_bin(), &ws, &root.join("target").join("wasm-bench"))
        .map_err(anyhow::Error::msg)?;
    wasm::install(&built, &ws.join("dist")).map_err(anyhow::Error::msg)?;
    Ok(())
}
