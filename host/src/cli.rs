//! The `panjereh` command: parse flags, initialise logging, run the library.
//!
//! - `scaffold`: `plugin new` and `plugin build`, for agency developers.

pub mod scaffold;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::config::{Config, Overrides};

/// Panjereh: a national single window for government services.
#[derive(Debug, Parser)]
#[command(name = "panjereh", version, about)]
pub struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: load adapters and serve the citizen API.
    Serve {
        /// Address to listen on.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Folder of adapter packages (`NAME.wasm` with `NAME.toml`).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// `sqlite://PATH` (default `sqlite://data/panjereh.db`) or `postgres://...`.
        #[arg(long)]
        database_url: Option<String>,
        /// TOML configuration file (limits, grants, adapter settings).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write, build and manage agency adapters.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// `panjereh plugin ...`: one variant per verb.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Create a new adapter crate that builds and passes its own tests.
    New {
        /// Adapter id and crate name, kebab-case (`civil-registry`).
        name: String,
        /// Folder to create the crate in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Path to the Panjereh plugin SDK (`plugin-sdk/`); defaults to the one next to
        /// this host's sources.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build an adapter crate for wasm32-wasip2 into `NAME.wasm` + `NAME.toml`.
    Build {
        /// The adapter crate.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the package (default: DIR/dist).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, plugins, database_url, config } => {
            let config = Config::load(Overrides { listen, plugins_dir: plugins, database_url, config_file: config })?;
            let listen = config.listen;
            let app = App::start(config).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("failed to bind {listen}: {e}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving");
            crate::api::serve(listener, app, shutdown_signal()).await?;
            Ok(())
        }
        Command::Plugin(command) => plugin(command),
    }
}

fn plugin(command: PluginCommand) -> anyhow::Result<()> {
    match command {
        PluginCommand::New { name, dir, sdk } => {
            let sdk = sdk.unwrap_or_else(scaffold::default_sdk_path);
            let created = scaffold::new_adapter(&scaffold::NewAdapter { name, parent: dir, sdk })?;
            println!("created {}", created.display());
            println!("next:\n  cd {}\n  cargo test\n  panjereh plugin build", created.display());
            Ok(())
        }
        PluginCommand::Build { dir, out } => {
            let package = scaffold::build_adapter(&scaffold::BuildAdapter { dir, out, target_dir: None })?;
            println!("built {} and {}", package.wasm.display(), package.manifest.display());
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
