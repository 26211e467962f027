/*
 * Stored hex digests decoded: 2d lowercase hex characters to d bytes, with a flag per
 * row (0 = decoded, 1 = null, 2 = malformed, 3 = equals the genesis marker). Rows with a
 * non-zero flag get d zero bytes. And the pass that verification makes over every batch:
 * both stored columns decoded, each stored digest compared with the computed one, each
 * prev_hash with the digest stored in the row before, rows split over threads.
 *
 * A SHA-256 digest (64 characters) is decoded 32 characters at a time with AVX2 when the
 * CPU has it (and AUDIT_ANALYTICS_NO_SIMD is not set); the result is the scalar one.
 */
#include "kernel.h"

static int8_t g_hexval[256];
static int g_hex_ready = 0;

static const int8_t *hex_table(void)
{
    if (!g_hex_ready) { /* set up once at import (init_tables), before any thread runs */
        memset(g_hexval, -1, sizeof(g_hexval));
        for (int k = 0; k < 10; k++)
            g_hexval['0' + k] = (int8_t)k;
        for (int k = 0; k < 6; k++)
            g_hexval['a' + k] = (int8_t)(10 + k);
        g_hex_ready = 1;
    }
    return g_hexval;
}

void init_hex_table(void)
{
    (void)hex_table();
}

#if AA_HAVE_X86
/* 64 lowercase hex characters at p into 32 bytes at o; 0 if any character is not one. */
__attribute__((target("avx2"))) static int unhex64_avx2(const uint8_t *p, uint8_t *o)
{
    const __m256i nine = _mm256_set1_epi8(9), five = _mm256_set1_epi8(5);
    for (int h = 0; h < 2; h++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(p + 32 * h));
        __m256i d = _mm256_sub_epi8(x, _mm256_set1_epi8('0')); /* '0'..'9' -> 0..9 */
        __m256i a = _mm256_sub_epi8(x, _mm256_set1_epi8('a')); /* 'a'..'f' -> 0..5 */
        __m256i is_d = _mm256_cmpeq_epi8(_mm256_max_epu8(d, nine), nine);
        __m256i is_a = _mm256_cmpeq_epi8(_mm256_max_epu8(a, five), five);
        if ((uint32_t)_mm256_movemask_epi8(_mm256_or_si256(is_d, is_a)) != 0xFFFFFFFFu)
            return 0;
        __m256i v = _mm256_blendv_epi8(_mm256_add_epi8(a, _mm256_set1_epi8(10)), d, is_d);
        /* each pair of nibbles: first * 16 + second, in 16 bits, then packed to bytes */
        __m256i w = _mm256_maddubs_epi16(v, _mm256_set1_epi16(0x0110));
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(w, w), 0x08);
        _mm_storeu_si128((__m128i *)(o + 16 * h), _mm256_castsi256_si128(packed));
    }
    return 1;
}
#endif

/* Decode rows [a, b) of string column c into d + dlen * i and f + i (simd: AVX2 allowed). */
static void unhex_span(const Col *c, const uint8_t *g, int64_t glen, Py_ssize_t dlen,
                       Py_ssize_t a, Py_ssize_t b, uint8_t *d, uint8_t *f, int simd)
{
    const int8_t *hv = hex_table();
    int64_t want = 2 * (int64_t)dlen;
    for (Py_ssize_t i = a; i < b; i++) {
        uint8_t *o = d + dlen * i;
        if (!col_valid(c, i)) {
            f[i] = 1;
            memset(o, 0, (size_t)dlen);
            continue;
        }
        int64_t s, e;
        col_str(c, i, &s, &e);
        const uint8_t *p = c->buf2 ? c->buf2 + s : (const uint8_t *)"";
        int64_t l = e - s;
        if (l == glen && (l == 0 || memcmp(p, g, (size_t)l) == 0)) {
            f[i] = 3;
            memset(o, 0, (size_t)dlen);
            continue;
        }
        if (l != want) {
            f[i] = 2;
            memset(o, 0, (size_t)dlen);
            continue;
        }
#if AA_HAVE_X86
        if (simd && dlen == 32) {
            f[i] = unhex64_avx2(p, o) ? 0 : 2;
            if (f[i])
                memset(o, 0, (size_t)dlen);
            continue;
        }
#else
        (void)simd;
#endif
        int bad = 0;
        for (Py_ssize_t k = 0; k < dlen; k++) {
            int hi = hv[p[2 * k]], lo = hv[p[2 * k + 1]];
            bad |= hi | lo;
            o[k] = (uint8_t)(((unsigned)hi << 4) | ((unsigned)lo & 15u));
        }
        if (bad < 0) {
            f[i] = 2;
            memset(o, 0, (size_t)dlen);
        } else {
            f[i] = 0;
        }
    }
}

static int use_simd(void)
{
    return default_isa(1) >= ISA_AVX2;
}

void unhex_column(const Col *c, const uint8_t *g, int64_t glen, uint8_t *d, uint8_t *f)
{
    unhex_span(c, g, glen, 32, 0, c->length, d, f, use_simd());
}

typedef struct {
    const Col *hash, *prev;
    const uint8_t *computed, *genesis;
    int64_t glen;
    Py_ssize_t dlen;
    uint8_t *stored, *hf, *prevd, *pf, *ok, *seq;
    int simd;
} CompareJob;

/* Decode and compare rows [a, b); the links need the row before, hence a second pass. */
static void compare_span(void *ctx, Py_ssize_t a, Py_ssize_t b, int *err)
{
    const CompareJob *jb = (const CompareJob *)ctx;
    Py_ssize_t dl = jb->dlen;
    (void)err;
    unhex_span(jb->hash, jb->genesis, jb->glen, dl, a, b, jb->stored, jb->hf, jb->simd);
    unhex_span(jb->prev, jb->genesis, jb->glen, dl, a, b, jb->prevd, jb->pf, jb->simd);
    for (Py_ssize_t i = a; i < b; i++)
        jb->ok[i] = jb->hf[i] == 0 &&
                    memcmp(jb->computed + dl * i, jb->stored + dl * i, (size_t)dl) == 0;
}

static void link_span(void *ctx, Py_ssize_t a, Py_ssize_t b, int *err)
{
    const CompareJob *jb = (const CompareJob *)ctx;
    Py_ssize_t dl = jb->dlen;
    (void)err;
    for (Py_ssize_t i = a; i < b; i++)
        jb->seq[i] = i > 0 && jb->pf[i] == 0 && jb->hf[i - 1] == 0 &&
                     memcmp(jb->prevd + dl * i, jb->stored + dl * (i - 1), (size_t)dl) == 0;
}

void compare_rows(const Col *hash, const Col *prev, const uint8_t *computed, Py_ssize_t dlen,
                  const uint8_t *genesis, int64_t glen, uint8_t *stored, uint8_t *hf,
                  uint8_t *prevd, uint8_t *pf, uint8_t *ok, uint8_t *seq, int nthreads)
{
    CompareJob jb = {hash, prev, computed, genesis, glen, dlen, stored, hf, prevd, pf, ok, seq,
                     use_simd()};
    Py_ssize_t n = hash->length;
    int nt = n < 16384 ? 1 : nthreads; /* a thread is not worth it for a few rows */
    run_spans(compare_span, &jb, n, nt);
    run_spans(link_span, &jb, n, nt);
}
