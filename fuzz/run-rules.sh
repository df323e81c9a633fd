#!/usr/bin/env bash
# Fuzzes the rules loader, compiler and both evaluators with libFuzzer + AddressSanitizer for
# SECONDS (default 60).
#   fuzz/run-rules.sh [SECONDS]
# The corpus grows under .build-fuzz/corpus-rules (not committed), seeded from fuzz/seeds-rules
# and the example rules files.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .build-fuzz/corpus-rules
cp -n fuzz/seeds-rules/* examples/rules/*.json .build-fuzz/corpus-rules/
source fuzz/rules-module.sh
rules_module .build-fuzz/rules-src
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name RulesFuzz \
  "${RULES_C_ARGS[@]}" .build-fuzz/rules-src/*.swift fuzz/RulesLoaderFuzz.swift -o .build-fuzz/rules-fuzz
.build-fuzz/rules-fuzz -max_total_time="${1:-60}" -artifact_prefix=.build-fuzz/ -max_len=8192 -dict=fuzz/rules.dict .build-fuzz/corpus-rules
