"""Reads what the graphistry exporter wrote to its offline_dir with pyarrow.

Usage: graphistry_offline.py DIR
Every window directory holds nodes.arrow and edges.arrow (Arrow IPC files, the format
Graphistry's upload API takes) and bindings.json. Prints one JSON object: the number of
windows, the node and edge columns, every span node id, every parent -> child pair, and
the first window's bindings.
"""
import json
import os
import sys

import pyarrow as pa

root = sys.argv[1]
windows = sorted(d for d in os.listdir(root) if not d.endswith(".tmp"))
out = {"windows": len(windows), "span_ids": [], "pairs": [], "statuses": {}}
for w in windows:
    with pa.memory_map(os.path.join(root, w, "nodes.arrow")) as source:
        nodes = pa.ipc.open_file(source).read_all()
    with pa.memory_map(os.path.join(root, w, "edges.arrow")) as source:
        edges = pa.ipc.open_file(source).read_all()
    out["node_columns"] = nodes.schema.names
    out["edge_columns"] = edges.schema.names
    out["start_time_type"] = str(nodes.schema.field("start_time").type)
    # Nanosecond timestamps need pandas to become Python objects; read them as integers.
    starts = nodes.column("start_time").cast(pa.int64()).to_pylist()
    out.setdefault("start_times", []).extend(starts)
    for row in nodes.drop_columns(["start_time"]).to_pylist():
        out["span_ids"].append(row["span_id"])
        out["statuses"][row["span_id"]] = row["status"]
    for row in edges.to_pylist():
        out["pairs"].append([row["source"], row["destination"]])
    if "bindings" not in out:
        with open(os.path.join(root, w, "bindings.json")) as f:
            out["bindings"] = json.load(f)
print(json.dumps(out))
