//! Running one call in a fresh store under the adapter's limits.
//!
//! Three layers bound a call: a memory limiter on the store, a CPU budget counted in epoch
//! ticks while guest code runs (armed right before instantiation), and an outer wall-clock
//! timeout that also covers time spent in host calls such as outbound HTTP.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::{AgencyAdapter, AgencyAdapterPre};
use super::{CallState, EPOCH_TICK, Runtime};
use crate::capabilities::Capabilities;

/// The limits one adapter's calls run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Guest CPU time per call.
    pub cpu: Duration,
    /// Wall-clock time per call, including host calls.
    pub wall: Duration,
    /// Linear memory per call, in bytes.
    pub memory_bytes: usize,
    /// Calls of this adapter running at once.
    pub concurrency: u32,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            cpu: Duration::from_millis(100),
            wall: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            concurrency: 32,
        }
    }
}

/// Why a call did not produce an answer. All of these are the adapter's failure (or
/// back-pressure), never the host's.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest used its whole CPU budget.
    #[error("adapter exceeded its CPU budget of {0:?}")]
    CpuBudget(Duration),
    /// The call took longer than its wall-clock limit.
    #[error("adapter did not answer within {0:?}")]
    Timeout(Duration),
    /// The guest asked for more memory than its limit.
    #[error("adapter exceeded its memory limit of {} MiB", .0 >> 20)]
    Memory(usize),
    /// The guest trapped (panic, unreachable, out-of-bounds access, ...).
    #[error("adapter failed: {0}")]
    Trap(String),
    /// Too many calls of this adapter (or of all adapters) are running.
    #[error("adapter is busy")]
    Busy,
}

/// A compiled, linked adapter ready to be instantiated for each call.
pub struct Instantiable {
    runtime: Arc<Runtime>,
    pre: AgencyAdapterPre<CallState>,
    limits: CallLimits,
    permits: Arc<tokio::sync::Semaphore>,
    /// Calls killed for CPU, memory or trap, for metrics and `show`.
    pub(crate) kills: KillCounters,
}

/// How many calls were stopped, by reason.
#[derive(Debug, Default)]
pub struct KillCounters {
    pub calls: AtomicU64,
    pub busy: AtomicU64,
    pub cpu: AtomicU64,
    pub memory: AtomicU64,
    pub trap: AtomicU64,
    pub timeout: AtomicU64,
}

type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

impl Instantiable {
    /// Wraps a linked component with its limits.
    pub fn new(runtime: Arc<Runtime>, pre: InstancePre<CallState>, limits: CallLimits) -> anyhow::Result<Self> {
        let pre = AgencyAdapterPre::new(pre)?;
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.concurrency as usize));
        Ok(Instantiable { runtime, pre, limits, permits, kills: KillCounters::default() })
    }

    /// The limits calls run under.
    pub fn limits(&self) -> CallLimits {
        self.limits
    }

    /// Instantiates the adapter in a fresh store and runs `f` on it under every limit.
    pub async fn call<R, F>(&self, caps: Arc<Capabilities>, request_id: &str, f: F) -> Result<R, CallError>
    where
        R: Send,
        F: for<'a> FnOnce(&'a AgencyAdapter, &'a mut Store<CallState>) -> CallFuture<'a, R> + Send,
    {
        self.kills.calls.fetch_add(1, Ordering::Relaxed);
        let permits = async {
            let adapter = acquire(&self.permits).await?;
            let global = acquire(self.runtime.global_permits()).await?;
            Ok::<_, CallError>((adapter, global))
        };
        let _permits = match permits.await {
            Ok(p) => p,
            Err(e) => {
                self.kills.busy.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };

        let limits = self.limits;
        let mut store =
            Store::new(self.runtime.engine(), CallState::new(caps.clone(), request_id.to_owned(), limits.memory_bytes));
        store.limiter(|state| &mut state.limits);
        let budget_ticks = (limits.cpu.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64;
        let mut ticks = 0u64;
        // The callback runs only while guest code runs and its deadline passed, so the
        // number of callbacks approximates the guest's CPU time in ticks, not time spent
        // waiting on host I/O. Yielding keeps a busy guest from holding a tokio worker.
        store.epoch_deadline_callback(move |_| {
            ticks += 1;
            if ticks >= budget_ticks { Err(Trap::Interrupt.into()) } else { Ok(UpdateDeadline::Yield(1)) }
        });
        store.set_epoch_deadline(1);

        let run = async {
            let adapter = self.pre.instantiate_async(&mut store).await?;
            f(&adapter, &mut store).await
        };
        let outcome = tokio::time::timeout(limits.wall, run).await;
        let result = match outcome {
            Err(_) => Err(CallError::Timeout(limits.wall)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.classify(&store, error)),
        };
        if let Err(error) = &result {
            let counter = match error {
                CallError::CpuBudget(_) => &self.kills.cpu,
                CallError::Memory(_) => &self.kills.memory,
                CallError::Trap(_) => &self.kills.trap,
                CallError::Timeout(_) => &self.kills.timeout,
                CallError::Busy => return result,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let (stdout, stderr) = store.data().captured_output();
            let (stdout, stderr) = (caps.redact(stdout.trim()), caps.redact(stderr.trim()));
            tracing::warn!(request_id, %error, %stdout, %stderr, "adapter call stopped");
        }
        result
    }

    fn classify(&self, store: &Store<CallState>, error: wasmtime::Error) -> CallError {
        if store.data().limits.exceeded {
            return CallError::Memory(self.limits.memory_bytes);
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::CpuBudget(self.limits.cpu),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => CallError::Trap(format!("{error:#}")),
        }
    }
}

/// Waits a short while for a permit; a queue longer than that means the adapter is
/// saturated and the caller is better served by a quick 503 than by waiting.
async fn acquire(semaphore: &Arc<tokio::sync::Semaphore>) -> Result<tokio::sync::OwnedSemaphorePermit, CallError> {
    match tokio::time::timeout(Duration::from_secs(2), semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(CallError::Busy),
    }
}
