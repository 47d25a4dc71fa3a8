"""One LLM request trace, sent with the OpenTelemetry Python SDK over OTLP/gRPC, with
every feature the Jaeger translation has a rule for.

Usage: jaeger_trace.py ENDPOINT SERVICE
A server span (the HTTP request) with a child client span (the model call) that has
attributes of every type, an event with attributes, a link to a span of another trace
and an error status; plus that other trace's one span. Prints, as one JSON object,
the ids (hex) the test looks up in Jaeger.
"""
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

endpoint, service = sys.argv[1], sys.argv[2]
provider = TracerProvider(
    resource=Resource.create({"service.name": service, "host.name": "gpu-node-7"})
)
provider.add_span_processor(
    SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
)
tracer = provider.get_tracer("llm-app", "1.2.3")

with tracer.start_as_current_span("warmup", kind=SpanKind.INTERNAL) as warmup:
    other = warmup.get_span_context()

with tracer.start_as_current_span("POST /v1/chat/completions", kind=SpanKind.SERVER) as root:
    with tracer.start_as_current_span(
        "chat llama-3",
        kind=SpanKind.CLIENT,
        links=[Link(other, {"link.reason": "warmup"})],
        attributes={
            "gen_ai.request.model": "llama-3",
            "gen_ai.request.stream": True,
            "gen_ai.usage.input_tokens": 42,
            "gen_ai.request.temperature": 0.25,
            "gen_ai.response.finish_reasons": ["stop", "length"],
            "payload.digest": b"\x00\xff\x07",
        },
    ) as child:
        child.add_event("gen_ai.first_chunk", {"gen_ai.chunk.index": 0})
        child.set_status(Status(StatusCode.ERROR, "model overloaded"))

provider.shutdown()
hexid = lambda n, width: format(n, "0%dx" % width)
print(json.dumps({
    "trace_id": hexid(root.get_span_context().trace_id, 32),
    "root": hexid(root.get_span_context().span_id, 16),
    "child": hexid(child.get_span_context().span_id, 16),
    "other_trace_id": hexid(other.trace_id, 32),
    "other_span": hexid(other.span_id, 16),
}))
