#!/usr/bin/env bash
# Fuzzes the request-body scanner with libFuzzer + AddressSanitizer for SECONDS (default 60).
#   fuzz/run-body.sh [SECONDS]
# The corpus grows under .build-fuzz/corpus-body (not committed), seeded from fuzz/seeds-body.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build-fuzz/corpus-body
cp -n fuzz/seeds-body/* .build-fuzz/corpus-body/
source fuzz/rules-module.sh
rules_module .build-fuzz/body-src
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name RulesFuzz \
  "${RULES_C_ARGS[@]}" .build-fuzz/body-src/*.swift fuzz/BodyScannerFuzz.swift -o .build-fuzz/body-fuzz
.build-fuzz/body-fuzz -max_total_time="${1:-60}" -artifact_prefix=.build-fuzz/ -max_len=4096 -dict=fuzz/json.dict .build-fuzz/corpus-body
