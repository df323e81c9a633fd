#ifndef MF_JSON_SPAN_H
#define MF_JSON_SPAN_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The number of bytes at the start of `p` (`n` bytes) before the first `"` or `\`: where a JSON
/// string's plain run ends. `n` when there is neither. Reads only `p[0..<n]`.
///
/// Thirty-two, then sixteen bytes at a time where the CPU has SSE2 (every x86-64); byte by byte
/// elsewhere and for the last bytes. The request-body scanner skips message text with it: one pass, where two
/// `memchr` calls (one per byte) read the text twice.
///
/// `static inline` in the header so Swift inlines it into the scanner's loop: a body has a few
/// dozen strings, most of them short keys, and an out-of-line call per string cost more than the
/// bytes it skips (the caller's registers are spilled around each call).
static inline __attribute__((always_inline)) size_t mf_json_string_span(const uint8_t *p, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    // Message text runs for hundreds of bytes: 32 at a time while there is room (one branch per
    // 32 bytes), then 16.
    while (i + 32 <= n) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
        __m128i ma = _mm_or_si128(_mm_cmpeq_epi8(a, quote), _mm_cmpeq_epi8(a, backslash));
        __m128i mb = _mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash));
        unsigned mask = (unsigned)_mm_movemask_epi8(ma) | ((unsigned)_mm_movemask_epi8(mb) << 16);
        if (mask != 0) return i + (size_t)__builtin_ctz(mask);
        i += 32;
    }
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        unsigned mask =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (mask != 0) return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < n && p[i] != '"' && p[i] != '\\') i++;
    return i;
}

#endif
