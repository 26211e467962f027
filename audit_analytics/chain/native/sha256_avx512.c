/*
 * SHA-256 of 16 independent messages at once with AVX-512 (F, BW and VL): one message
 * per 32-bit lane, native rotates, three-input logic in one instruction, masked updates.
 * Compiled for AVX-512 by a function attribute; called only when the CPU has it.
 */
#include "kernel.h"

#if AA_HAVE_X86
#define AVX512_FN __attribute__((target("avx512f,avx512vl,avx512bw")))

/* native rotates; three-way XOR / Ch / Maj as single ternary-logic ops. The immediate is
   the truth table indexed by (a << 2) | (b << 1) | c for operands (a, b, c):
   0x96 = a ^ b ^ c, 0xCA = a ? b : c (Ch with a = e, b = f, c = g), 0xE8 = majority. */
#define Z_ROR(x, n) _mm512_ror_epi32((x), (n))
#define Z_ADD(a, b) _mm512_add_epi32((a), (b))
#define Z_XOR3(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0x96)
#define Z_S0(a) Z_XOR3(Z_ROR(a, 2), Z_ROR(a, 13), Z_ROR(a, 22))
#define Z_S1(e) Z_XOR3(Z_ROR(e, 6), Z_ROR(e, 11), Z_ROR(e, 25))
#define Z_s0(x) Z_XOR3(Z_ROR(x, 7), Z_ROR(x, 18), _mm512_srli_epi32((x), 3))
#define Z_s1(x) Z_XOR3(Z_ROR(x, 17), Z_ROR(x, 19), _mm512_srli_epi32((x), 10))
#define Z_CH(e, f, g) _mm512_ternarylogic_epi32((e), (f), (g), 0xCA)
#define Z_MAJ(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0xE8)

#define Z_ROUND(a, b, c, d, e, f, g, h, i)                                                   \
    do {                                                                                     \
        if (t)                                                                               \
            W[i] = Z_ADD(Z_ADD(W[i], Z_s1(W[((i) + 14) & 15])),                              \
                         Z_ADD(W[((i) + 9) & 15], Z_s0(W[((i) + 1) & 15])));                 \
        __m512i T1 = Z_ADD(Z_ADD(h, Z_S1(e)),                                                \
                           Z_ADD(Z_CH(e, f, g),                                              \
                                 Z_ADD(_mm512_set1_epi32((int)K256[t + (i)]), W[i])));       \
        __m512i T2 = Z_ADD(Z_S0(a), Z_MAJ(a, b, c));                                         \
        d = Z_ADD(d, T1);                                                                    \
        h = Z_ADD(T1, T2);                                                                   \
    } while (0)

/* Load one 64-byte block from each of 16 pointers and transpose: W[w] holds message word w
   (big endian) of every lane. 16x16 dword transpose: unpack 32, unpack 64, then two rounds
   of 128-bit lane shuffles. */
AVX512_FN static inline void load_transpose16(const uint8_t *const p[16], __m512i *W)
{
    const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    __m512i r[16], t[16], u[16];
    for (int j = 0; j < 16; j++)
        r[j] = _mm512_loadu_si512((const void *)p[j]);
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* u[4k + j], 128-bit lane L: word 4L + j of rows 4k .. 4k+3 */
    for (int k = 0; k < 4; k++) {
        u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int j = 0; j < 4; j++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
        __m512i v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
        __m512i v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        W[0 + j] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(v0, v2, 0x88), bswap);
        W[4 + j] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(v0, v2, 0xDD), bswap);
        W[8 + j] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(v1, v3, 0x88), bswap);
        W[12 + j] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(v1, v3, 0xDD), bswap);
    }
}

/* Hash up to 16 messages (lanes >= nl are idle). out[j] receives 32 bytes. */
AVX512_FN void sha256_x16(const uint8_t *const txt[16], const size_t len[16], int nl,
                          uint8_t *const out[16])
{
    uint8_t pad[16][128];
    size_t nfull[16];
    int32_t nb[16];
    size_t maxnb = 0, minnb = (size_t)-1;
    for (int j = 0; j < 16; j++) {
        if (j < nl) {
            nfull[j] = len[j] / 64;
            size_t tot = nfull[j] + (size_t)sha256_tail(txt[j], len[j], pad[j]);
            nb[j] = (int32_t)(tot > 0x7fffffff ? 0x7fffffff : tot);
            if (tot > maxnb)
                maxnb = tot;
            if (tot < minnb)
                minnb = tot;
        } else {
            nfull[j] = 0;
            nb[j] = 0;
            minnb = 0;
        }
    }
    __m512i s[8];
    for (int k = 0; k < 8; k++)
        s[k] = _mm512_set1_epi32((int)H256[k]);
    const __m512i nbv = _mm512_loadu_si512((const void *)nb);
    for (size_t b = 0; b < maxnb; b++) {
        const uint8_t *p[16];
        for (int j = 0; j < 16; j++) {
            if (b < nfull[j])
                p[j] = txt[j] + 64 * b;
            else if (b < (size_t)nb[j])
                p[j] = pad[j] + 64 * (b - nfull[j]);
            else
                p[j] = ZERO_BLOCK;
        }
        __m512i W[16];
        load_transpose16(p, W);
        __m512i a = s[0], bb = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
        _Pragma("GCC unroll 4") for (int t = 0; t < 64; t += 16) {
            Z_ROUND(a, bb, c, d, e, f, g, h, 0);
            Z_ROUND(h, a, bb, c, d, e, f, g, 1);
            Z_ROUND(g, h, a, bb, c, d, e, f, 2);
            Z_ROUND(f, g, h, a, bb, c, d, e, 3);
            Z_ROUND(e, f, g, h, a, bb, c, d, 4);
            Z_ROUND(d, e, f, g, h, a, bb, c, 5);
            Z_ROUND(c, d, e, f, g, h, a, bb, 6);
            Z_ROUND(bb, c, d, e, f, g, h, a, 7);
            Z_ROUND(a, bb, c, d, e, f, g, h, 8);
            Z_ROUND(h, a, bb, c, d, e, f, g, 9);
            Z_ROUND(g, h, a, bb, c, d, e, f, 10);
            Z_ROUND(f, g, h, a, bb, c, d, e, 11);
            Z_ROUND(e, f, g, h, a, bb, c, d, 12);
            Z_ROUND(d, e, f, g, h, a, bb, c, 13);
            Z_ROUND(c, d, e, f, g, h, a, bb, 14);
            Z_ROUND(bb, c, d, e, f, g, h, a, 15);
        }
        /* only lanes with b < nb[j] take the update (all of them while b < minnb) */
        __mmask16 m = b < minnb ? (__mmask16)0xFFFF
                                : _mm512_cmpgt_epi32_mask(nbv, _mm512_set1_epi32((int)b));
        s[0] = _mm512_mask_add_epi32(s[0], m, s[0], a);
        s[1] = _mm512_mask_add_epi32(s[1], m, s[1], bb);
        s[2] = _mm512_mask_add_epi32(s[2], m, s[2], c);
        s[3] = _mm512_mask_add_epi32(s[3], m, s[3], d);
        s[4] = _mm512_mask_add_epi32(s[4], m, s[4], e);
        s[5] = _mm512_mask_add_epi32(s[5], m, s[5], f);
        s[6] = _mm512_mask_add_epi32(s[6], m, s[6], g);
        s[7] = _mm512_mask_add_epi32(s[7], m, s[7], h);
    }
    /* transpose back with byte swaps: one 32-byte digest per lane */
    const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    uint32_t tmp[8][16];
    for (int k = 0; k < 8; k++)
        _mm512_storeu_si512((void *)tmp[k], _mm512_shuffle_epi8(s[k], bswap));
    for (int j = 0; j < nl; j++)
        for (int k = 0; k < 8; k++)
            memcpy(out[j] + 4 * k, &tmp[k][j], 4);
}
#endif /* AA_HAVE_X86 */
