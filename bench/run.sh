#!/usr/bin/env bash
# The whole-process benchmark. Usage: bench/run.sh [DURATION] (default 20s)
# Builds llamacol and the load generator in release mode and the real OpenTelemetry
# Collector (scripts/peers.sh, cached), then runs every scenario in one go, llamacol and
# the Collector on the same load, and prints the tables that go into BENCHMARKS.md.
# The load generator and sink run on core 0, the collector under test on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20s}"
scripts/peers.sh >&2
cargo build --release --quiet -p llamacol -p loadgen
peers=${LLAMACOL_PEERS_DIR:-$HOME/.cache/llamacol-peers}
exec taskset -c 0 target/release/loadgen bench --llamacol target/release/llamacol \
  --otelcol "$peers/bin/otelcol" --duration "$duration" "${@:2}"
