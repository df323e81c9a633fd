#!/usr/bin/env bash
# SSE with and without a shadow, the sidecar's own cost: 16 concurrent streams (the shared bench's
# SSE server and client, 50 events 5 ms apart) straight to the model server, through a plain
# sidecar and through one mirroring every stream to a second SSE server, in alternation (ROUNDS,
# default 4). Prints per target the time to first event (p50, p90) and the CPU of the sidecar's
# main thread (its one event loop) per stream (/proc/PID/schedstat).
#   BIN=.build/release/modelflag bench/sse-mirror-cpu.sh
set -u
SH="${BENCH_DIR:-$(cd "$(dirname "$0")/../../shared/bench" && pwd)}"
B="${BIN:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/modelflag}"
R="${BENCH_RUN_DIR:-/tmp/sse-mirror-cpu}"; rm -rf "$R"; mkdir -p "$R"
python3 $SH/sse_backend.py 18382 prod-model-a 50 5 0 & P1=$!
python3 $SH/sse_backend.py 18383 cand-model-b 50 5 0 & P2=$!
cat > $R/m.json <<JSON
{"upstreams": {"primary": {"address": "127.0.0.1:18382", "modelVersion": "a"}, "shadow": {"address": "127.0.0.1:18383", "modelVersion": "b"}},
 "defaultUpstream": "primary",
 "flags": {"chat": {"state": "ENABLED", "variants": {"primary": "primary", "shadow": "shadow"}, "defaultVariant": "primary", "shadow": {"variants": ["shadow"], "percentage": 100}}}}
JSON
"$B" run --listen 127.0.0.1:18390 --upstream 127.0.0.1:18382 --log-level warn & PA=$!
"$B" run --listen 127.0.0.1:18391 --upstream 127.0.0.1:18382 --rules $R/m.json --log-level warn & PB=$!
sleep 1
run() { # NAME PORT PID
  local before after
  before=$( [ -n "$3" ] && awk '{print $1}' /proc/$3/schedstat || echo 0)
  python3 $SH/sse_client.py $2 16 ${REQS:-12} $SH/chat_request.json $1 51 45 > $R/$1.txt 2>/dev/null
  after=$( [ -n "$3" ] && awk '{print $1}' /proc/$3/schedstat || echo 0)
  python3 - $R/$1.txt $before $after <<'PY'
import sys,re,statistics
v=[int(m.group(1)) for m in (re.search(r'first_us=(\d+)',l) for l in open(sys.argv[1])) if m]
n=len(v); cpu=(int(sys.argv[3])-int(sys.argv[2]))/1000/max(n,1)
print("%s n=%d ttft_p50=%d p90=%d loop_cpu_us_per_stream=%.0f"%(sys.argv[1].split('/')[-1][:-4],n,statistics.median(v),sorted(v)[int(n*.9)],cpu))
PY
}
# The order rotates every round, so no target always runs right after another.
for i in $(seq ${ROUNDS:-4}); do
  case $((i % 3)) in
    1) run direct 18382 ""; run plain 18390 $PA; run mirror 18391 $PB ;;
    2) run plain 18390 $PA; run mirror 18391 $PB; run direct 18382 "" ;;
    0) run mirror 18391 $PB; run direct 18382 ""; run plain 18390 $PA ;;
  esac
done
kill $PA $PB $P1 $P2; wait 2>/dev/null
