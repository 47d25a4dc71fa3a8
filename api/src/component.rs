//! Component traits and factories: the public API built-in and user components share.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::batch::Batch;
use crate::config::ConfigSpec;
use crate::consumer::{BoxError, ConsumeError, Consumer};
use crate::outcome::OutcomeCounter;
use crate::signal::Signal;

/// `type` or `type/name`, as in the OpenTelemetry Collector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    pub type_name: String,
    pub name: Option<String>,
}

impl ComponentId {
    pub fn parse(s: &str) -> Result<ComponentId, InvalidComponentId> {
        let (type_name, name) = match s.split_once('/') {
            Some((t, n)) => (t, Some(n)),
            None => (s, None),
        };
        // The Collector's rules: a type is letters, digits and `_` (we also take `-` and
        // `.`); a name is anything but spaces, control characters and symbols, so it may
        // hold `/` itself (`transform/otlp/x` is type `transform`, name `otlp/x`).
        let valid_type = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        let valid_name = |part: &str| {
            !part.is_empty()
                && part.chars().all(|c| {
                    !c.is_whitespace()
                        && !c.is_control()
                        && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
                })
        };
        if !valid_type(type_name) || name.is_some_and(|n| !valid_name(n)) {
            return Err(InvalidComponentId(s.to_string()));
        }
        Ok(ComponentId {
            type_name: type_name.to_string(),
            name: name.map(str::to_string),
        })
    }
}

/// A component id that is not `type` or `type/name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid component id `{0}`: use `type` or `type/name`, the type of letters, digits, `_`, `-` or `.`, the name without spaces or symbols"
)]
pub struct InvalidComponentId(pub String);

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.type_name, name),
            None => f.write_str(&self.type_name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Receiver,
    Processor,
    Exporter,
    Connector,
    Extension,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Receiver => "receiver",
            Kind::Processor => "processor",
            Kind::Exporter => "exporter",
            Kind::Connector => "connector",
            Kind::Extension => "extension",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component failed to build, start or stop.
#[derive(Debug, thiserror::Error)]
#[error("{kind} `{id}`: {source}")]
pub struct ComponentError {
    pub kind: Kind,
    pub id: ComponentId,
    #[source]
    pub source: BoxError,
}

/// What a factory's build function is told about the instance it builds.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub id: ComponentId,
    /// The signals this instance is wired for (a receiver only gets these).
    pub signals: Vec<Signal>,
    /// The pipeline a processor instance belongs to (processors are per pipeline).
    pub pipeline: Option<String>,
    /// For stateful components: count here what was accepted but can no longer be
    /// delivered (the wrapper counts everything else).
    pub dropped: OutcomeCounter,
    /// For sampling processors: count here what they decided not to pass on.
    pub sampled_out: OutcomeCounter,
    /// For filtering processors: count here what their conditions removed.
    pub filtered: OutcomeCounter,
    /// For scraping receivers: count failed fetches here (shown as the receiver's
    /// `failed` counter); for processors, items a statement or condition failed on and
    /// that went on unchanged by it (`error_mode: ignore`/`silent`).
    pub failures: OutcomeCounter,
    /// What this node's components discovered (llama.cpp servers, GPUs): publish and read.
    pub node: crate::node::NodeContext,
    /// The running authenticator extensions, for `auth: {authenticator: ...}`.
    pub auth: crate::auth::Authenticators,
    /// The running storage extensions, for `storage: <id>` (state kept across restarts).
    pub storage: crate::storage::Storages,
    /// For connectors: each pipeline the instance feeds, by pipeline id, with its input
    /// (counted as the connector's output), so a connector can choose where a batch goes
    /// (`routing`); `next` fans out to all of them. Empty for other components.
    pub routes: Routes,
}

/// The pipelines a connector instance feeds, by id (see [`BuildContext::routes`]).
#[derive(Clone, Default)]
pub struct Routes(pub Vec<(String, Arc<dyn Consumer>)>);

impl Routes {
    /// The input of pipeline `id`, if the connector feeds it.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn Consumer>> {
        self.0.iter().find(|(p, _)| p == id).map(|(_, c)| c)
    }

    /// The pipeline ids, for messages.
    pub fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|(p, _)| p.as_str()).collect()
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

impl BuildContext {
    /// A context for building a component outside a pipeline (tests, tools).
    pub fn new(id: ComponentId, signals: Vec<Signal>) -> BuildContext {
        BuildContext {
            id,
            signals,
            pipeline: None,
            dropped: OutcomeCounter::default(),
            sampled_out: OutcomeCounter::default(),
            filtered: OutcomeCounter::default(),
            failures: OutcomeCounter::default(),
            node: crate::node::NodeContext::default(),
            auth: crate::auth::Authenticators::default(),
            storage: crate::storage::Storages::default(),
            routes: Routes::default(),
        }
    }
}

/// Produces data. `start` binds and spawns its work and returns once it accepts data;
/// `shutdown` stops accepting and waits until in-flight data has been handed on.
#[async_trait]
pub trait Receiver: Send + Sync {
    async fn start(&mut self, next: Arc<dyn Consumer>) -> Result<(), BoxError>;
    async fn shutdown(&mut self) -> Result<(), BoxError>;
}

/// Wraps the next consumer. Stateful processors flush into it on `shutdown`.
#[async_trait]
pub trait Processor: Consumer {
    async fn start(&self) -> Result<(), BoxError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Sends data out. The pipeline puts a bounded queue and a retry loop in front of it, so
/// `export` is called by queue workers; a retryable error is retried with backoff.
/// The batch is lent mutably so that an encoding made on the first attempt is reused.
#[async_trait]
pub trait Exporter: Send + Sync {
    async fn start(&self) -> Result<(), BoxError> {
        Ok(())
    }
    /// The largest encoded OTLP request (uncompressed protobuf bytes) the far side takes;
    /// the queue cuts larger batches on the wire before `export` sees them. An exporter
    /// that finds its own request too large (another encoding), or is refused for size,
    /// returns [`ConsumeError::request_too_large`] and gets the batch again in pieces.
    fn max_request_size(&self) -> Option<usize> {
        None
    }
    /// Sends `batch`. When part of it was delivered before an error, `batch` is left
    /// holding only the rest, so a retry sends nothing twice.
    async fn export(&self, batch: &mut Batch) -> Result<(), ConsumeError>;
    async fn shutdown(&self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// The exporter of one pipeline and the receiver of others: takes batches of its
/// `from` signal and passes on batches of its `to` signal (the Collector's connector).
/// Like a processor, a stateful connector flushes into its next consumer on `shutdown`.
#[async_trait]
pub trait Connector: Consumer {
    async fn start(&self) -> Result<(), BoxError> {
        Ok(())
    }
    async fn shutdown(&self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// The signal a connector instance takes (`from`, as an exporter) and the one it emits
/// (`to`, as a receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalPair {
    pub from: Signal,
    pub to: Signal,
}

impl SignalPair {
    pub const fn new(from: Signal, to: Signal) -> SignalPair {
        SignalPair { from, to }
    }

    /// Every signal to itself: what a pass-through connector supports.
    pub const SAME: [SignalPair; 3] = [
        SignalPair::new(Signal::Traces, Signal::Traces),
        SignalPair::new(Signal::Metrics, Signal::Metrics),
        SignalPair::new(Signal::Logs, Signal::Logs),
    ];
}

impl fmt::Display for SignalPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.from, self.to)
    }
}

pub type BuildReceiver =
    fn(&BuildContext, &serde_yaml::Value) -> Result<Box<dyn Receiver>, BoxError>;
pub type BuildProcessor = fn(
    &BuildContext,
    &serde_yaml::Value,
    Arc<dyn Consumer>,
) -> Result<Arc<dyn Processor>, BoxError>;
pub type BuildExporter =
    fn(&BuildContext, &serde_yaml::Value) -> Result<Arc<dyn Exporter>, BoxError>;
/// Builds one instance per signal pair in use; `ctx.signals` is `[pair.to]`.
pub type BuildConnector = fn(
    &BuildContext,
    &serde_yaml::Value,
    SignalPair,
    Arc<dyn Consumer>,
) -> Result<Arc<dyn Connector>, BoxError>;

/// A component type: its name, signals, config checker and constructor. Plain values,
/// listed in one table by the binary (see `src/lib.rs`), so users add theirs the same way.
#[derive(Clone, Copy)]
pub struct Factory<B> {
    pub type_name: &'static str,
    pub signals: &'static [Signal],
    pub config: ConfigSpec,
    pub build: B,
}

pub type ReceiverFactory = Factory<BuildReceiver>;
pub type ProcessorFactory = Factory<BuildProcessor>;
pub type ExporterFactory = Factory<BuildExporter>;

/// A connector type: its name, the signal pairs it supports, config checker and constructor.
#[derive(Clone, Copy)]
pub struct ConnectorFactory {
    pub type_name: &'static str,
    pub pairs: &'static [SignalPair],
    pub config: ConfigSpec,
    pub build: BuildConnector,
}
