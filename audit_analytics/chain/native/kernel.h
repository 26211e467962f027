/*
 * Shared declarations of the native kernel audit_analytics.chain._native (see module.c for the
 * Python interface). One file per role:
 *
 *   descriptors.c    Arrow column descriptors and the text spec, parsed and validated
 *   render.c         canonical JSON text of a row, straight from the column buffers
 *   sha256.c         portable scalar SHA-256 (and the constants the lane versions share)
 *   sha256_avx2.c    SHA-256 of 8 messages at once (AVX2)
 *   sha256_avx512.c  SHA-256 of 16 messages at once (AVX-512 F+BW+VL)
 *   dispatch.c       the SHA-256 path for a call, batches of texts, rows split over threads
 *   unhex.c          stored hex digests decoded, compared with the computed ones and
 *                    with the row before (the links in read order)
 *   hash64.c         fast 64-bit hash of string values
 *   segments.c       chain segments: path start and depth of every row
 *   repeats.c        rows whose 64-bit value repeats, by hashing
 *   module.c         the Python module: argument parsing, GIL, results
 */
#ifndef AA_KERNEL_H
#define AA_KERNEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(AA_NO_X86)
#include <immintrin.h>
#define AA_HAVE_X86 1
#else
#define AA_HAVE_X86 0
#endif

/* Nothing below is exported from the shared object. */
#pragma GCC visibility push(hidden)

/* ------------------------------------------------------------------------- */
/* Column descriptors (descriptors.c)                                        */
/* ------------------------------------------------------------------------- */

enum { KIND_UTF8 = 0, KIND_LARGE_UTF8 = 1, KIND_TIMESTAMP = 2, KIND_INT64 = 3 };

typedef struct {
    int kind;
    Py_ssize_t length;
    Py_ssize_t offset;
    const uint8_t *validity; /* NULL = all valid */
    const uint8_t *buf1;
    Py_ssize_t len1;
    const uint8_t *buf2;
    Py_ssize_t len2;
    Py_buffer views[3];
    int have[3];
} Col;

typedef struct {
    Col *cols;
    Py_ssize_t ncols;
    Py_ssize_t n;
} ColSet;

/* 0001-01-01T00:00:00 and 9999-12-31T23:59:59.999999 in microseconds since the epoch */
#define TS_MIN_US (-62135596800000000LL)
#define TS_MAX_US (253402300799999999LL)

static inline int col_valid(const Col *c, Py_ssize_t i)
{
    if (!c->validity)
        return 1;
    Py_ssize_t j = i + c->offset;
    return (c->validity[j >> 3] >> (j & 7)) & 1;
}

static inline int64_t load_i64(const uint8_t *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline int32_t load_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* start/end byte offsets of string element i (logical index) */
static inline void col_str(const Col *c, Py_ssize_t i, int64_t *s, int64_t *e)
{
    Py_ssize_t j = i + c->offset;
    if (c->kind == KIND_UTF8) {
        *s = load_i32(c->buf1 + 4 * j);
        *e = load_i32(c->buf1 + 4 * (j + 1));
    } else {
        *s = load_i64(c->buf1 + 8 * j);
        *e = load_i64(c->buf1 + 8 * (j + 1));
    }
}

static inline int64_t col_i64(const Col *c, Py_ssize_t i)
{
    return load_i64(c->buf1 + 8 * (i + c->offset));
}

/* Parse and fully validate one descriptor. check_ts: verify timestamps are in year range.
   Returns -1 with an exception set (and nothing held) on failure. */
int parse_column(PyObject *t, Col *c, int idx, int check_ts);
void col_release(Col *c);
int parse_columns(PyObject *seq, ColSet *cs);
void colset_release(ColSet *cs);

/* ------------------------------------------------------------------------- */
/* Text spec (descriptors.c) and rendering (render.c)                        */
/* ------------------------------------------------------------------------- */

/* Output slack: the renderer may store up to 16 bytes past its logical position. */
#define OUT_SLACK 64

typedef struct {
    Py_ssize_t nkeys;
    /* For key k two pieces are kept: piece 2k = '"' key '"' kv_sep (first item of a row),
       piece 2k+1 = item_sep '"' key '"' kv_sep (any later item). Each piece starts at
       piece_off[.] in piece_data, is piece_len[.] long and is followed by >= 16 readable
       bytes, so it can be copied in whole 16-byte strides. */
    uint8_t *piece_data;
    size_t *piece_off;
    size_t *piece_len;
    int esc_mode, ts_mode, null_mode;
    size_t row_fixed; /* per-row bound excluding string payloads, slack included */
} Spec;

int parse_spec(PyObject *o, Spec *sp);
void spec_release(Spec *sp);

/* Build the escape class tables; called once at module import. */
void init_tables(void);
/* Upper bound of the rendered size of row i (OUT_SLACK included). */
size_t row_bound(const Spec *sp, const ColSet *cs, Py_ssize_t i);
/* Render row i at o (row_bound(i) writable bytes); returns the end of the text. */
uint8_t *render_row(const Spec *sp, const ColSet *cs, Py_ssize_t i, uint8_t *o);

/* ------------------------------------------------------------------------- */
/* SHA-256 (sha256.c, sha256_avx2.c, sha256_avx512.c)                        */
/* ------------------------------------------------------------------------- */

extern const uint32_t K256[64];
extern const uint32_t H256[8];
extern const uint8_t ZERO_BLOCK[64];

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Prepare the final 1 or 2 padded blocks of a message; returns the number of tail blocks. */
int sha256_tail(const uint8_t *data, size_t len, uint8_t pad[128]);
void sha256_scalar(const uint8_t *data, size_t len, uint8_t out[32]);
#if AA_HAVE_X86
/* Hash up to 8 (16) messages (lanes >= nl are idle). out[j] receives 32 bytes. */
void sha256_x8(const uint8_t *const txt[8], const size_t len[8], int nl, uint8_t *const out[8]);
void sha256_x16(const uint8_t *const txt[16], const size_t len[16], int nl,
                uint8_t *const out[16]);
#endif

/* ------------------------------------------------------------------------- */
/* Dispatch and threads (dispatch.c)                                         */
/* ------------------------------------------------------------------------- */

/* SHA-256 paths, in order of preference */
enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
extern const char *const ISA_NAMES[3];
extern int g_cpu_isa; /* best path this CPU supports, set at import */

int cpu_best_isa(void);
int default_isa(int want);
int resolve_isa(int want, PyObject *isa_obj);

/* Hash m texts (buf + off[k], len[k]) into out + 32k with the given ISA_* path.
   idx: scratch of m uint32. */
void hash_texts(const uint8_t *buf, const size_t *off, const size_t *len, size_t m,
                uint8_t *out, int isa, uint32_t *idx);

/* Run fn(ctx, a, b, &err) over nt contiguous spans of rows [0, n): span 0 on the calling
   thread, the others on pthreads (inline when a thread cannot start). Returns the OR of
   the spans' err. Call without the GIL. */
typedef void (*span_fn)(void *ctx, Py_ssize_t a, Py_ssize_t b, int *err);
int run_spans(span_fn fn, void *ctx, Py_ssize_t n, int nt);

/* SHA-256 of the canonical text of every row into out (32 bytes per row) over nthreads.
   Returns 0, or 1 when out of memory. Call without the GIL. */
int digest_rows(const Spec *sp, const ColSet *cs, uint8_t *out, int nthreads, int isa);

/* ------------------------------------------------------------------------- */
/* unhex.c, hash64.c, segments.c                                             */
/* ------------------------------------------------------------------------- */

/* Decode every value of string column c (flags: 0 ok, 1 null, 2 malformed, 3 genesis). */
void unhex_column(const Col *c, const uint8_t *genesis, int64_t glen, uint8_t *digests,
                  uint8_t *flags);

/* Build the hex decoding table; called once at module import. */
void init_hex_table(void);

/* The verification pass over a batch of n rows (hash->length), digests dlen bytes each:
   hash and prev decoded into stored/hf and prevd/pf (as unhex_column, 2 dlen hex
   characters), ok[i] = hf[i] == 0 and computed row i equals stored row i, seq[i] =
   i > 0, pf[i] == 0, hf[i-1] == 0 and prevd row i equals stored row i-1. Over nthreads;
   call without the GIL. */
void compare_rows(const Col *hash, const Col *prev, const uint8_t *computed, Py_ssize_t dlen,
                  const uint8_t *genesis, int64_t glen, uint8_t *stored, uint8_t *hf,
                  uint8_t *prevd, uint8_t *pf, uint8_t *ok, uint8_t *seq, int nthreads);

/* 64-bit hashes (0 for null) and null flags of rows [a, b) of string column c. */
void hash64_span(const Col *c, Py_ssize_t a, Py_ssize_t b, uint8_t *hashes, uint8_t *nulls);

/* Root and depth of every row along the kept predecessor links. Returns 0, 1 when out of
   memory, 2 when parent[*bad_i] = *bad_v is out of range. */
int segments_compute(const uint8_t *parent, Py_ssize_t n, int64_t *root, int64_t *depth,
                     Py_ssize_t *bad_i, int64_t *bad_v);

/* Positions (ascending) of the rows i with mask[i] != 0 (mask NULL: every row) whose
   values[i] occurs at least twice among those rows, into out (room for n). Returns their
   count, or -1 when out of memory. */
Py_ssize_t repeated_positions(const uint64_t *values, Py_ssize_t stride, const uint8_t *mask,
                              Py_ssize_t n, int64_t *out);

#pragma GCC visibility pop

#endif /* AA_KERNEL_H */
