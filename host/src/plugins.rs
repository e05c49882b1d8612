//! The registry of loaded adapters and the path from a package on disk to a callable
//! adapter.
//!
//! Loading happens off the request path: header check, compile (on a blocking thread),
//! import/export and WIT-version checks, linking into an `InstancePre`, measuring the pool
//! slots one call takes, and one `describe` call in a throwaway store, held to the caps of
//! [`bounds`]. Only then is the adapter swapped into the registry, an atomic pointer swap
//! that also builds the [`catalogue`]: calls in flight keep the `Arc` of the version they
//! started with. Every answer of an adapter is held to the caps of [`bounds`] too.

pub mod bounds;
pub mod catalogue;
pub mod lifecycle;
pub mod manifest;
pub mod payment;
pub mod signature;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use sha2::{Digest, Sha256};

use crate::capabilities::{Capabilities, Grant, HostServices};
use crate::config::AdapterSettings;
use crate::runtime::CallState;
use crate::runtime::bindings::{AdapterError, Agency, CallContext, Document, Receipt, StatusUpdate, Text, Value};
use crate::runtime::call::{CallFuture, Instantiable, PrepareError};
use crate::runtime::contract::Guest;
use crate::runtime::{CallError, CallLimits, Runtime};
use crate::store::kv::Staged;
pub use manifest::{Manifest, ManifestError};
pub use payment::{PaidItem, PaymentNotice};
pub use validate::{ComponentError, HOST_WIT_VERSION};
use wasmtime::Store;

/// Components larger than this are refused before compiling.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Why a package could not be loaded. Each message names the reason precisely.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("no manifest `{0}` next to the component")]
    MissingManifest(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Component(#[from] ComponentError),
    #[error("the component is {0} bytes; the limit is {MAX_COMPONENT_BYTES}")]
    TooLarge(usize),
    #[error("`describe` failed: {0}")]
    Describe(String),
    #[error("`describe` is inconsistent: {0}")]
    Description(String),
    #[error("`describe` is past the host's caps: {0}")]
    DescriptionTooLarge(bounds::Exceeded),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
}

/// One loaded adapter version, ready to serve.
pub struct Adapter {
    pub manifest: Manifest,
    /// Hex SHA-256 of the component.
    pub digest: String,
    /// The WIT version the component was built against (its release is checked at load).
    pub wit: semver::Version,
    /// What `describe` returned at load time.
    pub agency: Agency,
    exec: Instantiable,
    caps: Arc<Capabilities>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version.to_string())
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// What the host asks of an adapter: the label of its metrics and the kind of its evidence
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Describe,
    Inquire,
    Submit,
    Status,
    OnCallback,
    OnPayment,
}

impl Operation {
    /// The WIT export's name (the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Describe => "describe",
            Operation::Inquire => "inquire",
            Operation::Submit => "submit",
            Operation::Status => "status",
            Operation::OnCallback => "on-callback",
            Operation::OnPayment => "on-payment",
        }
    }

    /// The kind of the call's evidence entry.
    pub fn evidence_kind(self) -> &'static str {
        match self {
            Operation::Describe => "call.describe",
            Operation::Inquire => "call.inquire",
            Operation::Submit => "call.submit",
            Operation::Status => "call.status",
            Operation::OnCallback => "call.callback",
            Operation::OnPayment => "call.payment",
        }
    }
}

/// What a call of an adapter comes to: its answer or its error (a WIT `result`), or the
/// reason it did not answer.
pub type Outcome<T> = Result<Result<T, AdapterError>, CallError>;

impl Adapter {
    /// The effective limits of this adapter's calls.
    pub fn limits(&self) -> CallLimits {
        self.exec.limits()
    }

    /// The pool slots one call of this adapter holds (measured at load).
    pub fn pool_demand(&self) -> crate::runtime::Slots {
        self.exec.demand()
    }

    /// The effective capability grant.
    pub fn grant(&self) -> &Grant {
        &self.caps.grant
    }

    /// Operator configuration visible to the adapter, secrets redacted.
    pub fn redacted_config(&self) -> BTreeMap<String, String> {
        self.caps.redacted_config()
    }

    /// The adapter's capabilities: grant, configuration, denial and egress counters.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Call statistics of this loaded version.
    pub fn stats(&self) -> CallStats {
        let k = &self.exec.kills;
        let stopped: BTreeMap<_, _> = k.stopped().collect();
        CallStats {
            calls: k.calls(),
            cpu_budget_kills: stopped["cpu_budget"],
            memory_limit_kills: stopped["memory_limit"],
            traps: stopped["trap"],
            timeouts: stopped["timeout"],
            busy: stopped["busy"],
            oversized: stopped["oversized"],
        }
    }

    /// How many calls were made and stopped, by reason.
    pub fn kill_counters(&self) -> &crate::runtime::call::KillCounters {
        &self.exec.kills
    }

    /// Refused capability uses, by capability.
    pub fn denials(&self) -> [(&'static str, u64); 4] {
        self.caps.denials.snapshot()
    }

    /// The one path of a call: runs `invoke` in a fresh instance of this version, holds its
    /// answer to the caps of [`bounds`] (`check`), and records it in the metrics. The `kv`
    /// writes the call staged come back beside its outcome, for the caller to commit with
    /// what it stores of it, or before using it ([`Adapter::committed`]). A call stopped or
    /// past the caps staged nothing.
    pub(crate) async fn call<T, F>(
        &self,
        operation: Operation,
        request_id: &str,
        service: &str,
        invoke: F,
        check: impl FnOnce(&T) -> Result<(), bounds::Exceeded>,
    ) -> (Outcome<T>, Staged)
    where
        T: Send,
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<CallState>) -> CallFuture<'a, Result<T, AdapterError>> + Send,
    {
        let started = std::time::Instant::now();
        let (result, staged) = match self.exec.call(self.caps.clone(), request_id, invoke).await {
            Ok((answer, staged)) => match answer.as_ref().map_or_else(bounds::error, check) {
                Ok(()) => (Ok(answer), staged),
                Err(exceeded) => (Err(self.oversized(exceeded)), Staged::default()),
            },
            Err(error) => (Err(error), Staged::default()),
        };
        crate::metrics::record_call(&self.manifest.id, service, operation, &result, started.elapsed());
        (result, staged)
    }

    /// Commits the `kv` writes a call staged, before its outcome is used: the outcome, or
    /// `unavailable` when they could not be written.
    pub(crate) async fn committed<T>(
        &self,
        request_id: &str,
        (outcome, mut staged): (Outcome<T>, Staged),
    ) -> Outcome<T> {
        let Some(db) = self.caps.db.as_ref().filter(|_| !staged.is_empty()) else { return outcome };
        match staged.commit(db).await {
            Ok(()) => outcome,
            // The answer may rest on what the adapter stored: without it, there is none.
            Err(error) => {
                tracing::error!(adapter = %self.manifest.id, request_id, %error, "a call's storage writes were not committed");
                Ok(Err(AdapterError::Unavailable(Text {
                    fa: "ذخیره‌سازی این خدمت اکنون در دسترس نیست؛ کمی بعد دوباره تلاش کنید.".into(),
                    en: "This service's storage is unavailable right now; try again shortly.".into(),
                })))
            }
        }
    }

    /// An answer past a cap: counted and logged like any other failed call.
    fn oversized(&self, exceeded: bounds::Exceeded) -> CallError {
        let error = CallError::Oversized(exceeded.0);
        self.exec.kills.count(&error);
        tracing::warn!(adapter = %self.manifest.id, %error, "adapter answer past the host's caps");
        error
    }

    /// Calls `inquire` in a fresh instance.
    pub async fn inquire(&self, ctx: CallContext, input: Vec<Value>) -> Outcome<Document> {
        let (request_id, service) = (ctx.request_id.clone(), ctx.service.clone());
        let called = self
            .call(
                Operation::Inquire,
                &request_id,
                &service,
                move |a, store| Box::pin(async move { a.call_inquire(store, &ctx, &input).await }),
                bounds::document,
            )
            .await;
        self.committed(&request_id, called).await
    }

    /// Calls `submit` in a fresh instance: its outcome, and the `kv` writes it staged, which
    /// commit with the application ([`Staged::hold`], [`crate::store::kv::Held::commit_on`]).
    pub async fn submit(&self, ctx: CallContext, input: Vec<Value>) -> (Outcome<Receipt>, Staged) {
        let (request_id, service) = (ctx.request_id.clone(), ctx.service.clone());
        self.call(
            Operation::Submit,
            &request_id,
            &service,
            move |a, store| Box::pin(async move { a.call_submit(store, &ctx, &input).await }),
            bounds::receipt,
        )
        .await
    }

    /// Calls `status` in a fresh instance.
    pub async fn status(&self, ctx: CallContext, reference: String) -> Outcome<StatusUpdate> {
        let (request_id, service) = (ctx.request_id.clone(), ctx.service.clone());
        let called = self
            .call(
                Operation::Status,
                &request_id,
                &service,
                move |a, store| Box::pin(async move { a.call_status(store, &ctx, &reference).await }),
                bounds::status_update,
            )
            .await;
        self.committed(&request_id, called).await
    }

    /// Calls `on-callback` in a fresh instance.
    pub async fn on_callback(&self, request_id: &str, body: Vec<u8>) -> Outcome<StatusUpdate> {
        let called = self
            .call(
                Operation::OnCallback,
                request_id,
                "",
                move |a, store| Box::pin(async move { a.call_on_callback(store, &body).await }),
                bounds::status_update,
            )
            .await;
        self.committed(request_id, called).await
    }

    /// Calls `describe` in a fresh instance.
    pub async fn describe(&self) -> Result<Agency, CallError> {
        self.exec
            .call(self.caps.clone(), "describe", |a, store| Box::pin(async move { a.call_describe(store).await }))
            .await
            // Describing stores nothing: a write staged meanwhile is dropped.
            .map(|(agency, _)| agency)
    }
}

/// An adapter as the registry serves it.
#[derive(Debug, Clone)]
pub struct Slot {
    pub adapter: Arc<Adapter>,
    /// A disabled adapter's services answer 503 with a maintenance message.
    pub enabled: bool,
}

/// The live set of adapters, keyed by agency id, and their catalogue. Reads are
/// lock-free; a change replaces the whole map atomically (and builds the catalogue anew),
/// and calls in flight keep the adapter they started with.
#[derive(Debug, Default)]
pub struct Registry {
    slots: ArcSwap<BTreeMap<String, Slot>>,
    catalogue: ArcSwap<catalogue::Catalogue>,
    /// Catalogues built so far (for metrics).
    catalogue_builds: std::sync::atomic::AtomicU64,
}

impl Registry {
    /// The slot serving `agency`, if any.
    pub fn get(&self, agency: &str) -> Option<Slot> {
        self.slots.load().get(agency).cloned()
    }

    /// A consistent snapshot of every slot.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Slot>> {
        self.slots.load_full()
    }

    /// The catalogue of the adapters serving now.
    pub fn catalogue(&self) -> Arc<catalogue::Catalogue> {
        self.catalogue.load_full()
    }

    /// How many times the catalogue was built: once per change of the registry.
    pub fn catalogue_builds(&self) -> u64 {
        self.catalogue_builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Replaces the whole set at once, with its catalogue.
    pub fn replace(&self, slots: BTreeMap<String, Slot>) {
        self.catalogue.store(Arc::new(catalogue::Catalogue::build(&slots)));
        self.catalogue_builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.slots.store(Arc::new(slots));
    }
}

/// The hex SHA-256 of a component.
pub fn digest(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// The limits an adapter runs under: the manifest may lower the host's defaults, the
/// operator may set anything up to the engine's ceiling.
pub fn effective_limits(
    defaults: CallLimits,
    manifest: &Manifest,
    settings: &AdapterSettings,
    ceiling: usize,
) -> CallLimits {
    let asked = manifest.limits;
    let operator = settings.limits;
    CallLimits {
        cpu: operator.cpu.unwrap_or_else(|| asked.cpu.map_or(defaults.cpu, |c| c.min(defaults.cpu))),
        wall: defaults.wall,
        memory_bytes: operator
            .memory_bytes
            .unwrap_or_else(|| asked.memory_bytes.map_or(defaults.memory_bytes, |m| m.min(defaults.memory_bytes)))
            .min(ceiling),
        concurrency: operator
            .concurrency
            .unwrap_or_else(|| asked.concurrency.map_or(defaults.concurrency, |c| c.min(defaults.concurrency))),
    }
}

/// Verifies, compiles, links and describes a package. Nothing is registered.
pub async fn load(
    runtime: &Arc<Runtime>,
    wasm: Vec<u8>,
    manifest_text: &str,
    settings: &AdapterSettings,
    defaults: CallLimits,
    cache_dir: Option<&Path>,
    services: &HostServices,
) -> Result<Adapter, LoadError> {
    let manifest = Manifest::parse(manifest_text)?;
    if wasm.len() > MAX_COMPONENT_BYTES {
        return Err(LoadError::TooLarge(wasm.len()));
    }
    validate::check_header(&wasm)?;
    let digest = digest(&wasm);

    let compiled = {
        let runtime = runtime.clone();
        let digest = digest.clone();
        let cache_dir = cache_dir.map(Path::to_path_buf);
        tokio::task::spawn_blocking(move || runtime.compile_cached(&wasm, &digest, cache_dir.as_deref()))
            .await
            .map_err(|e| ComponentError::Compile(e.to_string()))?
            .map_err(|e| ComponentError::Compile(format!("{e:#}")))?
    };
    let (wit, release) = validate::check_component(runtime.engine(), &compiled)?;
    if wit != manifest.wit {
        return Err(ComponentError::ManifestWitMismatch { manifest: manifest.wit.clone(), component: wit }.into());
    }
    let pre = runtime.linker().instantiate_pre(&compiled).map_err(|e| ComponentError::Link(format!("{e:#}")))?;

    let limits = effective_limits(defaults, &manifest, settings, runtime.max_memory_bytes());
    let grant = Grant::intersect(&manifest.requested, &settings.grant);
    for missing in grant.missing(&manifest.requested) {
        tracing::warn!(
            adapter = %manifest.id,
            version = %manifest.version,
            "the manifest requests {missing}, which the operator has not granted: calls that use it are refused (grant it under [adapters.{}])",
            manifest.id
        );
    }
    let caps = Arc::new(Capabilities::new(
        &manifest.id,
        &manifest.agency,
        &manifest.version.to_string(),
        grant,
        &settings.config,
        services,
    ));
    let exec = Instantiable::new(runtime.clone(), release, pre, limits, caps.clone()).await?;

    let mut adapter = Adapter { manifest, digest, wit, agency: placeholder_agency(), exec, caps };
    let agency = adapter.describe().await.map_err(|e| LoadError::Describe(e.to_string()))?;
    bounds::agency(&agency).map_err(LoadError::DescriptionTooLarge)?;
    check_description(&adapter.manifest, &agency)?;
    adapter.agency = agency;
    Ok(adapter)
}

fn placeholder_agency() -> Agency {
    use crate::runtime::bindings::Text;
    Agency { id: String::new(), name: Text { fa: String::new(), en: String::new() }, services: Vec::new() }
}

fn check_description(manifest: &Manifest, agency: &Agency) -> Result<(), LoadError> {
    let bad = |m: String| Err(LoadError::Description(m));
    if agency.id != manifest.agency {
        return bad(format!("agency id `{}` differs from the manifest's `{}`", agency.id, manifest.agency));
    }
    let mut seen = std::collections::BTreeSet::new();
    for service in &agency.services {
        if !seen.insert(service.id.as_str()) {
            return bad(format!("service id `{}` appears twice", service.id));
        }
        if service.id.is_empty()
            || !service.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(format!("service id `{}` must be lowercase letters, digits and dashes", service.id));
        }
        let mut fields = std::collections::BTreeSet::new();
        for field in &service.fields {
            if !fields.insert(field.name.as_str()) {
                return bad(format!("field `{}` appears twice in service `{}`", field.name, service.id));
            }
        }
    }
    Ok(())
}

/// Calls of one loaded version, and how many were stopped, by reason.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct CallStats {
    pub calls: u64,
    /// Stopped for using up their CPU budget (a spin).
    pub cpu_budget_kills: u64,
    /// Stopped for asking for more memory than allowed.
    pub memory_limit_kills: u64,
    /// Crashed (a trap or a panic in the adapter).
    pub traps: u64,
    /// Stopped at the wall-clock limit (a slow back-end).
    pub timeouts: u64,
    /// Refused because the adapter's concurrency or its share of the pools was full.
    pub busy: u64,
    /// Answered with more than the host accepts (see `plugins::bounds`).
    pub oversized: u64,
}

/// A package that was refused at load, and why.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Refusal {
    pub file: String,
    pub reason: String,
}

/// Reads every `NAME.wasm` of a plugins folder with its `NAME.toml` manifest and, if
/// present, its `NAME.wasm.sig` signature.
pub fn read_folder(dir: &Path) -> Vec<Result<(PathBuf, lifecycle::Package), Refusal>> {
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect(),
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "cannot read the plugins folder");
            return Vec::new();
        }
    };
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            read_package(&path)
                .map(|package| (path.clone(), package))
                .map_err(|reason| Refusal { file: path.display().to_string(), reason: reason.to_string() })
        })
        .collect()
}

fn read_package(path: &Path) -> Result<lifecycle::Package, LoadError> {
    let manifest_path = path.with_extension("toml");
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::MissingManifest(manifest_path.display().to_string()));
        }
        Err(source) => return Err(LoadError::Read { path: manifest_path.display().to_string(), source }),
    };
    let wasm = std::fs::read(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
    let mut sig_path = path.as_os_str().to_owned();
    sig_path.push(".sig");
    let signature = std::fs::read_to_string(PathBuf::from(sig_path)).ok();
    Ok(lifecycle::Package { manifest, wasm, signature })
}
