//! The `panjereh` command: parse flags, initialise logging, run the library.
//!
//! `serve` runs the host. The host verbs of `plugin` talk to a running host's admin API with
//! an operator token (`admin_client`); its authoring verbs `new`, `build` (see `scaffold`)
//! and `sign` work locally; `operator` and `audit` commands work on the database directly.
//! Every command writes its answer to an [`Out`] (standard output, or a buffer in tests).

mod admin_client;
pub mod scaffold;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::config::{Config, Overrides};
use crate::plugins::signature;
use crate::store::Db;
use crate::store::operators::Role;

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

/// Where the database is, for commands that use it directly.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// `sqlite://PATH` (default `sqlite://data/panjereh.db`) or `postgres://...`.
    #[arg(long)]
    pub database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl DbArgs {
    fn config(self) -> anyhow::Result<Config> {
        Config::load(Overrides { database_url: self.database_url, config_file: self.config, ..Default::default() })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the host: load adapters and serve the citizen and admin APIs.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Folder of adapter packages (`NAME.wasm` with `NAME.toml`, optional `NAME.wasm.sig`).
        #[arg(long)]
        plugins: Option<PathBuf>,
        /// Reinstall an adapter of the plugins folder when its file changes (development).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Write adapters (new, build, sign) and manage them on a running host (install,
    /// list, show, enable, disable, activate, rollback, remove).
    ///
    /// Authoring verbs work on this machine and need no host: `new` creates an adapter
    /// crate, `build` compiles it for wasm32-wasip2 and loads it the way a host would
    /// (refusing what a host would refuse), `sign` signs a package with an agency key.
    ///
    /// Host verbs talk to a running host's admin API (`--host`, default
    /// http://127.0.0.1:8080) with an operator token (`--token` or `PANJEREH_TOKEN`, from
    /// `panjereh operator create`): `install`, `list`, `show`, `enable`, `disable`,
    /// `activate`, `rollback`, `remove`.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Check the evidence log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create an Ed25519 key pair for signing an agency's adapters.
    Keygen {
        /// Writes PREFIX.key (secret, keep it safe) and PREFIX.pub (give it to operators).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file without starting the host: what it would run with, or
    /// why it would not start.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// [authoring] Create a new adapter crate that builds and passes its own tests.
    New {
        /// Adapter id and crate name, kebab-case (`civil-registry`).
        name: String,
        /// Folder to create the crate in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// A local checkout of the SDK (`plugin-sdk/`) to build against, written as a
        /// `[patch.crates-io]` override; default: the one next to this host's sources when
        /// it exists, else none (the published `panjereh-plugin-sdk`).
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// What the crate starts as: `inquiry` (answered by the adapter itself),
        /// `application-kv` (cases in kv storage with a fee on the receipt), `http-backend`
        /// (an inquiry answered by the agency's back-end, with a payable bill).
        #[arg(long, value_enum, default_value_t)]
        template: scaffold::Template,
    },
    /// [authoring] Build an adapter crate for wasm32-wasip2 into `ID.wasm` + `ID.toml`, checked
    /// the way a host loads it.
    Build {
        /// The adapter crate.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Where to write the package (default: DIR/dist).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Sign the package with this secret key file (from `panjereh keygen`), writing
        /// `ID.wasm.sig`. Without it, a signature left from an earlier build is removed.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        /// Cargo's target folder (default: DIR/target); several adapters may share one.
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// [authoring] Sign a package with an agency key: writes `COMPONENT.sig`, covering the
    /// component, the manifest, and the agency, id and version it names.
    Sign {
        component: PathBuf,
        /// The manifest (default: `NAME.toml` next to the component).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// The secret key file from `panjereh keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// [host] Upload a package (component, manifest, signature) and switch to it.
    Install {
        /// The component, `NAME.wasm`; the manifest `NAME.toml` and signature
        /// `NAME.wasm.sig` next to it are used unless given.
        component: PathBuf,
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[arg(long)]
        signature: Option<PathBuf>,
        /// Store the version without switching to it.
        #[arg(long)]
        no_activate: bool,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] List installed adapters.
    List {
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] Show one adapter: versions, history, digest, grants, state, call statistics.
    Show {
        id: String,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] Serve an adapter's services again.
    Enable {
        id: String,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] Take an adapter's services down for maintenance (they answer 503).
    Disable {
        id: String,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] Switch to any stored version (upgrade or downgrade); `plugin show` lists them.
    Activate {
        id: String,
        version: String,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] Step back to the version before the active one in its activation history;
    /// each rollback goes one further back (3, 2, 1), never back and forth.
    Rollback {
        id: String,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
    /// [host] Remove an adapter and all its versions (its kv data stays, and its id stays
    /// its agency's), or with `--version` one stored version that is not the active one.
    Remove {
        id: String,
        /// Remove only this stored version.
        #[arg(long, conflicts_with = "purge")]
        version: Option<String>,
        /// Also erase the adapter's kv data.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        host: admin_client::HostArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create an operator and print its token (shown once). An operator whose token
    /// expired or was revoked can be created again under the same name.
    Create {
        /// A name for the audit log, e.g. a person's user name.
        #[arg(long)]
        name: String,
        /// `admin` changes adapters; `auditor` only reads.
        #[arg(long, value_parser = ["admin", "auditor"])]
        role: String,
        /// How long the token works: a number with `d`, `h`, `m` or `s` (at most 3650d).
        #[arg(long, default_value = "90d", value_parser = parse_ttl)]
        ttl: std::time::Duration,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an operator's token at once (a running host refuses it from then on).
    Revoke {
        /// The operator's name.
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List operators with their role and whether their token works (never the token).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// A token lifetime such as `90d`, `12h`, `30m` or `45s`.
fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a number with a unit, like 90d"))?;
    let seconds = match unit {
        "d" => number.checked_mul(86_400),
        "h" => number.checked_mul(3600),
        "m" => number.checked_mul(60),
        "s" => Some(number),
        _ => return Err(format!("`{text}`: the unit must be d, h, m or s")),
    };
    match seconds {
        Some(0) => Err("the lifetime must be positive".to_owned()),
        Some(s) if s <= 3650 * 86_400 => Ok(std::time::Duration::from_secs(s)),
        _ => Err("the lifetime may be at most 3650d".to_owned()),
    }
}

fn parse_instant(text: &str) -> Result<i64, String> {
    crate::audit::parse_instant(text)
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first broken link (exit status 1 if any); with
    /// the checkpoint key, also check the newest seal and the latest checkpoint, so that a
    /// log cut short or extended outside the host is reported.
    Verify {
        /// More folders of checkpoint files to check against (copies kept elsewhere),
        /// besides the database and `[audit] checkpoint-dir`.
        #[arg(long)]
        checkpoints: Vec<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List entries of the evidence log, oldest first among the newest `--limit` that pass
    /// the filters: time (RFC 3339, UTC), kind, actor, subject and data (a JSON object).
    List {
        /// An adapter or agency id: entries about it or naming it as their agency.
        #[arg(long)]
        agency: Option<String>,
        /// An operator's name or a citizen's pseudonym: entries it made, or that were made
        /// on its behalf.
        #[arg(long)]
        actor: Option<String>,
        /// A kind (`admin.install`), or kinds by prefix (`admin.*`, `call.*`).
        #[arg(long)]
        kind: Option<String>,
        /// Entries at or after this time: RFC 3339 (`2026-12-01T08:30:00Z`) or a day
        /// (`2026-12-01`, UTC).
        #[arg(long, value_parser = parse_instant)]
        since: Option<i64>,
        /// Entries before this time (same forms as `--since`).
        #[arg(long, value_parser = parse_instant)]
        until: Option<i64>,
        /// How many entries, at most.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// One JSON object per line instead of columns.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make a signed checkpoint of the log's newest sealed entry now and write its file.
    Checkpoint {
        #[command(flatten)]
        db: DbArgs,
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
    match runtime.block_on(run(cli.command, &mut std::io::stdout())) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    // Colours only for a person at a terminal; a log file or a pipe gets plain text
    // (`NO_COLOR` turns them off at a terminal too).
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Where a command writes what it answers (standard output; a buffer in tests). Notes for
/// the person at the terminal go to standard error.
pub type Out<'a> = &'a mut (dyn std::io::Write + Send);

/// Runs a command line (`args[0]` is the program's name) as `main` would, without
/// initialising logging: what tests drive the CLI with.
pub async fn run_args<I, T>(args: I) -> anyhow::Result<ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run(Cli::try_parse_from(args)?.command, &mut std::io::stdout()).await
}

/// Like [`run_args`], answering what the command printed on standard output too.
pub async fn run_args_output<I, T>(args: I) -> anyhow::Result<(ExitCode, String)>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut out = Vec::new();
    let code = run(Cli::try_parse_from(args)?.command, &mut out).await?;
    Ok((code, String::from_utf8_lossy(&out).into_owned()))
}

async fn run(command: Command, out: Out<'_>) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { listen, plugins, watch, db } => {
            let config = Config::load(Overrides {
                listen,
                plugins_dir: plugins,
                database_url: db.database_url,
                config_file: db.config,
                cache_dir: None,
            })?;
            let listen = config.listen;
            let app = App::start(config).await?;
            if watch {
                crate::watch::spawn(app.clone())?;
            }
            let listener =
                tokio::net::TcpListener::bind(listen).await.with_context(|| format!("failed to bind {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving");
            crate::api::serve(listener, app, shutdown_signal()).await?;
        }
        Command::Plugin(command) => plugin(command, out).await?,
        Command::Operator(command) => operator(command, out).await?,
        Command::Audit(AuditCommand::Verify { checkpoints, db }) => {
            let config = db.config()?;
            let db = existing_database(&config.database_url).await?;
            let mut anchor = config.audit.anchor();
            anchor.dirs.extend(checkpoints);
            let report = crate::audit::verify(&db, &anchor).await?;
            match &report.first_broken {
                None => writeln!(out, "audit log intact: {} entries verified", report.entries)?,
                Some(broken) => {
                    writeln!(out, "audit log BROKEN at entry {}: {}", broken.seq, broken.reason)?;
                    writeln!(out, "{} entries before it verified", report.entries)?;
                }
            }
            match &report.head {
                Some(head) => writeln!(out, "head: entry {} hash {}", head.seq, head.hash)?,
                None => writeln!(out, "head: none (the log is empty)")?,
            }
            if let Some(seq) = report.sealed_to {
                writeln!(out, "sealed by this host up to entry {seq}")?;
            }
            match &report.checkpoint {
                Some(checkpoint) => {
                    let at = crate::text::rfc3339(checkpoint.at);
                    writeln!(
                        out,
                        "verified against checkpoint: entry {} hash {} made {at} ({})",
                        checkpoint.seq, checkpoint.hash, checkpoint.source
                    )?;
                }
                None => writeln!(out, "verified against checkpoint: none")?,
            }
            if let Some(warning) = &report.warning {
                writeln!(out, "warning: {warning}")?;
            }
            if let Some(waiting) = report.unchained {
                writeln!(
                    out,
                    "not chained yet: {waiting} entries committed with their filings wait in audit_pending; a running host chains them"
                )?;
            }
            if !report.ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit(AuditCommand::List { agency, actor, kind, since, until, limit, json, db }) => {
            let db = existing_database(&db.config()?.database_url).await?;
            let filter = crate::audit::Filter { agency, actor, kind, since_ms: since, until_ms: until, before: None };
            let mut entries = crate::audit::list(&db, &filter, limit).await?;
            entries.reverse();
            if entries.is_empty() {
                eprintln!("no entries match");
            }
            if !json {
                writeln!(out, "{:>8}  {:<24}  {:<24}  {:<20}  {:<20}  DATA", "SEQ", "AT", "KIND", "ACTOR", "SUBJECT")?;
            }
            for entry in entries {
                let view = crate::api::admin::AuditEntryView::new(entry);
                if json {
                    writeln!(out, "{}", serde_json::to_string(&view)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>8}  {:<24}  {:<24}  {:<20}  {:<20}  {}",
                        view.seq, view.at, view.kind, view.actor, view.subject, view.data
                    )?;
                }
            }
        }
        Command::Audit(AuditCommand::Checkpoint { db }) => {
            let config = db.config()?;
            let settings = &config.audit;
            let key = settings.key.as_deref().context("no checkpoint key is configured ([audit] checkpoint-key)")?;
            let db = existing_database(&config.database_url).await?;
            let made = crate::audit::checkpoint::make(&db, key, &settings.keyring(), &settings.checkpoint_dir).await?;
            eprintln!("checkpoint of entry {} in {}", made.seq, settings.checkpoint_dir.display());
            writeln!(out, "{}", serde_json::to_string_pretty(&made)?)?;
        }
        Command::Config(ConfigCommand::Check { file }) => return check_config(file, out),
        Command::Keygen { out: prefix } => {
            let (secret, public) = signature::generate();
            let key = prefix.with_extension("key");
            let pub_path = prefix.with_extension("pub");
            write_secret(&key, &secret)?;
            std::fs::write(&pub_path, format!("{public}\n"))
                .with_context(|| format!("failed to write {}", pub_path.display()))?;
            eprintln!("wrote {} (secret) and {} (public)", key.display(), pub_path.display());
            writeln!(out, "{public}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Operators are managed on the database directly, like `audit verify`.
async fn operator(command: OperatorCommand, out: Out<'_>) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Create { name, role, ttl, db } => {
            let db = existing_database(&db.config()?.database_url).await?;
            let role = Role::parse(&role).context("role must be admin or auditor")?;
            let (operator, token) = db.create_operator(&name, role, ttl).await?;
            let expires = crate::text::rfc3339(crate::store::now_ms() + ttl.as_millis() as i64);
            eprintln!(
                "created operator `{}` ({}), token valid until {expires}; the token, shown only now:",
                operator.name,
                role.as_str()
            );
            writeln!(out, "{token}")?;
        }
        OperatorCommand::Revoke { name, db } => {
            let config = db.config()?;
            let db = existing_database(&config.database_url).await?;
            db.revoke_operator(&name).await?.with_context(|| format!("no operator named `{name}`"))?;
            crate::audit::Audit::start(db.clone(), config.audit.key.clone())
                .record(crate::audit::Entry {
                    kind: "admin.operator-revoke".into(),
                    actor: "cli".into(),
                    subject: name.clone(),
                    data: serde_json::json!({}),
                })
                .await?;
            eprintln!("revoked the token of operator `{name}`");
        }
        OperatorCommand::List { db } => {
            let db = existing_database(&db.config()?.database_url).await?;
            let now = crate::store::now_ms();
            writeln!(out, "{:<24} {:<8} {:<8} {:<25} {:<25}", "NAME", "ROLE", "TOKEN", "ISSUED", "EXPIRES")?;
            for operator in db.operators().await? {
                writeln!(
                    out,
                    "{:<24} {:<8} {:<8} {:<25} {:<25}",
                    operator.name,
                    operator.role.as_str(),
                    operator.state(now).as_str(),
                    crate::text::rfc3339(operator.created_ms),
                    crate::text::rfc3339(operator.expires_ms),
                )?;
            }
        }
    }
    Ok(())
}

/// `plugin new` and `plugin build` work locally; every other verb talks to a host.
async fn plugin(command: PluginCommand, out: Out<'_>) -> anyhow::Result<()> {
    match command {
        PluginCommand::New { name, dir, sdk, template } => {
            let sdk = sdk.or_else(scaffold::local_sdk);
            let created = scaffold::new_adapter(&scaffold::NewAdapter { name, parent: dir, sdk, template })?;
            writeln!(out, "created {}", created.display())?;
            writeln!(out, "next:\n  cd {}\n  cargo test\n  panjereh plugin build", created.display())?;
            Ok(())
        }
        PluginCommand::Build { dir, out: dist, sign, target_dir } => {
            let package = scaffold::build_adapter(&scaffold::BuildAdapter { dir, out: dist, target_dir }).await?;
            writeln!(out, "built {} and {}", package.wasm.display(), package.manifest.display())?;
            writeln!(
                out,
                "checked as a host loads it: {} {} for agency {}, contract {}, services: {}",
                package.id,
                package.version,
                package.agency,
                package.wit,
                package.services.join(", ")
            )?;
            if let Some(key) = sign {
                let written = admin_client::sign_package(&package.wasm, &package.manifest, &key)?;
                writeln!(out, "signed: {}", written.display())?;
            }
            Ok(())
        }
        command => admin_client::run(command, out).await,
    }
}

/// The host's database for an operator command: never created by the command (a typo in
/// `--database-url` or the wrong folder would otherwise make a new, empty database and
/// answer about it).
async fn existing_database(url: &str) -> anyhow::Result<Db> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if file != ":memory:" && !Path::new(file).exists() {
            anyhow::bail!(
                "there is no database at {file}: start the host once (`panjereh serve`), or point --database-url (or the configuration's database-url) at the host's database"
            );
        }
    }
    Db::connect(url).await
}

/// `panjereh config check FILE`: what the host would run with, or why it would not start.
fn check_config(file: PathBuf, out: Out<'_>) -> anyhow::Result<ExitCode> {
    let config = Config::load(Overrides { config_file: Some(file.clone()), ..Default::default() })
        .with_context(|| format!("{} is not a configuration the host would start with", file.display()))?;
    writeln!(out, "{}: valid", file.display())?;
    writeln!(out, "  listen            {}", config.listen)?;
    writeln!(
        out,
        "  database          {}",
        config.database_url.split('@').next_back().unwrap_or(&config.database_url)
    )?;
    writeln!(out, "  plugins           {}", config.plugins_dir.display())?;
    writeln!(out, "  one-time codes    {}", config.auth.otp.name())?;
    writeln!(out, "  signatures        {}", if config.trust.required { "required" } else { "optional" })?;
    writeln!(out, "  payments          {}", if config.payments.is_some() { "configured" } else { "off" })?;
    writeln!(out, "  acting for others {}", if config.representation.is_some() { "configured" } else { "off" })?;
    writeln!(
        out,
        "  audit anchor      {}",
        if config.audit.key.is_some() { "checkpoint key" } else { "none (unanchored)" }
    )?;
    for (id, adapter) in &config.adapters {
        writeln!(out, "  adapter {id}: {:?}", adapter.grant)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).with_context(|| format!("failed to create {} (it must not exist yet)", path.display()))?;
    writeln!(file, "{secret}")?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_take_a_unit_and_stay_bounded() {
        assert_eq!(parse_ttl("90d"), Ok(std::time::Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_ttl("12h"), Ok(std::time::Duration::from_secs(12 * 3600)));
        assert_eq!(parse_ttl("30m"), Ok(std::time::Duration::from_secs(1800)));
        assert_eq!(parse_ttl("45s"), Ok(std::time::Duration::from_secs(45)));
        for bad in ["0d", "90", "d", "-1d", "1w", "3651d", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
