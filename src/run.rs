//! `llamacol run`: build, start, wait for a signal, shut down in order.

use std::process::ExitCode;
use std::sync::Arc;

use llamacol_pipeline::config::{Config, Diagnostic, LogsConfig, MetricsLevel};
use llamacol_pipeline::runtime::Service;
use llamacol_pipeline::telemetry::Telemetry;
use tokio_util::sync::CancellationToken;

use llamacol_pipeline::Registry;

use crate::self_telemetry::{self, LogPush, MetricsPush};

/// How the process logs: the command line's choice, else the config's
/// `service.telemetry.logs`.
pub struct Logging {
    /// An `EnvFilter` directive (`info`, `llamacol=debug`).
    pub level: String,
    pub json: bool,
    /// Sampling, outputs and pushes (`service.telemetry.logs`).
    pub config: LogsConfig,
}

/// Reads and validates the configuration again (SIGHUP), from the same sources.
pub type Reload = Box<dyn Fn(&Registry) -> Result<(Config, Vec<Diagnostic>), String> + Send>;

/// Runs a loaded, validated `config` until SIGTERM/SIGINT, reloading it on SIGHUP;
/// `warnings` are the loader's.
pub fn run(
    config: Config,
    warnings: Vec<Diagnostic>,
    logging: Logging,
    registry: Registry,
    reload: Reload,
) -> ExitCode {
    let pushes = match init_logging(&logging) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    runtime.block_on(serve(config, registry, pushes, reload))
}

async fn serve(
    config: Config,
    registry: Registry,
    pushes: Vec<LogPush>,
    reload: Reload,
) -> ExitCode {
    let telemetry = Telemetry::new();
    telemetry.set_metrics_served(config.telemetry.metrics.level != MetricsLevel::None);
    let resource = config
        .telemetry
        .resource
        .resolve(&self_telemetry::instance_id());
    telemetry.set_resource(resource.clone());
    let self_cancel = CancellationToken::new();
    let self_tasks =
        match start_self_telemetry(&config, pushes, &telemetry, &resource, &self_cancel) {
            Ok(tasks) => tasks,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
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
    let admin_auth = Arc::new(crate::admin::AdminAuth {
        required: config.telemetry.admin.auth.is_some(),
        authenticator: Default::default(),
    });
    let admin = tokio::spawn(crate::admin::serve(
        listener,
        Arc::clone(&telemetry),
        Arc::clone(&admin_auth),
        admin_cancel.clone(),
    ));

    let mut running = config;
    let mut service = match start_service(&running, &registry, &telemetry).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return stop_self_telemetry(
                self_cancel,
                self_tasks,
                admin_cancel,
                admin,
                ExitCode::FAILURE,
            )
            .await;
        }
    };
    set_admin_authenticator(&admin_auth, &running, &service);
    tracing::info!("llamacol is ready");
    let mut code = ExitCode::SUCCESS;
    while wait_for_signal().await == Signal::Reload {
        match reloaded(&running, service, &reload, &registry, &telemetry).await {
            Ok((config, started)) => {
                running = config;
                service = started;
                set_admin_authenticator(&admin_auth, &running, &service);
            }
            Err(e) => {
                tracing::error!("{e}");
                code = ExitCode::FAILURE;
                return stop_self_telemetry(self_cancel, self_tasks, admin_cancel, admin, code)
                    .await;
            }
        }
    }
    tracing::info!("shutting down: receivers first, then processors, then exporter queues");
    tokio::spawn(async {
        while wait_for_signal().await == Signal::Reload {}
        tracing::warn!("second signal: exiting now without draining");
        std::process::exit(130);
    });
    let report = service.shutdown().await;
    log_totals(&telemetry);
    if report.problems.is_empty() {
        tracing::info!("shutdown complete");
    }
    stop_self_telemetry(self_cancel, self_tasks, admin_cancel, admin, code).await
}

/// The admin server checks requests with the authenticator of the service now running
/// (`service.telemetry.admin.auth`; it stays as it was started otherwise).
fn set_admin_authenticator(auth: &crate::admin::AdminAuth, config: &Config, service: &Service) {
    let Some(wanted) = &config.telemetry.admin.auth else {
        return;
    };
    let found = service.authenticator(wanted);
    if found.is_none() {
        tracing::error!(authenticator = %wanted.authenticator, "service.telemetry.admin.auth: the authenticator extension is not running; the admin server refuses every request but the probes");
    }
    *auth
        .authenticator
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = found;
}

/// Builds and starts the pipelines of `config`; a service that fails to start is shut
/// down again.
async fn start_service(
    config: &Config,
    registry: &Registry,
    telemetry: &Arc<Telemetry>,
) -> Result<Service, String> {
    let mut service =
        Service::build(config, registry, Arc::clone(telemetry)).map_err(|e| e.to_string())?;
    if let Err(e) = service.start().await {
        let _ = service.shutdown().await;
        return Err(e.to_string());
    }
    Ok(service)
}

/// SIGHUP: the configuration read again. An invalid one changes nothing (the errors are
/// logged); a valid one replaces the running pipelines (stopped in order, as at exit,
/// then the new ones started); if the new ones do not start, the previous ones are
/// started again. Err only when neither starts.
async fn reloaded(
    running: &Config,
    service: Service,
    reload: &Reload,
    registry: &Registry,
    telemetry: &Arc<Telemetry>,
) -> Result<(Config, Service), String> {
    tracing::info!("SIGHUP: reading the configuration again");
    let (config, warnings) = match reload(registry) {
        Ok(loaded) => loaded,
        Err(errors) => {
            tracing::error!(
                "the configuration on disk is invalid; the running one stays:\n{errors}"
            );
            return Ok((running.clone(), service));
        }
    };
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if config.telemetry != running.telemetry {
        tracing::warn!("service.telemetry changed; logs, the admin server and llamacol's own pushes take it at the next restart");
    }
    tracing::info!("stopping the running pipelines for the new configuration");
    let _ = service.shutdown().await;
    telemetry.forget_components();
    match start_service(&config, registry, telemetry).await {
        Ok(started) => {
            tracing::info!("configuration reloaded; llamacol is ready");
            Ok((config, started))
        }
        Err(e) => {
            tracing::error!(error = %e, "the new configuration does not start; starting the previous one again");
            telemetry.forget_components();
            let previous = start_service(running, registry, telemetry)
                .await
                .map_err(|e| {
                    format!("the previous configuration does not start again either: {e}")
                })?;
            tracing::info!("the previous configuration runs again");
            Ok((running.clone(), previous))
        }
    }
}

/// Last: the final pushes carry the totals and the shutdown's own log lines; then the
/// admin server stops.
async fn stop_self_telemetry(
    self_cancel: CancellationToken,
    self_tasks: Vec<tokio::task::JoinHandle<()>>,
    admin_cancel: CancellationToken,
    admin: tokio::task::JoinHandle<std::io::Result<()>>,
    code: ExitCode,
) -> ExitCode {
    self_cancel.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), join_tasks(self_tasks)).await;
    admin_cancel.cancel();
    let _ = admin.await;
    code
}

/// Starts the pushes of llamacol's own logs and metrics.
fn start_self_telemetry(
    config: &Config,
    pushes: Vec<LogPush>,
    telemetry: &Arc<Telemetry>,
    resource: &[(String, String)],
    cancel: &CancellationToken,
) -> Result<Vec<tokio::task::JoinHandle<()>>, String> {
    let mut tasks = Vec::new();
    if !config.telemetry.traces.processors.is_empty() {
        tracing::warn!(target: self_telemetry::TARGET, "service.telemetry.traces: llamacol records no spans of its own work, so its processors get nothing; its logs (`logs.processors`) and metrics (`metrics.readers`) are what it reports about itself");
    }
    for push in pushes {
        if let Some(exporter) = push.exporter().map_err(|e| e.to_string())? {
            tasks.push(tokio::spawn(push.run(
                exporter,
                resource.to_vec(),
                cancel.clone(),
            )));
        }
    }
    for (place, reader) in config.telemetry.metrics.periodic() {
        let push = MetricsPush::new(format!("service.telemetry.metrics.{place}"), reader.clone());
        let exporter = push.exporter().map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(push.run(
            exporter,
            Arc::clone(telemetry),
            resource.to_vec(),
            cancel.clone(),
        )));
    }
    Ok(tasks)
}

async fn join_tasks(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

/// The final account: what every receiver accepted and what became of it.
fn log_totals(telemetry: &Telemetry) {
    use llamacol_api::Kind;
    for (
        scope,
        [accepted, refused, sent, failed, dropped, unknown, sampled_out, decided_early, filtered],
    ) in telemetry.snapshot()
    {
        match (scope.kind, &scope.pipeline) {
            (Kind::Receiver, _) if accepted + refused > 0 => {
                tracing::info!(component = %scope.component, signal = %scope.signal, accepted, refused, "receiver totals");
            }
            (Kind::Processor, Some(pipeline)) if dropped > 0 => {
                tracing::warn!(component = %scope.component, pipeline = %pipeline, signal = %scope.signal, dropped, sampled_out, "processor totals");
            }
            (Kind::Processor, Some(pipeline)) if sampled_out + filtered > 0 => {
                tracing::info!(component = %scope.component, pipeline = %pipeline, signal = %scope.signal, sampled_out, decided_early, filtered, "processor totals");
            }
            (Kind::Exporter, None) if sent + failed + dropped + unknown > 0 => {
                tracing::info!(component = %scope.component, signal = %scope.signal, sent, failed, dropped, unknown, "exporter totals");
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGTERM, SIGINT: shut down.
    Stop,
    /// SIGHUP: read the configuration again.
    Reload,
}

async fn wait_for_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(mut term), Ok(mut int), Ok(mut hup)) => {
                tokio::select! {
                    _ = term.recv() => Signal::Stop,
                    _ = int.recv() => Signal::Stop,
                    _ = hup.recv() => Signal::Reload,
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                Signal::Stop
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Stop
    }
}

/// Installs the log subscriber: level filter, sampling, the formatted lines on their
/// outputs, and one layer per `logs.processors` push (returned, to be started).
fn init_logging(logging: &Logging) -> Result<Vec<LogPush>, String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let level = &logging.level;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|e| {
        eprintln!("warning: invalid log level `{level}` ({e}); using `info`");
        EnvFilter::new("info")
    });
    let config = &logging.config;
    let (writer, ansi) = self_telemetry::writer(&config.output_paths)?;
    let caller = config.disable_caller == Some(false);
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer)
        .with_file(caller)
        .with_line_number(caller);
    let lines = if logging.json {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    let sampling = config
        .sampling
        .as_ref()
        .and_then(self_telemetry::SamplingLayer::new);
    let (layers, pushes): (Vec<_>, Vec<_>) = config
        .processors
        .iter()
        .enumerate()
        .map(|(i, p)| self_telemetry::log_pair(p.clone(), i))
        .unzip();
    tracing_subscriber::registry()
        .with(filter)
        .with(sampling)
        .with(lines)
        // An empty list of layers would disable every callsite (no interest): none then.
        .with((!layers.is_empty()).then_some(layers))
        .try_init()
        .map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(pushes)
}
