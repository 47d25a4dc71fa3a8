#!/usr/bin/env bash
# The whole-process benchmark. Usage: bench/run.sh [DURATION] (default 20s)
# Builds llamacol and the load generator in release mode, then runs every scenario in
# one go and prints the table that goes into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20s}"
cargo build --release --quiet -p llamacol -p loadgen
exec target/release/loadgen bench --llamacol target/release/llamacol --duration "$duration" "${@:2}"
