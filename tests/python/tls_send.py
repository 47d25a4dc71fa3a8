"""Sends one span with the OpenTelemetry Python SDK's OTLP exporter over TLS.

Usage: tls_send.py grpc|http ENDPOINT CA_FILE [CLIENT_CERT CLIENT_KEY]
ENDPOINT is `localhost:PORT`. Prints one JSON object: the exporter's result (SUCCESS or
FAILURE) and the span's trace id.
"""
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

protocol, endpoint, ca = sys.argv[1], sys.argv[2], sys.argv[3]
client = sys.argv[4:6] if len(sys.argv) > 5 else None

memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "tls-app"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
with provider.get_tracer("tls").start_as_current_span("chat over tls") as span:
    trace_id = format(span.get_span_context().trace_id, "032x")
spans = memory.get_finished_spans()

if protocol == "grpc":
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    read = lambda p: open(p, "rb").read()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca),
        private_key=read(client[1]) if client else None,
        certificate_chain=read(client[0]) if client else None,
    )
    exporter = OTLPSpanExporter(endpoint=endpoint, credentials=credentials, timeout=3)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(
        endpoint="https://%s/v1/traces" % endpoint,
        certificate_file=ca,
        client_certificate_file=client[0] if client else None,
        client_key_file=client[1] if client else None,
        timeout=3,
    )
result = exporter.export(spans)
print(json.dumps({"result": result.name, "trace_id": trace_id}))
