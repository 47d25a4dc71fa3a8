//! A unary gRPC method served from the request's bytes as they arrived (no prost decode
//! of the request: OTLP's are checked on the wire, Jaeger's translated), answering with
//! the pipeline's verdict.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use llamacol_api::client_metadata::ClientMetadata;
use llamacol_api::{Batch, Consumer};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, Body, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use super::status::grpc_status;

/// One unary gRPC method a receiver serves: its service and path, its response, and
/// how the request bytes become a batch (OTLP's as they are; Jaeger's translated).
pub trait GrpcMethod: Send + Sync + 'static {
    const NAME: &'static str;
    const PATH: &'static str;
    type Response: prost::Message + Default + Send + 'static;
    /// The request as a batch, or the INVALID_ARGUMENT message.
    fn batch(request: Bytes) -> Result<Batch, String>;
}

/// The tower service tonic's router mounts for one signal.
pub struct ExportService<S> {
    next: Arc<dyn Consumer>,
    max_message_size: usize,
    /// `include_metadata`: the request's metadata goes with its batch.
    include_metadata: bool,
    _signal: PhantomData<fn() -> S>,
}

impl<S> Clone for ExportService<S> {
    fn clone(&self) -> Self {
        ExportService {
            next: self.next.clone(),
            max_message_size: self.max_message_size,
            include_metadata: self.include_metadata,
            _signal: PhantomData,
        }
    }
}

impl<S: GrpcMethod> ExportService<S> {
    pub fn new(next: Arc<dyn Consumer>, max_message_size: usize, include_metadata: bool) -> Self {
        ExportService {
            next,
            max_message_size,
            include_metadata,
            _signal: PhantomData,
        }
    }
}

impl<S: GrpcMethod> NamedService for ExportService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for ExportService<S>
where
    S: GrpcMethod,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != S::PATH {
            return Box::pin(async { Ok(Status::unimplemented("unknown method").into_http()) });
        }
        let unary = Unary::<S> {
            next: self.next.clone(),
            include_metadata: self.include_metadata,
            _signal: PhantomData,
        };
        let max = self.max_message_size;
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec::<S::Response>(PhantomData))
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(max);
            let mut response = grpc.unary(unary, req).await;
            resource_exhausted_for_oversize(&mut response);
            Ok(response)
        })
    }
}

/// tonic refuses an oversized message with OUT_OF_RANGE; gRPC servers (grpc-go, the
/// Collector) and the OTLP spec's clients expect RESOURCE_EXHAUSTED for that.
fn resource_exhausted_for_oversize(response: &mut http::Response<tonic::body::Body>) {
    let headers = response.headers_mut();
    let out_of_range = headers.get("grpc-status").and_then(|v| v.to_str().ok()) == Some("11");
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
    if out_of_range && too_large {
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(Code::ResourceExhausted as i32),
        );
    }
}

struct Unary<S> {
    next: Arc<dyn Consumer>,
    include_metadata: bool,
    _signal: PhantomData<fn() -> S>,
}

impl<S: GrpcMethod> UnaryService<Bytes> for Unary<S> {
    type Response = S::Response;
    type Future = BoxFuture<tonic::Response<S::Response>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let next = self.next.clone();
        let addr = request.remote_addr().map(|a| a.ip());
        let metadata = if self.include_metadata {
            // Text metadata only (`-bin` keys carry bytes), as HTTP/2 headers arrived.
            let headers = request.metadata().clone().into_headers();
            let pairs = headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
            Some(Arc::new(ClientMetadata::from_pairs(pairs).with_addr(addr)))
        } else {
            addr.map(|a| Arc::new(ClientMetadata::from_addr(a)))
        };
        Box::pin(async move {
            let mut batch = S::batch(request.into_inner()).map_err(Status::invalid_argument)?;
            batch.set_metadata(metadata);
            next.consume(batch).await.map_err(|e| grpc_status(&e))?;
            Ok(tonic::Response::new(S::Response::default()))
        })
    }
}

/// Decodes nothing: hands over the request bytes. Encodes the (prost) response.
struct RawCodec<R>(PhantomData<fn() -> R>);

impl<R: prost::Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ResponseEncoder<R>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

struct ResponseEncoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message> Encoder for ResponseEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding response: {e}")))
    }
}
