/*
 * SHA-256 (FIPS 180-4), portable scalar code, and the constants and padding the lane
 * versions (sha256_avx2.c, sha256_avx512.c) share.
 */
#include "kernel.h"

const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

const uint32_t H256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static inline uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* an all-zero block: what idle lanes read */
const uint8_t ZERO_BLOCK[64] = {0};

#define S_S0(a) (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22))
#define S_S1(e) (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25))
#define S_s0(x) (ror32(x, 7) ^ ror32(x, 18) ^ ((x) >> 3))
#define S_s1(x) (ror32(x, 17) ^ ror32(x, 19) ^ ((x) >> 10))
#define S_CH(e, f, g) (((e) & (f)) ^ (~(e) & (g)))
#define S_MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))

#define S_ROUND(a, b, c, d, e, f, g, h, i)                                                   \
    do {                                                                                     \
        if (t)                                                                               \
            W[i] += S_s1(W[((i) + 14) & 15]) + W[((i) + 9) & 15] + S_s0(W[((i) + 1) & 15]); \
        uint32_t T1 = h + S_S1(e) + S_CH(e, f, g) + K256[t + (i)] + W[i];                   \
        uint32_t T2 = S_S0(a) + S_MAJ(a, b, c);                                             \
        d += T1;                                                                             \
        h = T1 + T2;                                                                         \
    } while (0)

static void sha256_block(uint32_t st[8], const uint8_t *blk)
{
    uint32_t W[16];
    for (int i = 0; i < 16; i++)
        W[i] = be32(blk + 4 * i);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6],
             h = st[7];
    _Pragma("GCC unroll 4") for (int t = 0; t < 64; t += 16) {
        S_ROUND(a, b, c, d, e, f, g, h, 0);
        S_ROUND(h, a, b, c, d, e, f, g, 1);
        S_ROUND(g, h, a, b, c, d, e, f, 2);
        S_ROUND(f, g, h, a, b, c, d, e, 3);
        S_ROUND(e, f, g, h, a, b, c, d, 4);
        S_ROUND(d, e, f, g, h, a, b, c, 5);
        S_ROUND(c, d, e, f, g, h, a, b, 6);
        S_ROUND(b, c, d, e, f, g, h, a, 7);
        S_ROUND(a, b, c, d, e, f, g, h, 8);
        S_ROUND(h, a, b, c, d, e, f, g, 9);
        S_ROUND(g, h, a, b, c, d, e, f, 10);
        S_ROUND(f, g, h, a, b, c, d, e, 11);
        S_ROUND(e, f, g, h, a, b, c, d, 12);
        S_ROUND(d, e, f, g, h, a, b, c, 13);
        S_ROUND(c, d, e, f, g, h, a, b, 14);
        S_ROUND(b, c, d, e, f, g, h, a, 15);
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

/* Prepare the final 1 or 2 padded blocks of a message; returns the number of tail blocks. */
int sha256_tail(const uint8_t *data, size_t len, uint8_t pad[128])
{
    size_t nfull = len / 64, r = len - nfull * 64;
    int ntail = r + 9 > 64 ? 2 : 1;
    memset(pad, 0, 128);
    if (r)
        memcpy(pad, data + nfull * 64, r);
    pad[r] = 0x80;
    uint64_t bits = (uint64_t)len << 3;
    uint8_t *lp = pad + 64 * ntail - 8;
    for (int k = 0; k < 8; k++)
        lp[k] = (uint8_t)(bits >> (56 - 8 * k));
    return ntail;
}

void sha256_scalar(const uint8_t *data, size_t len, uint8_t out[32])
{
    uint32_t st[8];
    memcpy(st, H256, sizeof(st));
    size_t nfull = len / 64;
    for (size_t b = 0; b < nfull; b++)
        sha256_block(st, data + 64 * b);
    uint8_t pad[128];
    int ntail = sha256_tail(data, len, pad);
    for (int b = 0; b < ntail; b++)
        sha256_block(st, pad + 64 * b);
    for (int k = 0; k < 8; k++)
        put_be32(out + 4 * k, st[k]);
}
