#!/usr/bin/env bash
# EXTRA_PROXY_CMD for ../shared/bench/run.sh: modelflag with one flag that serves the primary
# backend and mirrors 100 % of requests to the shadow backend (no records). Ports come from the
# bench's environment, so it works in the main and the SSE phase.
#   EXTRA_PROXY_CMD="exec $PWD/bench/modelflag-mirror.sh" EXTRA_PROXY_NAME=modelflag-mirror ./run.sh
set -euo pipefail
BIN="${MODELFLAG:-/tmp/mfbench/modelflag}"
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
