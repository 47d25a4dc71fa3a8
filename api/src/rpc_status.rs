//! `google.rpc.Status`, the body of OTLP/HTTP error responses (the OTLP spec reuses it),
//! shared by the receivers that write it and the exporters that read it.

#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}
