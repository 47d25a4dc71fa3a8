//! `pprof` extension: CPU profiles of the running collector in the pprof format, as the
//! Collector's extension serves Go's `net/http/pprof`: `/debug/pprof/profile?seconds=N`
//! (default 30) samples every thread's stack 100 times a second for N seconds (the
//! sampling profiler of the `pprof` crate, signal-based, pure Rust) and answers the
//! gzipped profile `go tool pprof` and `pprof` read. Rust has no garbage-collected heap
//! or goroutines to dump: `/debug/pprof/threads` lists the process's threads with their
//! CPU time instead, and `heap`, `allocs`, `goroutine`, `block`, `mutex` answer 501
//! saying so. `save_to_file` profiles from start to shutdown.

mod config;
mod profile;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::RawQuery;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::serde_yaml::Value;
use llamacol_api::task::Background;
use llamacol_api::{BoxError, ComponentId, Extension, ExtensionContext, ExtensionFactory};

pub use config::PprofConfig;

/// Samples per second (Go's default rate).
const FREQUENCY: i32 = 100;
/// Frames of the signal machinery itself, left out of every stack.
const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

pub fn factory() -> ExtensionFactory {
    ExtensionFactory {
        type_name: "pprof",
        config: ConfigSpec::of::<PprofConfig>(),
        storage: false,
        authenticator: false,
        build,
    }
}

fn build(ctx: &ExtensionContext, block: &Value) -> Result<Arc<dyn Extension>, BoxError> {
    Ok(Arc::new(Pprof {
        id: ctx.id.clone(),
        config: parse_block::<PprofConfig>(block)?,
        server: Background::new(),
        whole_run: Mutex::new(None),
    }))
}

pub struct Pprof {
    id: ComponentId,
    config: PprofConfig,
    server: Background,
    /// `save_to_file`: stops the profile of the whole run and waits for its file.
    whole_run: Mutex<Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
}

/// A profile of the CPU for `seconds`, gzipped pprof; taken on a thread of its own (the
/// profiler's guard stays on the thread that made it).
fn cpu_profile(seconds: u64) -> Result<Vec<u8>, String> {
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&BLOCKLIST)
        .build()
        .map_err(|e| format!("cannot start CPU profiling (another profile running?): {e}"))?;
    std::thread::sleep(Duration::from_secs(seconds));
    let report = guard
        .report()
        .build()
        .map_err(|e| format!("cannot read the profile: {e}"))?;
    profile::encode(&report).map_err(|e| format!("cannot encode the profile: {e}"))
}

async fn profile_handler(RawQuery(query): RawQuery) -> Response {
    let given = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| {
            pair.strip_prefix("seconds=")
                .map(|v| v.parse::<u64>().unwrap_or(0))
        });
    let seconds = given.unwrap_or(30);
    if seconds == 0 || seconds > 3600 {
        return (
            StatusCode::BAD_REQUEST,
            "seconds: give 1 to 3600 (default 30)\n",
        )
            .into_response();
    }
    match tokio::task::spawn_blocking(move || cpu_profile(seconds)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"profile\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::CONFLICT, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn index() -> impl IntoResponse {
    "llamacol pprof\n\n\
     /debug/pprof/profile?seconds=N  CPU profile (pprof format, gzipped), N seconds (default 30)\n\
     /debug/pprof/threads            the process's threads and their CPU time\n\n\
     heap, allocs, goroutine, block, mutex: Go runtime profiles with no Rust equivalent here (501)\n"
}

/// Each thread: id, name, user and system CPU seconds (from /proc/self/task).
async fn threads() -> impl IntoResponse {
    let ticks = 100.0; // USER_HZ on Linux
    let mut out = String::from("tid\tname\tuser_s\tsystem_s\n");
    let mut rows = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let dir = task.path();
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            // Fields after the `(comm)`: state is 3rd, utime 14th, stime 15th.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = after.split_whitespace().collect();
            let cpu = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
                    / ticks
            };
            rows.push(format!(
                "{}\t{}\t{:.2}\t{:.2}\n",
                task.file_name().to_string_lossy(),
                name.trim(),
                cpu(11),
                cpu(12)
            ));
        }
    }
    rows.sort();
    out.extend(rows);
    out
}

async fn no_equivalent() -> impl IntoResponse {
    (
        StatusCode::NOT_IMPLEMENTED,
        "a Go runtime profile: Rust has no garbage-collected heap or goroutines to dump; \
         use /debug/pprof/profile for CPU and /debug/pprof/threads for threads\n",
    )
}

#[async_trait]
impl Extension for Pprof {
    async fn start(&self) -> Result<(), BoxError> {
        let c = &self.config;
        if c.block_profile_fraction != 0 || c.mutex_profile_fraction != 0 {
            tracing::warn!(component = %self.id, "block_profile_fraction and mutex_profile_fraction are Go runtime settings with no Rust equivalent: ignored");
        }
        let app = Router::new()
            .route("/debug/pprof/", get(index))
            .route("/debug/pprof/profile", get(profile_handler))
            .route("/debug/pprof/threads", get(threads))
            .route("/debug/pprof/heap", get(no_equivalent))
            .route("/debug/pprof/allocs", get(no_equivalent))
            .route("/debug/pprof/goroutine", get(no_equivalent))
            .route("/debug/pprof/block", get(no_equivalent))
            .route("/debug/pprof/mutex", get(no_equivalent));
        crate::http_server::serve(&self.id, "pprof", &c.endpoint, app, &self.server).await?;
        if !c.save_to_file.is_empty() {
            self.profile_whole_run()?;
        }
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), BoxError> {
        self.server.stop().await;
        let whole_run = self
            .whole_run
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, thread)) = whole_run {
            let _ = stop.send(());
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| format!("the profile of the run was lost: {e}"))?
                .map_err(|_| "the profile of the run was lost: its thread panicked")?;
        }
        Ok(())
    }
}

impl Pprof {
    /// `save_to_file`: a profile from now to shutdown, written there.
    fn profile_whole_run(&self) -> Result<(), BoxError> {
        let (path, id) = (self.config.save_to_file.clone(), self.id.clone());
        let (stop, stopped) = mpsc::channel::<()>();
        let (ready, started) = mpsc::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name("pprof-run".into())
            .spawn(move || {
                let guard = match pprof::ProfilerGuardBuilder::default()
                    .frequency(FREQUENCY)
                    .blocklist(&BLOCKLIST)
                    .build()
                {
                    Ok(g) => g,
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                let _ = stopped.recv();
                let written = guard
                    .report()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|r| profile::encode(&r).map_err(|e| e.to_string()))
                    .and_then(|bytes| std::fs::write(&path, bytes).map_err(|e| e.to_string()));
                match written {
                    Ok(()) => tracing::info!(component = %id, path, "CPU profile of the run written"),
                    Err(e) => tracing::warn!(component = %id, path, error = %e, "CPU profile of the run not written"),
                }
            })
            .map_err(|e| format!("save_to_file: cannot start the profiling thread: {e}"))?;
        started
            .recv()
            .map_err(|_| "save_to_file: the profiling thread ended".to_string())?
            .map_err(|e| format!("save_to_file: cannot start CPU profiling: {e}"))?;
        *self
            .whole_run
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((stop, thread));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
