//! Admission to the engine's instance pools, so that one adapter cannot take the slots
//! every other adapter needs.
//!
//! A call holds slots of five kinds while it runs: one component instance, the core
//! instances of its component, its linear memories, its tables and one stack. The pooling
//! allocator has a fixed number of each for the whole process; when any kind runs out,
//! instantiation fails for every adapter. A component with many core instances and many
//! calls that sleep could empty the core-instance pool while the component-instance
//! count stays low, so every kind is counted.
//!
//! Each loaded adapter joins with what one of its calls needs (measured at load) and is
//! given a reserve of [`RESERVED_CALLS`] calls' worth of every kind. A call is admitted
//! only when every kind has room for it and, unless it fits in its adapter's own reserve,
//! only from the slots nobody else has reserved. So however an adapter behaves, every
//! other loaded adapter can always run [`RESERVED_CALLS`] calls at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Calls of its own that every loaded adapter can always run, whatever the others do.
pub const RESERVED_CALLS: u32 = 2;

/// The kinds of pool slot, in the order of [`Slots::kinds`].
const KIND_NAMES: [&str; 5] = ["component instances", "core instances", "memories", "tables", "stacks"];

/// A number of slots of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Slots {
    pub component_instances: u32,
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
    pub stacks: u32,
}

impl Slots {
    /// The most one component may use (the pooling allocator's per-component limits).
    pub const PER_COMPONENT_MAX: Slots =
        Slots { component_instances: 1, core_instances: 64, memories: 4, tables: 8, stacks: 1 };

    /// The pools of an engine sized for `instances` calls at once: as many component
    /// instances and stacks, and on average 8 core instances, 2 memories and 4 tables a
    /// call.
    pub fn pools_for(instances: u32) -> Slots {
        Slots {
            component_instances: instances,
            core_instances: instances.saturating_mul(8),
            memories: instances.saturating_mul(2),
            tables: instances.saturating_mul(4),
            stacks: instances,
        }
    }

    fn kinds(self) -> [u32; 5] {
        [self.component_instances, self.core_instances, self.memories, self.tables, self.stacks]
    }

    fn from_kinds([component_instances, core_instances, memories, tables, stacks]: [u32; 5]) -> Slots {
        Slots { component_instances, core_instances, memories, tables, stacks }
    }

    fn zip(self, other: Slots, f: impl Fn(u32, u32) -> u32) -> Slots {
        let (a, b) = (self.kinds(), other.kinds());
        Slots::from_kinds(std::array::from_fn(|i| f(a[i], b[i])))
    }

    fn plus(self, other: Slots) -> Slots {
        self.zip(other, u32::saturating_add)
    }

    fn minus(self, other: Slots) -> Slots {
        self.zip(other, u32::saturating_sub)
    }

    fn max(self, other: Slots) -> Slots {
        self.zip(other, u32::max)
    }

    /// The smaller of each kind.
    pub fn min(self, other: Slots) -> Slots {
        self.zip(other, u32::min)
    }

    fn times(self, n: u32) -> Slots {
        self.zip(self, |a, _| a.saturating_mul(n))
    }

    /// The first kind (its index) of which `self` has more than `limit`.
    fn first_over(self, limit: Slots) -> Option<usize> {
        let (a, b) = (self.kinds(), limit.kinds());
        (0..5).find(|&i| a[i] > b[i])
    }
}

/// Why an adapter cannot be given its share of the pools.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the instance pools cannot keep {RESERVED_CALLS} calls of this adapter in reserve: they would need {needed} {kind} of the {left} not yet reserved by other adapters (raise limits.max-instances)"
)]
pub struct NoRoom {
    pub kind: &'static str,
    pub needed: u32,
    pub left: u32,
}

/// The shared pools: how many slots there are, and who holds and reserves them.
#[derive(Debug)]
pub struct Pools {
    capacity: Slots,
    state: Mutex<State>,
    freed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    in_use: Slots,
    adapters: HashMap<String, Share>,
    next_member: u64,
}

/// One adapter's part: every loaded version of an adapter shares it.
#[derive(Debug, Default)]
struct Share {
    /// The reserve each member (a loaded version) asked for.
    members: HashMap<u64, Slots>,
    in_use: Slots,
}

impl Share {
    /// The reserve of the adapter: the largest of its members'.
    fn reserve(&self) -> Slots {
        self.members.values().fold(Slots::default(), |max, r| max.max(*r))
    }
}

impl State {
    /// What every adapter holds or keeps in reserve, whichever is more, summed.
    fn committed(&self) -> Slots {
        self.adapters.values().fold(Slots::default(), |sum, s| sum.plus(s.in_use.max(s.reserve())))
    }

    /// Ends the share of an adapter with no version loaded and no call running.
    fn forget_if_gone(&mut self, adapter: &str) {
        if self.adapters.get(adapter).is_some_and(|s| s.members.is_empty() && s.in_use == Slots::default()) {
            self.adapters.remove(adapter);
        }
    }
}

impl Pools {
    /// Pools of `capacity` slots.
    pub fn new(capacity: Slots) -> Arc<Pools> {
        Arc::new(Pools { capacity, state: Mutex::default(), freed: tokio::sync::Notify::new() })
    }

    /// How many slots there are.
    pub fn capacity(&self) -> Slots {
        self.capacity
    }

    /// Slots held by calls running now.
    pub fn in_use(&self) -> Slots {
        self.lock().in_use
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a version of `adapter`, whose calls each need `demand`, reserving
    /// [`RESERVED_CALLS`] of them. Refused when the reserves of all adapters would not fit.
    pub fn join(self: &Arc<Self>, adapter: &str, demand: Slots) -> Result<Membership, NoRoom> {
        self.join_reserving(adapter, demand.times(RESERVED_CALLS))
    }

    /// Adds a member of `adapter` that keeps `reserve` for it.
    pub fn join_reserving(self: &Arc<Self>, adapter: &str, reserve: Slots) -> Result<Membership, NoRoom> {
        let mut state = self.lock();
        let current = state.adapters.get(adapter).map_or(Slots::default(), Share::reserve);
        let others = state
            .adapters
            .iter()
            .filter(|(id, _)| id.as_str() != adapter)
            .fold(Slots::default(), |sum, (_, s)| sum.plus(s.reserve()));
        if let Some(k) = others.plus(current.max(reserve)).first_over(self.capacity) {
            let left = self.capacity.kinds()[k].saturating_sub(others.kinds()[k]);
            return Err(NoRoom { kind: KIND_NAMES[k], needed: reserve.kinds()[k], left });
        }
        let id = state.next_member;
        state.next_member += 1;
        state.adapters.entry(adapter.to_owned()).or_default().members.insert(id, reserve);
        Ok(Membership { pools: self.clone(), adapter: adapter.to_owned(), id })
    }

    /// Takes `demand` for `adapter` if every kind has room and the reserves of other
    /// adapters stay untouched.
    fn try_take(&self, adapter: &str, demand: Slots) -> bool {
        let mut state = self.lock();
        let committed = state.committed();
        let Some(share) = state.adapters.get(adapter) else { return false };
        let after = share.in_use.plus(demand);
        let (cap, in_use, committed) = (self.capacity.kinds(), state.in_use.kinds(), committed.kinds());
        let (mine, after, reserve, demand_k) =
            (share.in_use.kinds(), after.kinds(), share.reserve().kinds(), demand.kinds());
        let fits = (0..5).all(|k| {
            let physical = in_use[k].saturating_add(demand_k[k]) <= cap[k];
            let within_reserve = after[k] <= reserve[k];
            // Growing past its reserve, the adapter takes from slots nobody reserved.
            let shared = committed[k] - mine[k].max(reserve[k]) + after[k].max(reserve[k]) <= cap[k];
            physical && (within_reserve || shared)
        });
        if fits {
            state.in_use = state.in_use.plus(demand);
            if let Some(share) = state.adapters.get_mut(adapter) {
                share.in_use = share.in_use.plus(demand);
            }
        }
        fits
    }

    fn give_back(&self, adapter: &str, demand: Slots) {
        let mut state = self.lock();
        state.in_use = state.in_use.minus(demand);
        if let Some(share) = state.adapters.get_mut(adapter) {
            share.in_use = share.in_use.minus(demand);
        }
        state.forget_if_gone(adapter);
        drop(state);
        self.freed.notify_waiters();
    }
}

/// A loaded version's place in the pools; leaving (on drop) ends the adapter's reserve
/// once no version of it is loaded.
#[derive(Debug)]
pub struct Membership {
    pools: Arc<Pools>,
    adapter: String,
    id: u64,
}

impl Membership {
    /// Waits up to `wait` for room for one call needing `demand`.
    pub async fn admit(&self, demand: Slots, wait: Duration) -> Option<Admission> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.pools.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a release in between is not missed.
            freed.as_mut().enable();
            if self.pools.try_take(&self.adapter, demand) {
                return Some(Admission { pools: self.pools.clone(), adapter: self.adapter.clone(), demand });
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut state = self.pools.lock();
        if let Some(share) = state.adapters.get_mut(&self.adapter) {
            share.members.remove(&self.id);
        }
        state.forget_if_gone(&self.adapter);
        drop(state);
        self.pools.freed.notify_waiters();
    }
}

/// Slots held by one running call, given back on drop.
#[derive(Debug)]
pub struct Admission {
    pools: Arc<Pools>,
    adapter: String,
    demand: Slots,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.pools.give_back(&self.adapter, self.demand);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Slots = Slots { component_instances: 1, core_instances: 4, memories: 1, tables: 2, stacks: 1 };
    const WIDE: Slots = Slots { component_instances: 1, core_instances: 40, memories: 4, tables: 1, stacks: 1 };
    const NOW: Duration = Duration::ZERO;

    #[tokio::test]
    async fn a_greedy_adapter_never_takes_what_others_have_in_reserve() {
        let pools = Pools::new(Slots::pools_for(16));
        let greedy = pools.join("greedy", WIDE).unwrap();
        let modest = pools.join("modest", SMALL).unwrap();
        let mut held = Vec::new();
        while let Some(admission) = greedy.admit(WIDE, NOW).await {
            held.push(admission);
        }
        // 128 core instances, 8 of them kept for `modest`: three calls of 40 fit.
        assert_eq!(held.len(), 3);
        let first = modest.admit(SMALL, NOW).await.expect("the reserve is kept");
        let second = modest.admit(SMALL, NOW).await.expect("the reserve is kept");
        assert_eq!(pools.in_use().core_instances, 3 * 40 + 2 * 4);
        drop((first, second));
        held.pop();
        assert!(greedy.admit(WIDE, NOW).await.is_some(), "freed slots are taken again");
    }

    #[tokio::test]
    async fn a_waiting_call_is_admitted_when_a_slot_is_freed() {
        let pools = Pools::new(Slots::pools_for(1));
        let only = pools.join("only", SMALL).unwrap_err();
        assert_eq!(only.kind, "component instances", "two calls in reserve do not fit one instance");
        let pools = Pools::new(Slots::pools_for(2));
        let member = pools.join("a", SMALL).unwrap();
        let a = member.admit(SMALL, NOW).await.unwrap();
        let b = member.admit(SMALL, NOW).await.unwrap();
        assert!(member.admit(SMALL, NOW).await.is_none());
        let waiting = tokio::spawn(async move { member.admit(SMALL, Duration::from_secs(5)).await.is_some() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert!(waiting.await.unwrap());
        drop(b);
    }

    #[test]
    fn reserves_that_do_not_fit_are_refused_with_the_kind() {
        let pools = Pools::new(Slots::pools_for(16));
        let _a = pools.join("a", WIDE).unwrap();
        let error = pools.join("b", WIDE).unwrap_err();
        assert_eq!((error.kind, error.needed, error.left), ("core instances", 80, 48));
        assert!(error.to_string().contains("80 core instances of the 48"), "{error}");
        // Versions of one adapter share one reserve, the largest any of them asked for.
        let _a2 = pools.join("a", WIDE).unwrap();
        let larger = pools.join_reserving("a", Slots { core_instances: 121, ..WIDE }).unwrap();
        assert!(pools.join("b", SMALL).is_err(), "121 + 8 core instances do not fit in 128");
        drop(larger);
        let _b = pools.join("b", SMALL).unwrap();
    }
}
