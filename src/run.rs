//! `llamacol run`: build, start, wait for a signal, shut down in order.

use std::process::ExitCode;
use std::sync::Arc;

use llamacol_pipeline::config::{Config, Diagnostic, MetricsLevel};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use llamacol_pipeline::Registry;

/// How the process logs: the command line's choice, else the config's
/// `service.telemetry.logs`.
pub struct Logging {
    /// An `EnvFilter` directive (`info`, `llamacol=debug`).
    pub level: String,
    pub json: bool,
}

/// Runs a loaded, validated `config` until SIGTERM/SIGINT; `warnings` are the loader's.
pub fn run(
    config: Config,
    warnings: Vec<Diagnostic>,
    logging: Logging,
    registry: Registry,
) -> ExitCode {
    init_logging(&logging);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config, registry))
}

async fn serve(config: Config, registry: Registry) -> ExitCode {
    let telemetry = Telemetry::new();
    telemetry.set_metrics_served(config.telemetry.metrics.level != MetricsLevel::None);
    let admin_cancel = CancellationToken::new();
    let admin_endpoint = &config.telemetry.admin.endpoint;
    let listener = match llamacol_api::net::bind(admin_endpoint).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(endpoint = %admin_endpoint, error = %e, "cannot start the admin server (service.telemetry.admin.endpoint); is the port in use?");
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(endpoint = %addr, "admin server listening (/healthz /readyz /metrics /debug/pipelines /debug/alerts)");
    }
    let admin = tokio::spawn(crate::admin::serve(
        listener,
        Arc::clone(&telemetry),
        admin_cancel.clone(),
    ));

    let mut service = match Service::build(&config, &registry, Arc::clone(&telemetry)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let started = service.start().await;
    let code = match started {
        Ok(()) => {
            tracing::info!("llamacol is ready");
            wait_for_signal().await;
            tracing::info!("shutting down: receivers first, then processors, then exporter queues");
            tokio::spawn(async {
                wait_for_signal().await;
                tracing::warn!("second signal: exiting now without draining");
                std::process::exit(130);
            });
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    };
    let report = service.shutdown().await;
    log_totals(&telemetry);
    admin_cancel.cancel();
    let _ = admin.await;
    if report.problems.is_empty() {
        tracing::info!("shutdown complete");
    }
    code
}

/// The final account: what every receiver accepted and what became of it.
fn log_totals(telemetry: &Telemetry) {
    use llamacol_api::Kind;
    for (scope, [accepted, refused, sent, failed, dropped, unknown, sampled_out, decided_early]) in
        telemetry.snapshot()
    {
        match (scope.kind, &scope.pipeline) {
            (Kind::Receiver, _) if accepted + refused > 0 => {
                tracing::info!(component = %scope.component, signal = %scope.signal, accepted, refused, "receiver totals");
            }
            (Kind::Processor, Some(pipeline)) if dropped > 0 => {
                tracing::warn!(component = %scope.component, pipeline = %pipeline, signal = %scope.signal, dropped, sampled_out, "processor totals");
            }
            (Kind::Processor, Some(pipeline)) if sampled_out > 0 => {
                tracing::info!(component = %scope.component, pipeline = %pipeline, signal = %scope.signal, sampled_out, decided_early, "processor totals");
            }
            (Kind::Exporter, None) if sent + failed + dropped + unknown > 0 => {
                tracing::info!(component = %scope.component, signal = %scope.signal, sent, failed, dropped, unknown, "exporter totals");
            }
            _ => {}
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(logging: &Logging) {
    use tracing_subscriber::EnvFilter;
    let level = &logging.level;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|e| {
        eprintln!("warning: invalid log level `{level}` ({e}); using `info`");
        EnvFilter::new("info")
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if logging.json {
        builder.json().init();
    } else {
        builder.init();
    }
}
