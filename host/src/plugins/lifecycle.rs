//! The adapter lifecycle: install, activate (upgrade or roll back), enable, disable and
//! remove, with the database as the source of truth that every replica converges to.
//!
//! A change is written to the database, audited, announced to other replicas (PostgreSQL
//! `NOTIFY`), and applied here by [`Manager::reconcile`], which builds the next registry
//! off the request path (compiling only what is not compiled yet) and swaps it in
//! atomically. The previous version of each adapter stays compiled for instant rollback.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::signature::{PackageClaim, SignatureError, Trust};
use super::{Adapter, LoadError, Manifest, Refusal, Registry, Slot};
use crate::audit::{Audit, Entry};
use crate::capabilities::{EgressOptions, HostServices};
use crate::config::AdapterSettings;
use crate::runtime::{CallLimits, Runtime};
use crate::store::packages::{DesiredState, StoredVersion, rollback_index};
use crate::store::{Backend, Db, now_ms};

/// The PostgreSQL channel on which replicas announce adapter changes.
pub const CHANNEL: &str = "panjereh_adapters";

/// A package as uploaded: manifest text, component bytes, optional signature (base64).
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: String,
    pub wasm: Vec<u8>,
    pub signature: Option<String>,
}

/// Where a package came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Uploaded by an operator: versions are immutable.
    Upload,
    /// Found in the `--plugins` folder at start: a rebuilt component may replace the same
    /// version, which is what a developer expects; a newer version is stored, and an
    /// operator activates it.
    Folder,
    /// Found by `serve --watch` in the folder a developer builds into: like [`Source::Folder`],
    /// and a version newer than the active one is activated (the swap is logged).
    Watch,
}

impl Source {
    /// How the audit log names it.
    pub fn name(self) -> &'static str {
        match self {
            Source::Upload => "upload",
            Source::Folder => "folder",
            Source::Watch => "watch",
        }
    }
}

/// Why an install was refused. Nothing is stored when it is.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("signature refused: {0}")]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{id} {version} is already installed with different content: give the new build a new version")]
    VersionExists { id: String, version: String },
    #[error("agency `{agency}` is already served by adapter `{by}`")]
    AgencyTaken { agency: String, by: String },
    #[error(
        "adapter id `{id}` belongs to agency `{owner}`; a package of agency `{agency}` may not use it: give the adapter an id of its own"
    )]
    IdTaken { id: String, owner: String, agency: String },
    #[error("storage failed: {0:#}")]
    Storage(anyhow::Error),
}

/// Why a lifecycle change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no adapter `{0}` is installed")]
    NotFound(String),
    #[error("adapter `{id}` has no version {version}")]
    NoSuchVersion { id: String, version: String },
    #[error(
        "adapter `{0}` has no earlier version in its history to roll back to (`activate VERSION` switches to any stored version)"
    )]
    NoPrevious(String),
    #[error(
        "version {version} of `{id}` is the active one: activate another version first, or remove the whole adapter"
    )]
    ActiveVersion { id: String, version: String },
    #[error("adapter `{0}` was changed by someone else meanwhile: look at it again (`plugin show`) and retry")]
    Changed(String),
    #[error("version {version} of `{id}` cannot be loaded: {reason}")]
    Unloadable { id: String, version: String, reason: String },
    #[error("storage failed: {0:#}")]
    Storage(anyhow::Error),
}

impl From<sqlx::Error> for ChangeError {
    fn from(e: sqlx::Error) -> Self {
        ChangeError::Storage(e.into())
    }
}

/// The result of an install.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Installed {
    pub id: String,
    pub version: String,
    pub agency: String,
    pub digest: String,
    pub activated: bool,
    /// Fingerprint of the agency key that signed the package.
    pub signed_by: Option<String>,
}

/// Owns the registry and every change to it.
pub struct Manager {
    runtime: Arc<Runtime>,
    db: Db,
    audit: Audit,
    registry: Arc<Registry>,
    settings: BTreeMap<String, AdapterSettings>,
    defaults: CallLimits,
    cache_dir: Option<PathBuf>,
    trust: Trust,
    /// What loaded adapters' capabilities use: the database (kv) and egress settings.
    services: HostServices,
    /// Compiled adapters by id, version and digest: the active and previous versions.
    compiled: Mutex<HashMap<(String, String, String), Arc<Adapter>>>,
    /// Active versions the last reconcile could not serve, with the reason (`/readyz`).
    unservable: Mutex<Vec<Refusal>>,
    reconciling: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("registry", &self.registry).finish_non_exhaustive()
    }
}

/// Settings the manager is built with.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    pub settings: BTreeMap<String, AdapterSettings>,
    pub defaults: CallLimits,
    pub cache_dir: Option<PathBuf>,
    pub trust: Trust,
    /// Adapters' outbound HTTP settings.
    pub egress: EgressOptions,
}

impl Manager {
    pub fn new(
        runtime: Arc<Runtime>,
        db: Db,
        audit: Audit,
        registry: Arc<Registry>,
        options: ManagerOptions,
    ) -> Manager {
        let services = HostServices { db: Some(db.clone()), egress: options.egress };
        Manager {
            runtime,
            db,
            audit,
            registry,
            settings: options.settings,
            defaults: options.defaults,
            cache_dir: options.cache_dir,
            trust: options.trust,
            services,
            compiled: Mutex::new(HashMap::new()),
            unservable: Mutex::new(Vec::new()),
            reconciling: tokio::sync::Mutex::new(()),
        }
    }

    /// The registry this manager maintains.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    fn settings(&self, id: &str) -> AdapterSettings {
        self.settings.get(id).cloned().unwrap_or_default()
    }

    async fn compile_and_describe(&self, wasm: Vec<u8>, manifest: &str) -> Result<Adapter, LoadError> {
        let id = Manifest::parse(manifest)?.id;
        let settings = self.settings(&id);
        super::load(&self.runtime, wasm, manifest, &settings, self.defaults, self.cache_dir.as_deref(), &self.services)
            .await
    }

    /// Verifies and stores a package; activates it when asked (or when the adapter has no
    /// active version yet). A refusal changes nothing but the audit log, which records who
    /// tried to install what and why it was refused.
    pub async fn install(
        &self,
        package: Package,
        source: Source,
        actor: &str,
        activate: bool,
    ) -> Result<Installed, InstallError> {
        let named = Manifest::parse(&package.manifest).ok().map(|m| (m.id, m.version.to_string(), m.agency));
        let digest = super::digest(&package.wasm);
        let result = self.try_install(package, source, actor, activate).await;
        if let Err(reason) = &result {
            let (id, version, agency) = named.unwrap_or_default();
            let entry = Entry {
                kind: "admin.install-refused".into(),
                actor: actor.to_owned(),
                subject: id,
                data: json!({"version": version, "agency": agency, "digest": digest,
                             "source": source.name(), "reason": reason.to_string()}),
            };
            if let Err(error) = self.audit.record(entry).await {
                tracing::error!(error = %format!("{error:#}"), "failed to record a refused install");
            }
        }
        result
    }

    async fn try_install(
        &self,
        package: Package,
        source: Source,
        actor: &str,
        activate: bool,
    ) -> Result<Installed, InstallError> {
        let manifest = Manifest::parse(&package.manifest).map_err(LoadError::from)?;
        let version_text = manifest.version.to_string();
        let claim = PackageClaim {
            agency: &manifest.agency,
            id: &manifest.id,
            version: &version_text,
            manifest: &package.manifest,
            wasm: &package.wasm,
        };
        let signed_by = self.trust.check(&claim, package.signature.as_deref())?;
        let digest = super::digest(&package.wasm);
        let storage = |e: sqlx::Error| InstallError::Storage(e.into());

        // An id is its agency's from the first install on: another agency's package under it
        // would inherit the grants, secrets and kv data of the id.
        let taken =
            |owner: String| InstallError::IdTaken { id: manifest.id.clone(), owner, agency: manifest.agency.clone() };
        if let Some(owner) = self.db.adapter_owner(&manifest.id).await.map_err(storage)?
            && owner != manifest.agency
        {
            return Err(taken(owner));
        }
        let existing = self.db.version(&manifest.id, &manifest.version.to_string()).await.map_err(storage)?;
        // The same component and the same manifest: the same package.
        let unchanged = existing.as_ref().is_some_and(|v| v.digest == digest && v.manifest == package.manifest);
        if existing.is_some() && !unchanged && source == Source::Upload {
            return Err(InstallError::VersionExists { id: manifest.id, version: manifest.version.to_string() });
        }
        if let Some(other) = self
            .db
            .desired_states()
            .await
            .map_err(storage)?
            .into_iter()
            .find(|s| s.agency == manifest.agency && s.id != manifest.id)
        {
            return Err(InstallError::AgencyTaken { agency: manifest.agency, by: other.id });
        }

        // Everything that can fail on the package itself happens before anything is stored.
        let adapter = Arc::new(self.compile_and_describe(package.wasm.clone(), &package.manifest).await?);
        let version = manifest.version.to_string();
        let owner = self.db.bind_adapter_owner(&manifest.id, &manifest.agency).await.map_err(storage)?;
        if owner != manifest.agency {
            return Err(taken(owner));
        }
        if !unchanged {
            self.db.put_component(&digest, &package.wasm).await.map_err(storage)?;
            let stored = StoredVersion {
                adapter_id: manifest.id.clone(),
                version: version.clone(),
                digest: digest.clone(),
                agency: manifest.agency.clone(),
                manifest: package.manifest.clone(),
                signed_by: signed_by.clone(),
                uploaded_by: actor.to_owned(),
                uploaded_at: now_ms(),
            };
            if existing.is_some() {
                self.db.replace_local_version(&stored).await.map_err(storage)?;
            } else {
                self.db.insert_version(&stored).await.map_err(storage)?;
            }
        } else if signed_by.is_some() && existing.as_ref().is_some_and(|v| v.signed_by != signed_by) {
            // The same bytes again, now with a valid signature: the stored version is signed.
            self.db.set_signed_by(&manifest.id, &version, signed_by.as_deref()).await.map_err(storage)?;
        }
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((manifest.id.clone(), manifest.version.to_string(), digest.clone()), adapter);

        let state = self.db.desired_state(&manifest.id).await.map_err(storage)?;
        let from_folder = matches!(source, Source::Folder | Source::Watch);
        let newer = |active: &str| semver::Version::parse(active).is_ok_and(|active| manifest.version > active);
        let activate = activate
            || state.is_none()
            || (from_folder && state.as_ref().is_some_and(|s| s.active_version == version))
            || (source == Source::Watch && state.as_ref().is_some_and(|s| newer(&s.active_version)));
        if activate && let Some(state) = state.as_ref().filter(|s| s.active_version != version) {
            tracing::info!(adapter = %manifest.id, from = %state.active_version, to = %version, source = source.name(), "adapter version activated");
        }
        if activate {
            self.db.activate_version(&manifest.id, &manifest.agency, &version).await.map_err(storage)?;
        }
        self.audit
            .record(Entry {
                kind: "admin.install".into(),
                actor: actor.to_owned(),
                subject: manifest.id.clone(),
                data: json!({"version": version, "digest": digest, "agency": manifest.agency,
                             "signed_by": signed_by, "activated": activate, "unchanged": unchanged}),
            })
            .await
            .map_err(InstallError::Storage)?;
        self.changed().await;
        Ok(Installed { id: manifest.id, version, agency: manifest.agency, digest, activated: activate, signed_by })
    }

    /// Makes `version` active, or, when `version` is `None` (rollback), the version before
    /// the active one in the adapter's activation history. Rollbacks step further back each
    /// time (3 -> 2 -> 1), never back and forth; `activate` reaches any stored version.
    pub async fn activate(&self, id: &str, version: Option<&str>, actor: &str) -> Result<DesiredState, ChangeError> {
        let state = self.db.desired_state(id).await?.ok_or_else(|| ChangeError::NotFound(id.to_owned()))?;
        let target = match version {
            Some(v) => v.to_owned(),
            None => {
                let history = self.db.activation_history(id).await?;
                let versions: Vec<&str> = history.iter().map(String::as_str).collect();
                match rollback_index(&versions) {
                    Some(i) if versions.last() == Some(&state.active_version.as_str()) => versions[i].to_owned(),
                    _ => return Err(ChangeError::NoPrevious(id.to_owned())),
                }
            }
        };
        let stored = self
            .db
            .version(id, &target)
            .await?
            .ok_or_else(|| ChangeError::NoSuchVersion { id: id.to_owned(), version: target.clone() })?;
        // Compile before switching, so the switch itself cannot fail half-way.
        self.loaded(&stored).await.map_err(|e| ChangeError::Unloadable {
            id: id.to_owned(),
            version: target.clone(),
            reason: format!("{e:#}"),
        })?;
        if version.is_some() {
            self.db.activate_version(id, &stored.agency, &target).await?;
        } else if !self.db.roll_back(id, &state.active_version, &target).await? {
            return Err(ChangeError::Changed(id.to_owned()));
        }
        self.audit
            .record(Entry {
                kind: if version.is_none() { "admin.rollback" } else { "admin.activate" }.into(),
                actor: actor.to_owned(),
                subject: id.to_owned(),
                data: json!({"from": state.active_version, "to": target, "digest": stored.digest}),
            })
            .await
            .map_err(ChangeError::Storage)?;
        self.changed().await;
        self.db.desired_state(id).await?.ok_or_else(|| ChangeError::NotFound(id.to_owned()))
    }

    /// Removes one stored version of an adapter, never the active one. Its component stays
    /// in storage when another version shares it; the adapter's other versions, state and
    /// kv data are untouched.
    pub async fn remove_version(&self, id: &str, version: &str, actor: &str) -> Result<(), ChangeError> {
        let state = self.db.desired_state(id).await?.ok_or_else(|| ChangeError::NotFound(id.to_owned()))?;
        let no_such = || ChangeError::NoSuchVersion { id: id.to_owned(), version: version.to_owned() };
        let stored = self.db.version(id, version).await?.ok_or_else(no_such)?;
        if state.active_version == version {
            return Err(ChangeError::ActiveVersion { id: id.to_owned(), version: version.to_owned() });
        }
        if !self.db.remove_version(id, version).await? {
            // Activated (or removed) by someone else since the check above.
            return Err(ChangeError::Changed(id.to_owned()));
        }
        self.audit
            .record(Entry {
                kind: "admin.remove-version".into(),
                actor: actor.to_owned(),
                subject: id.to_owned(),
                data: json!({"version": version, "digest": stored.digest}),
            })
            .await
            .map_err(ChangeError::Storage)?;
        self.changed().await;
        Ok(())
    }

    /// Enables or disables an adapter.
    pub async fn set_enabled(&self, id: &str, enabled: bool, actor: &str) -> Result<(), ChangeError> {
        if !self.db.set_enabled(id, enabled).await? {
            return Err(ChangeError::NotFound(id.to_owned()));
        }
        self.audit
            .record(Entry {
                kind: if enabled { "admin.enable" } else { "admin.disable" }.into(),
                actor: actor.to_owned(),
                subject: id.to_owned(),
                data: json!({}),
            })
            .await
            .map_err(ChangeError::Storage)?;
        self.changed().await;
        Ok(())
    }

    /// Removes an adapter and all its versions. Its kv data is kept, so that the agency
    /// can reinstall it and find its data, unless `purge` erases it. The id stays bound to
    /// its agency either way, so no other agency can take it. The operator's grants are
    /// configuration, keyed by id: they are never changed here, and only ever apply to a
    /// package of the id's agency.
    pub async fn remove(&self, id: &str, purge: bool, actor: &str) -> Result<(), ChangeError> {
        let removed = self.db.remove_adapter(id, purge).await?;
        if !removed.found {
            return Err(ChangeError::NotFound(id.to_owned()));
        }
        self.audit
            .record(Entry {
                kind: "admin.remove".into(),
                actor: actor.to_owned(),
                subject: id.to_owned(),
                data: json!({"purged": purge, "kv_keys_erased": removed.kv_keys_erased}),
            })
            .await
            .map_err(ChangeError::Storage)?;
        self.changed().await;
        Ok(())
    }

    /// Applies a change here and announces it to other replicas.
    async fn changed(&self) {
        if self.db.backend() == Backend::Postgres
            && let Err(error) =
                sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind("changed").execute(self.db.writer()).await
        {
            tracing::warn!(%error, "failed to notify other replicas; they will catch up at their next reconcile");
        }
        if let Err(error) = self.reconcile().await {
            tracing::error!(error = %format!("{error:#}"), "reconcile after a change failed");
        }
    }

    /// A compiled adapter for a stored version (compiling it if needed).
    async fn loaded(&self, stored: &StoredVersion) -> anyhow::Result<Arc<Adapter>> {
        if self.trust.required && stored.signed_by.is_none() {
            anyhow::bail!(
                "version {} of {} is stored unsigned and this host requires signed packages ([signatures] required = true): it is not served; install it again with its signature",
                stored.version,
                stored.adapter_id
            );
        }
        let key = (stored.adapter_id.clone(), stored.version.clone(), stored.digest.clone());
        if let Some(adapter) = self.compiled.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(adapter.clone());
        }
        let wasm = self
            .db
            .component(&stored.digest)
            .await?
            .ok_or_else(|| anyhow::anyhow!("component {} is missing from the database", stored.digest))?;
        let adapter = Arc::new(self.compile_and_describe(wasm, &stored.manifest).await?);
        self.compiled.lock().unwrap_or_else(|e| e.into_inner()).insert(key, adapter.clone());
        Ok(adapter)
    }

    /// Converges the registry to the database's desired state: loads what is missing,
    /// swaps the whole set atomically, and keeps each adapter's previous version compiled.
    pub async fn reconcile(&self) -> anyhow::Result<()> {
        let _guard = self.reconciling.lock().await;
        let states = self.db.desired_states().await?;
        let current = self.registry.snapshot();
        let mut next = BTreeMap::new();
        let mut keep = HashSet::new();
        let mut unservable = Vec::new();
        for state in &states {
            let Some(stored) = self.db.version(&state.id, &state.active_version).await? else {
                tracing::error!(adapter = %state.id, version = %state.active_version, "active version is missing");
                continue;
            };
            match self.loaded(&stored).await {
                Ok(adapter) => {
                    keep.insert((state.id.clone(), stored.version.clone(), stored.digest.clone()));
                    next.insert(state.agency.clone(), Slot { adapter, enabled: state.enabled });
                }
                Err(error) => {
                    tracing::error!(adapter = %state.id, version = %state.active_version, error = %format!("{error:#}"), "cannot load the active version; keeping what serves now");
                    unservable.push(Refusal {
                        file: format!("stored {}@{}", state.id, state.active_version),
                        reason: format!("{error:#}"),
                    });
                    if let Some(slot) = current.get(&state.agency) {
                        next.insert(state.agency.clone(), slot.clone());
                    }
                }
            }
            if let Some(previous) = &state.previous_version
                && let Ok(Some(stored)) = self.db.version(&state.id, previous).await
                && self.loaded(&stored).await.is_ok()
            {
                keep.insert((state.id.clone(), stored.version, stored.digest));
            }
        }
        let changed = next.len() != current.len()
            || next.iter().any(|(agency, slot)| {
                current.get(agency).is_none_or(|c| !Arc::ptr_eq(&c.adapter, &slot.adapter) || c.enabled != slot.enabled)
            });
        if changed {
            for (agency, slot) in &next {
                if current.get(agency).is_none_or(|c| !Arc::ptr_eq(&c.adapter, &slot.adapter)) {
                    tracing::info!(agency, adapter = %slot.adapter.manifest.id, version = %slot.adapter.manifest.version, "now serving");
                }
            }
            self.registry.replace(next);
        }
        self.compiled.lock().unwrap_or_else(|e| e.into_inner()).retain(|key, _| keep.contains(key));
        *self.unservable.lock().unwrap_or_else(|e| e.into_inner()) = unservable;
        Ok(())
    }

    /// Active versions the last reconcile could not serve (an unsigned stored version on a
    /// host that requires signatures, a component that no longer compiles), with why.
    pub fn unservable(&self) -> Vec<Refusal> {
        self.unservable.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs every package of the plugins folder (refusing bad ones with a reason).
    pub async fn install_folder(&self, dir: &Path, source: Source) -> Vec<Refusal> {
        let mut refused = Vec::new();
        for found in super::read_folder(dir) {
            let (path, package) = match found {
                Ok(found) => found,
                Err(refusal) => {
                    tracing::error!(file = %refusal.file, reason = %refusal.reason, "adapter refused");
                    refused.push(refusal);
                    continue;
                }
            };
            let started = std::time::Instant::now();
            match self.install(package, source, "system", false).await {
                Ok(installed) => tracing::info!(
                    file = %path.display(),
                    adapter = %installed.id,
                    version = %installed.version,
                    ms = started.elapsed().as_millis() as u64,
                    "adapter installed from the plugins folder"
                ),
                Err(reason) => {
                    tracing::error!(file = %path.display(), %reason, "adapter refused");
                    refused.push(Refusal { file: path.display().to_string(), reason: reason.to_string() });
                }
            }
        }
        refused
    }

    /// Follows other replicas' changes: `LISTEN` on PostgreSQL, plus a periodic reconcile
    /// on every back-end as a safety net.
    pub fn follow(self: &Arc<Self>, database_url: &str, every: std::time::Duration) {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(error) = manager.reconcile().await {
                    tracing::warn!(error = %format!("{error:#}"), "periodic reconcile failed");
                }
            }
        });
        if self.db.backend() != Backend::Postgres {
            return;
        }
        let manager = self.clone();
        let url = database_url.to_owned();
        tokio::spawn(async move {
            loop {
                match listen(&manager, &url).await {
                    Ok(()) => {}
                    Err(error) => tracing::warn!(error = %format!("{error:#}"), "lost the change feed; reconnecting"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }
}

async fn listen(manager: &Manager, url: &str) -> anyhow::Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Catch up on anything missed while not listening.
    manager.reconcile().await?;
    loop {
        listener.recv().await?;
        manager.reconcile().await?;
    }
}
