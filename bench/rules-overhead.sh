#!/usr/bin/env bash
# Benchmark (not a test): proxy CPU per request of two modelflag configurations in the same run
# (default: a realistic rules file against no rules), then, for the rules case, wrk while the rules
# file is rewritten every 100 ms (errors must stay 0).
#   B_NAME=records B_ARGS='--records-dir /tmp/mf-recs' RELOAD=0 bench/rules-overhead.sh   # records on vs off
# A_ARGS/B_ARGS may name the rules files this script writes into $RUN (ports already set):
#   rules.json     examples/rules/canary-by-segment.json
#   noshadow.json  examples/rules/shadow-candidate.json without "shadow" and "records"
#   shadow.json    the same with shadow at 100 % to the candidate backend, capture "none" (scored)
#   mirror.json    shadow.json with "compare": false (mirrored and recorded, not scored)
#   capture.json   the same without shadow, capture "full" (no redaction)
#   allstable.json rules.json with every request sent to stable (the rules work without the split)
#   A_NAME=no-mirror A_ARGS='--rules $RUN/noshadow.json' B_NAME=mirror B_ARGS='--rules $RUN/shadow.json' RELOAD=0 ...
# PRUNE='GLOB' deletes matching files before each measurement: with records on, set it to the
# rotated files ('$RUN/recs-*/records-*.jsonl') to stand in for retention. The bench writes up to
# 80 MB/s of records; on this VM a page cache that grows into memory never touched before costs
# several times more per byte (the writer thread's CPU per record tripled within 20 s), which
# would bias whichever configuration runs later.
# A_BIN/B_BIN run two builds against each other (default: $MODELFLAG or the release build for both):
#   A_BIN=/tmp/modelflag-before A_ARGS="$B_ARGS" ... bench/rules-overhead.sh
# Each line also gives the CPU per request of the stable and candidate backends (nginx).
# CANDIDATE_BACKEND=shared: the stable nginx also listens on the candidate's port (no second nginx).
# The sidecar still splits between two upstreams and two connection pools, but a candidate request
# no longer wakes an idle second process: on loopback the sender's system call runs the receiver's
# network stack and wake-up, which across hosts happens on the candidate's machine. Comparing the
# two settings tells the rules' own cost from what the split costs this host's scheduler.
#
# bench/ab-summary.py OUTPUT gives the medians and the median of the per-repetition ratios. On a
# VM whose speed drifts in phases, many short pairs (DURATION=2s REPS=40) put both configurations
# in the same phases; long windows let one of them land in the slow ones (BENCHMARKS.md, session 10).
#
# Needs nginx and wrk (apt-get install nginx wrk) and the release binary (swift build -c release).
# Uses ../shared/bench/{backend.nginx.conf,chat.lua,chat_request.json}. Ports 18280-18291 on 127.0.0.1.
#   bench/rules-overhead.sh            # DURATION=10s REPS=3 CONNS=32 THINK_MS=0
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
BIN="${MODELFLAG:-$ROOT/.build/release/modelflag}"
RUN="${BENCH_RUN_DIR:-/tmp/modelflag-rules-bench}"
DURATION="${DURATION:-10s}"; REPS="${REPS:-3}"; CONNS="${CONNS:-32}"; THINK_MS="${THINK_MS:-0}"
PRUNE="${PRUNE:-}"
CANDIDATE_BACKEND="${CANDIDATE_BACKEND:-own}"
A_NAME="${A_NAME:-no-rules}"; B_NAME="${B_NAME:-rules}"; RELOAD="${RELOAD:-1}"
rm -rf "$RUN"; mkdir -p "$RUN/logs" "$RUN/tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

backend() {  # NAME PORT MODEL [SECOND_PORT]
  mkdir -p "$RUN/tmp/$1"
  sed -e "s|__LISTEN__|$2|g" -e "s|__MODEL__|$3|g" -e "s|__RUN__|$RUN|g" -e "s|__NAME__|$1|g" \
    "$SHARED/backend.nginx.conf" > "$RUN/$1.conf"
  [ -z "${4:-}" ] || sed -i "s|listen 127.0.0.1:$2 backlog=4096;|& listen 127.0.0.1:$4 backlog=4096;|" "$RUN/$1.conf"
  nginx -p "$RUN" -c "$RUN/$1.conf" -g 'daemon off;' 2>"$RUN/logs/$1.err" &
  pids+=($!)
}
if [ "$CANDIDATE_BACKEND" = shared ]; then
  backend stable 18280 prod-model-a 18281
  stable_pid=$!
  candidate_pid=""
else
  backend stable 18280 prod-model-a
  stable_pid=$!
  backend candidate 18281 cand-model-b
  candidate_pid=$!
fi

sed -e 's/127.0.0.1:9101/127.0.0.1:18280/' -e 's/127.0.0.1:9102/127.0.0.1:18281/' \
  "$ROOT/examples/rules/canary-by-segment.json" > "$RUN/rules.base.json"
cp "$RUN/rules.base.json" "$RUN/rules.json"
python3 - "$ROOT/examples/rules/shadow-candidate.json" "$RUN" <<'PY'
import json, sys
src, run = sys.argv[1], sys.argv[2]
text = open(src).read().replace("127.0.0.1:9101", "127.0.0.1:18280").replace("127.0.0.1:9102", "127.0.0.1:18281")
base = json.loads(text)
flag = base["flags"]["chat-model"]
shadow, records = flag.pop("shadow"), flag.pop("records")
flag.pop("rollbackOn", None)
# Every request served by stable (as the benchmarks were measured), segments still evaluated.
flag["targeting"] = {"if": [{"$ref": "escalation"}, "stable", {"$ref": "enterprise"}, "stable", "stable"]}
json.dump(base, open(run + "/noshadow.json", "w"), indent=1)
flag["shadow"] = shadow
flag["records"] = {"capture": "none"}
json.dump(base, open(run + "/shadow.json", "w"), indent=1)
flag["shadow"] = dict(shadow, compare=False)
json.dump(base, open(run + "/mirror.json", "w"), indent=1)
flag["shadow"] = shadow
del flag["shadow"]
flag["records"] = {"capture": "full", "maxBodyBytes": 8192}
json.dump(base, open(run + "/capture.json", "w"), indent=1)
canary = json.load(open(run + "/rules.base.json"))
canary["flags"]["chat-model"]["targeting"] = {"if": [{"$ref": "escalation"}, "stable", {"$ref": "multi_turn"}, "stable", "stable"]}
json.dump(canary, open(run + "/allstable.json", "w"), indent=1)
PY
A_ARGS="${A_ARGS:-}"; A_ARGS="${A_ARGS//\$RUN/$RUN}"
# B_ARGS set but empty: no arguments (only an unset B_ARGS means the rules file).
B_ARGS="${B_ARGS---rules $RUN/rules.json}"; B_ARGS="${B_ARGS//\$RUN/$RUN}"
# shellcheck disable=SC2086
"${A_BIN:-$BIN}" run --listen 127.0.0.1:18290 --upstream 127.0.0.1:18280 $A_ARGS --log-level warn 2>"$RUN/logs/plain.err" &
plain=$!; pids+=($plain)
# shellcheck disable=SC2086
"${B_BIN:-$BIN}" run --listen 127.0.0.1:18291 --admin 127.0.0.1:18292 $B_ARGS --upstream 127.0.0.1:18280 \
  --log-level warn 2>"$RUN/logs/rules.err" &
ruled=$!; pids+=($ruled)
sleep 1

cpu_ns() { awk '{s+=$1} END {printf "%.0f", s}' /proc/"$1"/task/*/schedstat; }
# A process and its children (nginx's master and its worker).
tree_cpu_ns() {
  local p t=0
  [ -n "$1" ] || { echo 0; return; }
  for p in "$1" $(pgrep -P "$1"); do t=$(( t + $(cpu_ns "$p") )); done
  echo "$t"
}

# THINK_MS > 0: each connection pauses that long between requests (wrk's delay()), so CONNS
# connections offer a load below saturation and latency is the proxy's, not 1 / throughput.
script="$SHARED/chat.lua"
if [ "$THINK_MS" != 0 ]; then
  printf 'dofile("%s")\nfunction delay() return %s end\n' "$SHARED/chat.lua" "$THINK_MS" > "$RUN/chat-think.lua"
  script="$RUN/chat-think.lua"
fi
run_wrk() {  # PORT -> prints "requests errors p50 p99"
  local out; out=$(cd "$SHARED" && wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s "$script" "http://127.0.0.1:$1/v1/chat/completions" -- chat_request.json 2>&1)
  local req; req=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
  local non2xx; non2xx=$(echo "$out" | sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
  local sockerr; sockerr=$(echo "$out" | sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p')
  local p50; p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  local p99; p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  echo "$req $(( ${non2xx:-0} + ${sockerr:-0} )) ${p50:-?} ${p99:-?}"
}

measure() {  # NAME PID PORT
  local before after r sb sa cb ca
  # shellcheck disable=SC2086
  [ -z "$PRUNE" ] || rm -f ${PRUNE//\$RUN/$RUN}
  before=$(cpu_ns "$2"); sb=$(tree_cpu_ns "$stable_pid"); cb=$(tree_cpu_ns "$candidate_pid")
  r=$(run_wrk "$3")
  after=$(cpu_ns "$2"); sa=$(tree_cpu_ns "$stable_pid"); ca=$(tree_cpu_ns "$candidate_pid")
  set -- "$1" "$2" "$3" $r
  local us; us=$(awk -v a="$after" -v b="$before" -v n="$4" 'BEGIN {printf "%.2f", (a - b) / 1000 / n}')
  local sus; sus=$(awk -v a="$sa" -v b="$sb" -v n="$4" 'BEGIN {printf "%.2f", (a - b) / 1000 / n}')
  local cus; cus=$(awk -v a="$ca" -v b="$cb" -v n="$4" 'BEGIN {printf "%.2f", (a - b) / 1000 / n}')
  echo "$1 requests=$4 errors=$5 p50=$6 p99=$7 cpu_us_per_req=$us cpu_ms=$(( (after - before) / 1000000 )) stable_backend_us_per_req=$sus candidate_backend_us_per_req=$cus"
}

echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) conns=$CONNS think_ms=$THINK_MS duration=$DURATION reps=$REPS candidate_backend=$CANDIDATE_BACKEND"
for i in $(seq 1 "$REPS"); do
  if (( i % 2 )); then measure "$A_NAME" $plain 18290; measure "$B_NAME" $ruled 18291
  else measure "$B_NAME" $ruled 18291; measure "$A_NAME" $plain 18290; fi
done

[ "$RELOAD" = 1 ] || exit 0
echo "# reload every 100 ms during wrk (rules variant)"
(
  n=0
  while true; do
    n=$((n + 1))
    if (( n % 2 )); then w=10; else w=11; fi
    sed -e "s/\[\"candidate\", 10\]/[\"candidate\", $w]/" -e "s/\[\"stable\", 90\]/[\"stable\", $((100 - w))]/" \
      "$RUN/rules.base.json" > "$RUN/rules.json.tmp.$n"
    mv "$RUN/rules.json.tmp.$n" "$RUN/rules.json"
    sleep 0.1
  done
) &
reloader=$!; pids+=($reloader)
r=($(run_wrk 18291)); kill $reloader 2>/dev/null || true
echo "reload-under-load requests=${r[0]} errors=${r[1]}"
echo "rules status: $(curl -s http://127.0.0.1:18292/rules)"
curl -s "http://127.0.0.1:18291/v1/chat/completions" -o /dev/null -w "after: HTTP %{http_code}\n" -H 'X-User-Id: u1' -d @"$SHARED/chat_request.json"
