//! Running one call in a fresh store under the adapter's limits.
//!
//! Four layers bound a call: admission to the shared instance pools (see [`super::pools`]),
//! a memory limiter on the store summing every linear memory, a CPU budget counted in
//! epoch ticks while guest code and the host functions it calls run (armed right before
//! instantiation), and an outer wall-clock timeout that also covers time spent waiting in
//! host calls such as outbound HTTP. What the guest hands the host in one transfer (a
//! host call's arguments, or its answer) is capped by [`HOSTCALL_FUEL`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::contract::{Guest, GuestPre, Release};
use super::pools::{Membership, NoRoom, Slots};
use super::{CallState, EPOCH_TICK, Runtime};
use crate::capabilities::Capabilities;
use crate::store::kv::Staged;

/// Bytes the guest may hand the host in one transfer: the arguments of one host call, or
/// the answer of one export as the host lifts it. wasmtime's own default is 128 MiB; an
/// answer within the caps of [`crate::plugins::bounds`] needs well under this.
pub const HOSTCALL_FUEL: usize = 4 << 20;

/// How long a call waits for its adapter's concurrency or for pool slots before the
/// caller is answered "busy".
const ADMISSION_WAIT: Duration = Duration::from_secs(2);

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
    /// The adapter handed the host more than it accepts: an answer past the caps of
    /// [`crate::plugins::bounds`], or more than [`HOSTCALL_FUEL`] bytes in one transfer.
    #[error("adapter returned too much: {0}")]
    Oversized(String),
}

/// A compiled, linked adapter ready to be instantiated for each call.
pub struct Instantiable {
    runtime: Arc<Runtime>,
    pre: GuestPre,
    limits: CallLimits,
    permits: Arc<tokio::sync::Semaphore>,
    /// The pool slots one call needs, measured at load and enforced on every store.
    demand: Slots,
    membership: Membership,
    /// Calls killed for CPU, memory or trap, for metrics and `show`.
    pub(crate) kills: KillCounters,
}

impl CallError {
    /// Every reason, by its label, in this order: the one list of them.
    pub const REASONS: [&'static str; 6] = ["cpu_budget", "memory_limit", "trap", "timeout", "busy", "oversized"];

    /// The metrics label of the reason (one of [`CallError::REASONS`]).
    pub fn reason(&self) -> &'static str {
        Self::REASONS[self.index()]
    }

    fn index(&self) -> usize {
        match self {
            CallError::CpuBudget(_) => 0,
            CallError::Memory(_) => 1,
            CallError::Trap(_) => 2,
            CallError::Timeout(_) => 3,
            CallError::Busy => 4,
            CallError::Oversized(_) => 5,
        }
    }
}

/// How many calls were made, and how many stopped, by reason.
#[derive(Debug, Default)]
pub struct KillCounters {
    calls: AtomicU64,
    stopped: [AtomicU64; CallError::REASONS.len()],
}

impl KillCounters {
    /// Counts one call stopped for `error`.
    pub fn count(&self, error: &CallError) {
        self.stopped[error.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls started.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls stopped, by reason, in the order of [`CallError::REASONS`].
    pub fn stopped(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CallError::REASONS.into_iter().zip(self.stopped.iter().map(|c| c.load(Ordering::Relaxed)))
    }
}

/// The future of one guest export call, borrowing the instance and its store.
pub type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// Why a linked component cannot be made instantiable.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{0}")]
    Link(String),
    #[error("cannot be instantiated: {0}")]
    Instantiate(String),
    #[error(
        "instantiates a core module it imports, so the pool slots it needs cannot be known; adapters must contain their modules"
    )]
    UnknownResources,
    #[error(transparent)]
    NoRoom(#[from] NoRoom),
    #[error("the instance pools stayed full while the adapter was measured; try again later")]
    Busy,
}

impl Instantiable {
    /// Wraps a linked component built for `release` with its limits: measures the pool slots one call needs
    /// (instantiating it in throwaway stores) and joins the pools with them.
    pub async fn new(
        runtime: Arc<Runtime>,
        release: Release,
        pre: InstancePre<CallState>,
        limits: CallLimits,
        caps: Arc<Capabilities>,
    ) -> Result<Self, PrepareError> {
        let started = std::time::Instant::now();
        let resources = pre.component().resources_required().ok_or(PrepareError::UnknownResources)?;
        let pre = GuestPre::new(release, pre).map_err(|e| PrepareError::Link(format!("{e:#}")))?;
        // The most one call could take: the per-component limits, or the whole pools if
        // they are smaller.
        let ceiling = Slots::PER_COMPONENT_MAX.min(runtime.pools().capacity());
        // Measuring takes up to a whole call's ceiling. Reserving it keeps other adapters
        // from taking the slots as they are freed, so an adapter that holds every shared
        // slot delays a load at most until its calls end (the wall-clock limit).
        let measuring = runtime
            .pools()
            .join_reserving(&caps.adapter, ceiling)
            .or_else(|_| runtime.pools().join_reserving(&caps.adapter, Slots::default()))?;
        let probe = |core_instances: u32| {
            let slots = Slots { core_instances, ..ceiling };
            let (runtime, pre, caps, measuring) = (&runtime, &pre, caps.clone(), &measuring);
            async move {
                let wait = limits.wall + ADMISSION_WAIT;
                let _slots = measuring.admit(ceiling, wait).await.ok_or(PrepareError::Busy)?;
                let mut store = new_store(runtime, caps, "load", limits, slots);
                Ok::<_, PrepareError>(pre.instantiate_checked(&mut store).await.map(drop))
            }
        };
        // The component's core instances: the fewest a store may allow and still
        // instantiate it. wasmtime does not tell, so it is found by trying (about 1 ms).
        if let Err(error) = probe(ceiling.core_instances).await? {
            return Err(PrepareError::Instantiate(format!("{error:#}")));
        }
        let (mut fails, mut works) = (0, ceiling.core_instances);
        while works - fails > 1 {
            let middle = fails + (works - fails) / 2;
            if probe(middle).await?.is_ok() { works = middle } else { fails = middle }
        }
        drop(measuring);
        let demand = Slots {
            component_instances: 1,
            core_instances: works,
            memories: resources.num_memories,
            tables: resources.num_tables,
            stacks: 1,
        };
        let membership = runtime.pools().join(&caps.adapter, demand)?;
        tracing::info!(
            adapter = %caps.adapter,
            core_instances = demand.core_instances,
            memories = demand.memories,
            tables = demand.tables,
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "measured the pool slots of one call"
        );
        let permits = Arc::new(tokio::sync::Semaphore::new(limits.concurrency as usize));
        Ok(Instantiable { runtime, pre, limits, permits, demand, membership, kills: KillCounters::default() })
    }

    /// The pool slots one call of this adapter holds.
    pub fn demand(&self) -> Slots {
        self.demand
    }

    /// The contract release the adapter was built for.
    pub fn release(&self) -> Release {
        self.pre.release()
    }

    /// The limits calls run under.
    pub fn limits(&self) -> CallLimits {
        self.limits
    }

    /// Instantiates the adapter in a fresh store and runs `f` on it under every limit: its
    /// answer, and the `kv` writes it staged and did not commit (a stopped call's are lost).
    pub async fn call<R, F>(&self, caps: Arc<Capabilities>, request_id: &str, f: F) -> Result<(R, Staged), CallError>
    where
        R: Send,
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<CallState>) -> CallFuture<'a, R> + Send,
    {
        self.kills.calls.fetch_add(1, Ordering::Relaxed);
        let permits = async {
            let adapter = acquire(&self.permits).await?;
            let slots = self.membership.admit(self.demand, ADMISSION_WAIT).await.ok_or(CallError::Busy)?;
            Ok::<_, CallError>((adapter, slots))
        };
        let _permits = match permits.await {
            Ok(p) => p,
            Err(e) => {
                self.kills.count(&e);
                return Err(e);
            }
        };

        let limits = self.limits;
        let mut store = new_store(&self.runtime, caps.clone(), request_id, limits, self.demand);

        let run = async {
            let adapter = self.pre.instantiate_async(&mut store).await?;
            f(&adapter, &mut store).await
        };
        let outcome = tokio::time::timeout(limits.wall, run).await;
        let result = match outcome {
            Err(_) => Err(CallError::Timeout(limits.wall)),
            Ok(Ok(value)) => Ok((value, store.data_mut().take_staged())),
            Ok(Err(error)) => Err(self.classify(&store, error)),
        };
        if let Err(error) = &result {
            if matches!(error, CallError::Busy) {
                return result;
            }
            self.kills.count(error);
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
        // wasmtime's error for exhausted hostcall fuel is a private type: known by its text.
        if format!("{error:#}").contains("fuel allocated for hostcalls has been exhausted") {
            return CallError::Oversized(format!("more than {} MiB in one transfer", HOSTCALL_FUEL >> 20));
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => CallError::CpuBudget(self.limits.cpu),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => CallError::Trap(format!("{error:#}")),
        }
    }
}

/// A fresh store for one call: its limiter allows `limits.memory_bytes` over all memories
/// and the core instances, memories and tables of `slots`; its CPU budget is armed.
fn new_store(
    runtime: &Runtime,
    caps: Arc<Capabilities>,
    request_id: &str,
    limits: CallLimits,
    slots: Slots,
) -> Store<CallState> {
    let mut store =
        Store::new(runtime.engine(), CallState::new(caps, request_id.to_owned(), limits.memory_bytes, slots));
    store.limiter(|state| &mut state.limits);
    store.set_hostcall_fuel(HOSTCALL_FUEL);
    let budget_ticks = (limits.cpu.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64;
    let mut ticks = 0u64;
    // The callback runs when guest code finds its deadline passed: at most once a tick,
    // counting the ticks in which guest code or the host functions it called synchronously
    // ran, not time spent waiting on host I/O. Yielding keeps a busy guest from holding
    // a tokio worker.
    store.epoch_deadline_callback(move |_| {
        ticks += 1;
        if ticks >= budget_ticks { Err(Trap::Interrupt.into()) } else { Ok(UpdateDeadline::Yield(1)) }
    });
    store.set_epoch_deadline(1);
    store
}

/// Waits a short while for a permit; a queue longer than that means the adapter is
/// saturated and the caller is better served by a quick 503 than by waiting.
async fn acquire(semaphore: &Arc<tokio::sync::Semaphore>) -> Result<tokio::sync::OwnedSemaphorePermit, CallError> {
    match tokio::time::timeout(Duration::from_secs(2), semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(CallError::Busy),
    }
}
