//! `routing` connector (traces, metrics, logs): sends each resource, span, metric, data
//! point or log record to the pipelines of the first route whose OTTL condition it meets
//! (or a copy to each with `action: copy`), the rest to `default_pipelines`, as the
//! Collector's `routing` connector; a `request` route routes whole requests by their
//! client metadata. Data no route takes and no default pipeline receives is counted as
//! dropped.

mod config;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use llamacol_api::config::{parse_block, ConfigSpec};
use llamacol_api::log_once::LogOnce;
use llamacol_api::otlp::collector::logs::v1::ExportLogsServiceRequest;
use llamacol_api::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::ottl::walk::{self, Visit};
use llamacol_api::ottl::{ContextName, ErrorMode, Eval, Item};
use llamacol_api::outcome::OutcomeCounter;
use llamacol_api::serde_yaml::Value;
use llamacol_api::{
    Batch, BoxError, BuildContext, ComponentId, Connector, ConnectorFactory, ConsumeError,
    Consumer, Payload, SignalMessage, SignalPair,
};

pub use config::{BoundRoute, RouteConfig, RoutingConfig, Test};

pub fn factory() -> ConnectorFactory {
    ConnectorFactory {
        type_name: "routing",
        pairs: &SignalPair::SAME,
        config: ConfigSpec::of::<RoutingConfig>(),
        build,
    }
}

fn build(
    ctx: &BuildContext,
    block: &Value,
    pair: SignalPair,
    _next: Arc<dyn Consumer>,
) -> Result<Arc<dyn Connector>, BoxError> {
    let config = parse_block::<RoutingConfig>(block)?;
    let routes = config.bind().map_err(llamacol_api::config::issues_error)?;
    let known = ctx.routes.ids().join(", ");
    // A pipeline id starts with its signal; those of other signals are for this
    // connector's instances of those signals.
    let signal = pair.to.to_string();
    let ours = |p: &str| p.split('/').next() == Some(signal.as_str());
    let check = |where_: &str, pipelines: &[String]| -> Result<(), BoxError> {
        for p in pipelines.iter().filter(|p| ours(p)) {
            if ctx.routes.get(p).is_none() {
                return Err(format!(
                    "{where_}: pipeline {p:?} does not list this connector among its receivers (it feeds: {known})"
                )
                .into());
            }
        }
        Ok(())
    };
    for (i, r) in routes.iter().enumerate() {
        check(&format!("table[{i}].pipelines"), &r.pipelines)?;
    }
    check("default_pipelines", &config.default_pipelines)?;
    Ok(Arc::new(Routing {
        id: ctx.id.clone(),
        routes,
        default_pipelines: config.default_pipelines,
        error_mode: config.error_mode,
        targets: ctx.routes.clone(),
        dropped: ctx.dropped.clone(),
        logged: LogOnce::new(),
    }))
}

pub struct Routing {
    id: ComponentId,
    routes: Vec<BoundRoute>,
    default_pipelines: Vec<String>,
    error_mode: ErrorMode,
    targets: llamacol_api::component::Routes,
    dropped: OutcomeCounter,
    logged: LogOnce,
}

/// The three request types, walked the same way.
trait Routable: SignalMessage {
    fn walk(&mut self, context: ContextName, f: &mut Visit) -> Eval<()>;
    fn wrap(payload: Payload<Self>) -> Batch;
}

impl Routable for ExportTraceServiceRequest {
    fn walk(&mut self, context: ContextName, f: &mut Visit) -> Eval<()> {
        walk::traces(self, context, f)
    }
    fn wrap(payload: Payload<Self>) -> Batch {
        Batch::Traces(payload)
    }
}

impl Routable for ExportMetricsServiceRequest {
    fn walk(&mut self, context: ContextName, f: &mut Visit) -> Eval<()> {
        walk::metrics(self, context, f)
    }
    fn wrap(payload: Payload<Self>) -> Batch {
        Batch::Metrics(payload)
    }
}

impl Routable for ExportLogsServiceRequest {
    fn walk(&mut self, context: ContextName, f: &mut Visit) -> Eval<()> {
        walk::logs(self, context, f)
    }
    fn wrap(payload: Payload<Self>) -> Batch {
        Batch::Logs(payload)
    }
}

/// Keeps the items (in walk order) whose entry in `keep` is true.
fn retain<M: Routable>(m: &mut M, context: ContextName, keep: &[bool]) {
    let mut at = 0;
    let _ = m.walk(context, &mut |_| {
        let k = keep.get(at).copied().unwrap_or(true);
        at += 1;
        Ok(k)
    });
}

impl Routing {
    /// Whether the route takes this item; a failure follows `error_mode`.
    fn test(&self, route: &BoundRoute, item: &mut Item) -> Result<bool, ConsumeError> {
        let result = match &route.test {
            Test::Condition(p) => p.eval(item),
            Test::Statement(s) => s.execute(item),
            Test::Request { .. } => Ok(false),
        };
        match result {
            Ok(m) => Ok(m),
            Err(e) if self.error_mode == ErrorMode::Propagate => Err(ConsumeError::permanent(
                format!("routing condition failed: {e}"),
            )),
            Err(e) => {
                if self.error_mode == ErrorMode::Ignore && self.logged.is_new(&e.0) {
                    tracing::warn!(component = %self.id, error = %e, "routing condition failed; item goes on as unmatched (error_mode: ignore; later failures not logged)");
                }
                Ok(false)
            }
        }
    }

    fn request_matches(
        test: &Test,
        payload_metadata: &llamacol_api::client_metadata::Metadata,
    ) -> bool {
        let Test::Request {
            header,
            equal,
            value,
        } = test
        else {
            return false;
        };
        let found = payload_metadata
            .as_deref()
            .map(|m| m.get(header).iter().any(|v| v == value))
            .unwrap_or(false);
        found == *equal
    }

    async fn route<M: Routable>(&self, mut payload: Payload<M>) -> Result<(), ConsumeError> {
        let metadata = payload.metadata().clone();
        let mut rest: M = payload.message().map_err(ConsumeError::permanent)?.clone();
        let mut groups: BTreeMap<String, M> = BTreeMap::new();
        let mut add = |pipelines: &[String], m: &M| {
            for p in pipelines {
                match groups.get_mut(p) {
                    Some(g) => g.append(m.clone()),
                    None => {
                        groups.insert(p.clone(), m.clone());
                    }
                }
            }
        };
        for route in &self.routes {
            if rest.count_items() == 0 {
                break;
            }
            let Some(context) = route.context else {
                if Self::request_matches(&route.test, &metadata) {
                    add(&route.pipelines, &rest);
                    if !route.copy {
                        rest = M::default();
                    }
                }
                continue;
            };
            let mut decisions = Vec::new();
            let mut failure = None;
            let _ = rest.walk(context, &mut |item| {
                match self.test(route, item) {
                    Ok(m) => decisions.push(m),
                    Err(e) => {
                        decisions.push(false);
                        failure.get_or_insert(e);
                    }
                }
                Ok(true)
            });
            if let Some(e) = failure {
                return Err(e);
            }
            if !decisions.contains(&true) {
                continue;
            }
            let mut matched = rest.clone();
            retain(&mut matched, context, &decisions);
            add(&route.pipelines, &matched);
            if !route.copy {
                let unmatched: Vec<bool> = decisions.iter().map(|d| !d).collect();
                retain(&mut rest, context, &unmatched);
            }
        }
        let left = rest.count_items();
        if left > 0 {
            if self.default_pipelines.is_empty() {
                self.dropped.add(left);
            } else {
                add(&self.default_pipelines, &rest);
            }
        }
        let mut first_error = None;
        for (pipeline, m) in groups {
            let Some(target) = self.targets.get(&pipeline) else {
                continue;
            };
            let mut out = Payload::from_message(m);
            out.set_metadata(metadata.clone());
            if let Err(e) = target.consume(M::wrap(out)).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[async_trait]
impl Consumer for Routing {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        match batch {
            Batch::Traces(p) => self.route(p).await,
            Batch::Metrics(p) => self.route(p).await,
            Batch::Logs(p) => self.route(p).await,
        }
    }
}

impl Connector for Routing {}

#[cfg(test)]
mod tests;
