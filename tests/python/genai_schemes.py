"""LLM spans in every naming scheme the genai processor reads, sent with the
OpenTelemetry Python SDK over OTLP/gRPC.

Usage: genai_schemes.py ENDPOINT [ROUNDS]
Each round sends one chat span per scheme (llamatelemetry `llm.*`, OpenLLMetry,
OpenInference, older GenAI semconv, current GenAI semconv), each with prompt
content, fixed durations and a time-to-first-chunk event. Prints, as one JSON
object, what each span must look like after normalization: the attributes in
current form, the legacy keys that must be gone, and the content that must not
arrive.
"""
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

endpoint = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
SECRET = "my-secret-prompt-text"

SCHEMES = {
    "seeds": {
        "attrs": {
            "llm.system": "llama.cpp",
            "llm.model": "m-seeds",
            "llm.request.max_tokens": 128,
            "llm.request.temperature": 0.7,
            "llm.response.finish_reason": "stop",
            "llm.usage.input_tokens": 11,
            "llm.usage.output_tokens": 21,
        },
        "expect": {
            "gen_ai.provider.name": "llama.cpp",
            "gen_ai.request.model": "m-seeds",
            "gen_ai.request.max_tokens": 128,
            "gen_ai.request.temperature": 0.7,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 21,
            "gen_ai.operation.name": "chat",
        },
        "millis": 900,
        "ttft_millis": 150,
    },
    "openllmetry": {
        "attrs": {
            "gen_ai.system": "openai",
            "llm.request.type": "chat",
            "llm.request.model": "m-openllmetry",
            "llm.response.model": "m-openllmetry-0613",
            "gen_ai.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": 22,
            "llm.usage.total_tokens": 34,
            "llm.is_streaming": True,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": SECRET,
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": SECRET,
        },
        "expect": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "m-openllmetry",
            "gen_ai.response.model": "m-openllmetry-0613",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 22,
            "gen_ai.request.stream": True,
            "gen_ai.operation.name": "chat",
        },
        "millis": 1500,
        "ttft_millis": 300,
    },
    "openinference": {
        "attrs": {
            "openinference.span.kind": "LLM",
            "llm.model_name": "m-openinference",
            "llm.provider": "google",
            "llm.invocation_parameters": json.dumps({"temperature": 0.1, "max_tokens": 64, "top_p": 0.5}),
            "llm.token_count.prompt": 13,
            "llm.token_count.completion": 23,
            "llm.token_count.total": 36,
            "llm.token_count.prompt_details.cache_read": 3,
            "input.value": SECRET,
            "output.value": SECRET,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": SECRET,
        },
        "expect": {
            "gen_ai.provider.name": "gcp.gen_ai",
            "gen_ai.request.model": "m-openinference",
            "gen_ai.request.temperature": 0.1,
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.top_p": 0.5,
            "gen_ai.usage.input_tokens": 13,
            "gen_ai.usage.output_tokens": 23,
            "gen_ai.usage.cache_read.input_tokens": 3,
            "gen_ai.operation.name": "chat",
        },
        "millis": 2500,
        "ttft_millis": 700,
    },
    "old-semconv": {
        "attrs": {
            "gen_ai.system": "vertex_ai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m-old",
            "gen_ai.usage.prompt_tokens": 14,
            "gen_ai.usage.completion_tokens": 24,
        },
        "expect": {
            "gen_ai.provider.name": "gcp.vertex_ai",
            "gen_ai.request.model": "m-old",
            "gen_ai.usage.input_tokens": 14,
            "gen_ai.usage.output_tokens": 24,
            "gen_ai.operation.name": "chat",
        },
        "millis": 400,
        "ttft_millis": 40,
        "event": ("gen_ai.content.prompt", {"gen_ai.prompt": SECRET}),
    },
    "current": {
        "attrs": {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "m-current",
            "gen_ai.usage.input_tokens": 15,
            "gen_ai.usage.output_tokens": 25,
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": SECRET}]}]),
        },
        "expect": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "m-current",
            "gen_ai.usage.input_tokens": 15,
            "gen_ai.usage.output_tokens": 25,
            "gen_ai.operation.name": "chat",
        },
        "millis": 700,
        "ttft_millis": 90,
        "error": True,
    },
}

provider = TracerProvider(resource=Resource.create({"service.name": "genai-app"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
tracer = provider.get_tracer("genai-schemes")

now = time.time_ns()
for r in range(rounds):
    for name, scheme in SCHEMES.items():
        start = now - 60_000_000_000 + r * 1_000_000
        span = tracer.start_span(f"llm {name}", start_time=start, attributes=scheme["attrs"])
        span.add_event("gen_ai.first_chunk", timestamp=start + scheme["ttft_millis"] * 1_000_000)
        if "event" in scheme:
            event, attrs = scheme["event"]
            span.add_event(event, attributes=attrs, timestamp=start)
        if scheme.get("error"):
            span.set_status(Status(StatusCode.ERROR, "upstream timeout"))
        span.end(end_time=start + scheme["millis"] * 1_000_000)

provider.force_flush()
provider.shutdown()
print(json.dumps({
    "secret": SECRET,
    "rounds": rounds,
    "spans": {
        f"llm {name}": {
            "expect": s["expect"],
            "gone": sorted(k for k in s["attrs"] if k not in s["expect"]),
            "millis": s["millis"],
            "ttft_millis": s["ttft_millis"],
            "error": s.get("error", False),
        }
        for name, s in SCHEMES.items()
    },
}))
