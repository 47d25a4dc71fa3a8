#!/usr/bin/env bash
# Re-captures testdata/ottl/e2e-cases-v0.161.0.jsonl from the Collector's own OTTL
# end-to-end tests: copies pkg/ottl v0.161.0 from the Go module cache, adds
# dump_test.go (writes each case's statements, expected error and expected output as
# OTLP/JSON, and the inputs the tests build), and inserts a dump call after each
# `tt.want(exTCtx)` of the editors, converters, features, statement-sequence and
# trace-context tests. Needs Go and the module proxy; not run by the test command.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../e2e-cases-v0.161.0.jsonl}
work=$(mktemp -d)
(cd "$work" && go mod init capture >/dev/null && GOFLAGS=-mod=mod go mod download -json \
  github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl@v0.161.0 >/dev/null)
src=$(go env GOMODCACHE)/github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl@v0.161.0
cp -r "$src" "$work/ottl" && chmod -R u+w "$work/ottl"
cd "$work/ottl"
sed -i '/^replace .*=> \.\./d' go.mod
cp "$here/dump_test.go.txt" e2e/dump_test.go
python3 - <<'PY'
import re
p = 'e2e/e2e_test.go'
calls = {
    'Test_e2e_editors': '\t\t\t\tdumpCase("{f}", []string{{tt.statement}}, "", "editors", newResourceLogs(exTCtx))',
    'Test_e2e_converters': '\t\t\t\tdumpCase("{f}", []string{{tt.statement}}, tt.errMsg, "log", newResourceLogs(exTCtx))',
    'Test_e2e_ottl_features': '\t\t\t\tdumpCase("{f}", []string{{tt.statement}}, "", "log", newResourceLogs(exTCtx))',
    'Test_e2e_ottl_statement_sequence': '\t\t\tdumpCase("{f}", tt.statements, "", "log", newResourceLogs(exTCtx))',
    'Test_ProcessTraces_TraceContext': '\t\t\tdumpSpanCase("{f}", tt.statement, newResourceSpans(exTCtx))',
}
out, fn = [], None
for line in open(p).read().split('\n'):
    m = re.match(r'^func (Test\w+)\(', line)
    if m:
        fn = m.group(1)
    out.append(line)
    if line.strip() == 'tt.want(exTCtx)' and fn in calls:
        out.append(calls[fn].format(f=fn))
open(p, 'w').write('\n'.join(out))
PY
rm -f "$out"
OTTL_DUMP="$out" GOFLAGS=-mod=mod go test ./e2e/ -count=1 \
  -run 'Test_e2e_editors|Test_e2e_converters|Test_e2e_ottl_features|Test_e2e_ottl_statement_sequence|Test_ProcessTraces|TestDumpInputs'
echo "wrote $(wc -l < "$out") lines to $out"
