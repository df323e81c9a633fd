#include "mf_json_escape.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The length of a UTF-8 sequence from its lead byte (0: not a lead byte).
static inline size_t utf8_length(uint8_t lead) {
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

/// Whether `in[0..<len]` (lead byte checked, continuation bytes present) is well-formed.
static inline int utf8_valid(const uint8_t *in, size_t len) {
    for (size_t k = 1; k < len; k++) {
        if ((in[k] & 0xC0) != 0x80) return 0;
    }
    uint8_t b0 = in[0], b1 = in[1];
    if (len == 3 && ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 >= 0xA0))) return 0;
    if (len == 4 && ((b0 == 0xF0 && b1 < 0x90) || (b0 == 0xF4 && b1 >= 0x90))) return 0;
    return 1;
}

size_t mf_json_escape(uint8_t *out, size_t budget, const uint8_t *in, size_t n, int *cut) {
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, o = 0;
    *cut = 0;
    while (i < n) {
#if defined(__SSE2__)
        // Plain printable ASCII: copied sixteen bytes at a time, up to the first byte that is not.
        // A signed compare with 0x20 catches both control bytes and bytes >= 0x80 (negative).
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
        while (i + 16 <= n && o + 16 <= budget) {
            __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
            _mm_storeu_si128((__m128i *)(out + o), v);
            __m128i special = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space));
            unsigned mask = (unsigned)_mm_movemask_epi8(special);
            if (mask == 0) {
                i += 16;
                o += 16;
                continue;
            }
            unsigned plain = (unsigned)__builtin_ctz(mask);
            i += plain;
            o += plain;
            break;
        }
        if (i >= n) break;
#endif
        uint8_t b = in[i];
        if (b >= 0x20 && b < 0x80) {
            size_t size = (b == '"' || b == '\\') ? 2 : 1;
            if (o + size > budget) {
                *cut = 1;
                break;
            }
            if (size == 2) out[o++] = '\\';
            out[o++] = b;
            i++;
            continue;
        }
        if (b < 0x20) {
            size_t size = (b == '\n' || b == '\r' || b == '\t') ? 2 : 6;
            if (o + size > budget) {
                *cut = 1;
                break;
            }
            out[o] = '\\';
            if (b == '\n') {
                out[o + 1] = 'n';
            } else if (b == '\r') {
                out[o + 1] = 'r';
            } else if (b == '\t') {
                out[o + 1] = 't';
            } else {
                out[o + 1] = 'u';
                out[o + 2] = '0';
                out[o + 3] = '0';
                out[o + 4] = (uint8_t)hex[b >> 4];
                out[o + 5] = (uint8_t)hex[b & 0xF];
            }
            o += size;
            i++;
            continue;
        }
        size_t len = utf8_length(b);
        int valid = len > 0 && i + len <= n && utf8_valid(in + i, len);
        if (!valid) len = 1;
        size_t size = valid ? len : 3;
        if (o + size > budget) {
            *cut = 1;
            break;
        }
        if (valid) {
            for (size_t k = 0; k < len; k++) out[o + k] = in[i + k];
        } else {
            out[o] = 0xEF;
            out[o + 1] = 0xBF;
            out[o + 2] = 0xBD;
        }
        o += size;
        i += len;
    }
    return o;
}
