//! Project automation (`cargo xtask ...`, matklad's xtask convention).
//!
//! - `cargo xtask run`: build the sample adapters, start the mock agency back-ends
//!   (`mock-agencies`) and serve everything on 127.0.0.1:8080.
//! - `cargo xtask test`: every test of the workspace (adapters are built from source).
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
        Some("bench") => cargo(&["bench", "-p", "panjereh-host"], &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <run|test|plugins|bench> [args]");
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

/// Runs every test in the workspace.
fn test(extra: &[String]) -> anyhow::Result<()> {
    cargo(&["test", "--workspace"], extra)
}
