#ifndef MF_SHA256_H
#define MF_SHA256_H

#include <stddef.h>
#include <stdint.h>

/// The 64 round constants of FIPS 180-4 (shared by these instructions and the Swift rounds).
const uint32_t *mf_sha256_constants(void);

/// 1 when this CPU has the SHA extensions (x86-64 SHA-NI with SSSE3 and SSE4.1), else 0.
int mf_sha256_hardware(void);

/// Compresses `blocks` 64-byte blocks of `data` into `state` (a, b, ..., h) with the SHA
/// instructions. Call only when `mf_sha256_hardware()` returned 1.
void mf_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
