"""Sends spans, metrics and logs with the OpenTelemetry Python SDK, then reads llamacol's
parquet files back with DuckDB and pyarrow and checks them against what was sent.

Usage: parquet_roundtrip.py send HTTP_ENDPOINT SENT_JSON
       parquet_roundtrip.py check PARQUET_DIR SENT_JSON
       parquet_roundtrip.py verify PARQUET_DIR   (every .parquet file opens; counts)
       parquet_roundtrip.py s3-bucket ENDPOINT BUCKET        (creates it)
       parquet_roundtrip.py s3-get ENDPOINT BUCKET PREFIX DIR (downloads every object)
       parquet_roundtrip.py gcs-bucket ENDPOINT BUCKET       (the JSON API, as the GCS emulator serves it)
       parquet_roundtrip.py gcs-get ENDPOINT BUCKET PREFIX DIR
       parquet_roundtrip.py az-container BLOB_ENDPOINT CONTAINER  (azure-storage-blob, Azurite's account)
       parquet_roundtrip.py az-get BLOB_ENDPOINT CONTAINER PREFIX DIR
"""
import json
import logging
import sys


def send(endpoint, sent_path):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, Status, StatusCode

    resource = Resource.create({"service.name": "parquet-app", "deployment.environment.name": "test"})
    spans = []

    class Recorder(SimpleSpanProcessor):
        def on_end(self, span):
            spans.append({
                "trace_id": format(span.context.trace_id, "032x"),
                "span_id": format(span.context.span_id, "016x"),
                "name": span.name,
                "start": span.start_time,
                "end": span.end_time,
                "events": len(span.events),
                "links": len(span.links),
            })
            super().on_end(span)

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(Recorder(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    tracer = tp.get_tracer("parquet-app", "1.2.3")
    with tracer.start_as_current_span("chat qwen") as parent:
        parent.set_attribute("gen_ai.operation.name", "chat")
        parent.set_attribute("gen_ai.request.model", "qwen")
        parent.set_attribute("gen_ai.usage.input_tokens", 120)
        parent.set_attribute("gen_ai.usage.output_tokens", 30)
        parent.set_attribute("flag", True)
        parent.set_attribute("temperature", 0.25)
        parent.set_attribute("stop", ["\n", "</s>"])
        parent.set_attribute("ids", [1, 2, 3])
        parent.add_event("gen_ai.choice", {"index": 0})
        ctx = parent.get_span_context()
        with tracer.start_as_current_span("tool call", links=[Link(ctx, {"why": "retry"})]) as child:
            child.set_status(Status(StatusCode.ERROR, "tool failed"))
            child.set_attribute("error.type", "timeout")
    tp.shutdown()

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"), export_interval_millis=60_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader],
                       views=[View(instrument_name="ttft", aggregation=ExponentialBucketHistogramAggregation())])
    meter = mp.get_meter("parquet-app")
    meter.create_counter("requests", unit="{request}").add(5, {"model": "qwen"})
    meter.create_up_down_counter("queue").add(-2)
    latency = meter.create_histogram("latency", unit="s")
    for v in (0.1, 0.4, 2.0):
        latency.record(v)
    meter.create_gauge("temperature", unit="Cel").set(71.5, {"gpu": "0"})
    ttft = meter.create_histogram("ttft", unit="s")
    for v in (0.05, 0.2, 0.2):
        ttft.record(v)
    mp.shutdown()

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    log = logging.getLogger("parquet-app")
    log.addHandler(LoggingHandler(logger_provider=lp))
    log.setLevel(logging.INFO)
    log.info("served chat request")
    log.warning("slot queue is long")
    lp.shutdown()
    with open(sent_path, "w") as f:
        json.dump({"spans": spans}, f)


def check(directory, sent_path):
    import duckdb
    import pyarrow.dataset as ds

    sent = json.load(open(sent_path))
    con = duckdb.connect()

    def rows(signal, sql):
        source = f"read_parquet('{directory}/{signal}/**/*.parquet', hive_partitioning = true)"
        return con.execute(sql.replace("{src}", source)).fetchall()

    spans = rows("traces", "SELECT trace_id, span_id, name, epoch_ns(start_time), epoch_ns(end_time), duration_ns, "
                           "status_code, service_name, attributes, len(events), len(links), gen_ai_usage_input_tokens, "
                           "error_type, date, hour, scope_name, scope_version, parent_span_id FROM {src} ORDER BY start_time")
    assert len(spans) == len(sent["spans"]), (spans, sent)
    by_id = {s["span_id"]: s for s in sent["spans"]}
    for row in spans:
        want = by_id[row[1]]
        assert row[0] == want["trace_id"], row
        assert row[3] == want["start"] and row[4] == want["end"], (row, want)
        assert row[5] == want["end"] - want["start"]
        assert row[9] == want["events"] and row[10] == want["links"], row
        assert row[7] == "parquet-app"
        assert row[15] == "parquet-app" and row[16] == "1.2.3", row
    parent = [r for r in spans if r[2] == "chat qwen"][0]
    child = [r for r in spans if r[2] == "tool call"][0]
    attrs = dict(parent[8])
    assert attrs["gen_ai.usage.input_tokens"] == "120" and attrs["flag"] == "true", attrs
    assert attrs["temperature"] == "0.25" and attrs["stop"] == '["\\n","</s>"]' and attrs["ids"] == "[1,2,3]", attrs
    assert parent[11] == 120 and parent[17] is None
    assert child[6] == "ERROR" and child[12] == "timeout" and child[17] == parent[1], child
    # Hive partitions resolve from the paths.
    assert str(parent[13]).startswith("20") and 0 <= int(parent[14]) <= 23, parent

    metrics = rows("metrics", "SELECT metric_name, metric_type, value, count, sum, bucket_counts, bucket_bounds, is_monotonic, temporality, attributes FROM {src}")
    by_name = {}
    for m in metrics:
        by_name.setdefault(m[0], []).append(m)
    assert by_name["requests"][0][1] == "sum" and by_name["requests"][0][2] == 5.0 and by_name["requests"][0][7] is True
    assert by_name["queue"][0][2] == -2.0 and by_name["queue"][0][7] is False
    lat = by_name["latency"][0]
    assert lat[1] == "histogram" and lat[3] == 3 and abs(lat[4] - 2.5) < 1e-9 and sum(lat[5]) == 3, lat
    assert by_name["temperature"][0][1] == "gauge" and by_name["temperature"][0][2] == 71.5
    assert dict(by_name["temperature"][0][9]) == {"gpu": "0"}
    exp = by_name["ttft"][0]
    assert exp[1] == "exponential_histogram" and exp[3] == 3 and sum(exp[5]) == 3, exp

    logs = rows("logs", "SELECT body, severity_text, severity_number, service_name FROM {src} ORDER BY time")
    assert [l[0] for l in logs] == ["served chat request", "slot queue is long"], logs
    assert logs[1][1] == "WARN" or logs[1][1] == "WARNING", logs

    # pyarrow reads the same files with the same partitions.
    table = ds.dataset(f"{directory}/traces", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(sent["spans"])
    assert set(table.column("trace_id").to_pylist()) == {s["trace_id"] for s in sent["spans"]}
    assert table.schema.field("start_time").type.unit == "ns"
    meta = ds.dataset(f"{directory}/traces", format="parquet").schema.metadata or {}
    print("ok", len(spans), "spans,", len(metrics), "points,", len(logs), "logs")


def verify(directory):
    import pathlib

    import pyarrow.parquet as pq

    files = sorted(pathlib.Path(directory).rglob("*.parquet"))
    tmp = sorted(pathlib.Path(directory).rglob("*.parquet.tmp"))
    rows = sum(pq.read_table(f).num_rows for f in files)
    print(f"files {len(files)} rows {rows} tmp {len(tmp)}")


def s3(endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def download(keys, prefix, directory, fetch):
    """Writes each key's bytes (from `fetch`) under `directory`, the prefix cut off."""
    import pathlib

    for key in keys:
        target = pathlib.Path(directory) / key[len(prefix):].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fetch(key))
    print("objects", len(keys))


def s3_get(endpoint, bucket, prefix, directory):
    client = s3(endpoint)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    download(keys, prefix, directory,
             lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read())


def gcs(url, body=None):
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST" if body else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()


def gcs_get(endpoint, bucket, prefix, directory):
    import urllib.parse

    keys, token = [], ""
    while True:
        query = urllib.parse.urlencode({"prefix": prefix, "pageToken": token})
        page = json.loads(gcs(f"{endpoint}/storage/v1/b/{bucket}/o?{query}"))
        keys += [item["name"] for item in page.get("items", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    download(keys, prefix, directory, lambda key: gcs(
        f"{endpoint}/storage/v1/b/{bucket}/o/{urllib.parse.quote(key, safe='')}?alt=media"))


# Azurite's well-known development account (documented by Microsoft for the emulator).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azure(blob_endpoint, container):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={blob_endpoint}/{AZURITE_ACCOUNT};")
    return service.get_container_client(container)


def az_get(blob_endpoint, container, prefix, directory):
    client = azure(blob_endpoint, container)
    keys = [blob.name for blob in client.list_blobs(name_starts_with=prefix)]
    download(keys, prefix, directory, lambda key: client.download_blob(key).readall())


if __name__ == "__main__":
    if sys.argv[1] == "s3-bucket":
        s3(sys.argv[2]).create_bucket(Bucket=sys.argv[3])
    elif sys.argv[1] == "s3-get":
        s3_get(*sys.argv[2:6])
    elif sys.argv[1] == "gcs-bucket":
        gcs(f"{sys.argv[2]}/storage/v1/b?project=test", json.dumps({"name": sys.argv[3]}).encode())
    elif sys.argv[1] == "gcs-get":
        gcs_get(*sys.argv[2:6])
    elif sys.argv[1] == "az-container":
        azure(sys.argv[2], sys.argv[3]).create_container()
    elif sys.argv[1] == "az-get":
        az_get(*sys.argv[2:6])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2])
    elif sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2], sys.argv[3])
