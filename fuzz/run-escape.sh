#!/usr/bin/env bash
# Fuzzes the records' JSON escaper (Sources/CJSONEscape) against a reference escaper with
# libFuzzer + AddressSanitizer for SECONDS (default 60).
#   fuzz/run-escape.sh [SECONDS]
# The corpus grows under .build-fuzz/corpus-escape (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build-fuzz/corpus-escape
clang -O2 -g -fsanitize=fuzzer,address -I Sources/CJSONEscape/include \
  Sources/CJSONEscape/json_escape.c fuzz/EscapeFuzz.c -o .build-fuzz/escape-fuzz
.build-fuzz/escape-fuzz -max_total_time="${1:-60}" -artifact_prefix=.build-fuzz/ -max_len=4096 .build-fuzz/corpus-escape
