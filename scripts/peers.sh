#!/usr/bin/env bash
# Installs or builds every external program the tests and benchmarks run beside
# llamacol, pinned, into a per-machine cache outside the repository:
#   ${LLAMACOL_PEERS_DIR:-~/.cache/llamacol-peers}/bin/<program>
# A second run finds everything cached and takes seconds. Each step prints what it
# did and how long it took. Called by scripts/test; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
peers=${LLAMACOL_PEERS_DIR:-$HOME/.cache/llamacol-peers}
mkdir -p "$peers/bin"

# Pinned versions: change them here, and the cache key changes with them.
PROMETHEUS_DEB=2.42.0+ds-5+deb12u1
ALERTMANAGER_DEB=0.25.0-1+b4
NODE_EXPORTER_DEB=1.5.0-1+b6
OTELCOL_VERSION=0.161.0
JAEGER_VERSION=1.76.0     # the module version; the program is Jaeger v2 (tests/peers/jaeger)
HELM_VERSION=3.22.0       # helm.sh/helm/v3 (tests/peers/helm)
PROMETHEUS3_VERSION=3.16.0 # module v0.316.0 (tests/peers/prometheus): Remote Write 2.0, native histograms
KUBERNETES_VERSION=1.37.2 # k8s.io/kubernetes (tests/peers/kube): kube-apiserver, with an embedded etcd 3.7
LLAMA_CPP_PYTHON=0.3.36   # its sdist vendors the llama.cpp source we build llama-server from

step_started=0
step() { step_started=$(date +%s); printf 'peers: %s ... ' "$1"; }
done_step() { printf '%s (%ss)\n' "$1" "$(( $(date +%s) - step_started ))"; }
key() { cat "$@" | sha256sum | cut -c1-12; }

# A wrapper in bin/ that runs the real program (a symlink would break a virtualenv's python).
link() {
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$2" > "$peers/bin/$1"
  chmod +x "$peers/bin/$1"
}

# --- Prometheus, promtool, Alertmanager: Debian packages ----------------------------
step "prometheus, promtool, alertmanager, node-exporter (apt)"
if command -v prometheus >/dev/null && command -v promtool >/dev/null \
  && command -v prometheus-alertmanager >/dev/null && command -v prometheus-node-exporter >/dev/null; then
  done_step "installed"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The pinned versions first; if Debian has moved on, the current ones (said below).
  apt-get install -y -qq --no-install-recommends \
      "prometheus=$PROMETHEUS_DEB" "prometheus-alertmanager=$ALERTMANAGER_DEB" \
      "prometheus-node-exporter=$NODE_EXPORTER_DEB" >/dev/null \
    || apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager \
      prometheus-node-exporter >/dev/null
  done_step "installed $(dpkg-query -W -f='prometheus ${Version}, alertmanager ' prometheus)$(dpkg-query -W -f='${Version}, node-exporter ' prometheus-alertmanager)$(dpkg-query -W -f='${Version}' prometheus-node-exporter)"
fi
link prometheus "$(command -v prometheus)"
link promtool "$(command -v promtool)"
link alertmanager "$(command -v prometheus-alertmanager)"
link node-exporter "$(command -v prometheus-node-exporter)"

# --- Python virtualenvs, each built once per content of its requirements file -----------
# Sets $venv_dir to the virtualenv of requirements file $2, named $1-<key>.
python_venv() {
  venv_dir="$peers/$1-$(key "$2")"
  step "python virtualenv: $3"
  if [ -x "$venv_dir/bin/python3" ] && [ -f "$venv_dir/.complete" ]; then
    done_step "cached $venv_dir"
  else
    rm -rf "$venv_dir"
    python3 -m venv "$venv_dir"
    "$venv_dir/bin/pip" install --quiet --disable-pip-version-check -r "$2"
    touch "$venv_dir/.complete"
    done_step "built $venv_dir"
  fi
}

# OpenTelemetry SDK + OTLP exporters, gguf, the deploy checks' tools.
python_venv python tests/peers/python/requirements.txt "OpenTelemetry SDK, gguf"
link peers-python "$venv_dir/bin/python3"
link hadolint "$venv_dir/bin/hadolint"

# The GenAI instrumentation libraries, each in its own virtualenv (they pin conflicting
# OpenTelemetry versions): tests/e2e_genai_libraries.rs runs the real openai client under
# each against the real llama-server. Linked as genai-<library>-python.
for library in official openllmetry openinference openlit; do
  python_venv "genai-$library" "tests/peers/genai-libraries/$library.txt" "$library instrumentation"
  link "genai-$library-python" "$venv_dir/bin/python3"
done

# Jaeger and Zipkin client libraries (tests/e2e_jaeger_zipkin.rs), their own virtualenv
# (the SDK's Jaeger exporters end at SDK 1.21). Linked as tracing-clients-python.
python_venv tracing-clients tests/peers/tracing-clients/requirements.txt "Jaeger and Zipkin clients"
link tracing-clients-python "$venv_dir/bin/python3"

# --- Go programs: the OpenTelemetry Collector, Jaeger v2, helm, Prometheus 3, Kubernetes
# go_peer LINK CACHE_PREFIX LABEL MODULE_DIR PACKAGE BINARY KEY_FILES...: builds PACKAGE of
# the pinned module in MODULE_DIR into $peers/CACHE_PREFIX-<hash of KEY_FILES>, links LINK.
go_peer() {
  local link_name=$1 prefix=$2 label=$3 dir=$4 package=$5 binary=$6
  shift 6
  local out
  out="$peers/$prefix-$(key "$@")"
  step "$label (go build)"
  if [ -x "$out/$binary" ]; then
    done_step "cached $out"
  else
    mkdir -p "$out.tmp"
    (cd "$dir" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -trimpath -ldflags='-s -w' \
        -o "$out.tmp/$binary" "$package" >"$out.tmp/build.log" 2>&1) \
      || { tail -40 "$out.tmp/build.log"; exit 1; }
    rm -rf "$out" && mv "$out.tmp" "$out"
    done_step "built $out"
  fi
  link "$link_name" "$out/$binary"
}
go_peer otelcol "otelcol-$OTELCOL_VERSION" "OpenTelemetry Collector $OTELCOL_VERSION" \
  tests/peers/otelcol . otelcol-peer \
  tests/peers/otelcol/go.mod tests/peers/otelcol/go.sum tests/peers/otelcol/main.go
# Jaeger and helm are `tool`s of their go.mod files.
go_peer jaeger "jaeger-$JAEGER_VERSION" "Jaeger v$JAEGER_VERSION module" \
  tests/peers/jaeger github.com/jaegertracing/jaeger/cmd/jaeger jaeger \
  tests/peers/jaeger/go.mod tests/peers/jaeger/go.sum
go_peer helm "helm-$HELM_VERSION" "helm v$HELM_VERSION" \
  tests/peers/helm helm.sh/helm/v3/cmd/helm helm \
  tests/peers/helm/go.mod tests/peers/helm/go.sum
# Prometheus 3 beside Debian's 2.42: the web UI's assets are not built in (the tests use
# the API only).
go_peer prometheus3 "prometheus-$PROMETHEUS3_VERSION" "Prometheus v$PROMETHEUS3_VERSION module" \
  tests/peers/prometheus github.com/prometheus/prometheus/cmd/prometheus prometheus \
  tests/peers/prometheus/go.mod tests/peers/prometheus/go.sum

# A real kube-apiserver (no kubelet, no controllers) and the etcd it stores in.
go_peer kube-apiserver "kube-apiserver-$KUBERNETES_VERSION" "kube-apiserver v$KUBERNETES_VERSION" \
  tests/peers/kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver \
  tests/peers/kube/go.mod tests/peers/kube/go.sum
go_peer etcd "etcd-$KUBERNETES_VERSION" "etcd (embedded, for kube-apiserver)" \
  tests/peers/kube ./etcd etcd-peer \
  tests/peers/kube/go.mod tests/peers/kube/go.sum tests/peers/kube/etcd/main.go

# --- systemd-analyze (Debian's systemd), for the unit file's check ----------------------
step "systemd-analyze (apt)"
if command -v systemd-analyze >/dev/null; then
  done_step "installed"
else
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
  done_step "installed $(dpkg-query -W -f='${Version}' systemd)"
fi
link systemd-analyze "$(command -v systemd-analyze)"

# --- llama.cpp's llama-server, CPU-only, from the llama-cpp-python sdist ------------------
# CPU only, static, and nothing fetched at build time (no UI download, no curl, no openssl).
LLAMA_CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON"
llama="$peers/llama-server-$LLAMA_CPP_PYTHON-$(echo "$LLAMA_CMAKE_FLAGS" | key)"
step "llama-server (llama.cpp vendored by llama-cpp-python $LLAMA_CPP_PYTHON, cmake)"
if [ -x "$llama/llama-server" ]; then
  done_step "cached $llama"
else
  work="$peers/llama-build.tmp"
  rm -rf "$work" && mkdir -p "$work"
  sdist="$peers/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz"
  if [ ! -f "$sdist" ]; then
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      -d "$work/dl" "llama-cpp-python==$LLAMA_CPP_PYTHON"
    mv "$work"/dl/llama_cpp_python-*.tar.gz "$sdist"
  fi
  tar xzf "$sdist" -C "$work"
  src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
  # shellcheck disable=SC2086 # the flags are words
  cmake -S "$src" -B "$work/build" -G Ninja $LLAMA_CMAKE_FLAGS \
    >"$work/cmake.log" 2>&1 || { tail -30 "$work/cmake.log"; exit 1; }
  cmake --build "$work/build" --target llama-server -j"$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; exit 1; }
  mkdir -p "$llama"
  cp "$work/build/bin/llama-server" "$llama/"
  rm -rf "$work"
  done_step "built $llama"
fi
link llama-server "$llama/llama-server"

# --- Node.js and npm: the build installs the live page's chart library with `npm ci`
# (build.rs), and playwright-core below comes from npm. Debian's when missing.
step "node, npm (apt)"
if command -v node >/dev/null && command -v npm >/dev/null; then
  done_step "installed $(node --version)"
else
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  done_step "installed $(node --version)"
fi

# --- Headless Chromium (Debian) and playwright-core (npm), for the live page's test ---------
step "chromium (apt)"
if command -v chromium >/dev/null; then
  done_step "installed"
else
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  done_step "installed $(dpkg-query -W -f='${Version}' chromium)"
fi
link chromium "$(command -v chromium)"
# npm_peer VAR PREFIX LABEL DIR: `npm ci` of DIR's package.json and lock file into
# $peers/PREFIX-<hash of the lock file>; sets VAR to that directory.
npm_peer() {
  local out="$peers/$2-$(key "$4/package-lock.json")"
  step "$3 (npm ci)"
  if [ -f "$out/.complete" ]; then
    done_step "cached $out"
  else
    rm -rf "$out" && mkdir -p "$out"
    cp "$4/package.json" "$4/package-lock.json" "$out/"
    (cd "$out" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$out/.complete"
    done_step "installed $out"
  fi
  printf -v "$1" '%s' "$out"
}
npm_peer playwright playwright playwright-core tests/ui
# `playwright-node SCRIPT ...`: node with playwright-core where the script finds it.
printf '#!/bin/sh\nPLAYWRIGHT_CORE_DIR="%s/node_modules/playwright-core" exec node "$@"\n' "$playwright" \
  > "$peers/bin/playwright-node"
chmod +x "$peers/bin/playwright-node"

# --- Azurite (npm): a local Azure Blob Storage server, for the parquet exporter's az:// test ---
npm_peer azurite azurite azurite tests/peers/azurite
link azurite-blob "$azurite/node_modules/.bin/azurite-blob"

echo "peers: ready in $peers/bin: $(ls "$peers/bin" | tr '\n' ' ')"
