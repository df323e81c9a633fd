# Sourced by the fuzz scripts that drive Rules code: copies the Rules sources and the HTTP1 byte
# masks, byte sink and JSON escaping they use into one directory (their `import HTTP1` dropped),
# to compile as one module, with the C string-span helper they import (CTextScan: a header-only
# inline function, compiled into the Swift code). Pass "${RULES_C_ARGS[@]}" to swiftc.
#   rules_module DIR
rules_module() {
  rm -rf "$1" && mkdir -p "$1/CTextScan"
  for f in Sources/Rules/*.swift Sources/HTTP1/ByteMask.swift Sources/HTTP1/ByteWriter.swift Sources/HTTP1/JSONText.swift; do
    sed '/^import HTTP1$/d' "$f" > "$1/$(basename "$f")"
  done
  cp Sources/CTextScan/include/mf_json_span.h "$1/CTextScan/"
  printf 'module CTextScan {\n  header "mf_json_span.h"\n  export *\n}\n' > "$1/CTextScan/module.modulemap"
  RULES_C_ARGS=(-I "$1/CTextScan")
}
