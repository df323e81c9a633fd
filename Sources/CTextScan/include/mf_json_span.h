#ifndef MF_JSON_SPAN_H
#define MF_JSON_SPAN_H

#include <stddef.h>
#include <stdint.h>

/// The number of bytes at the start of `p` (`n` bytes) before the first `"` or `\`: where a JSON
/// string's plain run ends. `n` when there is neither. Reads only `p[0..<n]`.
///
/// Sixteen bytes at a time where the CPU has SSE2 (every x86-64); byte by byte elsewhere and for
/// the last bytes. The request-body scanner skips message text with it: one pass, where two
/// `memchr` calls (one per byte) read the text twice.
size_t mf_json_string_span(const uint8_t *p, size_t n);

#endif
