//! Finding the external programs some tests run beside llamacol (Prometheus, the
//! OpenTelemetry Collector, llama.cpp's server, the Python SDK). The README's test
//! command (`scripts/test`, through `scripts/peers.sh`) installs or builds each of them,
//! pinned, into a per-machine cache; those tests are `#[ignore = "needs X: run
//! scripts/test"]` so a plain `cargo test` lists them as ignored, never as passed.

use std::path::PathBuf;

/// The per-machine peer cache: `$LLAMACOL_PEERS_DIR`, else `~/.cache/llamacol-peers`.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("LLAMACOL_PEERS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/llamacol-peers"),
    }
}

/// The program `name`: `<peer cache>/bin/<name>` when `scripts/peers.sh` put it there,
/// else `name` found on `PATH`.
///
/// # Panics
/// When it is nowhere, with a message naming the program and the command that provides
/// it: a test that cannot run its peer fails; it never reports `ok` without having run.
pub fn external_program(name: &str) -> PathBuf {
    find_program(name).unwrap_or_else(|| {
        panic!(
            "needs `{name}`, which is neither in {} nor on PATH: run scripts/test \
             (it installs or builds every external program the tests use)",
            peers_dir().join("bin").display()
        )
    })
}

/// Like [`external_program`], without the panic.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let cached = peers_dir().join("bin").join(name);
    if cached.is_file() {
        return Some(cached);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}
