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
            "give `static` or `dns`, not both",
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
