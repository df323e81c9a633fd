#!/usr/bin/env bash
# EXTRA_PROXY_CMD for ../shared/bench/run.sh: modelflag with one flag that serves the primary
# backend and mirrors 100 % of requests to the shadow backend (no records). Ports come from the
# bench's environment, so it works in the main and the SSE phase.
#   EXTRA_PROXY_CMD="exec $PWD/bench/modelflag-mirror.sh" EXTRA_PROXY_NAME=modelflag-mirror ./run.sh
# SHADOW_IDLE=1: in the SSE phase, mirror instead to a copy of the bench's SSE server started here
# under SCHED_IDLE (it runs only when a core is otherwise idle), so the candidate's model server
# does not take the two cores from the primary's (in production it runs on its own pod): what is
# left is the sidecar's own cost. The copy runs in this process group, which the bench stops.
set -euo pipefail
BIN="${MODELFLAG:-/tmp/mfbench/modelflag}"
if [[ "${SHADOW_IDLE:-0}" == 1 && "${BENCH_PHASE:-main}" == sse ]]; then
  BENCH_DIR="${BENCH_DIR:-$(cd "$(dirname "$0")/../../shared/bench" && pwd)}"
  BENCH_SHADOW_PORT=$((BENCH_SHADOW_PORT + 100))
  chrt --idle 0 python3 "$BENCH_DIR/sse_backend.py" "$BENCH_SHADOW_PORT" cand-model-b 50 5 0 &
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$BENCH_SHADOW_PORT") 2>/dev/null && break; sleep 0.1; done
fi
RULES="${BENCH_RUN_DIR:-/tmp}/modelflag-mirror-rules.json"
cat > "$RULES" <<JSON
{
  "upstreams": {
    "primary": {"address": "127.0.0.1:$BENCH_BACKEND_PORT", "modelVersion": "prod-model-a"},
    "shadow": {"address": "127.0.0.1:$BENCH_SHADOW_PORT", "modelVersion": "cand-model-b"}
  },
  "defaultUpstream": "primary",
  "flags": {"chat": {"state": "ENABLED", "variants": {"primary": "primary", "shadow": "shadow"},
    "defaultVariant": "primary", "shadow": {"variants": ["shadow"], "percentage": 100}}}
}
JSON
exec "$BIN" run --listen "127.0.0.1:$BENCH_LISTEN_PORT" --upstream "127.0.0.1:$BENCH_BACKEND_PORT" \
  --rules "$RULES" --log-level warn ${MODELFLAG_ARGS:-}
