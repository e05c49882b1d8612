// glibc's malloc took about 11% of the host's CPU under `scripts/load.sh` (its free lists
// contended between tokio's workers); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    panjereh_host::cli::main()
}
