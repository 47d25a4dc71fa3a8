//! Against a fake kubelet: a gRPC server on a unix socket answering
//! `v1.PodResourcesLister/List` with the kubelet's messages (`pod_resources.rs`, field
//! for field from its `api.proto`). Clearly a fake: no kubelet can run here.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use llamacol_api::testing::Capture;
use llamacol_api::{Batch, OutcomeCounter, Receiver};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::{NamedService, UnaryService};

use super::pod_resources::*;
use super::*;
use crate::nvml::fake::FakeGpus;
use crate::nvml::NvmlReceiver;

/// The fake kubelet's `List`: answers `response` every time.
#[derive(Clone)]
struct FakeKubelet(Arc<ListPodResourcesResponse>);

impl NamedService for FakeKubelet {
    const NAME: &'static str = "v1.PodResourcesLister";
}

impl UnaryService<ListPodResourcesRequest> for FakeKubelet {
    type Response = ListPodResourcesResponse;
    type Future = BoxFuture<tonic::Response<ListPodResourcesResponse>, tonic::Status>;

    fn call(&mut self, _: tonic::Request<ListPodResourcesRequest>) -> Self::Future {
        let response = (*self.0).clone();
        Box::pin(async move { Ok(tonic::Response::new(response)) })
    }
}

impl Service<http::Request<tonic::body::Body>> for FakeKubelet {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            if request.uri().path() != LIST {
                return Ok(tonic::Status::unimplemented("only List").into_http());
            }
            let codec = tonic_prost::ProstCodec::<ListPodResourcesResponse, ListPodResourcesRequest>::default();
            Ok(tonic::server::Grpc::new(codec).unary(me, request).await)
        })
    }
}

/// Serves `response` on a unix socket at `path` until the test ends.
fn serve(path: &Path, response: ListPodResourcesResponse) {
    let listener = tokio::net::UnixListener::bind(path).expect("bind");
    let incoming = futures::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    let server = tonic::transport::Server::builder().add_service(FakeKubelet(Arc::new(response)));
    tokio::spawn(async move { server.serve_with_incoming(incoming).await });
}

fn devices(resource: &str, ids: &[&str]) -> ContainerDevices {
    ContainerDevices {
        resource_name: resource.into(),
        device_ids: ids.iter().map(|s| s.to_string()).collect(),
        topology: Some(TopologyInfo {
            nodes: vec![NumaNode { id: 0 }],
        }),
    }
}

fn container(name: &str, devices: Vec<ContainerDevices>) -> ContainerResources {
    ContainerResources {
        name: name.into(),
        devices,
        cpu_ids: vec![2, 3],
        memory: vec![],
        dynamic_resources: vec![],
    }
}

fn pod(namespace: &str, name: &str, containers: Vec<ContainerResources>) -> PodResources {
    PodResources {
        name: name.into(),
        namespace: namespace.into(),
        containers,
        cpu_ids: vec![],
        memory: vec![],
    }
}

fn gpu(i: u32) -> String {
    format!("GPU-00000000-0000-0000-0000-{i:012}")
}

/// What a node with the NVIDIA device plugin (one GPU each, one time-sliced GPU) and
/// NVIDIA's DRA driver reports.
fn node_response() -> ListPodResourcesResponse {
    let mut dra = container("trainer", vec![]);
    dra.dynamic_resources = vec![DynamicResource {
        claim_name: "gpu-claim".into(),
        claim_namespace: "training".into(),
        claim_resources: vec![ClaimResource {
            cdi_devices: vec![CdiDevice {
                name: "k8s.gpu.nvidia.com/device=gpu-3".into(),
            }],
            driver_name: "gpu.nvidia.com".into(),
            pool_name: "gpu-node-1".into(),
            device_name: "gpu-3".into(),
            share_id: None,
        }],
    }];
    ListPodResourcesResponse {
        pod_resources: vec![
            pod(
                "inference",
                "llama-0",
                vec![
                    container("server", vec![devices("nvidia.com/gpu", &[&gpu(0)])]),
                    container("sidecar", vec![]),
                ],
            ),
            // GPU 1 time-sliced between two pods: the readings are neither's.
            pod(
                "inference",
                "embed-0",
                vec![container(
                    "embed",
                    vec![devices("nvidia.com/gpu", &[&format!("{}::0", gpu(1))])],
                )],
            ),
            pod(
                "inference",
                "embed-1",
                vec![container(
                    "embed",
                    vec![devices("nvidia.com/gpu", &[&format!("{}::1", gpu(1))])],
                )],
            ),
            pod("training", "trainer-0", vec![dra]),
            pod(
                "kube-system",
                "cilium-x",
                vec![container(
                    "agent",
                    vec![devices("example.com/nic", &["nic0"])],
                )],
            ),
        ],
    }
}

#[test]
fn owners_by_uuid_time_slicing_and_dra() {
    let owners = Owners::from_response(&node_response());
    let fake = FakeGpus::new(4);
    let d = |i: usize| &fake.devices[i];
    assert_eq!(
        owners
            .of(d(0))
            .map(|o| (o.pod.as_str(), o.container.as_str())),
        Some(("llama-0", "server"))
    );
    assert_eq!(owners.of(d(1)), None, "shared by two pods");
    assert_eq!(owners.of(d(2)), None, "unassigned");
    assert_eq!(
        owners.of(d(3)).map(|o| o.pod.as_str()),
        Some("trainer-0"),
        "DRA gpu-3"
    );
}

fn string_attr(point: &[llamacol_api::otlp::common::v1::KeyValue], key: &str) -> Option<String> {
    point
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(llamacol_api::attributes::value_string)
}

#[tokio::test]
async fn the_receiver_names_the_pod_holding_each_gpu_and_each_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("kubelet.sock");
    serve(&socket, node_response());
    // The fake GPUs' process (pid 4242) runs in a pod's container.
    let proc_dir = dir.path().join("proc");
    std::fs::create_dir_all(proc_dir.join("4242")).expect("proc");
    std::fs::write(
        proc_dir.join("4242/cgroup"),
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0ab1c2d3_e4f5_6789_abcd_ef0123456789.slice/cri-containerd-4f1c3e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e.scope\n",
    )
    .expect("cgroup");
    for naming in ["semconv", "dcgm"] {
        let config: crate::nvml::NvmlConfig = llamacol_api::serde_yaml::from_str(&format!(
            "{{collection_interval: 50ms, naming: {naming}, kubernetes: {{enabled: true, pod_resources_socket: {}, proc_dir: {}}}}}",
            socket.display(),
            proc_dir.display()
        ))
        .expect("config");
        let capture = Arc::new(Capture::default());
        let mut receiver = NvmlReceiver::new(
            "nvml".into(),
            config,
            Some(Arc::new(FakeGpus::new(4))),
            OutcomeCounter::default(),
        );
        receiver.start(capture.clone()).await.expect("start");
        tokio::time::sleep(Duration::from_millis(120)).await;
        receiver.shutdown().await.expect("shutdown");
        let mut batch = capture.batches().remove(0);
        let Batch::Metrics(p) = &mut batch else {
            panic!("metrics")
        };
        let request = p.message().expect("decoded");
        let points: Vec<(String, Vec<llamacol_api::otlp::common::v1::KeyValue>)> =
            request.resource_metrics[0].scope_metrics[0]
                .metrics
                .iter()
                .flat_map(|m| {
                    let points = match &m.data {
                        Some(metric::Data::Gauge(g)) => g.data_points.clone(),
                        Some(metric::Data::Sum(s)) => s.data_points.clone(),
                        _ => vec![],
                    };
                    points.into_iter().map(|p| (m.name.clone(), p.attributes))
                })
                .collect();
        let (gpu_key, pod_key, container_key) = match naming {
            "semconv" => ("hw.id", "k8s.pod.name", "k8s.container.name"),
            _ => ("UUID", "pod", "container"),
        };
        for (name, attributes) in &points {
            let uuid = string_attr(attributes, gpu_key).unwrap_or_default();
            let want = match uuid.as_str() {
                u if u == gpu(0) => Some("llama-0"),
                u if u == gpu(3) => Some("trainer-0"),
                _ => None,
            };
            assert_eq!(
                string_attr(attributes, pod_key).as_deref(),
                want,
                "{naming} {name} of {uuid}"
            );
            if want == Some("llama-0") {
                assert_eq!(
                    string_attr(attributes, container_key).as_deref(),
                    Some("server")
                );
            }
            if string_attr(attributes, "process.pid").is_some() {
                assert_eq!(
                    string_attr(attributes, "k8s.pod.uid").as_deref(),
                    Some("0ab1c2d3-e4f5-6789-abcd-ef0123456789"),
                    "{name}"
                );
                assert!(string_attr(attributes, "container.id")
                    .is_some_and(|id| id.starts_with("4f1c3e2a")));
            }
        }
        assert!(
            points
                .iter()
                .any(|(_, a)| string_attr(a, pod_key).is_some()),
            "{naming}: some point has a pod"
        );
        if naming == "semconv" {
            assert!(
                points.iter().any(|(n, _)| n == "nvml.process.memory.usage"),
                "processes are read"
            );
        }
    }
}

#[tokio::test]
async fn without_a_kubelet_the_readings_go_on_without_pods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config: crate::nvml::NvmlConfig = llamacol_api::serde_yaml::from_str(&format!(
        "{{collection_interval: 50ms, kubernetes: {{enabled: true, pod_resources_socket: {}}}}}",
        dir.path().join("absent.sock").display()
    ))
    .expect("config");
    let capture = Arc::new(Capture::default());
    let mut receiver = NvmlReceiver::new(
        "nvml".into(),
        config,
        Some(Arc::new(FakeGpus::new(2))),
        OutcomeCounter::default(),
    );
    receiver.start(capture.clone()).await.expect("start");
    tokio::time::sleep(Duration::from_millis(120)).await;
    receiver.shutdown().await.expect("shutdown");
    assert!(capture.batches().len() >= 2, "every cycle still read");
}
