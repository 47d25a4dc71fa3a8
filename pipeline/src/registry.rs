//! Type name -> factory, for each kind. Filled from one explicit table by the binary.

use crate::component::{
    ConnectorFactory, ExporterFactory, Kind, ProcessorFactory, ReceiverFactory, SignalPair,
};
use crate::config::ConfigSpec;
use crate::extension::ExtensionFactory;
use crate::signal::Signal;

#[derive(Default)]
pub struct Registry {
    receivers: Vec<ReceiverFactory>,
    processors: Vec<ProcessorFactory>,
    exporters: Vec<ExporterFactory>,
    connectors: Vec<ConnectorFactory>,
    extensions: Vec<ExtensionFactory>,
}

/// A factory's type name, whatever its kind (for [`Registry::alias`]).
trait Named: Copy {
    fn name(&mut self) -> &mut &'static str;
}

impl<B: Copy> Named for crate::component::Factory<B> {
    fn name(&mut self) -> &mut &'static str {
        &mut self.type_name
    }
}

macro_rules! named {
    ($($factory:ty),*) => {$(
        impl Named for $factory {
            fn name(&mut self) -> &mut &'static str {
                &mut self.type_name
            }
        }
    )*};
}
named!(ConnectorFactory, ExtensionFactory);

/// One registered type, as `llamacol components` lists it.
#[derive(Debug, Clone, Copy)]
pub struct Listed {
    pub kind: Kind,
    pub type_name: &'static str,
    /// The signals it takes (empty for extensions and connectors).
    pub signals: &'static [Signal],
    /// A connector's signal pairs (empty for every other kind).
    pub pairs: &'static [SignalPair],
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn receiver(mut self, factory: ReceiverFactory) -> Registry {
        self.receivers.push(factory);
        self
    }

    pub fn processor(mut self, factory: ProcessorFactory) -> Registry {
        self.processors.push(factory);
        self
    }

    pub fn exporter(mut self, factory: ExporterFactory) -> Registry {
        self.exporters.push(factory);
        self
    }

    pub fn connector(mut self, factory: ConnectorFactory) -> Registry {
        self.connectors.push(factory);
        self
    }

    /// Registers `name` as another name of the `kind` type `of` (registered before): the
    /// same component, config and meaning, as the Collector keeps a component's previous
    /// name when it renames it (`otlp` / `otlp_grpc`, `spanmetrics` / `span_metrics`).
    ///
    /// # Panics
    /// When `of` is not registered: the built-in table is wrong.
    pub fn alias(mut self, kind: Kind, name: &'static str, of: &str) -> Registry {
        fn copy<F: Named>(list: &mut Vec<F>, name: &'static str, of: &str) {
            let mut found = list
                .iter()
                .copied()
                .find(|f| *f.clone().name() == of)
                .unwrap_or_else(|| panic!("alias of `{of}`, which is not registered"));
            *found.name() = name;
            list.push(found);
        }
        match kind {
            Kind::Receiver => copy(&mut self.receivers, name, of),
            Kind::Processor => copy(&mut self.processors, name, of),
            Kind::Exporter => copy(&mut self.exporters, name, of),
            Kind::Connector => copy(&mut self.connectors, name, of),
            Kind::Extension => copy(&mut self.extensions, name, of),
        }
        self
    }

    pub fn find_connector(&self, type_name: &str) -> Option<&ConnectorFactory> {
        self.connectors.iter().find(|f| f.type_name == type_name)
    }

    pub fn extension(mut self, factory: ExtensionFactory) -> Registry {
        self.extensions.push(factory);
        self
    }

    pub fn find_extension(&self, type_name: &str) -> Option<&ExtensionFactory> {
        self.extensions.iter().find(|f| f.type_name == type_name)
    }

    pub fn find_receiver(&self, type_name: &str) -> Option<&ReceiverFactory> {
        self.receivers.iter().find(|f| f.type_name == type_name)
    }

    pub fn find_processor(&self, type_name: &str) -> Option<&ProcessorFactory> {
        self.processors.iter().find(|f| f.type_name == type_name)
    }

    pub fn find_exporter(&self, type_name: &str) -> Option<&ExporterFactory> {
        self.exporters.iter().find(|f| f.type_name == type_name)
    }

    /// The signals and config spec of a type of any kind (connectors: see
    /// [`Registry::find_connector`] for their pairs).
    pub fn lookup(&self, kind: Kind, type_name: &str) -> Option<(&'static [Signal], ConfigSpec)> {
        match kind {
            Kind::Receiver => self.find_receiver(type_name).map(|f| (f.signals, f.config)),
            Kind::Processor => self
                .find_processor(type_name)
                .map(|f| (f.signals, f.config)),
            Kind::Exporter => self.find_exporter(type_name).map(|f| (f.signals, f.config)),
            Kind::Connector => self.find_connector(type_name).map(|f| (&[][..], f.config)),
            Kind::Extension => self.find_extension(type_name).map(|f| (&[][..], f.config)),
        }
    }

    pub fn types(&self, kind: Kind) -> Vec<&'static str> {
        match kind {
            Kind::Receiver => self.receivers.iter().map(|f| f.type_name).collect(),
            Kind::Processor => self.processors.iter().map(|f| f.type_name).collect(),
            Kind::Exporter => self.exporters.iter().map(|f| f.type_name).collect(),
            Kind::Connector => self.connectors.iter().map(|f| f.type_name).collect(),
            Kind::Extension => self.extensions.iter().map(|f| f.type_name).collect(),
        }
    }

    /// Every registered type, kind by kind.
    pub fn list(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        for kind in [
            Kind::Receiver,
            Kind::Processor,
            Kind::Exporter,
            Kind::Connector,
            Kind::Extension,
        ] {
            for type_name in self.types(kind) {
                let pairs = self
                    .find_connector(type_name)
                    .filter(|_| kind == Kind::Connector)
                    .map_or(&[][..], |f| f.pairs);
                if let Some((signals, _)) = self.lookup(kind, type_name) {
                    out.push(Listed {
                        kind,
                        type_name,
                        signals,
                        pairs,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sink_factory;

    #[test]
    fn an_alias_is_the_same_component_under_another_name() {
        let registry =
            Registry::new()
                .exporter(sink_factory())
                .alias(Kind::Exporter, "sink_renamed", "sink");
        let (a, b) = (
            registry.find_exporter("sink").expect("original"),
            registry.find_exporter("sink_renamed").expect("alias"),
        );
        assert_eq!(b.type_name, "sink_renamed");
        assert_eq!(a.signals, b.signals);
        assert!(std::ptr::fn_addr_eq(a.build, b.build));
        assert_eq!(registry.types(Kind::Exporter), ["sink", "sink_renamed"]);
    }
}
