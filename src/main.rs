//! `llamacol`: see `llamacol --help`.

/// mimalloc rather than glibc's malloc: after a backlog drains (an exporter queue filled
/// while its backend was away), glibc kept 60-120 MiB of freed pages resident at random,
/// so RSS after each outage depended on fragmentation; mimalloc gives freed pages back
/// (BENCHMARKS.md, "Soak"). A custom collector's `main` chooses its own allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    llamacol::main(llamacol::builtins())
}
