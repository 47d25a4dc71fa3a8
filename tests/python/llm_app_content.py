"""An LLM app instrumented with the OpenTelemetry Python SDK that records content:
chat spans carrying the GenAI attributes and the prompt and completion text (1-3.5 KB
each, as instrumentations that capture content put it on spans), sent by the SDK's own
BatchSpanProcessor and OTLP/gRPC exporter on their defaults (512 spans per export).

Usage: llm_app_content.py ENDPOINT SPANS
Prints the number of spans the SDK exported successfully, then exits 0.
"""
import random
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

endpoint, total = sys.argv[1], int(sys.argv[2])


class Counting(OTLPSpanExporter):
    """The SDK's exporter, counting what it exported successfully."""

    exported = 0

    def export(self, spans):
        result = super().export(spans)
        if result == SpanExportResult.SUCCESS:
            Counting.exported += len(spans)
        return result


provider = TracerProvider(resource=Resource.create({"service.name": "chat-app"}))
# The SDK's defaults (queue 2048, 512 spans per export, 5 s schedule); flushed every 1,000
# spans below so that its queue never overflows (a drop there would be the SDK's, not ours).
provider.add_span_processor(BatchSpanProcessor(Counting(endpoint=endpoint, insecure=True)))
tracer = provider.get_tracer("llm-app-content", "1.0")

rng = random.Random(29)
words = ["the", "model", "token", "answer", "context", "question", "gpu", "cache", "llama", "prompt"]


def text(size):
    out = []
    length = 0
    while length < size:
        word = rng.choice(words)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


for i in range(total):
    with tracer.start_as_current_span("chat llama-3.1-8b-instruct") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.system", "llama.cpp")
        span.set_attribute("gen_ai.request.model", "llama-3.1-8b-instruct")
        span.set_attribute("gen_ai.response.model", "llama-3.1-8b-instruct")
        span.set_attribute("gen_ai.usage.input_tokens", rng.randint(20, 4000))
        span.set_attribute("gen_ai.usage.output_tokens", rng.randint(1, 1000))
        span.set_attribute("gen_ai.prompt.0.role", "user")
        span.set_attribute("gen_ai.prompt.0.content", text(rng.randint(1000, 3500)))
        span.set_attribute("gen_ai.completion.0.role", "assistant")
        span.set_attribute("gen_ai.completion.0.content", text(rng.randint(1000, 3500)))
    if (i + 1) % 1000 == 0:
        provider.force_flush()
provider.shutdown()
print(Counting.exported)
