//! OTLP/gRPC: the three `Export` services, taking request bytes as they arrived (no
//! decode) and checking them with the pipeline's wire walker before answering.

use bytes::Bytes;
use llamacol_api::otlp::collector::{logs, metrics, trace};
use llamacol_api::{Batch, Signal};

use crate::server::grpc::GrpcMethod;
use crate::server::status::invalid_payload;

pub struct TracesService;
pub struct MetricsService;
pub struct LogsService;

impl GrpcMethod for TracesService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Response = trace::v1::ExportTraceServiceResponse;

    fn batch(request: Bytes) -> Result<Batch, String> {
        Batch::from_bytes(Signal::Traces, request).map_err(|e| invalid_payload(Signal::Traces, &e))
    }
}

impl GrpcMethod for MetricsService {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    type Response = metrics::v1::ExportMetricsServiceResponse;

    fn batch(request: Bytes) -> Result<Batch, String> {
        Batch::from_bytes(Signal::Metrics, request)
            .map_err(|e| invalid_payload(Signal::Metrics, &e))
    }
}

impl GrpcMethod for LogsService {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    type Response = logs::v1::ExportLogsServiceResponse;

    fn batch(request: Bytes) -> Result<Batch, String> {
        Batch::from_bytes(Signal::Logs, request).map_err(|e| invalid_payload(Signal::Logs, &e))
    }
}
