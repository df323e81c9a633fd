#!/usr/bin/env bash
# Benchmark (not a test): how long `modelflag gate` takes over 10 segments x 3 variants
# (issue 6 target: under 100 ms), from the sidecar's /stats (admin://) and from its records.
# One sidecar in front of three stand-in models (stable + two candidates shadowed at 100 %,
# scored), wrk spreads requests over 10 segments for $DURATION, then each source is timed $REPS times.
#   bench/gate-eval.sh            # DURATION=10s REPS=5
# Needs wrk and the release binary (swift build -c release). Ports 18380-18390 on 127.0.0.1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="${MODELFLAG:-$ROOT/.build/release/modelflag}"
RUN="${BENCH_RUN_DIR:-/tmp/modelflag-gate-bench}"
DURATION="${DURATION:-10s}"; REPS="${REPS:-5}"
rm -rf "$RUN"; mkdir -p "$RUN"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" stub-model --listen 127.0.0.1:18380 --model stable >/dev/null 2>&1 & pids+=($!)
"$BIN" stub-model --listen 127.0.0.1:18381 --model cand-a --degrade s3=0.4 >/dev/null 2>&1 & pids+=($!)
"$BIN" stub-model --listen 127.0.0.1:18382 --model cand-b >/dev/null 2>&1 & pids+=($!)

python3 - "$RUN/rules.json" <<'PY'
import json, sys
segments = {f"s{i}": {"==": [{"var": "body.metadata.intent"}, f"s{i}"]} for i in range(10)}
ifs = []
for name in segments:
    ifs += [{"$ref": name}, "stable"]
rules = {
    "upstreams": {
        "stable": {"address": "127.0.0.1:18380", "modelVersion": "v1"},
        "cand-a": {"address": "127.0.0.1:18381", "modelVersion": "v2a"},
        "cand-b": {"address": "127.0.0.1:18382", "modelVersion": "v2b"},
    },
    "defaultUpstream": "stable",
    "$evaluators": segments,
    "flags": {"chat": {
        "state": "ENABLED",
        "variants": {"stable": "stable", "cand-a": "cand-a", "cand-b": "cand-b"},
        "defaultVariant": "stable",
        "targeting": {"if": ifs + ["stable"]},
        "shadow": {"variants": ["cand-a", "cand-b"], "maxInFlight": 1000},
        "records": {"capture": "none"},
        "gates": [
            {"metric": "rouge_l", "min": 0.8, "minSamples": 100},
            {"metric": "error_rate", "max": 0.02, "minSamples": 100},
            {"metric": "refusal_rate", "max": 0.05, "minSamples": 100},
        ],
    }},
}
json.dump(rules, open(sys.argv[1], "w"), indent=1)
PY
cat > "$RUN/segments.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local body = '{"model":"chat","user":"u' .. n .. '","metadata":{"intent":"s' .. (n % 10) ..
    '"},"messages":[{"role":"user","content":"Summarise the ticket for segment s' .. (n % 10) .. ', please."}]}'
  return wrk.format("POST", "/v1/chat/completions", {["Content-Type"] = "application/json"}, body)
end
LUA
"$BIN" run --listen 127.0.0.1:18388 --admin 127.0.0.1:18389 --rules "$RUN/rules.json" \
  --records-dir "$RUN/records" --log-level warn 2>"$RUN/sidecar.err" & pids+=($!)
sleep 1
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) duration=$DURATION reps=$REPS"
wrk -t1 -c8 -d"$DURATION" -s "$RUN/segments.lua" http://127.0.0.1:18388/ | sed -n 's/^ *\([0-9]* requests in .*\)/traffic: \1/p'
sleep 1
echo "records: $(cat "$RUN"/records/*.jsonl | wc -l) lines, $(du -sh "$RUN/records" | cut -f1)"
time_gate() {  # SOURCE
  local best=999999 t0 t1 ms rc
  for _ in $(seq 1 "$REPS"); do
    t0=$(date +%s%N)
    rc=0; "$BIN" gate --rules "$RUN/rules.json" --source "$1" >"$RUN/gate.out" 2>&1 || rc=$?
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    echo "  $1: ${ms} ms (exit $rc)"
    (( ms < best )) && best=$ms
  done
  echo "$1 best=${best} ms rows=$(( $(wc -l < "$RUN/gate.out") - 2 ))"
}
time_gate admin://127.0.0.1:18389
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true  # records flushed
time_gate "records:$RUN/records"
echo "# last table (records source):"
cat "$RUN/gate.out"
