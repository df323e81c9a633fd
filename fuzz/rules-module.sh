# Sourced by the fuzz scripts that drive Rules code: copies the Rules sources and the HTTP1 byte
# masks, byte sink and JSON escaping they use into one directory (their `import HTTP1` dropped),
# to compile as one module.
#   rules_module DIR
rules_module() {
  rm -rf "$1" && mkdir -p "$1"
  for f in Sources/Rules/*.swift Sources/HTTP1/ByteMask.swift Sources/HTTP1/ByteWriter.swift Sources/HTTP1/JSONText.swift; do
    sed '/^import HTTP1$/d' "$f" > "$1/$(basename "$f")"
  done
}
