/*
 * Dispatch: which SHA-256 path a call takes, texts hashed in groups of equal block counts
 * on that path, and rows split over threads.
 *
 * SHA-256 path: isa=None takes the best the CPU has (AVX-512 F+BW+VL, else AVX2, else
 * scalar), capped on every call by AUDIT_ANALYTICS_NO_SIMD=1 (scalar) and
 * AUDIT_ANALYTICS_NO_AVX512=1 (AVX2 at most); simd=False means scalar. An explicit
 * isa="scalar"|"avx2"|"avx512" ignores the environment and raises ValueError if the CPU
 * lacks it (or if combined with simd=False).
 */
#include <pthread.h>

#include "kernel.h"

/* ------------------------------------------------------------------------- */
/* SHA-256 path                                                              */
/* ------------------------------------------------------------------------- */

const char *const ISA_NAMES[3] = {"scalar", "avx2", "avx512"};

/* best path this CPU supports (ignoring the environment) */
int cpu_best_isa(void)
{
#if AA_HAVE_X86 && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return ISA_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return ISA_AVX2;
#endif
    return ISA_SCALAR;
}

int g_cpu_isa = ISA_SCALAR;

static int env_is_1(const char *name)
{
    const char *env = getenv(name);
    return env && env[0] == '1' && env[1] == '\0';
}

/* Default path for a call: the CPU's best, capped by AUDIT_ANALYTICS_NO_SIMD=1 (scalar) and
   AUDIT_ANALYTICS_NO_AVX512=1 (AVX2 at most). Read on every call. want = 0 -> scalar. */
int default_isa(int want)
{
    if (!want || env_is_1("AUDIT_ANALYTICS_NO_SIMD"))
        return ISA_SCALAR;
    int isa = g_cpu_isa;
    if (isa > ISA_AVX2 && env_is_1("AUDIT_ANALYTICS_NO_AVX512"))
        isa = ISA_AVX2;
    return isa;
}

/* Resolve the simd= / isa= keywords of a call. isa_obj NULL or None: default_isa(want).
   Otherwise one of "scalar", "avx2", "avx512": used as given (environment ignored); ValueError
   if the CPU lacks it or if simd=False asks for a SIMD path. Returns -1 with an exception. */
int resolve_isa(int want, PyObject *isa_obj)
{
    if (!isa_obj || isa_obj == Py_None)
        return default_isa(want);
    if (!PyUnicode_Check(isa_obj)) {
        PyErr_Format(PyExc_TypeError, "isa must be None or a str (got %.100s)",
                     Py_TYPE(isa_obj)->tp_name);
        return -1;
    }
    for (int k = 0; k < 3; k++) {
        if (PyUnicode_CompareWithASCIIString(isa_obj, ISA_NAMES[k]) != 0)
            continue;
        if (k > g_cpu_isa) {
            PyErr_Format(PyExc_ValueError, "isa=%R is not available on this CPU (best: '%s')",
                         isa_obj, ISA_NAMES[g_cpu_isa]);
            return -1;
        }
        if (!want && k != ISA_SCALAR) {
            PyErr_Format(PyExc_ValueError, "simd=False conflicts with isa=%R", isa_obj);
            return -1;
        }
        return k;
    }
    PyErr_Format(PyExc_ValueError, "isa must be None, 'scalar', 'avx2' or 'avx512' (got %R)",
                 isa_obj);
    return -1;
}

/* ------------------------------------------------------------------------- */
/* Batch hashing of texts in one buffer                                      */
/* ------------------------------------------------------------------------- */

#define NBUCKETS 64

#if AA_HAVE_X86
/* Hash the texts idx[0 .. cnt) (cnt <= 8) with the AVX2 8-lane code, or scalar if < 3. */
static void hash_group8(const uint8_t *buf, const size_t *off, const size_t *len,
                        const uint32_t *idx, size_t cnt, uint8_t *out)
{
    if (cnt < 3) {
        for (size_t j = 0; j < cnt; j++)
            sha256_scalar(buf + off[idx[j]], len[idx[j]], out + 32 * (size_t)idx[j]);
        return;
    }
    const uint8_t *tp[8];
    size_t tl[8];
    uint8_t *op[8];
    for (size_t j = 0; j < 8; j++) {
        tp[j] = ZERO_BLOCK;
        tl[j] = 0;
        op[j] = NULL;
    }
    for (size_t j = 0; j < cnt; j++) {
        uint32_t k = idx[j];
        tp[j] = buf + off[k];
        tl[j] = len[k];
        op[j] = out + 32 * (size_t)k;
    }
    sha256_x8(tp, tl, (int)cnt, op);
}

/* Hash the 16 texts idx[0 .. 16) with the AVX-512 16-lane code. */
static void hash_group16(const uint8_t *buf, const size_t *off, const size_t *len,
                         const uint32_t *idx, uint8_t *out)
{
    const uint8_t *tp[16];
    size_t tl[16];
    uint8_t *op[16];
    for (size_t j = 0; j < 16; j++) {
        uint32_t k = idx[j];
        tp[j] = buf + off[k];
        tl[j] = len[k];
        op[j] = out + 32 * (size_t)k;
    }
    sha256_x16(tp, tl, 16, op);
}
#endif

/* Hash m texts (buf + off[k], len[k]) into out + 32k with the given ISA_* path.
   idx: scratch of m uint32. */
void hash_texts(const uint8_t *buf, const size_t *off, const size_t *len, size_t m,
                uint8_t *out, int isa, uint32_t *idx)
{
#if AA_HAVE_X86
    if (isa != ISA_SCALAR && m >= 3) {
        /* counting sort by block count so that lanes in a group have equal work */
        size_t cnt[NBUCKETS + 1];
        memset(cnt, 0, sizeof(cnt));
        for (size_t k = 0; k < m; k++) {
            size_t nb = (len[k] + 72) / 64;
            if (nb >= NBUCKETS)
                nb = NBUCKETS - 1;
            cnt[nb + 1]++;
        }
        for (int q = 1; q <= NBUCKETS; q++)
            cnt[q] += cnt[q - 1];
        for (size_t k = 0; k < m; k++) {
            size_t nb = (len[k] + 72) / 64;
            if (nb >= NBUCKETS)
                nb = NBUCKETS - 1;
            idx[cnt[nb]++] = (uint32_t)k;
        }
        size_t g = 0;
        if (isa == ISA_AVX512)
            for (; g + 16 <= m; g += 16)
                hash_group16(buf, off, len, idx + g, out);
        /* AVX2 groups of 8; the last (< 8) group goes 8-lane or scalar */
        for (; g < m; g += 8)
            hash_group8(buf, off, len, idx + g, m - g < 8 ? m - g : 8, out);
        return;
    }
#else
    (void)isa;
    (void)idx;
#endif
    for (size_t k = 0; k < m; k++)
        sha256_scalar(buf + off[k], len[k], out + 32 * k);
}

/* ------------------------------------------------------------------------- */
/* Threads                                                                   */
/* ------------------------------------------------------------------------- */

#define MAX_THREADS 64

typedef struct {
    span_fn fn;
    void *ctx;
    Py_ssize_t a, b;
    int err;
} Span;

static void *span_main(void *arg)
{
    Span *s = (Span *)arg;
    s->fn(s->ctx, s->a, s->b, &s->err);
    return NULL;
}

int run_spans(span_fn fn, void *ctx, Py_ssize_t n, int nt)
{
    Span spans[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS];
    if (nt > MAX_THREADS)
        nt = MAX_THREADS;
    if (nt < 1)
        nt = 1;
    for (int k = 0; k < nt; k++) {
        spans[k].fn = fn;
        spans[k].ctx = ctx;
        spans[k].a = (Py_ssize_t)((int64_t)n * k / nt);
        spans[k].b = (Py_ssize_t)((int64_t)n * (k + 1) / nt);
        spans[k].err = 0;
        started[k] = 0;
    }
    for (int k = 1; k < nt; k++)
        started[k] = pthread_create(&tids[k], NULL, span_main, &spans[k]) == 0;
    span_main(&spans[0]);
    int err = 0;
    for (int k = 1; k < nt; k++) {
        if (started[k])
            pthread_join(tids[k], NULL);
        else
            span_main(&spans[k]); /* could not start a thread: do it here */
    }
    for (int k = 0; k < nt; k++)
        err |= spans[k].err;
    return err;
}

/* ------------------------------------------------------------------------- */
/* Digest of every row                                                       */
/* ------------------------------------------------------------------------- */

#define CHUNK_ROWS 4096
#define CHUNK_BYTES (2u << 20)

typedef struct {
    const Spec *sp;
    const ColSet *cs;
    uint8_t *out; /* full output; row i at out + 32 i */
    int isa;      /* ISA_* */
} DigestJob;

/* Render rows [a, b) in chunks of up to CHUNK_ROWS rows or CHUNK_BYTES bytes, hash each
   chunk; *err = 1 when out of memory. */
static void digest_span(void *ctx, Py_ssize_t a, Py_ssize_t b, int *err)
{
    const DigestJob *jb = (const DigestJob *)ctx;
    size_t cap = CHUNK_BYTES + 4096;
    uint8_t *buf = malloc(cap);
    size_t *off = malloc(sizeof(size_t) * CHUNK_ROWS);
    size_t *len = malloc(sizeof(size_t) * CHUNK_ROWS);
    uint32_t *idx = malloc(sizeof(uint32_t) * CHUNK_ROWS);
    if (!buf || !off || !len || !idx) {
        *err = 1;
        goto done;
    }
    Py_ssize_t i = a;
    while (i < b) {
        Py_ssize_t first = i;
        size_t pos = 0, m = 0;
        while (i < b && m < CHUNK_ROWS && pos < CHUNK_BYTES) {
            size_t bound = row_bound(jb->sp, jb->cs, i);
            if (pos + bound > cap) {
                size_t ncap = cap * 2 > pos + bound ? cap * 2 : pos + bound;
                uint8_t *nb = realloc(buf, ncap);
                if (!nb) {
                    *err = 1;
                    goto done;
                }
                buf = nb;
                cap = ncap;
            }
            uint8_t *e = render_row(jb->sp, jb->cs, i, buf + pos);
            off[m] = pos;
            len[m] = (size_t)(e - (buf + pos));
            pos += len[m];
            m++;
            i++;
        }
        hash_texts(buf, off, len, m, jb->out + 32 * (size_t)first, jb->isa, idx);
    }
done:
    free(buf);
    free(off);
    free(len);
    free(idx);
}

int digest_rows(const Spec *sp, const ColSet *cs, uint8_t *out, int nthreads, int isa)
{
    Py_ssize_t n = cs->n;
    int nt = nthreads > MAX_THREADS ? MAX_THREADS : nthreads;
    if ((Py_ssize_t)nt > n)
        nt = n > 0 ? (int)n : 1;
    DigestJob jb = {sp, cs, out, isa};
    return run_spans(digest_span, &jb, n, nt);
}
