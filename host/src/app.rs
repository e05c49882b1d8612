//! The application: configuration, the wasm runtime and the adapter registry, built once
//! and shared by every request.

use std::sync::Arc;

use crate::auth::notifier::{LogNotifier, Notifier};
use crate::config::Config;
use crate::plugins::{self, Refusal, Registry};
use crate::runtime::Runtime;
use crate::store::Db;

/// Everything a request handler may need.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub runtime: Arc<Runtime>,
    pub registry: Registry,
    pub db: Db,
    /// Packages refused at start, with the reason (shown by `/readyz`).
    pub refused: Vec<Refusal>,
    /// Delivers one-time codes of the built-in identity provider.
    pub notifier: Arc<dyn Notifier>,
}

impl App {
    /// Builds the runtime and loads the adapters folder; one-time codes go to the log.
    pub async fn start(config: Config) -> anyhow::Result<Arc<App>> {
        App::start_with_notifier(config, Arc::new(LogNotifier)).await
    }

    /// Like [`App::start`], delivering one-time codes through `notifier` (an SMS gateway,
    /// or a `MemoryNotifier` that tests read).
    pub async fn start_with_notifier(config: Config, notifier: Arc<dyn Notifier>) -> anyhow::Result<Arc<App>> {
        let db = Db::connect(&config.database_url).await?;
        let runtime = Runtime::new(&config.runtime)?;
        let registry = Registry::default();
        let (loaded, refused) = plugins::load_dir(&runtime, &config.plugins_dir, &config.adapters, config.limits).await;
        for adapter in loaded {
            let adapter = Arc::new(adapter);
            if let Some(previous) = registry.activate(adapter.clone()) {
                tracing::warn!(
                    agency = %adapter.agency.id,
                    kept = %adapter.manifest.id,
                    replaced = %previous.manifest.id,
                    "two adapters serve the same agency; the later file wins"
                );
            }
        }
        Ok(Arc::new(App { config, runtime, registry, db, refused, notifier }))
    }
}
