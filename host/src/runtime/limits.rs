//! Per-call resource limits: linear memory, tables, instances.

use wasmtime::ResourceLimiter;

/// Caps one call's memory and remembers whether the cap was hit, so a failed call can be
/// reported as "memory limit exceeded" rather than as a generic trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_memory: usize,
    /// Set when the guest asked for more memory than allowed.
    pub exceeded: bool,
    /// The largest memory size the call reached.
    pub peak: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `max_memory` bytes per linear memory.
    pub fn new(max_memory: usize) -> Self {
        MemoryLimiter { max_memory, exceeded: false, peak: 0 }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.exceeded = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    /// Rust adapters have a handful of core instances; components of interpreted
    /// languages (CPython via componentize-py has 38) need more.
    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        32
    }

    fn memories(&self) -> usize {
        8
    }
}
