"""Sends one fixed set of spans with a real Jaeger or Zipkin client library, so the same
spans reach two receivers (llamacol's and the Collector's in Jaeger v2) byte for byte.

usage: tracing_clients.py <client> <target> [<extra LLM calls>]

clients (each in its own process: py_zipkin and the SDK's Zipkin proto exporter register
the same protobuf file):
  jaeger-thrift-udp   host:port  OpenTelemetry SDK Jaeger exporter, agent mode (compact, UDP)
  jaeger-thrift-http  url        the same exporter, collector mode (binary, POST /api/traces)
  jaeger-grpc         host:port  OpenTelemetry SDK Jaeger exporter, api_v2 gRPC PostSpans
  zipkin-json         url        OpenTelemetry SDK Zipkin exporter, v2 JSON
  zipkin-v1-json      url        OpenTelemetry SDK Zipkin exporter, v1 JSON
  zipkin-proto        url        OpenTelemetry SDK Zipkin exporter, v2 protobuf
  py-zipkin-v1-thrift url        py_zipkin's v1 Thrift encoder, POSTed as py_zipkin's transports do
  py-zipkin-v1-json   url        py_zipkin's v1 JSON encoder
  py-zipkin-v2-json   url        py_zipkin's v2 JSON encoder

With a third argument N, the request also holds N model-call spans, each with a 2 KB prompt
and a 1 KB completion (N = 600 makes a request of about 2 MB, an LLM service's batch).
Prints the number of spans sent. Ids and times are fixed; nothing random.
"""

import sys
import urllib.request

START = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
MS = 1_000_000
TRACE = 0x5B8EFFF798038103D269B633813FC60C
OTHER_TRACE = 0x0AF7651916CD43DD8448EB211C80319C


def sdk_spans(extra=0):
    """The spans of one LLM request as the OpenTelemetry SDK records them."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, set_span_in_context

    class Fixed(IdGenerator):
        def __init__(self):
            self.next_span = 0x1000

        def generate_span_id(self):
            self.next_span += 1
            return self.next_span

        def generate_trace_id(self):
            return TRACE

    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": "llm-gateway",
                "service.version": "2.4.1",
                "host.name": "gpu-node-7",
                "deployment.environment": "prod",
            }
        ),
        id_generator=Fixed(),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("llm.client", "1.2.3")

    root = tracer.start_span(
        "POST /v1/chat/completions",
        kind=SpanKind.SERVER,
        start_time=START,
        attributes={
            "http.method": "POST",
            "http.status_code": 200,
            "http.route": "/v1/chat/completions",
            "net.peer.ip": "10.1.2.3",
            "net.peer.port": 53124,
        },
    )
    root.set_status(Status(StatusCode.OK))
    ctx = set_span_in_context(root)
    link = Link(
        SpanContext(OTHER_TRACE, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(1)),
        {"link.reason": "retry-of", "attempt": 2},
    )
    chat = tracer.start_span(
        "chat llama-3.1-8b",
        context=ctx,
        kind=SpanKind.CLIENT,
        start_time=START + 2 * MS,
        links=[link],
        attributes={
            "gen_ai.system": "llama.cpp",
            "gen_ai.request.model": "llama-3.1-8b-instruct",
            "gen_ai.request.temperature": 0.7,
            "gen_ai.usage.input_tokens": 512,
            "gen_ai.usage.output_tokens": 128,
            "gen_ai.request.stream": True,
            "gen_ai.response.finish_reasons": ["stop"],
            "peer.service": "llama-server",
            "http.status_code": 504,
        },
    )
    chat.add_event("gen_ai.first_token", {"gen_ai.token.index": 1, "latency_s": 0.081}, timestamp=START + 83 * MS)
    chat.add_event("retry", timestamp=START + 90 * MS)
    chat.set_status(Status(StatusCode.ERROR, "upstream timeout"))
    chat.end(end_time=START + 240 * MS)
    for name, kind, offset in [
        ("tokenize", SpanKind.INTERNAL, 1),
        ("enqueue request", SpanKind.PRODUCER, 241),
        ("dequeue request", SpanKind.CONSUMER, 242),
    ]:
        span = tracer.start_span(name, context=ctx, kind=kind, start_time=START + offset * MS)
        span.end(end_time=START + (offset + 1) * MS)
    prompt = ("You are a helpful assistant. Summarize the incident report below. " * 32)[:2048]
    completion = ("The GPU node ran out of KV cache and requests queued. " * 20)[:1024]
    for i in range(extra):
        call = tracer.start_span(
            f"chat llama-3.1-8b #{i}",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=START + (300 + i) * MS,
            attributes={
                "gen_ai.request.model": "llama-3.1-8b-instruct",
                "gen_ai.prompt": prompt,
                "gen_ai.completion": completion,
                "gen_ai.usage.input_tokens": 512 + i,
                "gen_ai.usage.output_tokens": 128,
            },
        )
        call.end(end_time=START + (300 + i) * MS + 900 * MS)
    root.end(end_time=START + 250 * MS)
    return memory.get_finished_spans()


def host_port(target):
    host, port = target.rsplit(":", 1)
    return host, int(port)


def export(exporter, spans):
    from opentelemetry.sdk.trace.export import SpanExportResult

    result = exporter.export(spans)
    if result != SpanExportResult.SUCCESS:
        sys.exit(f"export failed: {result}")


def py_zipkin_spans():
    """Zipkin-native spans (with annotations and an IPv6 endpoint) as py_zipkin builds them."""
    from py_zipkin.encoding._helpers import Endpoint, Span
    from py_zipkin.encoding._types import Kind

    seconds = START / 1e9
    gateway = Endpoint(service_name="llm-gateway", ipv4="10.0.0.7", ipv6=None, port=8080)
    server = Endpoint(service_name="llama-server", ipv4=None, ipv6="2001:db8::17", port=8081)
    trace = "5b8efff798038103d269b633813fc60c"
    return [
        Span(trace, "post /v1/chat/completions", None, "0000000000001001", Kind.SERVER, seconds, 0.25,
             local_endpoint=gateway, annotations={"first_byte": seconds + 0.083},
             tags={"http.status_code": "200", "gen_ai.request.model": "llama-3.1-8b-instruct", "lc": "gateway"}),
        Span(trace, "chat", "0000000000001001", "0000000000001002", Kind.CLIENT, seconds + 0.002, 0.238,
             local_endpoint=gateway, remote_endpoint=server,
             tags={"error": "upstream timeout", "gen_ai.usage.input_tokens": "512"}),
        Span(trace, "tokenize", "0000000000001001", "0000000000001003", Kind.LOCAL, seconds + 0.001, 0.001,
             local_endpoint=gateway, tags={"lc": "tokenizer"}),
    ]


def post(url, body, content_type):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status // 100 != 2:
            sys.exit(f"POST {url}: {response.status}")


def main():
    client, target = sys.argv[1], sys.argv[2]
    extra = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if client.startswith("py-zipkin"):
        from py_zipkin.encoding import get_encoder
        from py_zipkin.encoding._types import Encoding

        encoding, content_type = {
            "py-zipkin-v1-thrift": (Encoding.V1_THRIFT, "application/x-thrift"),
            "py-zipkin-v1-json": (Encoding.V1_JSON, "application/json"),
            "py-zipkin-v2-json": (Encoding.V2_JSON, "application/json"),
        }[client]
        encoder = get_encoder(encoding)
        spans = py_zipkin_spans()
        body = encoder.encode_queue([encoder.encode_span(s) for s in spans])
        post(target, body if isinstance(body, bytes) else body.encode(), content_type)
        print(len(spans))
        return
    spans = sdk_spans(extra)
    if client == "jaeger-thrift-udp":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        host, port = host_port(target)
        # A batch over a UDP packet's size is split into several packets, as agents take.
        export(JaegerExporter(agent_host_name=host, agent_port=port, udp_split_oversized_batches=True), spans)
    elif client == "jaeger-thrift-http":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        export(JaegerExporter(collector_endpoint=target), spans)
    elif client == "jaeger-grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter

        export(JaegerExporter(collector_endpoint=target, insecure=True), spans)
    elif client in ("zipkin-json", "zipkin-v1-json"):
        from opentelemetry.exporter.zipkin.encoder import Protocol
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        version = Protocol.V1 if client == "zipkin-v1-json" else Protocol.V2
        # The v1 encoder compares max_tag_value_length with 0 and fails on its own default
        # (None): 0 is "no limit".
        export(ZipkinExporter(version=version, endpoint=target, max_tag_value_length=0), spans)
    elif client == "zipkin-proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter

        export(ZipkinExporter(endpoint=target), spans)
    else:
        sys.exit(f"unknown client {client}")
    print(len(spans))


if __name__ == "__main__":
    main()
