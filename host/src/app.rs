//! The application: configuration, database, wasm runtime, audit log and the adapter
//! registry with its lifecycle manager, built once and shared by every request.

use std::sync::Arc;

use crate::audit::Audit;
use crate::auth::client_limit::ClientLimits;
use crate::auth::notifier::{LogNotifier, NoNotifier, Notifier, SmsGateway};
use crate::auth::oidc::RelyingParty;
use crate::auth::otp::OtpProvider;
use crate::auth::ownership::{OwnershipCheck, Registry as OwnershipRegistry};
use crate::auth::representation::Representation;
use crate::config::{Config, OtpMode};
use crate::payments::Payments;
use crate::plugins::lifecycle::{Manager, ManagerOptions};
use crate::plugins::{Refusal, Registry};
use crate::runtime::Runtime;
use crate::store::Db;

/// Everything a request handler may need.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub runtime: Arc<Runtime>,
    pub db: Db,
    pub audit: Audit,
    /// The adapters serving now (lock-free reads).
    pub registry: Arc<Registry>,
    /// Install, activate, enable, disable, remove.
    pub plugins: Arc<Manager>,
    /// Packages of the plugins folder refused at start, with the reason (`/readyz`).
    pub refused: Vec<Refusal>,
    /// The built-in one-time-code sign-in: its mode, ownership registry and notifier.
    pub otp: OtpProvider,
    /// The OpenID Connect relying party, when `[oidc]` is configured.
    pub oidc: Option<Arc<RelyingParty>>,
    /// Per-client limits on anonymous inquiries and on starting single sign-on.
    pub limits: ClientLimits,
    /// Sessions this replica looked up lately (`[auth] session-cache-ms`).
    pub sessions: crate::auth::session_cache::SessionCache,
    /// Card payments of bills and fees, when `[payments]` is configured.
    pub payments: Option<Arc<Payments>>,
    /// The SMS gateway of `[auth.sms]`: one-time codes and the inbox's text messages.
    pub sms: Option<Arc<SmsGateway>>,
    /// Who may act for whom (`[representation]`).
    pub representation: Representation,
    /// The SMTP relay of `[notifications.email]`.
    pub mailer: Option<Arc<crate::auth::email::Mailer>>,
}

impl App {
    /// Connects the database, builds the runtime, installs the plugins folder, loads the
    /// desired adapters and starts following other replicas' changes. One-time codes go
    /// through the SMS gateway of `[auth.sms]`, or to the log in `otp = "development"`.
    pub async fn start(config: Config) -> anyhow::Result<Arc<App>> {
        let notifier: Arc<dyn Notifier> = match (config.auth.otp, &config.sms) {
            (OtpMode::Development, _) => {
                tracing::warn!(
                    "otp = \"development\": one-time codes are written to the log and nobody checks who owns a mobile; never use this mode for real citizens"
                );
                Arc::new(LogNotifier)
            }
            (OtpMode::RegistryChecked, Some(sms)) => Arc::new(SmsGateway::new(sms.clone())?),
            (OtpMode::RegistryChecked, None) => {
                anyhow::bail!(
                    "auth.otp = \"registry-checked\" needs [auth.sms], the SMS gateway codes are sent through"
                )
            }
            (OtpMode::Off, _) => Arc::new(NoNotifier),
        };
        App::start_with_notifier(config, notifier).await
    }

    /// Like [`App::start`], delivering one-time codes through `notifier` (an SMS gateway,
    /// or a `MemoryNotifier` that tests read).
    pub async fn start_with_notifier(config: Config, notifier: Arc<dyn Notifier>) -> anyhow::Result<Arc<App>> {
        crate::metrics::handle();
        let ownership = match &config.registry {
            Some(settings) => Some(Arc::new(OwnershipRegistry::new(settings.clone())?) as Arc<dyn OwnershipCheck>),
            None => None,
        };
        let otp = OtpProvider::new(config.auth, ownership, notifier)?;
        let oidc = match &config.oidc {
            Some(settings) => Some(Arc::new(RelyingParty::new(settings.clone(), &config.egress.extra_roots)?)),
            None => None,
        };
        let db = Db::connect(&config.database_url).await?;
        let runtime = Runtime::new(&config.runtime)?;
        let audit = Audit::start(db.clone(), config.audit.key.clone());
        if config.audit.key.is_none() {
            tracing::warn!(
                "no audit checkpoint key is configured ([audit] checkpoint-key): the evidence log is not anchored, so entries deleted from its end cannot be found"
            );
        }
        let registry = Arc::new(Registry::default());
        let plugins = Arc::new(Manager::new(
            runtime.clone(),
            db.clone(),
            audit.clone(),
            registry.clone(),
            ManagerOptions {
                settings: config.adapters.clone(),
                defaults: config.limits,
                cache_dir: config.cache_dir.clone(),
                trust: config.trust.clone(),
                egress: config.egress.clone(),
            },
        ));
        let refused = plugins.install_folder(&config.plugins_dir, crate::plugins::lifecycle::Source::Folder).await;
        plugins.reconcile().await?;
        plugins.follow(&config.database_url, config.reconcile_every);
        if let (Some(key), Some(every)) = (&config.audit.key, config.audit.checkpoint_every) {
            crate::audit::checkpoint::spawn_periodic(
                db.clone(),
                key.clone(),
                config.audit.keyring(),
                config.audit.checkpoint_dir.clone(),
                every,
            );
        }
        let limits = ClientLimits::new(&config);
        let sessions = crate::auth::session_cache::SessionCache::new(config.auth.session_cache);
        let payments = match &config.payments {
            Some(settings) => {
                let payments = Arc::new(Payments::new(settings.clone(), db.clone(), audit.clone(), registry.clone())?);
                payments.spawn_reconciler();
                Some(payments)
            }
            None => None,
        };
        let sms = config.sms.clone().map(SmsGateway::new).transpose()?.map(Arc::new);
        let representation = Representation::new(config.representation.clone())?;
        let mailer = config.email.as_ref().map(crate::auth::email::Mailer::new).transpose()?.map(Arc::new);
        let app = Arc::new(App {
            config,
            runtime,
            db,
            audit,
            registry,
            plugins,
            refused,
            otp,
            oidc,
            limits,
            sessions,
            payments,
            sms,
            representation,
            mailer,
        });
        crate::background::spawn(app.clone());
        Ok(app)
    }
}
