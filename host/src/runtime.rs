//! The one wasmtime [`Engine`] of the process and the [`Linker`] every adapter is linked
//! against.
//!
//! The engine uses Cranelift, copy-on-write memory images, epoch interruption driven by a
//! ticker thread, and the pooling instance allocator when the machine's address space
//! allows it (probed at start; otherwise on-demand allocation).

pub mod bindings;
pub mod call;
pub mod contract;
pub mod limits;
pub mod pools;
pub mod state;
pub mod v0_1;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

pub use call::{CallError, CallLimits};
pub use contract::Release;
pub use pools::{Pools, Slots};
pub use state::CallState;

/// How often the epoch advances. CPU budgets are counted in ticks of this length.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Engine-wide settings, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Instances that may exist at once across all adapters (the pool's size).
    pub max_instances: u32,
    /// The largest linear memory any adapter may be granted, in bytes.
    pub max_memory_bytes: usize,
    /// Whether to try the pooling allocator at all.
    pub pooling: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions { max_instances: 256, max_memory_bytes: 256 << 20, pooling: true }
    }
}

/// The engine, the linker with every host import, and the epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    pooling: bool,
    max_memory_bytes: usize,
    /// Admission to the instance pools (also bounds calls at once without pooling).
    pools: Arc<Pools>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("pooling", &self.pooling).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine (pooling if the probe succeeds), the linker, and starts the ticker.
    pub fn new(options: &RuntimeOptions) -> anyhow::Result<Arc<Self>> {
        let (engine, pooling) = if options.pooling {
            match Engine::new(&engine_config(Some(options))) {
                Ok(engine) => (engine, true),
                Err(error) => {
                    tracing::warn!(%error, "pooling allocator unavailable; using on-demand allocation");
                    (Engine::new(&engine_config(None)).map_err(anyhow::Error::from)?, false)
                }
            }
        } else {
            (Engine::new(&engine_config(None)).map_err(anyhow::Error::from)?, false)
        };

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link WASI")?;
        contract::add_to_linker(&mut linker)
            .map_err(anyhow::Error::from)
            .context("failed to link host capabilities")?;

        spawn_epoch_ticker(&engine);
        tracing::info!(pooling, "wasm runtime ready");
        Ok(Arc::new(Runtime {
            engine,
            linker,
            pooling,
            max_memory_bytes: options.max_memory_bytes,
            pools: Pools::new(Slots::pools_for(options.max_instances)),
        }))
    }

    /// The process's engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker with WASI (inert) and the host capabilities, under the names of every
    /// contract release served.
    pub fn linker(&self) -> &Linker<CallState> {
        &self.linker
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The largest memory an adapter may be given.
    pub fn max_memory_bytes(&self) -> usize {
        self.max_memory_bytes
    }

    /// Compiles a component. CPU-heavy: call from a blocking thread.
    pub fn compile(&self, wasm: &[u8]) -> anyhow::Result<Component> {
        Component::new(&self.engine, wasm).map_err(anyhow::Error::from)
    }

    /// Compiles a component, or maps its compiled code from `cache_dir` when this engine
    /// compiled the same component before. The cache key is the component's digest and
    /// the engine's compatibility hash, so a different wasmtime or configuration misses.
    /// CPU-heavy on a miss: call from a blocking thread.
    pub fn compile_cached(&self, wasm: &[u8], digest: &str, cache_dir: Option<&Path>) -> anyhow::Result<Component> {
        let Some(dir) = cache_dir else { return self.compile(wasm) };
        let path = dir.join(format!("{digest}-{}.cwasm", self.engine_key()));
        if path.is_file() {
            match load_cached(&self.engine, &path) {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring an unusable compiled-code cache entry")
                }
            }
        }
        let component = self.compile(wasm)?;
        if let Err(error) = write_cache(&component, dir, &path) {
            tracing::warn!(path = %path.display(), error = %format!("{error:#}"), "failed to write the compiled-code cache");
        }
        Ok(component)
    }

    fn engine_key(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Instances running a call right now.
    pub fn instances_in_use(&self) -> usize {
        self.pools.in_use().component_instances as usize
    }

    /// The instance pools every call is admitted to, so none of them is ever exhausted.
    pub fn pools(&self) -> &Arc<Pools> {
        &self.pools
    }
}

/// Maps compiled code from the host's own cache.
#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `serialize` of this host into its own cache folder
    // under a name that binds the component's digest and this engine's configuration; it
    // never comes from an adapter author. A file that does not match is rejected by
    // wasmtime's header checks and the caller recompiles.
    unsafe { Component::deserialize_file(engine, path) }
}

fn write_cache(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    let tmp = path.with_extension(format!("tmp{:x}", rand::random::<u32>()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn engine_config(pool: Option<&RuntimeOptions>) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .strategy(Strategy::Cranelift)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .parallel_compilation(true)
        .max_wasm_stack(1 << 20);
    if let Some(options) = pool {
        // The same numbers the admission of calls counts against (pools.rs).
        let total = Slots::pools_for(options.max_instances);
        let each = Slots::PER_COMPONENT_MAX;
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(total.component_instances)
            .total_core_instances(total.core_instances)
            .total_memories(total.memories)
            .total_tables(total.tables)
            .total_stacks(total.stacks)
            .max_memory_size(options.max_memory_bytes)
            .max_memories_per_component(each.memories)
            .max_tables_per_component(each.tables)
            // Enough for components of interpreted languages (CPython: 38).
            .max_core_instances_per_component(each.core_instances)
            .max_component_instance_size(1 << 20)
            // Reset used memory in place rather than unmapping it: every madvise of a
            // finished call's pages costs a TLB shootdown on every core. With PAGEMAP_SCAN
            // (Linux 6.7+) only the pages the call dirtied are rewritten.
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    }
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("panjereh-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("failed to start the epoch ticker thread");
}
