//! How connectors join pipelines: which pipelines feed each connector and which it feeds,
//! the signal pairs in use, cycles, and an upstream-first order. The validator and the
//! runtime both read the graph from here, so they cannot disagree.

use std::collections::BTreeSet;

use super::service::PipelineConfig;
use crate::component::{ComponentId, SignalPair};
use crate::registry::Registry;
use llamacol_api::config::{join, Diagnostic};

/// Pipelines joined by connectors.
pub struct Graph<'a> {
    pipelines: &'a [PipelineConfig],
    connectors: Vec<ComponentId>,
}

/// One connector instance the runtime builds: a connector id and one signal pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    pub id: ComponentId,
    pub pair: SignalPair,
}

impl<'a> Graph<'a> {
    pub fn new(pipelines: &'a [PipelineConfig], connectors: &[ComponentId]) -> Graph<'a> {
        Graph {
            pipelines,
            connectors: connectors.to_vec(),
        }
    }

    pub fn is_connector(&self, id: &ComponentId) -> bool {
        self.connectors.contains(id)
    }

    /// Indexes of the pipelines that list `id` under `exporters` (they feed it).
    pub fn feeding(&self, id: &ComponentId) -> Vec<usize> {
        self.indexes(|p| p.exporters.contains(id))
    }

    /// Indexes of the pipelines that list `id` under `receivers` (it feeds them).
    pub fn fed(&self, id: &ComponentId) -> Vec<usize> {
        self.indexes(|p| p.receivers.contains(id))
    }

    fn indexes(&self, f: impl Fn(&PipelineConfig) -> bool) -> Vec<usize> {
        (0..self.pipelines.len())
            .filter(|i| f(&self.pipelines[*i]))
            .collect()
    }

    /// Every connector instance in use: for each connector, each supported pair of a
    /// signal it is fed and a signal it feeds.
    pub fn instances(&self, registry: &Registry) -> Vec<Instance> {
        let mut out = BTreeSet::new();
        for id in &self.connectors {
            let Some(factory) = registry.find_connector(&id.type_name) else {
                continue;
            };
            for from in self.feeding(id) {
                for to in self.fed(id) {
                    let pair =
                        SignalPair::new(self.pipelines[from].signal, self.pipelines[to].signal);
                    if factory.pairs.contains(&pair) {
                        out.insert(Instance {
                            id: id.clone(),
                            pair,
                        });
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// Pipeline `a` feeds pipeline `b` through a connector of a supported pair.
    fn edges(&self, registry: &Registry) -> Vec<(usize, usize, ComponentId)> {
        let mut edges = Vec::new();
        for instance in self.instances(registry) {
            for a in self.feeding(&instance.id) {
                for b in self.fed(&instance.id) {
                    if self.pipelines[a].signal == instance.pair.from
                        && self.pipelines[b].signal == instance.pair.to
                    {
                        edges.push((a, b, instance.id.clone()));
                    }
                }
            }
        }
        edges
    }

    /// Pipeline indexes, every pipeline after all that feed it; `Err` holds a cycle as
    /// (pipeline, connector to the next) steps.
    pub fn order(&self, registry: &Registry) -> Result<Vec<usize>, Vec<(usize, ComponentId)>> {
        let edges = self.edges(registry);
        let n = self.pipelines.len();
        // Depth-first: 0 unseen, 1 on the current path, 2 done.
        let mut state = vec![0u8; n];
        let mut done = Vec::with_capacity(n);
        let mut path: Vec<(usize, ComponentId)> = Vec::new();
        fn visit(
            at: usize,
            edges: &[(usize, usize, ComponentId)],
            state: &mut [u8],
            done: &mut Vec<usize>,
            path: &mut Vec<(usize, ComponentId)>,
        ) -> Result<(), Vec<(usize, ComponentId)>> {
            state[at] = 1;
            for (a, b, via) in edges.iter().filter(|(a, _, _)| *a == at) {
                path.push((*a, via.clone()));
                match state[*b] {
                    1 => {
                        let start = path.iter().position(|(p, _)| p == b).unwrap_or(0);
                        return Err(path[start..].to_vec());
                    }
                    0 => visit(*b, edges, state, done, path)?,
                    _ => {}
                }
                path.pop();
            }
            state[at] = 2;
            done.push(at);
            Ok(())
        }
        for start in 0..n {
            if state[start] == 0 {
                visit(start, &edges, &mut state, &mut done, &mut path)?;
            }
        }
        // Finished last = most upstream.
        done.reverse();
        Ok(done)
    }

    /// Every problem with how connectors are used: one side only, no supported pair,
    /// a cycle.
    pub fn check(&self, registry: &Registry) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for id in &self.connectors {
            let Some(factory) = registry.find_connector(&id.type_name) else {
                continue;
            };
            let (feeding, fed) = (self.feeding(id), self.fed(id));
            let pairs: Vec<String> = factory.pairs.iter().map(ToString::to_string).collect();
            let pairs = pairs.join(", ");
            if feeding.is_empty() && fed.is_empty() {
                continue; // reported as defined but unused
            }
            if feeding.is_empty() || fed.is_empty() {
                let (used, missing) = if feeding.is_empty() {
                    ("a receiver", "exporters")
                } else {
                    ("an exporter", "receivers")
                };
                out.push(Diagnostic::error(
                    join("connectors", &id.to_string()),
                    format!("connector `{id}` is used as {used} but no pipeline lists it under `{missing}`: a connector takes data from one pipeline (as its exporter) and feeds another (as its receiver); list it on both sides ({pairs})"),
                ));
                continue;
            }
            for (side, list, own, other, lists) in [
                ("exporters", &feeding, true, &fed, "receivers"),
                ("receivers", &fed, false, &feeding, "exporters"),
            ] {
                for &p in list {
                    let signal = self.pipelines[p].signal;
                    let partner = other.iter().any(|&q| {
                        let pair = if own {
                            SignalPair::new(signal, self.pipelines[q].signal)
                        } else {
                            SignalPair::new(self.pipelines[q].signal, signal)
                        };
                        factory.pairs.contains(&pair)
                    });
                    if partner {
                        continue;
                    }
                    let pipeline = &self.pipelines[p];
                    let ids = if own {
                        &pipeline.exporters
                    } else {
                        &pipeline.receivers
                    };
                    let at = ids.iter().position(|x| x == id).unwrap_or(0);
                    let path = join(
                        &join(&join("service.pipelines", &pipeline.id), side),
                        &format!("[{at}]"),
                    );
                    out.push(Diagnostic::error(
                        path,
                        format!("connector `{id}` in this {signal} pipeline has no pipeline on its other side (`{lists}`) that it supports: it supports {pairs}; use it between pipelines of one of those pairs"),
                    ));
                }
            }
        }
        if let Err(cycle) = self.order(registry) {
            let mut steps = String::new();
            for (p, via) in &cycle {
                steps.push_str(&format!("{} -> [{via}] -> ", self.pipelines[*p].id));
            }
            let first = cycle.first().map_or(0, |(p, _)| *p);
            steps.push_str(&self.pipelines[first].id);
            out.push(Diagnostic::error(
                join("service.pipelines", &self.pipelines[first].id),
                format!("pipelines form a cycle through connectors: {steps}; data would go round forever: remove one of these connectors from one side"),
            ));
        }
        out
    }
}
