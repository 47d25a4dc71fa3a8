//! The OTLP exporter a push uses: llamacol's own `otlp` exporter, built from the
//! declarative block (`protocol`, `endpoint`, `headers`, ...).

use std::sync::Arc;

use llamacol_api::otlp::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::serde_yaml::{Mapping, Value};
use llamacol_api::{BoxError, BuildContext, ComponentId, Exporter, Signal};
use llamacol_pipeline::config::{OtlpPush, PushProtocol};

/// An exporter sending `signal` as `push` says, named `id` in llamacol's own logs.
pub fn exporter(
    id: &str,
    protocol: PushProtocol,
    push: &OtlpPush,
    signal: Signal,
) -> Result<Arc<dyn Exporter>, BoxError> {
    let mut block = Mapping::new();
    let mut set = |k: &str, v: Value| {
        block.insert(Value::from(k), v);
    };
    let plain_http = push.endpoint.starts_with("http://");
    match protocol {
        PushProtocol::Grpc => set("endpoint", push.endpoint.clone().into()),
        PushProtocol::HttpProtobuf | PushProtocol::HttpJson => {
            set("protocol", "http".into());
            set("endpoint", push.endpoint.clone().into());
            // The declarative endpoint is the whole URL, path included.
            set(&format!("{signal}_endpoint"), push.endpoint.clone().into());
            if protocol == PushProtocol::HttpJson {
                set("encoding", "json".into());
            }
        }
    }
    let mut tls = Mapping::new();
    if push.insecure || plain_http {
        tls.insert("insecure".into(), true.into());
    }
    if let Some(ca) = &push.certificate {
        tls.insert("ca_file".into(), ca.clone().into());
    }
    set("tls", Value::Mapping(tls));
    if let Some(c) = &push.compression {
        set("compression", c.clone().into());
    }
    if let Some(ms) = push.timeout {
        set("timeout", format!("{ms}ms").into());
    }
    let headers: Mapping = push
        .header_pairs()?
        .into_iter()
        .map(|(k, v)| (Value::from(k), Value::from(v)))
        .collect();
    if !headers.is_empty() {
        set("headers", Value::Mapping(headers));
    }
    let factory = llamacol_exporters::otlp::factory();
    let ctx = BuildContext::new(ComponentId::parse(id)?, vec![signal]);
    (factory.build)(&ctx, &Value::Mapping(block))
}

/// The resource of everything llamacol pushes about itself.
pub fn resource(attributes: &[(String, String)]) -> Resource {
    Resource {
        attributes: attributes
            .iter()
            .map(|(k, v)| string_attribute(k, v))
            .collect(),
        ..Resource::default()
    }
}

pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "llamacol".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    }
}

pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
