//! Per-call resource limits: linear memory and table elements summed over the whole
//! component, and the number of core instances, memories and tables a store may create.

use wasmtime::ResourceLimiter;

use super::pools::Slots;

/// Table elements one call may have, summed over every table of the component.
pub const MAX_TABLE_ELEMENTS: usize = 200_000;

/// Caps one call's memory and remembers whether the cap was hit, so a failed call can be
/// reported as "memory limit exceeded" rather than as a generic trap.
///
/// The cap is on the sum of every linear memory of the component, not on each: a
/// component may define several memories (up to four under the pooling allocator), and
/// a per-memory cap would let it use several times its limit.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_memory: usize,
    /// Bytes of linear memory the call holds now, over all its memories.
    memory: usize,
    /// The growth granted last, taken back if wasmtime then fails to grow.
    last_memory_grant: usize,
    table_elements: usize,
    last_table_grant: usize,
    /// Core instances, memories and tables the store may create (the adapter's measured
    /// needs, so a call can never take more pool slots than it was admitted with).
    slots: Slots,
    /// Set when the guest asked for more memory than allowed.
    pub exceeded: bool,
    /// The largest total memory the call reached.
    pub peak: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `max_memory` bytes over all linear memories of a store, and at
    /// most the core instances, memories and tables of `slots`.
    pub fn new(max_memory: usize, slots: Slots) -> Self {
        MemoryLimiter {
            max_memory,
            memory: 0,
            last_memory_grant: 0,
            table_elements: 0,
            last_table_grant: 0,
            slots,
            exceeded: false,
            peak: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    /// Called for every memory when it is created (`current` 0) and on every `memory.grow`.
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.memory.saturating_add(growth);
        if total > self.max_memory {
            self.exceeded = true;
            return Ok(false);
        }
        self.memory = total;
        self.last_memory_grant = growth;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory -= std::mem::take(&mut self.last_memory_grant);
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current);
        let total = self.table_elements.saturating_add(growth);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        self.last_table_grant = growth;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_elements -= std::mem::take(&mut self.last_table_grant);
        Ok(())
    }

    fn instances(&self) -> usize {
        self.slots.core_instances as usize
    }

    fn tables(&self) -> usize {
        self.slots.tables as usize
    }

    fn memories(&self) -> usize {
        self.slots.memories as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_counted_over_every_memory_of_the_store() {
        let mut limiter = MemoryLimiter::new(64 << 20, Slots::PER_COMPONENT_MAX);
        // Three memories created at 1 MiB, then each grown to 20 MiB: 60 MiB in all.
        for _ in 0..3 {
            assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        }
        for _ in 0..3 {
            assert!(limiter.memory_growing(1 << 20, 20 << 20, None).unwrap());
        }
        assert!(!limiter.exceeded);
        // A fourth memory of 20 MiB would make 80 MiB: refused, though each is under 64.
        assert!(!limiter.memory_growing(0, 20 << 20, None).unwrap());
        assert!(limiter.exceeded);
        assert_eq!(limiter.peak, 60 << 20);
        // A growth wasmtime could not carry out is given back.
        assert!(limiter.memory_growing(20 << 20, 21 << 20, None).unwrap());
        limiter.memory_grow_failed(wasmtime::format_err!("mmap failed")).unwrap();
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
    }
}
