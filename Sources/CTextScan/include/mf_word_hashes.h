#ifndef MF_WORD_HASHES_H
#define MF_WORD_HASHES_H

#include <stddef.h>
#include <stdint.h>

/// Writes the 64-bit hash of each word of `p` (`n` bytes) to `out`, in order, and returns how
/// many it wrote. A word is a run of ASCII letters, ASCII digits and bytes of 0x80 and above (so
/// UTF-8 words stay whole); every other byte separates. ASCII letters are hashed lowercased, so
/// "Paris" and "paris" give one hash; different words collide with odds of about 2^-64.
///
/// `out` must have room for `n / 2 + 1` hashes (the most words `n` bytes can hold). Reads only
/// `p[0..<n]`. Word boundaries come from a bitmap of word bytes made sixteen bytes at a time
/// (SSE2; byte by byte elsewhere); each word is then hashed eight bytes per multiply.
size_t mf_word_hashes(const uint8_t *p, size_t n, uint64_t *out);

#endif
