"""Validates rendered Kubernetes manifests against the Kubernetes JSON schemas shipped by
kubernetes-validate (strict: unknown fields are errors), for its newest Kubernetes.

Usage: k8s_validate.py MANIFESTS.yaml
Prints one JSON object: the Kubernetes version, each document's kind/name with `ok`, an
error, or `no schema` (custom resources such as the Prometheus Operator's ServiceMonitor).
"""
import json
import sys

import kubernetes_validate
import yaml

version = kubernetes_validate.latest_version()
results = []
with open(sys.argv[1]) as f:
    for doc in yaml.safe_load_all(f):
        if not doc:
            continue
        name = "%s/%s" % (doc.get("kind"), doc.get("metadata", {}).get("name"))
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            results.append({"resource": name, "result": "ok"})
        except kubernetes_validate.SchemaNotFoundError:
            results.append({"resource": name, "result": "no schema"})
        except kubernetes_validate.ValidationError as e:
            results.append({"resource": name, "result": "error: %s at %s" % (e.message, list(e.path))})
print(json.dumps({"version": version, "results": results}))
