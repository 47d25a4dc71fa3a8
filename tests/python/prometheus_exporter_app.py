"""An app instrumented with the OpenTelemetry Python SDK whose metrics are read through the
SDK's own Prometheus exporter (`opentelemetry-exporter-prometheus`): two meters (scopes),
one with a version, schema URL and attributes, each with a counter and a histogram. The
exporter writes each series' scope as `otel_scope_*` labels.

Usage: prometheus_exporter_app.py PORT
Serves /metrics on 127.0.0.1:PORT, prints "ready" once it does, then runs until killed.
"""
import sys
import time

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

port = int(sys.argv[1])
start_http_server(port, addr="127.0.0.1")
provider = MeterProvider(
    resource=Resource.create({"service.name": "chat-api", "deployment.environment": "test"}),
    metric_readers=[PrometheusMetricReader()],
)
app = provider.get_meter(
    "llm.app",
    version="1.2.0",
    schema_url="https://opentelemetry.io/schemas/1.26.0",
    attributes={"team": "inference"},
)
db = provider.get_meter("db.client", version="0.3.1")

requests = app.create_counter("llm.requests", unit="{request}", description="Requests served")
latency = app.create_histogram("llm.request.duration", unit="s", description="Request time")
queries = db.create_counter("db.queries", unit="{query}", description="Queries run")
for i in range(20):
    requests.add(1, {"model": "tiny", "outcome": "ok" if i % 5 else "error"})
    latency.record(0.05 * (i + 1), {"model": "tiny"})
    queries.add(2, {"table": "prompts"})
print("ready", flush=True)
while True:
    time.sleep(1)
