#ifndef MF_JSON_ESCAPE_H
#define MF_JSON_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/// Writes `in` (`n` bytes, any bytes) as the content of a JSON string into `out`: `"`, `\` and
/// control bytes escaped, valid UTF-8 kept, every byte of an invalid sequence (RFC 3629: no
/// overlong forms, surrogates or code points above U+10FFFF) replaced by U+FFFD. Writes at most
/// `budget` bytes and never splits a character or an escape: when the next one does not fit it
/// stops and sets `*cut` to 1 (else 0). Returns the bytes written. No quotes around the content.
///
/// Sixteen bytes at a time where the CPU has SSE2 (every x86-64); byte by byte elsewhere. The
/// bytes past the returned count, up to `budget`, may have been written too.
size_t mf_json_escape(uint8_t *out, size_t budget, const uint8_t *in, size_t n, int *cut);

#endif
