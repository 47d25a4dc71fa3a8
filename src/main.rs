//! `llamacol`: see `llamacol --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    fix_malloc_mmap_threshold();
    llamacol::main_with_args(llamacol::Cli::parse())
}

/// glibc's malloc raises its mmap threshold each time a large block is freed; after
/// that, multi-megabyte batch buffers come from its heaps and stay resident when freed:
/// about 25 MiB of a 130 MiB peak behind a slow backend (BENCHMARKS.md, "Memory"). A fixed
/// threshold keeps them mapped on their own and returned on free. glibc reads it only
/// from the environment at start (setting it in-process needs `unsafe`), so llamacol
/// re-executes itself once with `MALLOC_MMAP_THRESHOLD_` set: same pid, same arguments.
/// A value the user set is kept; if the re-exec fails, llamacol runs as it is.
fn fix_malloc_mmap_threshold() {
    const VAR: &str = "MALLOC_MMAP_THRESHOLD_";
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let mut again = std::process::Command::new(&exe);
    // 256 KiB: a request buffer stays on the heap, a batch gets its own mapping.
    std::os::unix::process::CommandExt::arg0(&mut again, arg0)
        .args(args)
        .env(VAR, "262144");
    let _exec_failed = std::os::unix::process::CommandExt::exec(&mut again);
    // Reached only when exec failed: run without it.
}
