#include "mf_word_hashes.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// 1 for a word byte: ASCII letters and digits, and every byte of 0x80 and above.
static inline int is_word_byte(uint8_t b) {
    uint8_t l = b | 0x20;
    return b >= 0x80 || (b >= '0' && b <= '9') || (l >= 'a' && l <= 'z');
}

/// Bit k set when `p[k]` is a word byte, for the `len` (at most 64) bytes at `p`.
static inline uint64_t word_bits(const uint8_t *p, size_t len) {
    uint64_t bits = 0;
    size_t k = 0;
#if defined(__SSE2__)
    const __m128i case_bit = _mm_set1_epi8(0x20);
    const __m128i a = _mm_set1_epi8('a'), z = _mm_set1_epi8('z');
    const __m128i d0 = _mm_set1_epi8('0'), d9 = _mm_set1_epi8('9');
    for (; k + 16 <= len; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + k));
        __m128i l = _mm_or_si128(v, case_bit);
        // Unsigned range tests: x in [lo, hi] when max(x, lo) == x and min(x, hi) == x.
        __m128i letter = _mm_and_si128(_mm_cmpeq_epi8(_mm_max_epu8(l, a), l), _mm_cmpeq_epi8(_mm_min_epu8(l, z), l));
        __m128i digit = _mm_and_si128(_mm_cmpeq_epi8(_mm_max_epu8(v, d0), v), _mm_cmpeq_epi8(_mm_min_epu8(v, d9), v));
        // The sign bit of v: bytes of 0x80 and above.
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), v));
        bits |= (uint64_t)m << k;
    }
#endif
    for (; k < len; k++) bits |= (uint64_t)is_word_byte(p[k]) << k;
    return bits;
}

/// Eight bytes with ASCII capitals turned to small letters (other bytes unchanged).
static inline uint64_t lower8(uint64_t w) {
    const uint64_t high = 0x8080808080808080ULL;
    uint64_t y = w & ~high;                                   // low seven bits: no carry between bytes
    uint64_t from_a = (y + 0x3F3F3F3F3F3F3F3FULL) & high;     // y >= 0x41
    uint64_t past_z = (y + 0x2525252525252525ULL) & high;     // y >= 0x5B
    uint64_t upper = from_a & ~past_z & ~w;                   // and the byte itself below 0x80
    return w | (upper >> 2);
}

/// The hash of the word `p[start..<end]`; `n` bounds the reads. The word's bytes, lowercased and
/// packed eight to a 64-bit chunk (its bytes never 0, so a chunk also says how long it is), go
/// through a multiply by an odd constant and an xor-shift: both invertible, so words of up to
/// eight bytes never collide, and the low bits the scoring tables index by depend on every
/// input bit. Longer words fold chunk by chunk.
static inline uint64_t word_hash(const uint8_t *p, size_t start, size_t end, size_t n) {
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    uint64_t h = 0;
    size_t i = start;
    uint64_t w;
    for (; i + 8 < end; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ lower8(w)) * k;
        h ^= h >> 32;
    }
    size_t rest = end - i;  // 1 to 8 bytes
    if (i + 8 <= n) {
        memcpy(&w, p + i, 8);
    } else {
        w = 0;
        memcpy(&w, p + i, n - i);
    }
    if (rest < 8) w &= (~0ULL) >> (8 * (8 - rest));  // little-endian: the word's bytes are the low ones
    h = (h ^ lower8(w)) * k;
    return h ^ (h >> 32);
}

size_t mf_word_hashes(const uint8_t *p, size_t n, uint64_t *out) {
    size_t count = 0;
    size_t open = 0;  // where the word in progress started
    int in_word = 0;
    for (size_t base = 0; base < n; base += 64) {
        size_t len = n - base < 64 ? n - base : 64;
        uint64_t bits = word_bits(p + base, len);
        // Bit k of `starts`: a word begins at base + k; of `ends`: one ended just before it (in
        // the last, short block that may be bit `len`: the word ends at `n`).
        uint64_t before = (bits << 1) | (uint64_t)in_word;
        uint64_t starts = bits & ~before;
        uint64_t ends = ~bits & before;
        if (in_word) {  // the word carried over from the block before
            if (ends == 0) continue;
            out[count++] = word_hash(p, open, base + (size_t)__builtin_ctzll(ends), n);
            ends &= ends - 1;
            in_word = 0;
        }
        // Starts and ends alternate from here: a start, then its end (or none: it runs on).
        while (starts != 0) {
            size_t s = base + (size_t)__builtin_ctzll(starts);
            starts &= starts - 1;
            if (ends == 0) {
                open = s;
                in_word = 1;
                break;
            }
            out[count++] = word_hash(p, s, base + (size_t)__builtin_ctzll(ends), n);
            ends &= ends - 1;
        }
        // A word still open here continues into the next block: the next block's `before` gets
        // its bit 0 from `in_word`, which (bits << 1) alone would lose at bit 63.
    }
    if (in_word) out[count++] = word_hash(p, open, n, n);
    return count;
}
