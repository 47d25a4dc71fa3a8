//! The kubelet's pod-resources API (`v1.PodResourcesLister/List` on
//! `/var/lib/kubelet/pod-resources/kubelet.sock`): which pod and container each device
//! was given to. The messages follow the kubelet's `api.proto` (k8s.io/kubelet v0.37.2,
//! `pkg/apis/podresources/v1`) field for field, tag for tag; written out here since
//! the crate has no protobuf build step.

use std::path::Path;
use std::time::Duration;

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct ListPodResourcesRequest {}

#[derive(Clone, PartialEq, Message)]
pub struct ListPodResourcesResponse {
    #[prost(message, repeated, tag = "1")]
    pub pod_resources: Vec<PodResources>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PodResources {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(message, repeated, tag = "3")]
    pub containers: Vec<ContainerResources>,
    #[prost(int64, repeated, tag = "4")]
    pub cpu_ids: Vec<i64>,
    #[prost(message, repeated, tag = "5")]
    pub memory: Vec<ContainerMemory>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ContainerResources {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub devices: Vec<ContainerDevices>,
    #[prost(int64, repeated, tag = "3")]
    pub cpu_ids: Vec<i64>,
    #[prost(message, repeated, tag = "4")]
    pub memory: Vec<ContainerMemory>,
    #[prost(message, repeated, tag = "5")]
    pub dynamic_resources: Vec<DynamicResource>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ContainerMemory {
    #[prost(string, tag = "1")]
    pub memory_type: String,
    #[prost(uint64, tag = "2")]
    pub size: u64,
    #[prost(message, optional, tag = "3")]
    pub topology: Option<TopologyInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ContainerDevices {
    #[prost(string, tag = "1")]
    pub resource_name: String,
    #[prost(string, repeated, tag = "2")]
    pub device_ids: Vec<String>,
    #[prost(message, optional, tag = "3")]
    pub topology: Option<TopologyInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TopologyInfo {
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<NumaNode>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NumaNode {
    #[prost(int64, tag = "1")]
    pub id: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct DynamicResource {
    #[prost(string, tag = "2")]
    pub claim_name: String,
    #[prost(string, tag = "3")]
    pub claim_namespace: String,
    #[prost(message, repeated, tag = "4")]
    pub claim_resources: Vec<ClaimResource>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ClaimResource {
    #[prost(message, repeated, tag = "1")]
    pub cdi_devices: Vec<CdiDevice>,
    #[prost(string, tag = "2")]
    pub driver_name: String,
    #[prost(string, tag = "3")]
    pub pool_name: String,
    #[prost(string, tag = "4")]
    pub device_name: String,
    #[prost(string, optional, tag = "5")]
    pub share_id: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CdiDevice {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// The method's path.
pub const LIST: &str = "/v1.PodResourcesLister/List";

/// One `List` call over the kubelet's unix socket, bounded by `timeout`.
pub async fn list(socket: &Path, timeout: Duration) -> Result<ListPodResourcesResponse, String> {
    let path = socket.to_path_buf();
    let call = async move {
        // The URI is a placeholder: the connector dials the socket.
        let channel = tonic::transport::Endpoint::from_static("http://kubelet.sock")
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let path = path.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|e| format!("connecting: {}", llamacol_api::consumer::error_chain(&e)))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| format!("connecting: {}", llamacol_api::consumer::error_chain(&e)))?;
        let codec =
            tonic_prost::ProstCodec::<ListPodResourcesRequest, ListPodResourcesResponse>::default();
        grpc.unary(
            tonic::Request::new(ListPodResourcesRequest {}),
            http::uri::PathAndQuery::from_static(LIST),
            codec,
        )
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}
