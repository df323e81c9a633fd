// libFuzzer driver for mf_json_escape (records' captured text): the output must equal a
// one-character-at-a-time reference escaper, never exceed the budget (the output buffer is exactly
// `budget` bytes, so AddressSanitizer catches a write past it), and be cut only between whole
// characters and escapes. Input: two bytes of budget, then the text.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_json_escape.h"

/// The length of the valid UTF-8 sequence at `p` (1-4), or 0 when it is not one (RFC 3629).
static size_t valid_utf8(const uint8_t *p, size_t n) {
    uint8_t b = p[0];
    size_t len;
    uint32_t cp;
    if (b < 0x80) return 1;
    if ((b & 0xE0) == 0xC0) { len = 2; cp = b & 0x1F; }
    else if ((b & 0xF0) == 0xE0) { len = 3; cp = b & 0x0F; }
    else if ((b & 0xF8) == 0xF0) { len = 4; cp = b & 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static size_t reference(uint8_t *out, size_t budget, const uint8_t *in, size_t n, int *cut) {
    size_t o = 0, i = 0;
    *cut = 0;
    while (i < n) {
        uint8_t unit[6];
        size_t size, len = 1;
        uint8_t b = in[i];
        if (b == '"' || b == '\\') { unit[0] = '\\'; unit[1] = b; size = 2; }
        else if (b == '\n') { memcpy(unit, "\\n", 2); size = 2; }
        else if (b == '\r') { memcpy(unit, "\\r", 2); size = 2; }
        else if (b == '\t') { memcpy(unit, "\\t", 2); size = 2; }
        else if (b < 0x20) { static const char h[] = "0123456789abcdef"; memcpy(unit, "\\u00", 4); unit[4] = h[b >> 4]; unit[5] = h[b & 15]; size = 6; }
        else if ((len = valid_utf8(in + i, n - i)) > 0) { memcpy(unit, in + i, len); size = len; }
        else { unit[0] = 0xEF; unit[1] = 0xBF; unit[2] = 0xBD; size = 3; len = 1; }
        if (o + size > budget) { *cut = 1; break; }
        memcpy(out + o, unit, size);
        o += size;
        i += len;
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t budget = ((size_t)data[0] << 8 | data[1]) % 4096;
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    uint8_t *out = malloc(budget ? budget : 1);
    uint8_t *want = malloc(budget ? budget : 1);
    int cut = 0, wantCut = 0;
    size_t got = mf_json_escape(out, budget, in, n, &cut);
    size_t expected = reference(want, budget, in, n, &wantCut);
    if (got != expected || cut != wantCut || memcmp(out, want, got) != 0) abort();
    free(out);
    free(want);
    return 0;
}
