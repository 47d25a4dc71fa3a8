//! Kubernetes against a real API server (`kube-apiserver` v1.37.2 and etcd, built by
//! `scripts/peers.sh`): `k8s_attributes` in the real binary finds the sending pod of
//! OTLP/HTTP and OTLP/gRPC requests by their source address (pods' IPs are loopback
//! addresses 127.0.0.x, which this machine answers from without any setup), follows
//! relabels and deletes through its watch, and loses nothing across an API server
//! restart; the Helm chart's manifests are accepted by the API server and its RBAC lets
//! the agent's service account watch what `k8s_attributes` needs.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::kube::ApiServer;
use common::{arr, lines, Collector};
use serde_json::{json, Value};

const IMAGE: &str = "ghcr.io/ggml-org/llama.cpp:server-cuda-b4719";

/// One OTLP/JSON trace (the spec's example) whose resource is `service.name = service`,
/// posted over HTTP from `from` (the client socket bound to that address).
fn post_from(from: &str, port: u16, service: &str) {
    post_resource_from(
        from,
        port,
        json!([{"key": "service.name", "value": {"stringValue": service}}]),
    );
}

/// The same with the resource's `attributes` (OTLP/JSON) given.
fn post_resource_from(from: &str, port: u16, attributes: Value) {
    let mut body: Value = serde_json::from_slice(
        &std::fs::read("testdata/otlp-json/trace.json").expect("trace.json"),
    )
    .expect("json");
    body["resourceSpans"][0]["resource"]["attributes"] = attributes;
    let client = reqwest::blocking::Client::builder()
        .local_address(from.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client");
    let status = client
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .expect("post")
        .status();
    assert!(status.is_success(), "{status}");
}

/// `requests` over OTLP/gRPC as `service` (tonic, the connection made from `from`).
fn grpc_from(
    from: &str,
    port: u16,
    service: &str,
    requests: Vec<llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest>,
) {
    use llamacol_api::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
    let from: IpAddr = from.parse().expect("ip");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("endpoint")
            .connect_with_connector(tower::service_fn(move |_: http::Uri| async move {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(from, 0))?;
                let stream = socket
                    .connect(SocketAddr::from(([127, 0, 0, 1], port)))
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }))
            .await
            .expect("connect");
        let mut client = TraceServiceClient::new(channel);
        for mut request in requests {
            for rs in &mut request.resource_spans {
                let resource = rs.resource.get_or_insert_with(Default::default);
                resource.attributes.retain(|kv| kv.key != "service.name");
                resource
                    .attributes
                    .push(llamacol_api::attributes::string("service.name", service));
            }
            client.export(request).await.expect("export");
        }
    });
}

/// Spans written under `service.name` `service` whose resource has pod uid `uid`.
fn spans_of(file: &Path, service: &str, uid: &str) -> usize {
    lines(file)
        .iter()
        .flat_map(|line| arr(&line["resourceSpans"]).to_vec())
        .filter(|rs| {
            let attrs = common::string_attrs(&rs["resource"]["attributes"]);
            attrs.get("service.name").map(String::as_str) == Some(service)
                && attrs.get("k8s.pod.uid").map(String::as_str) == Some(uid)
        })
        .map(|rs| {
            arr(&rs["scopeSpans"])
                .iter()
                .map(|s| arr(&s["spans"]).len())
                .sum::<usize>()
        })
        .sum()
}

/// The resources written so far, by `service.name`: the last one of each.
fn resources(file: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for line in lines(file) {
        for rs in arr(&line["resourceSpans"]) {
            let attrs: BTreeMap<String, String> = arr(&rs["resource"]["attributes"])
                .iter()
                .map(|a| {
                    let v = &a["value"];
                    (
                        a["key"].as_str().unwrap_or_default().to_string(),
                        v["stringValue"]
                            .as_str()
                            .map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect();
            if let Some(service) = attrs.get("service.name") {
                out.insert(service.clone(), attrs);
            }
        }
    }
    out
}

/// Waits until `service`'s resource satisfies `ok` (sending again with `send` each try).
fn wait_for(
    file: &Path,
    service: &str,
    within: Duration,
    send: impl Fn(),
    ok: impl Fn(&BTreeMap<String, String>) -> bool,
) -> (BTreeMap<String, String>, Duration) {
    let started = Instant::now();
    loop {
        send();
        std::thread::sleep(Duration::from_millis(100));
        if let Some(found) = resources(file).get(service) {
            if ok(found) {
                return (found.clone(), started.elapsed());
            }
        }
        assert!(
            started.elapsed() < within,
            "{service} not as expected within {within:?}: {:?}",
            resources(file).get(service)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn k8s_attributes_config(kubeconfig: &Path) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "${{env:LLAMACOL_OTLP_GRPC_ENDPOINT}}"}}
      http: {{endpoint: "${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}"}}
processors:
  k8sattributes:
    auth_type: kubeConfig
    kube_config_path: {}
    wait_for_metadata: true
    filter:
      node_from_env_var: KUBE_NODE_NAME
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.deployment.name,
                 k8s.node.name, k8s.replicaset.name, k8s.cluster.uid, service.namespace, k8s.pod.ip]
      labels:
        - {{tag_name: app.version, key: version}}
        - {{tag_name: env, key: env, from: namespace}}
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [k8sattributes], exporters: [file]}}
"#,
        kubeconfig.display()
    )
}

#[test]
#[ignore = "needs kube-apiserver and etcd: run scripts/test"]
fn k8s_attributes_names_the_sending_pod_and_follows_the_api_server() {
    let mut api = ApiServer::start();
    api.namespace("inference", json!({"env": "prod"}));
    let rs = api.deployment("inference", "llama", "7d9f8b6c5", IMAGE, 3);
    let labels = json!({"app": "llama", "version": "v1"});
    let a = api.running_pod(
        "inference",
        "llama-7d9f8b6c5-aaaaa",
        "gpu-node-1",
        "127.0.0.2",
        Some(&rs),
        labels.clone(),
    );
    let b = api.running_pod(
        "inference",
        "llama-7d9f8b6c5-bbbbb",
        "gpu-node-1",
        "127.0.0.3",
        Some(&rs),
        labels.clone(),
    );
    api.running_pod(
        "inference",
        "llama-7d9f8b6c5-ccccc",
        "cpu-node-2",
        "127.0.0.4",
        Some(&rs),
        labels.clone(),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, common::kube::ADMIN_TOKEN);
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, k8s_attributes_config(&kubeconfig)).expect("config");
    let collector = Collector::launch(
        &[&config.display().to_string()],
        &[("KUBE_NODE_NAME", "gpu-node-1".to_string())],
    );
    let (http, grpc, file) = (collector.http, collector.grpc, collector.file.clone());

    post_from("127.0.0.2", http, "from-a");
    grpc_from(
        "127.0.0.3",
        grpc,
        "from-b",
        vec![llamacol_api::testing::sample_traces(1, 3)],
    );
    // LLM-sized load over gRPC from the same pod: GenAI trees of 500 spans and spans
    // carrying 2-20 KB of prompt and completion (about 2 MB in all), whose resources already
    // name a pod of their own (as an SDK's resource detector does): that name is kept,
    // what they lack is added.
    let load = common::llm_load::requests(2, 2);
    let sent = common::llm_load::spans(&load);
    grpc_from("127.0.0.3", grpc, "llm-b", load);
    post_from("127.0.0.4", http, "from-c-other-node");
    post_from("127.0.0.1", http, "from-the-host");
    let (found, _) = wait_for(
        &file,
        "from-the-host",
        Duration::from_secs(10),
        || {},
        |_| true,
    );
    assert!(
        !found.contains_key("k8s.pod.name"),
        "no pod has the host's address: {found:?}"
    );
    let all = resources(&file);
    let from_a = &all["from-a"];
    let cluster = api.get("/api/v1/namespaces/kube-system").1["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (k, v) in [
        ("k8s.namespace.name", "inference"),
        ("k8s.pod.name", "llama-7d9f8b6c5-aaaaa"),
        (
            "k8s.pod.uid",
            a["metadata"]["uid"].as_str().unwrap_or_default(),
        ),
        (
            "k8s.pod.start_time",
            a["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default(),
        ),
        ("k8s.deployment.name", "llama"),
        ("k8s.replicaset.name", "llama-7d9f8b6c5"),
        ("k8s.node.name", "gpu-node-1"),
        ("k8s.pod.ip", "127.0.0.2"),
        ("app.version", "v1"),
        ("env", "prod"),
        ("k8s.cluster.uid", cluster.as_str()),
        ("service.namespace", "inference"),
    ] {
        assert_eq!(
            from_a.get(k).map(String::as_str),
            Some(v),
            "{k} of {from_a:?}"
        );
    }
    assert_eq!(
        all["from-b"].get("k8s.pod.name").map(String::as_str),
        Some("llama-7d9f8b6c5-bbbbb"),
        "over gRPC"
    );
    let b_uid = b["metadata"]["uid"].as_str().unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while spans_of(&file, "llm-b", b_uid) < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        spans_of(&file, "llm-b", b_uid),
        sent,
        "every span of the LLM load, each resource with its pod's uid"
    );
    let llm = &resources(&file)["llm-b"];
    assert!(
        llm.get("k8s.pod.name")
            .is_some_and(|n| n.starts_with("llama-server-")),
        "the app's own pod name is kept: {llm:?}"
    );
    assert_eq!(
        llm.get("k8s.deployment.name").map(String::as_str),
        Some("llama")
    );
    let other = &all["from-c-other-node"];
    assert_eq!(
        other.get("k8s.pod.ip").map(String::as_str),
        Some("127.0.0.4")
    );
    assert!(
        !other.contains_key("k8s.pod.name"),
        "the agent watches only its node's pods: {other:?}"
    );

    // A relabel reaches the data within the watch's latency.
    api.patch(
        "/api/v1/namespaces/inference/pods/llama-7d9f8b6c5-aaaaa",
        json!({"metadata": {"labels": {"version": "v2"}}}),
    );
    let (_, relabel) = wait_for(
        &file,
        "from-a",
        Duration::from_secs(10),
        || post_from("127.0.0.2", http, "from-a"),
        |r| r.get("app.version").map(String::as_str) == Some("v2"),
    );
    // A deleted pod's late telemetry still finds it (the grace period).
    let (status, _) = api.send(
        "DELETE",
        "/api/v1/namespaces/inference/pods/llama-7d9f8b6c5-bbbbb?gracePeriodSeconds=0",
        None,
        Value::Null,
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(500));
    post_from("127.0.0.3", http, "from-b-after-delete");
    let (found, _) = wait_for(
        &file,
        "from-b-after-delete",
        Duration::from_secs(10),
        || {},
        |_| true,
    );
    assert_eq!(
        found.get("k8s.pod.name").map(String::as_str),
        Some("llama-7d9f8b6c5-bbbbb")
    );

    // The API server goes away and comes back: the watch lists again and sees the pod
    // created after the restart; what was sent meanwhile passed through.
    api.restart(Duration::from_secs(3));
    post_from("127.0.0.2", http, "during-the-restart");
    api.running_pod(
        "inference",
        "llama-7d9f8b6c5-ddddd",
        "gpu-node-1",
        "127.0.0.5",
        Some(&rs),
        labels,
    );
    let (_, after_restart) = wait_for(
        &file,
        "from-d",
        Duration::from_secs(60),
        || post_from("127.0.0.5", http, "from-d"),
        |r| r.get("k8s.pod.name").map(String::as_str) == Some("llama-7d9f8b6c5-ddddd"),
    );
    eprintln!("relabel seen after {relabel:?}; a pod created after the API server restart found after {after_restart:?}");
    assert!(resources(&file).contains_key("during-the-restart"));
    let log = collector.stderr();
    assert!(
        log.contains("Kubernetes watch failed") && log.contains("Kubernetes watch recovered"),
        "the restart broke the watch and it came back: {log}"
    );
    drop(collector);
}

/// The release's manifests, rendered by the real helm into namespace `observability`.
fn chart(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--namespace".to_string(), "observability".to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    common::helm::render(&all)
        .into_iter()
        .map(|doc| serde_json::to_value(doc).expect("JSON"))
        .collect()
}

/// llamacol with the chart's own `k8s_attributes` block, reaching the API server with
/// `token` (the block's `auth_type: serviceAccount` becomes a kubeconfig outside a pod).
fn chart_processor_config(rendered: &str, kubeconfig: &Path) -> String {
    let config: Value = llamacol_api::serde_yaml::from_str(rendered).expect("config");
    let mut block = config["processors"]["k8s_attributes"].clone();
    block["auth_type"] = json!("kubeConfig");
    block["kube_config_path"] = json!(kubeconfig.display().to_string());
    block["wait_for_metadata"] = json!(true);
    block["wait_for_metadata_timeout"] = json!("5s");
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}"}}
processors:
  k8s_attributes: {block}
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [k8s_attributes], exporters: [file]}}
"#
    )
}

#[test]
#[ignore = "needs kube-apiserver, etcd and helm: run scripts/test"]
fn the_charts_manifests_are_accepted_and_its_rbac_lets_the_agent_watch_pods() {
    let api = ApiServer::start();
    api.namespace("observability", json!({}));
    api.namespace("inference", json!({"team": "ml-platform"}));
    let labels = r#"k8sAttributes.labels=[{"tag_name":"team","key":"team","from":"namespace"},{"tag_name":"zone","key":"topology.kubernetes.io/zone","from":"node"}]"#;
    let agent = chart(&[
        "--set-json",
        labels,
        "--set",
        "admin.auth.existingSecret=llamacol-admin-token",
        "--set-json",
        r#"admin.networkPolicy.allowFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]"#,
    ]);
    let gateway = chart(&[
        "--set",
        "mode=deployment",
        "--set",
        "k8sAttributes.gateway=true",
    ]);
    let mut accepted = Vec::new();
    for doc in agent.iter().chain(&gateway) {
        let (status, answer) = api.apply(doc, "observability");
        let what = format!(
            "{} {}",
            doc["kind"].as_str().unwrap_or_default(),
            doc["metadata"]["name"].as_str().unwrap_or_default()
        );
        assert!(
            status == 200 || status == 201,
            "{what} refused ({status}): {answer}"
        );
        accepted.push(what);
    }
    for kind in [
        "DaemonSet ",
        "Deployment ",
        "ConfigMap ",
        "ServiceAccount ",
        "ClusterRole ",
        "ClusterRoleBinding ",
        "Service ",
    ] {
        assert!(
            accepted.iter().any(|a| a.starts_with(kind)),
            "no {kind}applied: {accepted:?}"
        );
    }
    // The agent mounts its token only because it watches pods.
    let daemonset = agent
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("DaemonSet");
    let pod_spec = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod_spec["automountServiceAccountToken"], json!(true));
    let account = pod_spec["serviceAccountName"]
        .as_str()
        .expect("service account");

    // The node and a pod on it, as the kubelet registers them.
    api.create(
        "/api/v1/nodes",
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "gpu-node-1", "labels": {"topology.kubernetes.io/zone": "eu-west-1a", "nvidia.com/gpu.present": "true"}}}),
    );
    api.running_pod(
        "inference",
        "chat-api-0",
        "gpu-node-1",
        "127.0.0.6",
        None,
        json!({"app": "chat-api"}),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let rendered = common::helm::rendered_config(
        &common::helm::render(&[
            "--namespace".into(),
            "observability".into(),
            "--set-json".into(),
            labels.into(),
        ]),
        "agent",
    )
    .to_string();
    // As the agent's service account: the chart's ClusterRole must be enough.
    let kubeconfig = dir.path().join("agent.kubeconfig");
    api.write_kubeconfig(&kubeconfig, &api.token_for("observability", account));
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, chart_processor_config(&rendered, &kubeconfig)).expect("config");
    let collector = Collector::launch(
        &[&config.display().to_string()],
        &[("K8S_NODE_NAME", "gpu-node-1".to_string())],
    );
    let (found, _) = wait_for(
        &collector.file,
        "chat",
        Duration::from_secs(10),
        || post_from("127.0.0.6", collector.http, "chat"),
        |r| r.contains_key("k8s.pod.name"),
    );
    for (k, v) in [
        ("k8s.pod.name", "chat-api-0"),
        ("k8s.namespace.name", "inference"),
        ("k8s.node.name", "gpu-node-1"),
        ("team", "ml-platform"),
        ("zone", "eu-west-1a"),
    ] {
        assert_eq!(
            found.get(k).map(String::as_str),
            Some(v),
            "{k} in {found:?}"
        );
    }
    drop(collector);

    // A service account the chart did not bind: refused, and the message says what to grant.
    api.create(
        "/api/v1/namespaces/observability/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "unbound"}}),
    );
    api.write_kubeconfig(&kubeconfig, &api.token_for("observability", "unbound"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_llamacol"))
        .args(["run", "-c", &config.display().to_string()])
        .env("K8S_NODE_NAME", "gpu-node-1")
        .env(
            "LLAMACOL_OTLP_HTTP_ENDPOINT",
            format!("127.0.0.1:{}", llamacol_pipeline::testing::free_port()),
        )
        .env(
            "LLAMACOL_ADMIN_ENDPOINT",
            format!("127.0.0.1:{}", llamacol_pipeline::testing::free_port()),
        )
        .env("LLAMACOL_FILE_PATH", dir.path().join("unbound.jsonl"))
        .output()
        .expect("llamacol");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started without RBAC: {stderr}");
    assert!(
        stderr.contains("403 Forbidden") && stderr.contains("grant get, list and watch"),
        "{stderr}"
    );
}

/// This machine's address on its default route (a Service's endpoints may not be
/// loopback addresses).
fn own_address() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
    socket
        .connect("198.51.100.1:9")
        .expect("this test needs a default route to find this machine's address");
    socket.local_addr().expect("local address").ip().to_string()
}

/// `n` requests of 100 one-span traces each, trace ids from `first`, over OTLP/HTTP.
fn send_traces(port: u16, first: u64, n: u64) -> u64 {
    use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let client = reqwest::blocking::Client::new();
    for r in 0..n {
        let spans = (0..100u64)
            .map(|i| {
                let t = first + r * 100 + i;
                Span {
                    trace_id: [t.to_be_bytes(), (t * 7919).to_be_bytes()].concat(),
                    span_id: t.to_be_bytes().to_vec(),
                    name: "chat".into(),
                    ..Default::default()
                }
            })
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let status = client
            .post(format!("http://127.0.0.1:{port}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .expect("post")
            .status();
        assert!(status.is_success(), "{status}");
    }
    n * 100
}

fn span_count(file: &Path) -> u64 {
    common::spans(&lines(file)).len() as u64
}

#[test]
#[ignore = "needs kube-apiserver and etcd: run scripts/test"]
fn loadbalancing_follows_a_services_endpoint_slices() {
    let api = ApiServer::start();
    api.namespace("observability", json!({}));
    api.create(
        "/api/v1/namespaces/observability/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "llamacol-gateway"},
               "spec": {"selector": {"app": "gateway"}, "ports": [{"name": "otlp", "port": 4317}]}}),
    );
    let ip = own_address();
    let (p1, p2) = (
        llamacol_pipeline::testing::free_port(),
        llamacol_pipeline::testing::free_port(),
    );
    let gateway = |port: u16| {
        Collector::launch(
            &["configs/otlp-to-file.yaml"],
            &[("LLAMACOL_OTLP_GRPC_ENDPOINT", format!("{ip}:{port}"))],
        )
    };
    let (a, b) = (gateway(p1), gateway(p2));
    // What the EndpointSlice controller writes for one ready gateway pod.
    let slice = |ready: bool| {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "llamacol-gateway-x7k2p", "labels": {"kubernetes.io/service-name": "llamacol-gateway"}},
               "addressType": "IPv4",
               "endpoints": [{"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": false},
                              "nodeName": "cpu-node-2"}],
               "ports": [{"name": "otlp", "port": 4317, "protocol": "TCP"}]})
    };
    let slices = "/apis/discovery.k8s.io/v1/namespaces/observability/endpointslices";
    api.create(slices, slice(true));

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, common::kube::ADMIN_TOKEN);
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}"}}
exporters:
  loadbalancing:
    protocol:
      otlp: {{timeout: 2s, tls: {{insecure: true}}}}
    resolver:
      k8s:
        service: llamacol-gateway.observability
        ports: [{p1}, {p2}]
        auth_type: kubeConfig
        kube_config_path: {}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#,
            kubeconfig.display()
        ),
    )
    .expect("config");
    let mut agent = Collector::launch(&[&config.display().to_string()], &[]);
    let wait_total = |want: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while span_count(&a.file) + span_count(&b.file) < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        (span_count(&a.file), span_count(&b.file))
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut sent = send_traces(agent.http, 0, 20);
    let (on_a, on_b) = wait_total(sent);
    assert_eq!(on_a + on_b, sent, "every span delivered once");
    assert!(
        on_a > 0 && on_b > 0,
        "both endpoints' ports got a share: {on_a} / {on_b}"
    );

    // The gateway fails its readiness probe: no backend; the agent holds and retries.
    let name = format!("{slices}/llamacol-gateway-x7k2p");
    api.send("PUT", &name, None, {
        let mut s = slice(false);
        s["metadata"]["resourceVersion"] = api.get(&name).1["metadata"]["resourceVersion"].clone();
        s
    });
    std::thread::sleep(Duration::from_millis(500));
    sent += send_traces(agent.http, 10_000, 5);
    std::thread::sleep(Duration::from_secs(2));
    let held = span_count(&a.file) + span_count(&b.file);
    assert_eq!(
        held,
        sent - 500,
        "nothing goes to a gateway that is not ready"
    );
    // Ready again: what was held arrives.
    api.send("PUT", &name, None, {
        let mut s = slice(true);
        s["metadata"]["resourceVersion"] = api.get(&name).1["metadata"]["resourceVersion"].clone();
        s
    });
    let (on_a, on_b) = wait_total(sent);
    assert_eq!(on_a + on_b, sent, "{}", agent.stderr());
    let (status, _) = agent.terminate();
    assert!(status.success());
}

/// The same `k8sattributes` block in llamacol and in the real Collector (v0.161.0's
/// `k8sattributesprocessor` v1.0.0), on the same API server, fed the same request from the
/// same pod address: the same resource attributes, key for key and value for value.
#[test]
#[ignore = "needs kube-apiserver, etcd and otelcol: run scripts/test"]
fn the_same_attributes_as_the_collectors_k8sattributes() {
    use common::otelcol::{Otelcol, QUIET_TELEMETRY};
    let api = ApiServer::start();
    api.namespace("inference", json!({"env": "prod", "team": "ml-platform"}));
    let rs = api.deployment("inference", "llama", "7d9f8b6c5", IMAGE, 1);
    let labels = json!({"app": "llama", "version": "v3", "app.kubernetes.io/component": "inference",
                        "app.kubernetes.io/part-of": "chat", "pod-template-hash": "7d9f8b6c5"});
    api.running_pod(
        "inference",
        "llama-7d9f8b6c5-aaaaa",
        "gpu-node-1",
        "127.0.0.2",
        Some(&rs),
        labels,
    );
    api.patch(
        "/api/v1/namespaces/inference/pods/llama-7d9f8b6c5-aaaaa",
        json!({"metadata": {"annotations": {"git-commit": "4f1c3e2", "resource.opentelemetry.io/service.namespace": "chat"}}}),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, common::kube::ADMIN_TOKEN);
    // The Collector reads the kubeconfig from KUBECONFIG; llamacol's default is the same.
    let processor = r#"
    auth_type: kubeConfig
    wait_for_metadata: true
    filter:
      node_from_env_var: KUBE_NODE_NAME
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.deployment.name,
                 k8s.replicaset.name, k8s.replicaset.uid, k8s.node.name, k8s.container.name, container.id,
                 container.image.name, container.image.tags, k8s.cluster.uid, k8s.pod.ip]
      labels:
        - {tag_name: app.version, key: version}
        - {tag_name: "app.$1", key_regex: "app\\.kubernetes\\.io/(.*)"}
        - {tag_name: team, key: team, from: namespace}
        - {key: env, from: namespace}
      annotations:
        - {tag_name: commit, key: git-commit}
      otel_annotations: true
"#;
    let env = [
        ("KUBE_NODE_NAME", "gpu-node-1".to_string()),
        ("KUBECONFIG", kubeconfig.display().to_string()),
    ];
    let config = dir.path().join("llamacol.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http: {{endpoint: \"${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\"}}\n\
             processors:\n  k8s_attributes:{processor}\
             exporters:\n  file: {{path: \"${{env:LLAMACOL_FILE_PATH}}\"}}\n\
             service:\n  telemetry: {{admin: {{endpoint: \"${{env:LLAMACOL_ADMIN_ENDPOINT}}\"}}}}\n  pipelines:\n    traces: {{receivers: [otlp], processors: [k8s_attributes], exporters: [file]}}\n"
        ),
    )
    .expect("config");
    let llamacol = Collector::launch(&[&config.display().to_string()], &env);
    let mut otelcol = Otelcol::start(
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      http: {{endpoint: \"${{env:OTELCOL_HTTP}}\"}}\n      grpc: {{endpoint: \"${{env:OTELCOL_GRPC}}\"}}\n\
             processors:\n  k8s_attributes:{processor}\
             exporters:\n  file: {{path: \"${{env:OTELCOL_FILE}}\"}}\n\
             service:\n{QUIET_TELEMETRY}  pipelines:\n    traces: {{receivers: [otlp], processors: [k8s_attributes], exporters: [file]}}\n"
        ),
        &env,
    );
    // No container named: the pod's only container is the one (both fall back to it).
    let send = |port: u16| {
        let attributes = json!([
            {"key": "service.name", "value": {"stringValue": "chat"}},
            {"key": "k8s.deployment.name", "value": {"stringValue": ""}}
        ]);
        post_resource_from("127.0.0.2", port, attributes);
    };
    send(llamacol.http);
    send(otelcol.http);
    let (ours, _) = wait_for(
        &llamacol.file,
        "chat",
        Duration::from_secs(15),
        || {},
        |_| true,
    );
    let (theirs, _) = wait_for(
        &otelcol.file,
        "chat",
        Duration::from_secs(15),
        || {},
        |_| true,
    );
    otelcol.terminate();
    eprintln!("the Collector's k8sattributes added: {theirs:?}");
    assert!(
        theirs.contains_key("k8s.deployment.name"),
        "the Collector enriched it: {theirs:?}"
    );
    assert_eq!(ours, theirs);
}
