//! The middle of the graph: each pipeline's processor chain ending in its exporters'
//! queues and the connectors it feeds, built downstream first (a connector's next
//! consumer is the head of the pipelines it feeds), and the order stages stop in.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{block_of, failed, unknown, Counted, ExporterQueue};
use crate::component::{BuildContext, ComponentError, ComponentId, Connector, Kind, Processor};
use crate::config::{Config, Graph, Instance};
use crate::consumer::{BoxError, Consumer, FanOut};
use crate::node::NodeContext;
use crate::registry::Registry;
use crate::signal::Signal;
use crate::telemetry::{Scope, Telemetry};
use llamacol_api::outcome::{Outcome, OutcomeCounter};

/// A processor or a connector instance: what flushes downstream when it shuts down.
pub enum Stage {
    Processor(ComponentId, Arc<dyn Processor>),
    Connector(ComponentId, Arc<dyn Connector>),
}

impl Stage {
    pub fn kind(&self) -> Kind {
        match self {
            Stage::Processor(..) => Kind::Processor,
            Stage::Connector(..) => Kind::Connector,
        }
    }

    pub fn id(&self) -> &ComponentId {
        match self {
            Stage::Processor(id, _) | Stage::Connector(id, _) => id,
        }
    }

    pub async fn start(&self) -> Result<(), BoxError> {
        match self {
            Stage::Processor(_, p) => p.start().await,
            Stage::Connector(_, c) => c.start().await,
        }
    }

    pub async fn shutdown(&self) -> Result<(), BoxError> {
        match self {
            Stage::Processor(_, p) => p.shutdown().await,
            Stage::Connector(_, c) => c.shutdown().await,
        }
    }
}

pub struct Flow {
    /// Per pipeline, in config order: what its receivers hand batches to.
    pub heads: Vec<Arc<dyn Consumer>>,
    /// Upstream first.
    pub stages: Vec<Stage>,
}

struct Builder<'a> {
    config: &'a Config,
    registry: &'a Registry,
    telemetry: &'a Arc<Telemetry>,
    node: &'a NodeContext,
    graph: Graph<'a>,
    instances: Vec<Instance>,
    heads: Vec<Option<Arc<dyn Consumer>>>,
    /// A connector's input for one signal: its instances of that `from`, fanned out.
    inputs: BTreeMap<(ComponentId, Signal), Arc<dyn Consumer>>,
    /// Built connector instances, by index in `instances`.
    built: BTreeMap<usize, Arc<dyn Connector>>,
}

impl Flow {
    pub fn build(
        config: &Config,
        registry: &Registry,
        telemetry: &Arc<Telemetry>,
        node: &NodeContext,
        exporters: &BTreeMap<ComponentId, Arc<ExporterQueue>>,
    ) -> Result<Flow, ComponentError> {
        let ids: Vec<ComponentId> = config.connectors.iter().map(|(id, _)| id.clone()).collect();
        let graph = Graph::new(&config.pipelines, &ids);
        // Validation refuses cycles; a config built by hand may still hold one.
        let order = graph.order(registry).map_err(|cycle| {
            let via = cycle.first().map(|(_, via)| via.clone());
            let via = via.unwrap_or_else(|| ids[0].clone());
            failed(
                Kind::Connector,
                &via,
                "pipelines form a cycle through this connector".into(),
            )
        })?;
        let instances = graph.instances(registry);
        let mut builder = Builder {
            config,
            registry,
            telemetry,
            node,
            graph,
            instances,
            heads: vec![None; config.pipelines.len()],
            inputs: BTreeMap::new(),
            built: BTreeMap::new(),
        };
        let mut chains: BTreeMap<usize, Vec<Stage>> = BTreeMap::new();
        for &p in order.iter().rev() {
            chains.insert(p, builder.pipeline(p, exporters)?);
        }
        // Stop order: a pipeline's processors, then each connector once every pipeline
        // feeding it has stopped (before any pipeline it feeds, which come later).
        let mut stages = Vec::new();
        for (rank, &p) in order.iter().enumerate() {
            stages.extend(chains.remove(&p).unwrap_or_default());
            for (i, instance) in builder.instances.iter().enumerate() {
                let last_feeder = builder
                    .graph
                    .feeding(&instance.id)
                    .into_iter()
                    .filter(|&q| config.pipelines[q].signal == instance.pair.from)
                    .filter_map(|q| order.iter().position(|&o| o == q))
                    .max();
                if last_feeder == Some(rank) {
                    if let Some(c) = builder.built.remove(&i) {
                        stages.push(Stage::Connector(instance.id.clone(), c));
                    }
                }
            }
        }
        // `order` holds every pipeline once, so every head is built.
        let heads = builder.heads.into_iter().flatten().collect();
        Ok(Flow { heads, stages })
    }
}

impl Builder<'_> {
    fn scope(&self, kind: Kind, id: &ComponentId, signal: Signal, pipeline: Option<&str>) -> Scope {
        Scope {
            kind,
            component: id.to_string(),
            signal,
            pipeline: pipeline.map(str::to_string),
        }
    }

    /// Builds pipeline `p` (every pipeline it feeds is built already) and returns its
    /// processors, first first.
    fn pipeline(
        &mut self,
        p: usize,
        exporters: &BTreeMap<ComponentId, Arc<ExporterQueue>>,
    ) -> Result<Vec<Stage>, ComponentError> {
        let pipeline = &self.config.pipelines[p];
        let signal = pipeline.signal;
        let mut outs = Vec::new();
        for id in &pipeline.exporters {
            let (kind, consumer) = if self.graph.is_connector(id) {
                (Kind::Connector, self.connector_input(id, signal)?)
            } else {
                let queue = exporters
                    .get(id)
                    .ok_or_else(|| unknown(Kind::Exporter, id))?;
                (Kind::Exporter, queue.clone() as Arc<dyn Consumer>)
            };
            let counters =
                self.telemetry
                    .counters(self.scope(kind, id, signal, Some(&pipeline.id)));
            outs.push(Counted::wrap(consumer, counters));
        }
        let mut next = FanOut::over(outs);
        let mut chain = Vec::new();
        for id in pipeline.processors.iter().rev() {
            let factory = self
                .registry
                .find_processor(&id.type_name)
                .ok_or_else(|| unknown(Kind::Processor, id))?;
            let block = block_of(&self.config.processors, id);
            let counters = self.telemetry.counters(self.scope(
                Kind::Processor,
                id,
                signal,
                Some(&pipeline.id),
            ));
            let ctx = BuildContext {
                id: id.clone(),
                signals: vec![signal],
                pipeline: Some(pipeline.id.clone()),
                dropped: OutcomeCounter::new(counters.clone(), Outcome::Dropped),
                sampled_out: OutcomeCounter::new(counters.clone(), Outcome::SampledOut),
                filtered: OutcomeCounter::new(counters.clone(), Outcome::Filtered),
                failures: OutcomeCounter::new(counters.clone(), Outcome::Failed),
                node: self.node.clone(),
                auth: crate::auth::Authenticators::default(),
                storage: crate::storage::Storages::default(),
                routes: llamacol_api::component::Routes::default(),
            };
            let processor =
                (factory.build)(&ctx, &block, next).map_err(|e| failed(Kind::Processor, id, e))?;
            next = Counted::wrap(processor.clone(), counters);
            chain.push(Stage::Processor(id.clone(), processor));
        }
        chain.reverse();
        self.heads[p] = Some(next);
        Ok(chain)
    }

    /// What a pipeline of `from` hands connector `id`: its instances for that signal,
    /// built on first use. Each instance's output is counted on the connector's
    /// receiving side (no pipeline label, the signal it emits).
    fn connector_input(
        &mut self,
        id: &ComponentId,
        from: Signal,
    ) -> Result<Arc<dyn Consumer>, ComponentError> {
        if let Some(input) = self.inputs.get(&(id.clone(), from)) {
            return Ok(input.clone());
        }
        let factory = self
            .registry
            .find_connector(&id.type_name)
            .ok_or_else(|| unknown(Kind::Connector, id))?;
        let block = block_of(&self.config.connectors, id);
        let mut ins: Vec<Arc<dyn Consumer>> = Vec::new();
        for i in 0..self.instances.len() {
            let instance = &self.instances[i];
            if instance.id != *id || instance.pair.from != from {
                continue;
            }
            let pair = instance.pair;
            let fed: Vec<(String, Arc<dyn Consumer>)> = self
                .graph
                .fed(id)
                .into_iter()
                .filter(|&q| self.config.pipelines[q].signal == pair.to)
                .filter_map(|q| Some((self.config.pipelines[q].id.clone(), self.heads[q].clone()?)))
                .collect();
            let counters = self
                .telemetry
                .counters(self.scope(Kind::Connector, id, pair.to, None));
            let targets = fed.iter().map(|(_, c)| c.clone()).collect();
            let next = Counted::wrap(FanOut::over(targets), counters.clone());
            let routes = llamacol_api::component::Routes(
                fed.into_iter()
                    .map(|(pipeline, c)| (pipeline, Counted::wrap(c, counters.clone())))
                    .collect(),
            );
            let ctx = BuildContext {
                id: id.clone(),
                signals: vec![pair.to],
                pipeline: None,
                dropped: OutcomeCounter::new(counters, Outcome::Dropped),
                sampled_out: OutcomeCounter::default(),
                filtered: OutcomeCounter::default(),
                failures: OutcomeCounter::default(),
                node: self.node.clone(),
                auth: crate::auth::Authenticators::default(),
                storage: crate::storage::Storages::default(),
                routes,
            };
            let connector = (factory.build)(&ctx, &block, pair, next)
                .map_err(|e| failed(Kind::Connector, id, e))?;
            self.built.insert(i, connector.clone());
            ins.push(connector);
        }
        let input = FanOut::over(ins);
        self.inputs.insert((id.clone(), from), input.clone());
        Ok(input)
    }
}
