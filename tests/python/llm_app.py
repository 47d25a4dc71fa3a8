"""What an LLM app instrumented with the OpenTelemetry Python SDK sends.

Usage: llm_app.py grpc|http ENDPOINT [gzip]
Sends 3 chat spans (one failing with a recorded exception), a token counter,
a latency histogram and 2 log records, then flushes and exits 0.
"""
import logging
import sys

from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

transport, endpoint = sys.argv[1], sys.argv[2]
gzip = sys.argv[3:] == ["gzip"]
if transport == "grpc":
    import grpc

    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    options = dict(endpoint=endpoint, insecure=True,
                   compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression)
    span_exporter = OTLPSpanExporter(**options)
    metric_exporter = OTLPMetricExporter(**options)
    log_exporter = OTLPLogExporter(**options)
else:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    compression = Compression.Gzip if gzip else Compression.NoCompression
    span_exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=compression)
    metric_exporter = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", compression=compression)
    log_exporter = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", compression=compression)

resource = Resource.create({"service.name": f"py-llm-app-{transport}"})

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
tracer = tracer_provider.get_tracer("llm-app")

reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = meter_provider.get_meter("llm-app")
tokens = meter.create_counter("llm.usage.tokens", unit="{token}")
latency = meter.create_histogram("llm.request.duration", unit="s")

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
log = logging.getLogger("llm-app")
log.addHandler(LoggingHandler(logger_provider=logger_provider))
log.setLevel(logging.INFO)

for i in range(3):
    with tracer.start_as_current_span(f"chat {transport}") as span:
        span.set_attribute("llm.model", "llama-3-8b-instruct")
        span.set_attribute("llm.usage.input_tokens", 120 + i)
        span.set_attribute("llm.usage.output_tokens", 30)
        tokens.add(150 + i, {"llm.model": "llama-3-8b-instruct"})
        latency.record(0.5 + i)
        if i == 2:
            try:
                raise RuntimeError("CUDA out of memory")
            except RuntimeError as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, "CUDA out of memory"))
log.info("served chat request")
log.warning("slot queue is long")

tracer_provider.shutdown()
meter_provider.shutdown()
logger_provider.shutdown()
