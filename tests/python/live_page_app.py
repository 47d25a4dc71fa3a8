"""An LLM app in front of the real llama-server, instrumented with the OpenTelemetry
Python SDK: each request is a server span `POST /v1/chat` with a GenAI client span
`chat tiny` under it, whose first streamed chunk is an event and whose token counts
come from the server's answer. The last request is too long for the context, so
llama-server refuses it and that span ends in ERROR.

Usage: live_page_app.py OTLP_GRPC_ENDPOINT LLAMA_URL REQUESTS
Prints the trace ids it sent (hex), one JSON list on stdout.
"""
import json
import sys
import time
import urllib.error
import urllib.request

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

endpoint, llama, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, port = llama.split("//")[1].split(":")

provider = TracerProvider(resource=Resource.create({"service.name": "chat-api"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True),
                                               schedule_delay_millis=200))
tracer = provider.get_tracer("chat-api")


def complete(span, prompt):
    """Streams a completion from llama-server; marks the first chunk on `span`."""
    body = json.dumps({"prompt": prompt, "n_predict": 8, "stream": True,
                       "cache_prompt": False}).encode()
    request = urllib.request.Request(f"{llama}/completion", data=body,
                                     headers={"Content-Type": "application/json"})
    first = True
    with urllib.request.urlopen(request, timeout=60) as response:
        for line in response:
            if not line.startswith(b"data: "):
                continue
            chunk = json.loads(line[6:])
            if first:
                span.add_event("gen_ai.first_chunk")
                first = False
            if chunk.get("stop"):
                return chunk["timings"]
    raise RuntimeError("the stream ended without a final chunk")


sent = []
for i in range(requests):
    too_long = i == requests - 1
    with tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER) as server:
        server.set_attribute("http.request.method", "POST")
        with tracer.start_as_current_span("chat tiny", kind=SpanKind.CLIENT) as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.provider.name", "llama.cpp")
            span.set_attribute("gen_ai.request.model", "tiny")
            span.set_attribute("server.address", host)
            span.set_attribute("server.port", int(port))
            prompt = "hello " * (4000 if too_long else 3 + i)
            try:
                timings = complete(span, prompt)
                span.set_attribute("gen_ai.usage.input_tokens", timings["prompt_n"])
                span.set_attribute("gen_ai.usage.output_tokens", timings["predicted_n"])
                span.set_status(Status(StatusCode.OK))
                server.set_status(Status(StatusCode.OK))
            except urllib.error.HTTPError as e:
                message = e.read().decode(errors="replace")[:200]
                span.set_attribute("error.type", str(e.code))
                span.set_status(Status(StatusCode.ERROR, message))
                server.set_status(Status(StatusCode.ERROR, f"llama-server answered {e.code}"))
        sent.append(format(server.get_span_context().trace_id, "032x"))
    time.sleep(0.05)

provider.shutdown()
print(json.dumps(sent))
