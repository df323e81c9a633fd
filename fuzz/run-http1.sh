#!/usr/bin/env bash
# Fuzzes the HTTP/1 codec with libFuzzer + AddressSanitizer for SECONDS (default 60).
#   fuzz/run-http1.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build-fuzz fuzz/corpus-http1
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name HTTP1Fuzz \
  Sources/HTTP1/*.swift fuzz/HTTP1Fuzz.swift -o .build-fuzz/http1-fuzz
.build-fuzz/http1-fuzz -max_total_time="${1:-60}" -artifact_prefix=.build-fuzz/ -max_len=4096 -dict=fuzz/http.dict fuzz/corpus-http1
