//! Project automation (`cargo xtask ...`, matklad's xtask convention).
//!
//! - `cargo xtask run`: build the sample adapters, start the mock agency back-ends
//!   (`mock-agencies`) and serve everything on 127.0.0.1:8080.
//! - `cargo xtask test`: every test of the workspace (adapters are built from source), then
//!   the portal's end-to-end tests in headless Chromium.
//! - `cargo xtask e2e`: only the end-to-end tests (`tests/e2e/`).
//! - `cargo xtask plugins`: build the sample adapters into `plugins-dist/`.
//! - `cargo xtask bench`: the criterion benchmarks.

mod layers;
mod supervise;
mod wasm;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !matches!(args.first().map(String::as_str), Some("run" | "test" | "plugins" | "e2e" | "bench")) {
        eprintln!("usage: cargo xtask <run|test|e2e|plugins|bench> [args]");
        return ExitCode::from(2);
    }
    let result =
        prerequisites(args.first().map(String::as_str)).and_then(|()| match args.first().map(String::as_str) {
            Some("run") => run(&args[1..]),
            Some("test") => test(&args[1..]),
            Some("plugins") => plugins().map(|_| ()),
            Some("e2e") => e2e(),
            Some("bench") => plugins()
                .and_then(|_| bench_adapters(20))
                .and_then(|_| cargo(&["bench", "-p", "panjereh-host"], &args[1..])),
            _ => unreachable!("checked above"),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Checks and installs what a command needs before it builds anything, so that nothing
/// fails deep inside a build: the wasm32-wasip2 standard library for every command; Node.js
/// and PostgreSQL for the tests. Optional parts (Chromium, componentize-py) are checked
/// where they are used and skipped with a message naming their install step.
fn prerequisites(command: Option<&str>) -> anyhow::Result<()> {
    if let Some(installed) = wasm::ensure_target(&cargo_bin(), &root()).map_err(anyhow::Error::msg)? {
        eprintln!("xtask: {installed}");
    }
    if matches!(command, Some("test" | "e2e")) {
        let npm = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
        if !npm {
            bail!(
                "the tests need Node.js and npm, which were not found: install them (`apt-get install -y nodejs npm`)"
            );
        }
    }
    if command == Some("test") && std::env::var_os("PANJEREH_TEST_POSTGRES").is_none() && !answering(POSTGRES) {
        bail!(
            "the tests need PostgreSQL on {POSTGRES} with trust authentication, which does not answer: \
             start it (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)"
        );
    }
    Ok(())
}

/// Where the tests expect PostgreSQL (`tests/all/harness.rs`).
const POSTGRES: &str = "127.0.0.1:5432";

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

/// The folder cargo builds the workspace into.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// Builds the adapters, the host and the mock back-ends, then serves them with the
/// development configuration until the host exits or `cargo xtask run` gets SIGINT or
/// SIGTERM; either way the host and the back-ends it started are stopped before it returns.
fn run(extra: &[String]) -> anyhow::Result<()> {
    let stop = supervise::Stop::on_signals()?;
    let root = root();
    MockAgencies::check_ports_free()?;
    // The host and the mock back-ends (one cargo invocation) build while the adapters do:
    // both builds have long single-threaded stretches that the other fills. The binaries are
    // then started directly, not through `cargo run`, so nothing stands between this process
    // and theirs.
    let build = stop.spawn(
        "cargo build",
        Command::new(cargo_bin())
            .args([
                "build",
                "-p",
                "mock-agencies",
                "-p",
                "panjereh-host",
                "--bin",
                "panjereh",
                "--bin",
                "mock-agencies",
            ])
            .current_dir(&root),
    )?;
    let dist = plugins();
    stop.finish(&build)?;
    let dist = dist?;
    let bin = target_dir().join("debug");
    audit_key(&root, &bin)?;
    let mocks = stop.spawn("mock-agencies", Command::new(bin.join("mock-agencies")).current_dir(&root))?;
    MockAgencies::wait_until_answering(&stop, &mocks)?;
    let mut host = Command::new(bin.join("panjereh"));
    host.args(["serve", "--plugins"])
        .arg(&dist)
        .arg("--config")
        .arg(root.join("config").join("dev.toml"))
        .args(extra)
        .current_dir(&root);
    let host = stop.spawn("the host", &mut host)?;
    let ended = stop.wait_any(&[&host, &mocks]);
    stop.terminate_all();
    match ended {
        supervise::Ended::Signal => {
            eprintln!("xtask: stopped the host and the mock agency back-ends");
            Ok(())
        }
        supervise::Ended::Exited(name, status) => bail!("{name} exited with {status}"),
    }
}

/// Makes the evidence log's checkpoint key that `config/dev.toml` names, on first run.
fn audit_key(root: &Path, bin: &Path) -> anyhow::Result<()> {
    let data = root.join("data");
    if data.join("audit-checkpoint.key").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&data).with_context(|| format!("failed to create {}", data.display()))?;
    eprintln!("xtask: making the audit checkpoint key data/audit-checkpoint.key");
    let status = Command::new(bin.join("panjereh"))
        .args(["keygen", "--out"])
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

/// The mock agency back-ends `cargo xtask run` starts.
struct MockAgencies;

impl MockAgencies {
    /// The addresses `config/dev.toml` names: the police and tax back-ends the adapters are
    /// granted, the mobile-ownership registry and the SMS gateway of sign-in, the payment gateway, the companies and civil registries.
    const ADDRS: [&str; 7] = [
        "127.0.0.1:9101",
        "127.0.0.1:9102",
        "127.0.0.1:9103",
        "127.0.0.1:9104",
        "127.0.0.1:9105",
        "127.0.0.1:9106",
        "127.0.0.1:9107",
    ];

    /// Refuses to start when a back-end address is taken, naming what holds it: a back-end
    /// left over from another run (or another checkout) would silently answer with its own
    /// code and fixtures.
    fn check_ports_free() -> anyhow::Result<()> {
        for addr in Self::ADDRS {
            if !answering(addr) {
                continue;
            }
            match mock_identity(addr) {
                Some(who) => bail!(
                    "{addr} is taken by a mock agency back-end that this run did not start ({who}); \
                     stop it and run again"
                ),
                None => bail!("{addr} is taken by another program; free it (`ss -ltnp 'sport = :{}'`)", port(addr)),
            }
        }
        Ok(())
    }

    fn wait_until_answering(stop: &supervise::Stop, mocks: &supervise::Child) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Self::ADDRS.iter().all(|a| answering(a)) {
            if let Some(status) = stop.exited(mocks) {
                bail!("mock-agencies exited with {status}");
            }
            if stop.signalled() {
                stop.terminate_all();
                bail!("interrupted");
            }
            if Instant::now() > deadline {
                stop.terminate_all();
                bail!("mock-agencies did not listen on {} within 60 s", Self::ADDRS.join(", "));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("xtask: mock agency back-ends on {}", Self::ADDRS.join(", "));
        Ok(())
    }
}

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or(addr)
}

fn answering(addr: &str) -> bool {
    addr.parse::<SocketAddr>().is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
}

/// Asks whatever listens on `addr` whether it is a mock back-end (`GET /_mock-agencies`)
/// and returns its checkout and process id.
fn mock_identity(addr: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET /_mock-agencies HTTP/1.0\r\nhost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200").then_some(()).or_else(|| head.starts_with("HTTP/1.1 200").then_some(()))?;
    Some(body.trim().to_owned())
}

/// Checks the host's layering, runs every test in the workspace and the sample adapters',
/// then the end-to-end tests. The `panjereh` binary is
/// built first: the crash test runs it as a real process and kills it.
fn test(extra: &[String]) -> anyhow::Result<()> {
    let violations = layers::check(&root().join("host/src"))?;
    if !violations.is_empty() {
        for violation in &violations {
            eprintln!("xtask: {violation}");
        }
        anyhow::bail!("the host's layering rule is broken (see ARCHITECTURE.md, \"Layers\")");
    }
    oidc_provider()?;
    cargo(&["build", "-p", "panjereh-host", "--bin", "panjereh"], &[])?;
    cargo(&["test", "--workspace"], extra)?;
    // The sample adapters' own tests, natively against the SDK's fakes (their workspace is
    // separate: it builds for wasm32-wasip2 too).
    cargo(&["test", "--manifest-path", "plugins/Cargo.toml"], &[])?;
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
    // Only the adapters the run drives: the others need mock back-ends, and their services
    // would change what the searches find. Isfahan's keeps its cases itself, and its
    // contractor renewal is what a company's signatory files.
    built.retain(|b| b.name == "utility-bills" || b.name == "isfahan-municipality");
    let guests = wasm::build_workspace(&cargo_bin(), &root.join("tests").join("guests"), &wasm_target)
        .map_err(anyhow::Error::msg)?;
    built.extend(guests.into_iter().filter(|b| b.name == "applicant"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let work = target.join("e2e");
    let plugins = work.join("plugins");
    let _ = std::fs::remove_dir_all(&plugins);
    wasm::install(&built, &plugins).map_err(anyhow::Error::msg)?;

    cargo(
        &["build", "-p", "panjereh-host", "--bin", "panjereh", "-p", "mock-agencies", "--bin", "mock-agencies"],
        &[],
    )?;
    // The target folder may be shared by several work trees: run copies of this build.
    let bin = work.join(format!("panjereh-{}", std::process::id()));
    std::fs::copy(target.join("debug").join("panjereh"), &bin).context("failed to copy the panjereh binary")?;
    let mocks = work.join(format!("mock-agencies-{}", std::process::id()));
    std::fs::copy(target.join("debug").join("mock-agencies"), &mocks)
        .context("failed to copy the mock-agencies binary")?;

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
        .env("PANJEREH_MOCKS", &mocks)
        .env("CHROMIUM", &chromium)
        .current_dir(&root)
        .status()
        .context("failed to run node")?;
    let _ = std::fs::remove_file(&bin);
    let _ = std::fs::remove_file(&mocks);
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
            format!("id = \"{name}\"\nversion = \"0.1.0\"\nagency = \"{name}\"\nwit = \"0.2.0\"\n"),
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
