//! Builds the running graph from a validated config, starts it in order (extensions,
//! exporters, processors, receivers) and shuts it down in reverse with a deadline per stage.

mod counted;
mod flow;
mod queue;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use counted::Counted;
pub use queue::{
    ExporterQueue, MemoryQueue, Queue, QueueError, QueueSpec, QueueStorage, Queued, Refused,
    Reservation, Room,
};

use crate::batch::Batch;
use crate::component::{BuildContext, ComponentError, ComponentId, Kind, Receiver};
use crate::config::{Config, PipelineConfig};
use crate::consumer::{BoxError, ConsumeError, Consumer, FanOut};
use crate::extension::{Extension, ExtensionContext};
use crate::registry::Registry;
use crate::signal::Signal;
use crate::telemetry::{Scope, Telemetry};
use flow::{Flow, Stage};
use llamacol_api::outcome::{Outcome, OutcomeCounter};

struct ReceiverSlot {
    id: ComponentId,
    receiver: Box<dyn Receiver>,
    next: Arc<dyn Consumer>,
}

struct ExtensionSlot {
    id: ComponentId,
    extension: Arc<dyn Extension>,
}

/// The built graph. `start` it, then `shutdown` it.
pub struct Service {
    /// In `service.extensions` order.
    extensions: Vec<ExtensionSlot>,
    receivers: Vec<ReceiverSlot>,
    /// Processors and connectors, upstream first: each flushes into stages that are
    /// still running when it shuts down.
    stages: Vec<Stage>,
    exporters: Vec<Arc<ExporterQueue>>,
    telemetry: Arc<Telemetry>,
    shutdown_timeout: Duration,
}

/// The config's pipelines and extensions, for the pages that show them (`zpages`).
fn describe(config: &Config) -> llamacol_api::service_info::ServiceDescription {
    use llamacol_api::service_info::{PipelineDescription, ServiceDescription};
    let ids = |list: &[ComponentId]| list.iter().map(ToString::to_string).collect();
    ServiceDescription {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: std::time::SystemTime::now(),
        pipelines: config
            .pipelines
            .iter()
            .map(|p| PipelineDescription {
                id: p.id.clone(),
                signal: p.signal.to_string(),
                receivers: ids(&p.receivers),
                processors: ids(&p.processors),
                exporters: ids(&p.exporters),
            })
            .collect(),
        extensions: ids(&config.service_extensions),
    }
}

/// What went wrong during shutdown (the process still exits 0: data losses are counted).
#[derive(Debug, Default)]
pub struct ShutdownReport {
    pub problems: Vec<String>,
}

impl Service {
    pub fn build(
        config: &Config,
        registry: &Registry,
        telemetry: Arc<Telemetry>,
    ) -> Result<Service, ComponentError> {
        let node = telemetry.node().clone();
        node.shared::<llamacol_api::service_info::ServiceInfo>()
            .set(describe(config));
        let mut extensions = Vec::new();
        for id in &config.service_extensions {
            let factory = registry
                .find_extension(&id.type_name)
                .ok_or_else(|| unknown(Kind::Extension, id))?;
            let block = block_of(&config.extensions, id);
            let ctx = ExtensionContext {
                id: id.clone(),
                status: telemetry.status(),
                node: node.clone(),
            };
            let extension =
                (factory.build)(&ctx, &block).map_err(|e| failed(Kind::Extension, id, e))?;
            extensions.push(ExtensionSlot {
                id: id.clone(),
                extension,
            });
        }

        let auth = crate::auth::Authenticators::new(
            extensions
                .iter()
                .filter_map(|e| Some((e.id.to_string(), e.extension.authenticator()?)))
                .collect(),
        );
        let storage = crate::storage::Storages::new(
            extensions
                .iter()
                .filter(|e| e.extension.key_value_storage().is_some())
                .map(|e| (e.id.to_string(), e.extension.clone()))
                .collect(),
        );
        let mut exporters: BTreeMap<ComponentId, Arc<ExporterQueue>> = BTreeMap::new();
        for exporter in &config.exporters {
            let signals = signals_using(&config.pipelines, &exporter.id, |p| &p.exporters);
            if signals.is_empty() {
                continue;
            }
            let factory = registry
                .find_exporter(&exporter.id.type_name)
                .ok_or_else(|| unknown(Kind::Exporter, &exporter.id))?;
            // Exporters that translate (e.g. to Prometheus) count what they cannot send
            // here, on the exporter's queue counters of its first signal.
            let dropped = OutcomeCounter::new(
                telemetry.counters(Scope {
                    kind: Kind::Exporter,
                    component: exporter.id.to_string(),
                    signal: signals[0],
                    pipeline: None,
                }),
                Outcome::Dropped,
            );
            let ctx = BuildContext {
                id: exporter.id.clone(),
                signals,
                pipeline: None,
                dropped,
                sampled_out: OutcomeCounter::default(),
                filtered: OutcomeCounter::default(),
                failures: OutcomeCounter::default(),
                node: node.clone(),
                auth: auth.clone(),
                storage: storage.clone(),
                routes: llamacol_api::component::Routes::default(),
            };
            let built = (factory.build)(&ctx, &exporter.block)
                .map_err(|e| failed(Kind::Exporter, &exporter.id, e))?;
            let storage = match &exporter.queue.storage {
                Some(name) => Some(
                    extensions
                        .iter()
                        .find(|e| e.id.to_string() == *name)
                        .and_then(|e| e.extension.storage())
                        .ok_or_else(|| {
                            failed(
                                Kind::Exporter,
                                &exporter.id,
                                format!("`sending_queue.storage: {name}` is not a storage extension listed in `service.extensions`").into(),
                            )
                        })?,
                ),
                None => None,
            };
            let queue = ExporterQueue::new(
                exporter.id.clone(),
                built,
                exporter.queue.clone(),
                exporter.retry.clone(),
                storage,
                &telemetry,
            )
            .map_err(|e| failed(Kind::Exporter, &exporter.id, e))?;
            exporters.insert(exporter.id.clone(), queue);
        }

        let flow = Flow::build(config, registry, &telemetry, &node, &exporters)?;
        let heads: Vec<(&PipelineConfig, Arc<dyn Consumer>)> =
            config.pipelines.iter().zip(flow.heads).collect();

        let mut receivers = Vec::new();
        for (id, block) in &config.receivers {
            let mut routes: Vec<(Signal, Arc<dyn Consumer>)> = Vec::new();
            for signal in Signal::ALL {
                let targets: Vec<Arc<dyn Consumer>> = heads
                    .iter()
                    .filter(|(p, _)| p.signal == signal && p.receivers.contains(id))
                    .map(|(_, head)| head.clone())
                    .collect();
                if targets.is_empty() {
                    continue;
                }
                let counters = telemetry.counters(Scope {
                    kind: Kind::Receiver,
                    component: id.to_string(),
                    signal,
                    pipeline: None,
                });
                routes.push((signal, Counted::wrap(FanOut::over(targets), counters)));
            }
            if routes.is_empty() {
                continue;
            }
            let factory = registry
                .find_receiver(&id.type_name)
                .ok_or_else(|| unknown(Kind::Receiver, id))?;
            let ctx = BuildContext {
                id: id.clone(),
                signals: routes.iter().map(|(s, _)| *s).collect(),
                pipeline: None,
                dropped: OutcomeCounter::default(),
                sampled_out: OutcomeCounter::default(),
                filtered: OutcomeCounter::default(),
                failures: OutcomeCounter::new(
                    telemetry.counters(Scope {
                        kind: Kind::Receiver,
                        component: id.to_string(),
                        signal: routes[0].0,
                        pipeline: None,
                    }),
                    Outcome::Failed,
                ),
                node: node.clone(),
                auth: auth.clone(),
                storage: storage.clone(),
                routes: llamacol_api::component::Routes::default(),
            };
            let receiver =
                (factory.build)(&ctx, block).map_err(|e| failed(Kind::Receiver, id, e))?;
            receivers.push(ReceiverSlot {
                id: id.clone(),
                receiver,
                next: Arc::new(Router { routes }),
            });
        }

        telemetry.set_pipelines(graph_json(config));
        Ok(Service {
            extensions,
            receivers,
            stages: flow.stages,
            exporters: exporters.into_values().collect(),
            telemetry,
            shutdown_timeout: config.telemetry.shutdown_timeout,
        })
    }

    /// Starts extensions, exporters, processors, then receivers; ready once all have started.
    /// The running authenticator extension `config` names (the admin server's `auth`).
    pub fn authenticator(
        &self,
        config: &llamacol_api::auth::AuthConfig,
    ) -> Option<Arc<dyn llamacol_api::auth::Authenticator>> {
        self.extensions
            .iter()
            .find(|e| e.id.to_string() == config.authenticator)
            .and_then(|e| e.extension.authenticator())
    }

    pub async fn start(&mut self) -> Result<(), ComponentError> {
        for slot in &self.extensions {
            slot.extension
                .start()
                .await
                .map_err(|e| failed(Kind::Extension, &slot.id, e))?;
        }
        for queue in &self.exporters {
            queue
                .start()
                .await
                .map_err(|e| failed(Kind::Exporter, queue.id(), e))?;
        }
        for stage in self.stages.iter().rev() {
            stage
                .start()
                .await
                .map_err(|e| failed(stage.kind(), stage.id(), e))?;
        }
        for slot in &mut self.receivers {
            slot.receiver
                .start(slot.next.clone())
                .await
                .map_err(|e| failed(Kind::Receiver, &slot.id, e))?;
            tracing::info!(component = %slot.id, "receiver started");
        }
        self.telemetry.set_ready(true);
        Ok(())
    }

    /// Receivers stop first; then processors and connectors flush, upstream first; then exporter
    /// queues drain; extensions stop last. Each stage has `service.telemetry.shutdown_timeout`.
    pub async fn shutdown(mut self) -> ShutdownReport {
        self.telemetry.set_ready(false);
        let deadline = self.shutdown_timeout;
        let mut report = ShutdownReport::default();
        for slot in &mut self.receivers {
            note(
                &mut report,
                Kind::Receiver,
                &slot.id,
                tokio::time::timeout(deadline, slot.receiver.shutdown()).await,
            );
        }
        for stage in &self.stages {
            note(
                &mut report,
                stage.kind(),
                stage.id(),
                tokio::time::timeout(deadline, stage.shutdown()).await,
            );
        }
        let drains = self
            .exporters
            .iter()
            .map(|q| async move { (q.id().clone(), q.shutdown(deadline).await) });
        for (id, result) in futures::future::join_all(drains).await {
            note(&mut report, Kind::Exporter, &id, Ok(result));
        }
        for slot in self.extensions.iter().rev() {
            note(
                &mut report,
                Kind::Extension,
                &slot.id,
                tokio::time::timeout(deadline, slot.extension.shutdown()).await,
            );
        }
        report
    }
}

fn note(
    report: &mut ShutdownReport,
    kind: Kind,
    id: &ComponentId,
    result: Result<Result<(), BoxError>, tokio::time::error::Elapsed>,
) {
    let problem = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("{kind} `{id}` failed to shut down: {e}"),
        Err(_) => format!("{kind} `{id}` did not shut down before the deadline"),
    };
    tracing::warn!("{problem}");
    report.problems.push(problem);
}

/// Routes a receiver's batches by signal to the pipelines that name it.
struct Router {
    routes: Vec<(Signal, Arc<dyn Consumer>)>,
}

#[derive(Debug, thiserror::Error)]
#[error("no pipeline takes {0} from this receiver")]
struct NoPipeline(Signal);

#[async_trait]
impl Consumer for Router {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        let signal = batch.signal();
        match self.routes.iter().find(|(s, _)| *s == signal) {
            Some((_, next)) => next.consume(batch).await,
            None => Err(ConsumeError::permanent(NoPipeline(signal))),
        }
    }
}

fn signals_using(
    pipelines: &[PipelineConfig],
    id: &ComponentId,
    list: fn(&PipelineConfig) -> &Vec<ComponentId>,
) -> Vec<Signal> {
    let mut signals: Vec<Signal> = pipelines
        .iter()
        .filter(|p| list(p).contains(id))
        .map(|p| p.signal)
        .collect();
    signals.sort();
    signals.dedup();
    signals
}

/// The running graph as `/debug/pipelines` shows it.
fn graph_json(config: &Config) -> serde_json::Value {
    let names = |ids: &[ComponentId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
    serde_json::Value::Array(
        config
            .pipelines
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id,
                    "signal": p.signal,
                    "receivers": names(&p.receivers),
                    "processors": names(&p.processors),
                    "exporters": names(&p.exporters),
                })
            })
            .collect(),
    )
}

/// The config block of `id` (empty when it has none).
pub(crate) fn block_of(
    blocks: &[(ComponentId, serde_yaml::Value)],
    id: &ComponentId,
) -> serde_yaml::Value {
    blocks
        .iter()
        .find(|(b, _)| b == id)
        .map(|(_, b)| b.clone())
        .unwrap_or_default()
}

pub(crate) fn unknown(kind: Kind, id: &ComponentId) -> ComponentError {
    failed(
        kind,
        id,
        format!("no {kind} type `{}` is registered", id.type_name).into(),
    )
}

pub(crate) fn failed(kind: Kind, id: &ComponentId, source: BoxError) -> ComponentError {
    ComponentError {
        kind,
        id: id.clone(),
        source,
    }
}

#[cfg(test)]
mod tests;
