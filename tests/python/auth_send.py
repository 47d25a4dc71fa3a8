"""Sends one span with the OpenTelemetry Python SDK's OTLP exporter, with an
Authorization header (or none).

Usage: auth_send.py grpc|http HOST:PORT [AUTHORIZATION]
Prints one JSON object: the exporter's result (SUCCESS or FAILURE) and the trace id.
"""
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

protocol, endpoint = sys.argv[1], sys.argv[2]
headers = {"authorization": sys.argv[3]} if len(sys.argv) > 3 else None

memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "auth-app"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
with provider.get_tracer("auth").start_as_current_span("chat with credentials") as span:
    trace_id = format(span.get_span_context().trace_id, "032x")

if protocol == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=3)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint="http://%s/v1/traces" % endpoint, headers=headers, timeout=3)
result = exporter.export(memory.get_finished_spans())
print(json.dumps({"result": result.name, "trace_id": trace_id}))
