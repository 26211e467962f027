/*
 * SHA-256 of 8 independent messages at once with AVX2: one message per 32-bit lane, the
 * message blocks transposed so that each vector holds the same word of 8 blocks.
 * Compiled for AVX2 by a function attribute; called only when the CPU has it.
 */
#include "kernel.h"

#if AA_HAVE_X86
#define AVX2_FN __attribute__((target("avx2")))

#define V_ROR(x, n) _mm256_or_si256(_mm256_srli_epi32((x), (n)), _mm256_slli_epi32((x), 32 - (n)))
#define V_ADD(a, b) _mm256_add_epi32((a), (b))
#define V_XOR(a, b) _mm256_xor_si256((a), (b))
#define V_S0(a) V_XOR(V_XOR(V_ROR(a, 2), V_ROR(a, 13)), V_ROR(a, 22))
#define V_S1(e) V_XOR(V_XOR(V_ROR(e, 6), V_ROR(e, 11)), V_ROR(e, 25))
#define V_s0(x) V_XOR(V_XOR(V_ROR(x, 7), V_ROR(x, 18)), _mm256_srli_epi32((x), 3))
#define V_s1(x) V_XOR(V_XOR(V_ROR(x, 17), V_ROR(x, 19)), _mm256_srli_epi32((x), 10))
#define V_CH(e, f, g) V_XOR(_mm256_and_si256((e), (f)), _mm256_andnot_si256((e), (g)))
#define V_MAJ(a, b, c) \
    _mm256_or_si256(_mm256_and_si256((a), (b)), _mm256_and_si256((c), _mm256_or_si256((a), (b))))

#define V_ROUND(a, b, c, d, e, f, g, h, i)                                                   \
    do {                                                                                     \
        if (t)                                                                               \
            W[i] = V_ADD(V_ADD(W[i], V_s1(W[((i) + 14) & 15])),                              \
                         V_ADD(W[((i) + 9) & 15], V_s0(W[((i) + 1) & 15])));                 \
        __m256i T1 = V_ADD(V_ADD(h, V_S1(e)),                                                \
                           V_ADD(V_CH(e, f, g),                                              \
                                 V_ADD(_mm256_set1_epi32((int)K256[t + (i)]), W[i])));       \
        __m256i T2 = V_ADD(V_S0(a), V_MAJ(a, b, c));                                         \
        d = V_ADD(d, T1);                                                                    \
        h = V_ADD(T1, T2);                                                                   \
    } while (0)

/* Load the i-th 32-byte half of 8 blocks, transposed to 8 message words (big endian). */
AVX2_FN static inline void load_transpose8(const uint8_t *const p[8], int half, __m256i *W)
{
    const __m256i bswap = _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
                                           3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    __m256i r0 = _mm256_loadu_si256((const __m256i *)(p[0] + 32 * half));
    __m256i r1 = _mm256_loadu_si256((const __m256i *)(p[1] + 32 * half));
    __m256i r2 = _mm256_loadu_si256((const __m256i *)(p[2] + 32 * half));
    __m256i r3 = _mm256_loadu_si256((const __m256i *)(p[3] + 32 * half));
    __m256i r4 = _mm256_loadu_si256((const __m256i *)(p[4] + 32 * half));
    __m256i r5 = _mm256_loadu_si256((const __m256i *)(p[5] + 32 * half));
    __m256i r6 = _mm256_loadu_si256((const __m256i *)(p[6] + 32 * half));
    __m256i r7 = _mm256_loadu_si256((const __m256i *)(p[7] + 32 * half));
    __m256i t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpackhi_epi32(r0, r1);
    __m256i t2 = _mm256_unpacklo_epi32(r2, r3), t3 = _mm256_unpackhi_epi32(r2, r3);
    __m256i t4 = _mm256_unpacklo_epi32(r4, r5), t5 = _mm256_unpackhi_epi32(r4, r5);
    __m256i t6 = _mm256_unpacklo_epi32(r6, r7), t7 = _mm256_unpackhi_epi32(r6, r7);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    W[0] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u0, u4, 0x20), bswap);
    W[1] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u1, u5, 0x20), bswap);
    W[2] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u2, u6, 0x20), bswap);
    W[3] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u3, u7, 0x20), bswap);
    W[4] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u0, u4, 0x31), bswap);
    W[5] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u1, u5, 0x31), bswap);
    W[6] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u2, u6, 0x31), bswap);
    W[7] = _mm256_shuffle_epi8(_mm256_permute2x128_si256(u3, u7, 0x31), bswap);
}

/* Hash up to 8 messages (lanes >= nl are idle). out[j] receives 32 bytes. */
AVX2_FN void sha256_x8(const uint8_t *const txt[8], const size_t len[8], int nl,
                       uint8_t *const out[8])
{
    uint8_t pad[8][128];
    size_t nfull[8];
    int32_t nb[8];
    size_t maxnb = 0, minnb = (size_t)-1;
    for (int j = 0; j < 8; j++) {
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
    __m256i s[8];
    for (int k = 0; k < 8; k++)
        s[k] = _mm256_set1_epi32((int)H256[k]);
    const __m256i nbv = _mm256_loadu_si256((const __m256i *)nb);
    for (size_t b = 0; b < maxnb; b++) {
        const uint8_t *p[8];
        for (int j = 0; j < 8; j++) {
            if (b < nfull[j])
                p[j] = txt[j] + 64 * b;
            else if (b < (size_t)nb[j])
                p[j] = pad[j] + 64 * (b - nfull[j]);
            else
                p[j] = ZERO_BLOCK;
        }
        __m256i W[16];
        load_transpose8(p, 0, W);
        load_transpose8(p, 1, W + 8);
        __m256i a = s[0], bb = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
        _Pragma("GCC unroll 4") for (int t = 0; t < 64; t += 16) {
            V_ROUND(a, bb, c, d, e, f, g, h, 0);
            V_ROUND(h, a, bb, c, d, e, f, g, 1);
            V_ROUND(g, h, a, bb, c, d, e, f, 2);
            V_ROUND(f, g, h, a, bb, c, d, e, 3);
            V_ROUND(e, f, g, h, a, bb, c, d, 4);
            V_ROUND(d, e, f, g, h, a, bb, c, 5);
            V_ROUND(c, d, e, f, g, h, a, bb, 6);
            V_ROUND(bb, c, d, e, f, g, h, a, 7);
            V_ROUND(a, bb, c, d, e, f, g, h, 8);
            V_ROUND(h, a, bb, c, d, e, f, g, 9);
            V_ROUND(g, h, a, bb, c, d, e, f, 10);
            V_ROUND(f, g, h, a, bb, c, d, e, 11);
            V_ROUND(e, f, g, h, a, bb, c, d, 12);
            V_ROUND(d, e, f, g, h, a, bb, c, 13);
            V_ROUND(c, d, e, f, g, h, a, bb, 14);
            V_ROUND(bb, c, d, e, f, g, h, a, 15);
        }
        if (b < minnb) {
            s[0] = V_ADD(s[0], a);
            s[1] = V_ADD(s[1], bb);
            s[2] = V_ADD(s[2], c);
            s[3] = V_ADD(s[3], d);
            s[4] = V_ADD(s[4], e);
            s[5] = V_ADD(s[5], f);
            s[6] = V_ADD(s[6], g);
            s[7] = V_ADD(s[7], h);
        } else {
            /* only lanes with b < nb[j] take the update */
            __m256i m = _mm256_cmpgt_epi32(nbv, _mm256_set1_epi32((int)b));
            s[0] = _mm256_blendv_epi8(s[0], V_ADD(s[0], a), m);
            s[1] = _mm256_blendv_epi8(s[1], V_ADD(s[1], bb), m);
            s[2] = _mm256_blendv_epi8(s[2], V_ADD(s[2], c), m);
            s[3] = _mm256_blendv_epi8(s[3], V_ADD(s[3], d), m);
            s[4] = _mm256_blendv_epi8(s[4], V_ADD(s[4], e), m);
            s[5] = _mm256_blendv_epi8(s[5], V_ADD(s[5], f), m);
            s[6] = _mm256_blendv_epi8(s[6], V_ADD(s[6], g), m);
            s[7] = _mm256_blendv_epi8(s[7], V_ADD(s[7], h), m);
        }
    }
    uint32_t tmp[8][8];
    for (int k = 0; k < 8; k++)
        _mm256_storeu_si256((__m256i *)tmp[k], s[k]);
    for (int j = 0; j < nl; j++)
        for (int k = 0; k < 8; k++)
            put_be32(out[j] + 4 * k, tmp[k][j]);
}
#endif /* AA_HAVE_X86 */
