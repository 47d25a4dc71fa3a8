//! Config checks and DNS resolution (the routing and failover run against real gateways
//! in `tests/e2e_loadbalancing.rs`).

use llamacol_api::config::{parse, ComponentConfig};

use super::config::DnsResolver;
use super::*;

fn issues(yaml: &str) -> Vec<String> {
    let value: serde_yaml::Value = serde_yaml::from_str(yaml).expect("yaml");
    match parse::<LoadBalancingConfig>(&value) {
        Err(issues) => issues,
        Ok(c) => c.validate(),
    }
    .into_iter()
    .map(|i| format!("{}: {}", i.path, i.message))
    .collect()
}

#[test]
fn config_mistakes_are_named() {
    let cases = [
        ("{protocol: {otlp: {}}}", "resolver: give `static"),
        (
            "{resolver: {static: {hostnames: []}}}",
            "resolver.static.hostnames: give at least one backend",
        ),
        (
            "{resolver: {static: {hostnames: [a:1]}, dns: {hostname: x}}}",
            "give one of `static`, `dns` and `k8s`",
        ),
        (
            "{resolver: {static: {hostnames: [a:1]}}, protocol: {otlp: {endpoint: b:2}}}",
            "protocol.otlp.endpoint: each backend's endpoint comes from the resolver",
        ),
        (
            "{resolver: {static: {hostnames: [a:1]}}, protocol: {otlp: {compresion: gzip}}}",
            "protocol.otlp.compresion: unknown key",
        ),
        (
            "{routing_key: span, resolver: {static: {hostnames: [a:1]}}}",
            "routing_key: unknown value `span`",
        ),
    ];
    for (yaml, expected) in cases {
        let found = issues(yaml);
        assert!(
            found.iter().any(|i| i.contains(expected)),
            "{yaml}: {found:?}"
        );
    }
    assert!(issues("{resolver: {dns: {hostname: gateways.example}}, protocol: {otlp: {tls: {insecure: true}}}}").is_empty());
}

#[tokio::test]
async fn dns_gives_every_address_with_the_port() {
    let dns = DnsResolver {
        hostname: "127.0.0.1".into(),
        port: 4999,
        ..DnsResolver::default()
    };
    assert_eq!(
        super::resolve(&dns).await.expect("resolves"),
        vec!["127.0.0.1:4999".to_string()]
    );
    let bad = DnsResolver {
        hostname: "no-such-host.invalid".into(),
        ..DnsResolver::default()
    };
    assert!(super::resolve(&bad).await.is_err());
}

/// The Collector's routing keys per signal: unset is `traceID` for spans and logs and
/// `service` for metrics; `traceID` does not route metrics, the metric keys nothing else.
#[test]
fn routing_keys_apply_to_their_signals() {
    let config = |yaml: &str| -> LoadBalancingConfig {
        parse(&serde_yaml::from_str(yaml).expect("yaml")).expect("config")
    };
    let unset = config("{resolver: {static: {hostnames: [a:1]}}}");
    assert_eq!(unset.routing_for(Signal::Traces), Ok(RoutingKey::TraceId));
    assert_eq!(unset.routing_for(Signal::Metrics), Ok(RoutingKey::Service));
    let trace_id = config("{routing_key: traceID, resolver: {static: {hostnames: [a:1]}}}");
    assert!(trace_id.routing_for(Signal::Metrics).is_err());
    let stream = config("{routing_key: streamID, resolver: {static: {hostnames: [a:1]}}}");
    assert_eq!(
        stream.routing_for(Signal::Metrics),
        Ok(RoutingKey::StreamId)
    );
    assert!(stream.routing_for(Signal::Logs).is_err());
}

#[test]
fn k8s_resolver_backends_are_the_ready_endpoints_on_each_port() {
    assert!(
        issues("{resolver: {k8s: {service: gw.observability, ports: [4317, 4319]}}}").is_empty()
    );
    let missing = issues("{resolver: {k8s: {ports: []}}}");
    assert!(
        missing
            .iter()
            .any(|i| i.starts_with("resolver.k8s.service")),
        "{missing:?}"
    );
    assert!(
        missing.iter().any(|i| i.starts_with("resolver.k8s.ports")),
        "{missing:?}"
    );
    let slice: k8s::EndpointSlice = serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "gw-abc12", "namespace": "observability",
                     "labels": {"kubernetes.io/service-name": "gw"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["10.0.0.5"], "conditions": {"ready": true, "serving": true}, "hostname": "gw-0"},
            {"addresses": ["10.0.0.6"], "hostname": "gw-1"},
            {"addresses": ["10.0.0.7"], "conditions": {"ready": false, "terminating": true}}
        ],
        "ports": [{"name": "otlp", "port": 4317, "protocol": "TCP"}]
    }))
    .expect("slice");
    let slices = std::collections::BTreeMap::from([("gw-abc12".to_string(), slice)]);
    let mut config = config::K8sResolver {
        service: "gw.observability".into(),
        ports: vec![4317, 4319],
        ..Default::default()
    };
    assert_eq!(
        k8s::backends(&slices, &config),
        [
            "10.0.0.5:4317",
            "10.0.0.5:4319",
            "10.0.0.6:4317",
            "10.0.0.6:4319"
        ],
        "not-ready endpoints are left out; no condition means ready"
    );
    config.return_hostnames = true;
    config.ports = vec![4317];
    assert_eq!(
        k8s::backends(&slices, &config),
        ["gw-0.gw.observability:4317", "gw-1.gw.observability:4317"]
    );
    assert_eq!(
        k8s::watch_for(&config).label_selector,
        "kubernetes.io/service-name=gw"
    );
    assert_eq!(k8s::service_and_namespace("gw"), ("gw", "default"));
}
