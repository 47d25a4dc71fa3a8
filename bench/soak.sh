#!/usr/bin/env bash
# The soak (issue 17; BENCHMARKS.md "Soak"). Usage: bench/soak.sh [loadgen soak options]
# (defaults: 30 min at half the capacity measured first, llama-server flapping every
# minute, the backend away 30 s every 5 min, RSS every 10 s). Builds llamacol and the load
# generator in release mode and the peers (scripts/peers.sh: llama-server, the tiny model's
# python), runs `loadgen soak` (collector on core 1, load, sink and llama-server on core 0),
# writes the report to target/bench/soak.md and plots the RSS curve to docs/bench/soak-rss.png
# with matplotlib (a small virtualenv cached beside the peers). Exits non-zero when a check
# of the soak failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/peers.sh >&2
cargo build --release --quiet -p llamacol -p loadgen
peers=${LLAMACOL_PEERS_DIR:-$HOME/.cache/llamacol-peers}
work=target/bench/soak
mkdir -p "$work" docs/bench
status=0
taskset -c 0 target/release/loadgen soak --llamacol target/release/llamacol \
  --llama-server "$peers/bin/llama-server" --python "$peers/bin/peers-python" \
  --work-dir "$work" "$@" | tee "$work/report.md" || status=$?
venv="$peers/plot-venv-matplotlib-3.10.7"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet matplotlib==3.10.7
fi
"$venv/bin/python" bench/plot_soak.py "$work/soak.csv" docs/bench/soak-rss.png
exit "$status"
