//! The data of one call's `Store`: the inert WASI context, limits, and what the host
//! capabilities need to know about the calling adapter.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::MemoryLimiter;
use super::pools::Slots;
use crate::capabilities::Capabilities;
use crate::store::kv::Staged;

/// Bytes of stdout/stderr kept per call; the rest is refused.
const STDIO_CAP: usize = 64 << 10;
/// Bytes one `wasi:random` call may ask for (wasmtime's default is 64 MiB, made by the
/// host outside the guest's CPU budget); a larger request traps. Seeding a generator
/// needs 32.
pub const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// Everything a single call's store holds. Dropped with the store when the call ends, so
/// nothing from one citizen's call is visible in the next.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: MemoryLimiter,
    /// The adapter's grants and the host services behind them.
    pub(crate) caps: Arc<Capabilities>,
    /// Request id, for log lines.
    pub(crate) request_id: String,
    /// Log lines written so far in this call (rate limit).
    pub(crate) log_lines: u32,
    /// Messages sent through `notify` so far in this call.
    pub(crate) notices: u32,
    /// The `kv` writes of this call not committed yet.
    pub(crate) kv: Staged,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl CallState {
    /// A fresh state: no environment, no arguments, no files, no sockets, stdio captured.
    pub fn new(caps: Arc<Capabilities>, request_id: String, max_memory: usize, slots: Slots) -> Self {
        let stdout = MemoryOutputPipe::new(STDIO_CAP);
        let stderr = MemoryOutputPipe::new(STDIO_CAP);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            limits: MemoryLimiter::new(max_memory, slots),
            caps,
            request_id,
            log_lines: 0,
            notices: 0,
            kv: Staged::default(),
            stdout,
            stderr,
        }
    }

    /// What the guest wrote to stdout and stderr (lossy UTF-8), for the adapter's log.
    pub fn captured_output(&self) -> (String, String) {
        (
            String::from_utf8_lossy(&self.stdout.contents()).into_owned(),
            String::from_utf8_lossy(&self.stderr.contents()).into_owned(),
        )
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
