/*
 * audit_analytics._native -- native kernel for re-verifying hash-chained audit logs.
 *
 * Builds the canonical JSON text of each row straight from Arrow column buffers,
 * hashes it with SHA-256 (portable scalar code, an AVX2 8-lane and an AVX-512 16-lane
 * multi-buffer implementation, selected at run time), decodes stored hex digests, computes
 * chain segments (root / depth of every row along the kept predecessor links) and fast
 * 64-bit hashes of string columns (duplicate-id candidates).
 *
 * Exports:
 *   canonical(spec, columns) -> list[bytes]
 *   digest(spec, columns, nthreads=1, simd=True, isa=None) -> bytes   (n * 32)
 *   unhex(column, genesis) -> (bytes n*32, bytes n flags)
 *   segments(parent) -> (bytes root n*int64, bytes depth n*int64)
 *   hash64(column, nthreads=1) -> (bytes n*uint64 hashes, bytes n null flags)
 *   _sha256_batch(data, offsets, simd=True, isa=None) -> bytes        (test helper)
 *   _resolve_isa(simd=True, isa=None) -> str                         (test helper)
 *   SIMD_ISA: str  ("avx512", "avx2" or "scalar": the default SHA-256 path at import)
 *   SIMD_AVAILABLE: bool  (SIMD_ISA != "scalar")
 *
 * SHA-256 path: isa=None takes the best the CPU has (AVX-512 F+BW+VL, else AVX2, else
 * scalar), capped on every call by AUDIT_ANALYTICS_NO_SIMD=1 (scalar) and
 * AUDIT_ANALYTICS_NO_AVX512=1 (AVX2 at most); simd=False means scalar. An explicit
 * isa="scalar"|"avx2"|"avx512" ignores the environment and raises ValueError if the CPU
 * lacks it (or if combined with simd=False).
 *
 * A column descriptor is (kind, length, offset, validity, buf1, buf2):
 *   kind 0 utf8 (int32 offsets), 1 large utf8 (int64 offsets): buf1 offsets, buf2 data;
 *   kind 2 timestamp[us, UTC] int64, kind 3 int64: buf1 values, buf2 None.
 * A spec is (keys, item_sep, kv_sep, escape_mode, ts_mode, null_mode).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && !defined(AA_NO_X86)
#include <immintrin.h>
#define AA_HAVE_X86 1
#else
#define AA_HAVE_X86 0
#endif

/* ------------------------------------------------------------------------- */
/* Column descriptors                                                        */
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

/* 0001-01-01T00:00:00 and 9999-12-31T23:59:59.999999 in microseconds since the epoch */
#define TS_MIN_US (-62135596800000000LL)
#define TS_MAX_US (253402300799999999LL)

static void col_release(Col *c)
{
    for (int k = 0; k < 3; k++) {
        if (c->have[k]) {
            PyBuffer_Release(&c->views[k]);
            c->have[k] = 0;
        }
    }
}

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

static int get_buffer(PyObject *obj, Col *c, int slot, const char *what, int idx)
{
    if (PyObject_GetBuffer(obj, &c->views[slot], PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "column %d: %s must support the buffer protocol (got %.100s)", idx, what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    c->have[slot] = 1;
    return 0;
}

/* Parse and fully validate one descriptor. check_ts: verify timestamps are in year range. */
static int parse_column(PyObject *t, Col *c, int idx, int check_ts)
{
    memset(c, 0, sizeof(*c));
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 6) {
        PyErr_Format(PyExc_TypeError,
                     "column %d: descriptor must be a 6-tuple "
                     "(kind, length, offset, validity, buf1, buf2)",
                     idx);
        return -1;
    }
    PyObject *okind = PyTuple_GET_ITEM(t, 0), *olen = PyTuple_GET_ITEM(t, 1),
             *ooff = PyTuple_GET_ITEM(t, 2), *oval = PyTuple_GET_ITEM(t, 3),
             *ob1 = PyTuple_GET_ITEM(t, 4), *ob2 = PyTuple_GET_ITEM(t, 5);
    if (!PyLong_Check(okind) || !PyLong_Check(olen) || !PyLong_Check(ooff)) {
        PyErr_Format(PyExc_TypeError, "column %d: kind, length and offset must be int", idx);
        return -1;
    }
    long kind = PyLong_AsLong(okind);
    if (kind == -1 && PyErr_Occurred())
        return -1;
    if (kind < 0 || kind > 3) {
        PyErr_Format(PyExc_ValueError,
                     "column %d: unknown kind %ld (0=utf8, 1=large_utf8, 2=timestamp[us], 3=int64)",
                     idx, kind);
        return -1;
    }
    c->kind = (int)kind;
    c->length = PyLong_AsSsize_t(olen);
    if (c->length == -1 && PyErr_Occurred())
        return -1;
    c->offset = PyLong_AsSsize_t(ooff);
    if (c->offset == -1 && PyErr_Occurred())
        return -1;
    if (c->length < 0 || c->offset < 0) {
        PyErr_Format(PyExc_ValueError, "column %d: length and offset must be >= 0", idx);
        return -1;
    }
    if (c->length > PY_SSIZE_T_MAX / 16 - c->offset - 16) {
        PyErr_Format(PyExc_ValueError, "column %d: length + offset too large", idx);
        return -1;
    }
    Py_ssize_t end = c->offset + c->length; /* one past the last physical element */

    if (oval != Py_None) {
        if (get_buffer(oval, c, 0, "validity", idx) < 0)
            goto fail;
        if (c->length > 0 && c->views[0].len < (end + 7) / 8) {
            PyErr_Format(PyExc_ValueError,
                         "column %d: validity bitmap too small (%zd bytes, need %zd)", idx,
                         c->views[0].len, (end + 7) / 8);
            goto fail;
        }
        c->validity = (const uint8_t *)c->views[0].buf;
    }
    if (ob1 != Py_None) {
        if (get_buffer(ob1, c, 1, "buf1", idx) < 0)
            goto fail;
        c->buf1 = (const uint8_t *)c->views[1].buf;
        c->len1 = c->views[1].len;
    }
    if (ob2 != Py_None) {
        if (get_buffer(ob2, c, 2, "buf2", idx) < 0)
            goto fail;
        c->buf2 = (const uint8_t *)c->views[2].buf;
        c->len2 = c->views[2].len;
    }
    if (c->length == 0)
        return 0;

    if (c->kind == KIND_UTF8 || c->kind == KIND_LARGE_UTF8) {
        Py_ssize_t w = c->kind == KIND_UTF8 ? 4 : 8;
        if (!c->buf1) {
            PyErr_Format(PyExc_ValueError, "column %d: string column needs an offsets buffer", idx);
            goto fail;
        }
        if (c->len1 / w < end + 1) {
            PyErr_Format(PyExc_ValueError,
                         "column %d: offsets buffer too small (%zd bytes, need %zd)", idx, c->len1,
                         (end + 1) * w);
            goto fail;
        }
        /* Arrow requires monotonic offsets for every slot, null or not. */
        int64_t prev, cur, dlen = c->buf2 ? (int64_t)c->len2 : 0;
        col_str(c, 0, &prev, &cur);
        if (prev < 0) {
            PyErr_Format(PyExc_ValueError, "column %d: negative string offset", idx);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < c->length; i++) {
            int64_t s, e;
            col_str(c, i, &s, &e);
            if (e < s) {
                PyErr_Format(PyExc_ValueError,
                             "column %d: string offsets are not monotonic at element %zd", idx, i);
                goto fail;
            }
            cur = e;
        }
        if (cur > dlen) {
            PyErr_Format(PyExc_ValueError,
                         "column %d: string offsets point past the data buffer (%lld > %lld bytes)",
                         idx, (long long)cur, (long long)dlen);
            goto fail;
        }
    } else {
        if (!c->buf1) {
            PyErr_Format(PyExc_ValueError, "column %d: values buffer is None", idx);
            goto fail;
        }
        if (c->len1 / 8 < end) {
            PyErr_Format(PyExc_ValueError,
                         "column %d: values buffer too small (%zd bytes, need %zd)", idx, c->len1,
                         end * 8);
            goto fail;
        }
        if (c->kind == KIND_TIMESTAMP && check_ts) {
            for (Py_ssize_t i = 0; i < c->length; i++) {
                if (!col_valid(c, i))
                    continue;
                int64_t v = col_i64(c, i);
                if (v < TS_MIN_US || v > TS_MAX_US) {
                    PyErr_Format(PyExc_ValueError,
                                 "column %d: timestamp %lld at element %zd is outside years "
                                 "0001..9999",
                                 idx, (long long)v, i);
                    goto fail;
                }
            }
        }
    }
    return 0;
fail:
    col_release(c);
    return -1;
}

typedef struct {
    Col *cols;
    Py_ssize_t ncols;
    Py_ssize_t n;
} ColSet;

static void colset_release(ColSet *cs)
{
    if (cs->cols) {
        for (Py_ssize_t k = 0; k < cs->ncols; k++)
            col_release(&cs->cols[k]);
        PyMem_Free(cs->cols);
    }
    cs->cols = NULL;
    cs->ncols = 0;
}

static int parse_columns(PyObject *seq, ColSet *cs)
{
    cs->cols = NULL;
    cs->ncols = 0;
    cs->n = 0;
    PyObject *fast = PySequence_Fast(seq, "columns must be a sequence of column descriptors");
    if (!fast)
        return -1;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(fast);
    if (m == 0) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "at least one column is required");
        return -1;
    }
    cs->cols = PyMem_Calloc((size_t)m, sizeof(Col));
    if (!cs->cols) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        if (parse_column(PySequence_Fast_GET_ITEM(fast, k), &cs->cols[k], (int)k, 1) < 0) {
            Py_DECREF(fast);
            colset_release(cs);
            return -1;
        }
        cs->ncols = k + 1;
        if (cs->cols[k].length != cs->cols[0].length) {
            PyErr_Format(PyExc_ValueError,
                         "column %zd has length %zd but column 0 has length %zd "
                         "(all columns must have the same length)",
                         k, cs->cols[k].length, cs->cols[0].length);
            Py_DECREF(fast);
            colset_release(cs);
            return -1;
        }
    }
    Py_DECREF(fast);
    cs->n = cs->cols[0].length;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Spec                                                                      */
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

static void spec_release(Spec *sp)
{
    PyMem_Free(sp->piece_data);
    PyMem_Free(sp->piece_off);
    PyMem_Free(sp->piece_len);
    memset(sp, 0, sizeof(*sp));
}

static int get_mode(PyObject *o, const char *name, int maxv, int *out)
{
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "spec: %s must be an int", name);
        return -1;
    }
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 0 || v > maxv) {
        PyErr_Format(PyExc_ValueError, "spec: %s must be between 0 and %d (got %ld)", name, maxv,
                     v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_spec(PyObject *o, Spec *sp)
{
    memset(sp, 0, sizeof(*sp));
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "spec must be a 6-tuple "
                        "(keys, item_sep, kv_sep, escape_mode, ts_mode, null_mode)");
        return -1;
    }
    PyObject *keys = PyTuple_GET_ITEM(o, 0), *isep = PyTuple_GET_ITEM(o, 1),
             *kvsep = PyTuple_GET_ITEM(o, 2);
    if (!PyTuple_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "spec: keys must be a tuple of bytes");
        return -1;
    }
    if (!PyBytes_Check(isep) || !PyBytes_Check(kvsep)) {
        PyErr_SetString(PyExc_TypeError, "spec: item_sep and kv_sep must be bytes");
        return -1;
    }
    if (get_mode(PyTuple_GET_ITEM(o, 3), "escape_mode", 1, &sp->esc_mode) < 0 ||
        get_mode(PyTuple_GET_ITEM(o, 4), "ts_mode", 1, &sp->ts_mode) < 0 ||
        get_mode(PyTuple_GET_ITEM(o, 5), "null_mode", 1, &sp->null_mode) < 0)
        return -1;
    Py_ssize_t nk = PyTuple_GET_SIZE(keys);
    size_t kvlen = (size_t)PyBytes_GET_SIZE(kvsep);
    size_t islen = (size_t)PyBytes_GET_SIZE(isep);
    size_t total = 0, prefixes = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *key = PyTuple_GET_ITEM(keys, k);
        if (!PyBytes_Check(key)) {
            PyErr_Format(PyExc_TypeError, "spec: key %zd must be bytes", k);
            return -1;
        }
        size_t pl = (size_t)PyBytes_GET_SIZE(key) + 2 + kvlen;
        prefixes += pl;
        total += 2 * pl + islen + 64; /* two pieces, each padded */
    }
    sp->nkeys = nk;
    sp->piece_data = PyMem_Calloc(total + 64, 1);
    sp->piece_off = PyMem_Malloc(sizeof(size_t) * (size_t)(2 * nk + 1));
    sp->piece_len = PyMem_Malloc(sizeof(size_t) * (size_t)(2 * nk + 1));
    if (!sp->piece_data || !sp->piece_off || !sp->piece_len) {
        spec_release(sp);
        PyErr_NoMemory();
        return -1;
    }
    size_t pos = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *key = PyTuple_GET_ITEM(keys, k);
        size_t kl = (size_t)PyBytes_GET_SIZE(key);
        for (int rest = 0; rest < 2; rest++) {
            size_t start = pos;
            if (rest) {
                memcpy(sp->piece_data + pos, PyBytes_AS_STRING(isep), islen);
                pos += islen;
            }
            sp->piece_data[pos++] = '"';
            memcpy(sp->piece_data + pos, PyBytes_AS_STRING(key), kl);
            pos += kl;
            sp->piece_data[pos++] = '"';
            memcpy(sp->piece_data + pos, PyBytes_AS_STRING(kvsep), kvlen);
            pos += kvlen;
            sp->piece_off[2 * k + rest] = start;
            sp->piece_len[2 * k + rest] = pos - start;
            pos += 32; /* zero padding: whole 16-byte strides stay inside the allocation */
        }
    }
    /* braces + per item: separator + prefix + up to 48 bytes of non-string value
       (a timestamp is at most 34 bytes, an int64 20, "null" 4) + 2 quotes for strings */
    sp->row_fixed = 2 + prefixes + (size_t)nk * (islen + 48) + OUT_SLACK;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Rendering                                                                 */
/* ------------------------------------------------------------------------- */

static const char HEXL[] = "0123456789abcdef";

/* class tables: 0 = copy raw, 1 = needs escaping */
static uint8_t ESC_RAW[256], ESC_ASCII[256];

static void init_tables(void)
{
    for (int b = 0; b < 256; b++) {
        int special = b < 0x20 || b == '"' || b == '\\';
        ESC_RAW[b] = (uint8_t)special;
        ESC_ASCII[b] = (uint8_t)(special || b >= 0x7F);
    }
}

static inline uint8_t *put_u(uint8_t *o, uint32_t cp)
{
    o[0] = '\\';
    o[1] = 'u';
    o[2] = (uint8_t)HEXL[(cp >> 12) & 15];
    o[3] = (uint8_t)HEXL[(cp >> 8) & 15];
    o[4] = (uint8_t)HEXL[(cp >> 4) & 15];
    o[5] = (uint8_t)HEXL[cp & 15];
    return o + 6;
}

#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGH 0x8080808080808080ULL
#define SWAR_HASZERO(v) (((v) - SWAR_ONES) & ~(v) & SWAR_HIGH)

#if !AA_HAVE_X86
/* Does the 8-byte word contain a byte that needs escaping? (exact as a yes/no test) */
static inline int swar_special(uint64_t w, int ascii)
{
    uint64_t lt20 = (w - SWAR_ONES * 0x20) & ~w & SWAR_HIGH;
    uint64_t q = SWAR_HASZERO(w ^ (SWAR_ONES * 0x22));
    uint64_t bs = SWAR_HASZERO(w ^ (SWAR_ONES * 0x5C));
    uint64_t r = lt20 | q | bs;
    if (ascii)
        r |= (w & SWAR_HIGH) | SWAR_HASZERO(w ^ (SWAR_ONES * 0x7F));
    return r != 0;
}
#else
/* bit i set = byte i of x needs escaping (SSE2, baseline on x86-64) */
static inline unsigned special_mask16(__m128i x, int ascii)
{
    __m128i q = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
    __m128i c;
    if (ascii) /* signed compare: 0x80..0xFF are negative, so this also flags non-ASCII */
        c = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                         _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7F)));
    else /* unsigned x <= 0x1F */
        c = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c));
}
#endif

/* Escape the special byte at *pp (advancing *pp); returns the new output position. */
static inline uint8_t *escape_one(uint8_t *o, const uint8_t **pp, const uint8_t *end)
{
    const uint8_t *p = *pp;
    uint8_t c = *p;
    if (c < 0x80) {
        *pp = p + 1;
        switch (c) {
        case '"': o[0] = '\\'; o[1] = '"'; return o + 2;
        case '\\': o[0] = '\\'; o[1] = '\\'; return o + 2;
        case '\b': o[0] = '\\'; o[1] = 'b'; return o + 2;
        case '\f': o[0] = '\\'; o[1] = 'f'; return o + 2;
        case '\n': o[0] = '\\'; o[1] = 'n'; return o + 2;
        case '\r': o[0] = '\\'; o[1] = 'r'; return o + 2;
        case '\t': o[0] = '\\'; o[1] = 't'; return o + 2;
        default: return put_u(o, c); /* other controls, DEL (ASCII mode only) */
        }
    }
    /* non-ASCII byte: only reached in ASCII mode */
    uint32_t cp;
    int n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        goto invalid;
    }
    if (end - p < n)
        goto invalid;
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80)
            goto invalid;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        goto invalid;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        goto invalid;
    *pp = p + n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        o = put_u(o, 0xD800 + (cp >> 10));
        return put_u(o, 0xDC00 + (cp & 0x3FF));
    }
    return put_u(o, cp);
invalid: /* each byte that does not start a valid sequence becomes U+FFFD */
    *pp = p + 1;
    return put_u(o, 0xFFFD);
}

/* Escape the UTF-8 string [p, p+len). Writes at most 6*len bytes plus up to 16 bytes of
   scratch past the end (OUT_SLACK). `limit` is the end of the readable source buffer: whole
   16-byte loads are used while they stay below it. */
static uint8_t *put_escaped(uint8_t *o, const uint8_t *p, size_t len, int ascii,
                            const uint8_t *limit)
{
    const uint8_t *end = p + len;
    const uint8_t *cls = ascii ? ESC_ASCII : ESC_RAW;
    while (p < end) {
#if AA_HAVE_X86
        if (limit - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)p);
            unsigned m = special_mask16(x, ascii);
            size_t rem = (size_t)(end - p);
            if (rem < 16)
                m |= 0xFFFFu << rem; /* bytes past the string stop the run too */
            _mm_storeu_si128((__m128i *)o, x);
            if (!m) {
                o += 16;
                p += 16;
                continue;
            }
            unsigned k = (unsigned)__builtin_ctz(m);
            o += k;
            p += k;
            if (p >= end)
                break;
        } else if (!cls[*p]) {
            *o++ = *p++;
            continue;
        }
#else
        (void)limit;
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (swar_special(w, ascii))
                break;
            memcpy(o, &w, 8);
            o += 8;
            p += 8;
        }
        while (p < end && !cls[*p])
            *o++ = *p++;
        if (p >= end)
            break;
#endif
        o = escape_one(o, &p, end);
    }
    return o;
}

static inline uint8_t *put_i64(uint8_t *o, int64_t v)
{
    uint64_t u;
    if (v < 0) {
        *o++ = '-';
        u = (uint64_t)0 - (uint64_t)v;
    } else {
        u = (uint64_t)v;
    }
    uint8_t tmp[24];
    int k = 0;
    do {
        tmp[k++] = (uint8_t)('0' + u % 10);
        u /= 10;
    } while (u);
    while (k)
        *o++ = tmp[--k];
    return o;
}

static inline uint8_t *put_2(uint8_t *o, int v)
{
    o[0] = (uint8_t)('0' + v / 10);
    o[1] = (uint8_t)('0' + v % 10);
    return o + 2;
}

/* Howard Hinnant's civil_from_days */
static inline void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

#define US_PER_DAY 86400000000LL

static uint8_t *put_ts(uint8_t *o, int64_t us, int mode)
{
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000;
    int frac = (int)(rem % 1000000);
    int hh = (int)(secs / 3600), mi = (int)((secs / 60) % 60), ss = (int)(secs % 60);
    int yr = (int)y; /* validated to 1..9999 */
    *o++ = '"';
    o = put_2(o, yr / 100);
    o = put_2(o, yr % 100);
    *o++ = '-';
    o = put_2(o, m);
    *o++ = '-';
    o = put_2(o, d);
    *o++ = 'T';
    o = put_2(o, hh);
    *o++ = ':';
    o = put_2(o, mi);
    *o++ = ':';
    o = put_2(o, ss);
    if (mode == 0) {
        if (frac) {
            *o++ = '.';
            o = put_2(o, frac / 10000);
            o = put_2(o, (frac / 100) % 100);
            o = put_2(o, frac % 100);
        }
        memcpy(o, "+00:00", 6);
        o += 6;
    } else {
        int ms = frac / 1000;
        *o++ = '.';
        *o++ = (uint8_t)('0' + ms / 100);
        o = put_2(o, ms % 100);
        *o++ = 'Z';
    }
    *o++ = '"';
    return o;
}

/* Upper bound of the rendered size of row i. */
static inline size_t row_bound(const Spec *sp, const ColSet *cs, Py_ssize_t i)
{
    size_t b = sp->row_fixed;
    for (Py_ssize_t k = 0; k < cs->ncols; k++) {
        const Col *c = &cs->cols[k];
        if (c->kind <= KIND_LARGE_UTF8) {
            int64_t s, e;
            col_str(c, i, &s, &e);
            b += 6 * (size_t)(e - s);
        }
    }
    return b;
}

/* Copy n bytes in 16-byte strides (source padded, destination has OUT_SLACK). */
static inline uint8_t *copy_strided(uint8_t *o, const uint8_t *src, size_t n)
{
#if AA_HAVE_X86
    for (size_t k = 0; k < n; k += 16)
        _mm_storeu_si128((__m128i *)(o + k), _mm_loadu_si128((const __m128i *)(src + k)));
#else
    memcpy(o, src, n);
#endif
    return o + n;
}

static uint8_t *render_row(const Spec *sp, const ColSet *cs, Py_ssize_t i, uint8_t *o)
{
    int first = 1;
    *o++ = '{';
    for (Py_ssize_t k = 0; k < cs->ncols; k++) {
        const Col *c = &cs->cols[k];
        int valid = col_valid(c, i);
        if (!valid && sp->null_mode == 1)
            continue;
        Py_ssize_t pi = 2 * k + !first;
        first = 0;
        const uint8_t *src = sp->piece_data + sp->piece_off[pi];
        size_t pl = sp->piece_len[pi];
        o = copy_strided(o, src, pl);
        if (!valid) {
            memcpy(o, "null", 4);
            o += 4;
            continue;
        }
        switch (c->kind) {
        case KIND_UTF8:
        case KIND_LARGE_UTF8: {
            int64_t s, e;
            col_str(c, i, &s, &e);
            *o++ = '"';
            if (e > s)
                o = put_escaped(o, c->buf2 + s, (size_t)(e - s), sp->esc_mode == 0,
                                c->buf2 + c->len2);
            *o++ = '"';
            break;
        }
        case KIND_TIMESTAMP:
            o = put_ts(o, col_i64(c, i), sp->ts_mode);
            break;
        default:
            o = put_i64(o, col_i64(c, i));
            break;
        }
    }
    *o++ = '}';
    return o;
}

/* ------------------------------------------------------------------------- */
/* SHA-256: scalar                                                           */
/* ------------------------------------------------------------------------- */

static const uint32_t K256[64] = {
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

static const uint32_t H256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static inline uint32_t ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

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
static inline int sha256_tail(const uint8_t *data, size_t len, uint8_t pad[128])
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

static void sha256_scalar(const uint8_t *data, size_t len, uint8_t out[32])
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

/* ------------------------------------------------------------------------- */
/* SHA-256: AVX2, 8 independent messages at once                             */
/* ------------------------------------------------------------------------- */

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

static const uint8_t ZERO_BLOCK[64];

/* Hash up to 8 messages (lanes >= nl are idle). out[j] receives 32 bytes. */
AVX2_FN static void sha256_x8(const uint8_t *const txt[8], const size_t len[8], int nl,
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

/* ------------------------------------------------------------------------- */
/* SHA-256: AVX-512, 16 independent messages at once                         */
/* ------------------------------------------------------------------------- */

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
AVX512_FN static void sha256_x16(const uint8_t *const txt[16], const size_t len[16], int nl,
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

/* SHA-256 paths, in order of preference */
enum { ISA_SCALAR = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
static const char *const ISA_NAMES[3] = {"scalar", "avx2", "avx512"};

/* best path this CPU supports (ignoring the environment) */
static int cpu_best_isa(void)
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

static int g_cpu_isa = ISA_SCALAR;

static int env_is_1(const char *name)
{
    const char *env = getenv(name);
    return env && env[0] == '1' && env[1] == '\0';
}

/* Default path for a call: the CPU's best, capped by AUDIT_ANALYTICS_NO_SIMD=1 (scalar) and
   AUDIT_ANALYTICS_NO_AVX512=1 (AVX2 at most). Read on every call. want = 0 -> scalar. */
static int default_isa(int want)
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
static int resolve_isa(int want, PyObject *isa_obj)
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
static void hash_texts(const uint8_t *buf, const size_t *off, const size_t *len, size_t m,
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
/* digest workers                                                            */
/* ------------------------------------------------------------------------- */

#define CHUNK_ROWS 4096
#define CHUNK_BYTES (2u << 20)

typedef struct {
    const Spec *sp;
    const ColSet *cs;
    Py_ssize_t a, b;
    uint8_t *out; /* full output; row i at out + 32 i */
    int isa; /* ISA_* */
    int err; /* 1 = out of memory */
} Job;

static void *digest_worker(void *arg)
{
    Job *jb = (Job *)arg;
    size_t cap = CHUNK_BYTES + 4096;
    uint8_t *buf = malloc(cap);
    size_t *off = malloc(sizeof(size_t) * CHUNK_ROWS);
    size_t *len = malloc(sizeof(size_t) * CHUNK_ROWS);
    uint32_t *idx = malloc(sizeof(uint32_t) * CHUNK_ROWS);
    if (!buf || !off || !len || !idx) {
        jb->err = 1;
        goto done;
    }
    Py_ssize_t i = jb->a;
    while (i < jb->b) {
        Py_ssize_t first = i;
        size_t pos = 0, m = 0;
        while (i < jb->b && m < CHUNK_ROWS && pos < CHUNK_BYTES) {
            size_t bound = row_bound(jb->sp, jb->cs, i);
            if (pos + bound > cap) {
                size_t ncap = cap * 2 > pos + bound ? cap * 2 : pos + bound;
                uint8_t *nb = realloc(buf, ncap);
                if (!nb) {
                    jb->err = 1;
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
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Python functions                                                          */
/* ------------------------------------------------------------------------- */

PyDoc_STRVAR(canonical_doc,
             "canonical(spec, columns) -> list[bytes]\n\n"
             "Canonical JSON text of every row.");

static PyObject *py_canonical(PyObject *self, PyObject *args)
{
    PyObject *ospec, *ocols;
    if (!PyArg_ParseTuple(args, "OO:canonical", &ospec, &ocols))
        return NULL;
    Spec sp;
    ColSet cs;
    if (parse_spec(ospec, &sp) < 0)
        return NULL;
    if (parse_columns(ocols, &cs) < 0) {
        spec_release(&sp);
        return NULL;
    }
    PyObject *res = NULL;
    uint8_t *buf = NULL;
    if (cs.ncols != sp.nkeys) {
        PyErr_Format(PyExc_ValueError, "spec has %zd keys but %zd columns were given", sp.nkeys,
                     cs.ncols);
        goto out;
    }
    res = PyList_New(cs.n);
    if (!res)
        goto out;
    size_t cap = 0;
    for (Py_ssize_t i = 0; i < cs.n; i++) {
        size_t bound = row_bound(&sp, &cs, i);
        if (bound > cap) {
            PyMem_Free(buf);
            cap = bound * 2;
            buf = PyMem_Malloc(cap);
            if (!buf) {
                PyErr_NoMemory();
                Py_CLEAR(res);
                goto out;
            }
        }
        uint8_t *e = render_row(&sp, &cs, i, buf);
        PyObject *b = PyBytes_FromStringAndSize((const char *)buf, e - buf);
        if (!b) {
            Py_CLEAR(res);
            goto out;
        }
        PyList_SET_ITEM(res, i, b);
    }
out:
    PyMem_Free(buf);
    colset_release(&cs);
    spec_release(&sp);
    return res;
}

PyDoc_STRVAR(digest_doc,
             "digest(spec, columns, nthreads=1, simd=True, isa=None) -> bytes\n\n"
             "Raw SHA-256 (32 bytes per row, row i at [32i, 32i+32)) of the canonical text of\n"
             "every row. The GIL is released; nthreads > 1 splits rows over pthreads.\n"
             "isa=None picks the best path (SIMD_ISA), capped per call by\n"
             "AUDIT_ANALYTICS_NO_SIMD=1 (scalar) and AUDIT_ANALYTICS_NO_AVX512=1 (AVX2 at most);\n"
             "simd=False forces the scalar SHA-256. isa='scalar', 'avx2' or 'avx512' selects a\n"
             "path explicitly (environment ignored; ValueError if this CPU lacks it).");

static PyObject *py_digest(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"spec", "columns", "nthreads", "simd", "isa", NULL};
    PyObject *ospec, *ocols, *oisa = NULL;
    int nthreads = 1, want_simd = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|ipO:digest", kwlist, &ospec, &ocols,
                                     &nthreads, &want_simd, &oisa))
        return NULL;
    if (nthreads < 1) {
        PyErr_SetString(PyExc_ValueError, "nthreads must be >= 1");
        return NULL;
    }
    int isa = resolve_isa(want_simd, oisa);
    if (isa < 0)
        return NULL;
    Spec sp;
    ColSet cs;
    if (parse_spec(ospec, &sp) < 0)
        return NULL;
    if (parse_columns(ocols, &cs) < 0) {
        spec_release(&sp);
        return NULL;
    }
    PyObject *res = NULL;
    if (cs.ncols != sp.nkeys) {
        PyErr_Format(PyExc_ValueError, "spec has %zd keys but %zd columns were given", sp.nkeys,
                     cs.ncols);
        goto out;
    }
    if (cs.n > PY_SSIZE_T_MAX / 32) {
        PyErr_NoMemory();
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, cs.n * 32);
    if (!res)
        goto out;
    Py_ssize_t n = cs.n;
    int nt = nthreads > 64 ? 64 : nthreads;
    if ((Py_ssize_t)nt > n)
        nt = n > 0 ? (int)n : 1;
    Job jobs[64];
    pthread_t tids[64];
    int started[64];
    int err = 0;
    uint8_t *outp = (uint8_t *)PyBytes_AS_STRING(res);
    Py_BEGIN_ALLOW_THREADS
    for (int k = 0; k < nt; k++) {
        jobs[k].sp = &sp;
        jobs[k].cs = &cs;
        jobs[k].a = (Py_ssize_t)((int64_t)n * k / nt);
        jobs[k].b = (Py_ssize_t)((int64_t)n * (k + 1) / nt);
        jobs[k].out = outp;
        jobs[k].isa = isa;
        jobs[k].err = 0;
        started[k] = 0;
    }
    for (int k = 1; k < nt; k++)
        started[k] = pthread_create(&tids[k], NULL, digest_worker, &jobs[k]) == 0;
    digest_worker(&jobs[0]);
    for (int k = 1; k < nt; k++) {
        if (started[k])
            pthread_join(tids[k], NULL);
        else
            digest_worker(&jobs[k]); /* could not start a thread: do it here */
    }
    for (int k = 0; k < nt; k++)
        err |= jobs[k].err;
    Py_END_ALLOW_THREADS
    if (err) {
        Py_CLEAR(res);
        PyErr_NoMemory();
    }
out:
    colset_release(&cs);
    spec_release(&sp);
    return res;
}

PyDoc_STRVAR(unhex_doc,
             "unhex(column, genesis) -> (digests, flags)\n\n"
             "Decode a string column of stored hex hashes: digests is n*32 bytes, flags n bytes\n"
             "(0 = decoded 64-char lowercase hex, 1 = null, 2 = malformed, 3 = equals genesis).\n"
             "Rows with a non-zero flag get 32 zero bytes.");

static PyObject *py_unhex(PyObject *self, PyObject *args)
{
    PyObject *ocol;
    Py_buffer gen;
    if (!PyArg_ParseTuple(args, "Oy*:unhex", &ocol, &gen))
        return NULL;
    Col c;
    if (parse_column(ocol, &c, 0, 0) < 0) {
        PyBuffer_Release(&gen);
        return NULL;
    }
    PyObject *dig = NULL, *flg = NULL, *res = NULL;
    if (c.kind != KIND_UTF8 && c.kind != KIND_LARGE_UTF8) {
        PyErr_SetString(PyExc_TypeError, "unhex: column must be a string column (kind 0 or 1)");
        goto out;
    }
    Py_ssize_t n = c.length;
    if (n > PY_SSIZE_T_MAX / 32) {
        PyErr_NoMemory();
        goto out;
    }
    dig = PyBytes_FromStringAndSize(NULL, n * 32);
    flg = PyBytes_FromStringAndSize(NULL, n);
    if (!dig || !flg)
        goto out;
    uint8_t *d = (uint8_t *)PyBytes_AS_STRING(dig), *f = (uint8_t *)PyBytes_AS_STRING(flg);
    const uint8_t *g = (const uint8_t *)gen.buf;
    int64_t glen = gen.len;
    Py_BEGIN_ALLOW_THREADS
    int8_t hv[256];
    memset(hv, -1, sizeof(hv));
    for (int k = 0; k < 10; k++)
        hv['0' + k] = (int8_t)k;
    for (int k = 0; k < 6; k++)
        hv['a' + k] = (int8_t)(10 + k);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t *o = d + 32 * i;
        if (!col_valid(&c, i)) {
            f[i] = 1;
            memset(o, 0, 32);
            continue;
        }
        int64_t s, e;
        col_str(&c, i, &s, &e);
        const uint8_t *p = c.buf2 ? c.buf2 + s : (const uint8_t *)"";
        int64_t l = e - s;
        if (l == glen && (l == 0 || memcmp(p, g, (size_t)l) == 0)) {
            f[i] = 3;
            memset(o, 0, 32);
            continue;
        }
        if (l != 64) {
            f[i] = 2;
            memset(o, 0, 32);
            continue;
        }
        int bad = 0;
        for (int k = 0; k < 32; k++) {
            int hi = hv[p[2 * k]], lo = hv[p[2 * k + 1]];
            bad |= hi | lo;
            o[k] = (uint8_t)(((unsigned)hi << 4) | ((unsigned)lo & 15u));
        }
        if (bad < 0) {
            f[i] = 2;
            memset(o, 0, 32);
        } else {
            f[i] = 0;
        }
    }
    Py_END_ALLOW_THREADS
    res = PyTuple_Pack(2, dig, flg);
out:
    Py_XDECREF(dig);
    Py_XDECREF(flg);
    col_release(&c);
    PyBuffer_Release(&gen);
    return res;
}

PyDoc_STRVAR(segments_doc,
             "segments(parent) -> (root, depth)\n\n"
             "parent: buffer of n native int64, parent[i] = predecessor row of i or -1.\n"
             "A link i -> parent[i] is kept when parent[i] >= 0 and parent[i] has exactly one\n"
             "child. root[i] is the first row of i's path of kept links, depth[i] the distance\n"
             "from it (both n native int64). Cycles are broken at their lowest index.");

static PyObject *py_segments(PyObject *self, PyObject *args)
{
    Py_buffer pb;
    if (!PyArg_ParseTuple(args, "y*:segments", &pb))
        return NULL;
    PyObject *oroot = NULL, *odepth = NULL, *res = NULL;
    if (pb.len % 8 != 0) {
        PyErr_Format(PyExc_ValueError,
                     "segments: parent buffer length %zd is not a multiple of 8 (int64)", pb.len);
        goto out;
    }
    Py_ssize_t n = pb.len / 8;
    oroot = PyBytes_FromStringAndSize(NULL, n * 8);
    odepth = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!oroot || !odepth)
        goto out;
    const uint8_t *pp = (const uint8_t *)pb.buf;
    int64_t *root = (int64_t *)PyBytes_AS_STRING(oroot);
    int64_t *depth = (int64_t *)PyBytes_AS_STRING(odepth);
    int err = 0; /* 1 = nomem, 2 = out of range */
    Py_ssize_t bad_i = 0;
    int64_t bad_v = 0;
    Py_BEGIN_ALLOW_THREADS
    /* cnt[p] = number of children of p, saturated at 2. The root output doubles as the
       "down" array (down[p] = the only child of p over a kept link, or -1) until a row is
       visited; each walk reads down[j] before it overwrites root[j]. */
    uint8_t *cnt = calloc((size_t)n + 1, 1);
    int64_t *down = root;
    if (!cnt) {
        err = 1;
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t p = load_i64(pp + 8 * i);
            if (p >= n || p < -1) {
                err = 2;
                bad_i = i;
                bad_v = p;
                break;
            }
            if (p >= 0 && cnt[p] < 2)
                cnt[p]++;
        }
    }
    if (!err) {
        for (Py_ssize_t i = 0; i < n; i++) {
            down[i] = -1;
            depth[i] = -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t p = load_i64(pp + 8 * i);
            if (p >= 0 && cnt[p] == 1)
                down[p] = i;
        }
        /* walk every path from its root (a row without a kept upward link) */
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t p = load_i64(pp + 8 * i);
            if (p >= 0 && cnt[p] == 1)
                continue;
            int64_t d = 0, j = i;
            while (j >= 0 && depth[j] < 0) {
                int64_t nxt = down[j];
                root[j] = i;
                depth[j] = d++;
                j = nxt;
            }
        }
        /* remaining rows lie on cycles of kept links (a row on such a cycle has its single
           kept parent and single kept child on the cycle, so nothing hangs off it); scanning
           in index order meets each cycle first at its lowest index, which becomes the root */
        for (Py_ssize_t i = 0; i < n; i++) {
            if (depth[i] >= 0)
                continue;
            int64_t d = 0, j = i;
            while (j >= 0 && depth[j] < 0) {
                int64_t nxt = down[j];
                root[j] = i;
                depth[j] = d++;
                j = nxt;
            }
        }
    }
    free(cnt);
    Py_END_ALLOW_THREADS
    if (err == 1) {
        PyErr_NoMemory();
        goto out;
    }
    if (err == 2) {
        PyErr_Format(PyExc_ValueError,
                     "segments: parent[%zd] = %lld is out of range (must be -1 or 0..%zd)", bad_i,
                     (long long)bad_v, n - 1);
        goto out;
    }
    res = PyTuple_Pack(2, oroot, odepth);
out:
    Py_XDECREF(oroot);
    Py_XDECREF(odepth);
    PyBuffer_Release(&pb);
    return res;
}

/* ------------------------------------------------------------------------- */
/* hash64: fast 64-bit string hash (non-cryptographic)                       */
/* ------------------------------------------------------------------------- */

/* A wyhash-style construction (our own short variant; not bit-compatible with wyhash).
   mix(a, b) = low ^ high half of the 128-bit product a * b: one multiply diffuses every input
   bit into the middle bits of the product, the fold brings them down to all 64 bits.
   Words are read little-endian and never past the end of the string:
     len <= 16: a, b from two (possibly overlapping) 4-byte reads each, or for 1..3 bytes
                a = p[0] << 16 | p[len/2] << 8 | p[len-1], b = 0;
     17..48:    st = mix(w0 ^ P1, w1 ^ st) [^ mix(w2 ^ P2, w3 ^ st) if len > 32], then
                a, b = the last 16 bytes (overlapping reads);
     len > 48:  st = mix(w0 ^ P1, w1 ^ st) for each 16-byte stride while > 16 bytes remain,
                then a, b = the last 16 bytes (overlapping the previous stride if needed).
   Final avalanche: (lo, hi) = (a ^ P1) * (b ^ st) as 128 bits; h = mix(lo ^ P0 ^ len, hi ^ P1).
   st starts at P0 ^ P3. Not collision resistant against chosen inputs: it is meant for
   bucketing / duplicate candidates that are then confirmed on the strings themselves. */
#define HP0 0xa0761d6478bd642fULL
#define HP1 0xe7037ed1a0b428dbULL
#define HP2 0x8ebc6af09c88c6e3ULL
#define HP3 0x589965cc75374cc3ULL

/* 128-bit product a * b: returns the low half, stores the high half in *hi */
static inline uint64_t h_mul(uint64_t a, uint64_t b, uint64_t *hi)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* (GCC spills an unsigned __int128 product through the stack here; mulq does not) */
    uint64_t lo;
    __asm__("mulq %3" : "=a"(lo), "=d"(*hi) : "0"(a), "rm"(b) : "cc");
    return lo;
#elif defined(__SIZEOF_INT128__)
    unsigned __int128 r = (unsigned __int128)a * b;
    *hi = (uint64_t)(r >> 64);
    return (uint64_t)r;
#else
    uint64_t ha = a >> 32, hb = b >> 32, la = (uint32_t)a, lb = (uint32_t)b;
    uint64_t rh = ha * hb, rm0 = ha * lb, rm1 = hb * la, rl = la * lb, t = rl + (rm0 << 32);
    uint64_t c = t < rl, lo = t + (rm1 << 32);
    c += lo < t;
    *hi = rh + (rm0 >> 32) + (rm1 >> 32) + c;
    return lo;
#endif
}

static inline uint64_t h_mix(uint64_t a, uint64_t b)
{
    uint64_t hi, lo = h_mul(a, b, &hi);
    return lo ^ hi;
}

static inline uint64_t h_r64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t h_r32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t hash64_bytes(const uint8_t *p, size_t len)
{
    uint64_t st = HP0 ^ HP3, a, b;
    if (len <= 16) {
        if (len >= 4) {
            size_t d = (len >> 3) << 2; /* 0 for 4..7 bytes, 4 for 8..16 */
            a = (h_r32(p) << 32) | h_r32(p + d);
            b = (h_r32(p + len - 4) << 32) | h_r32(p + len - 4 - d);
        } else if (len > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else if (len <= 48) {
        /* strides [0, 16) and [16, 32) (if len > 32) mixed independently */
        uint64_t x = h_mix(h_r64(p) ^ HP1, h_r64(p + 8) ^ st);
        if (len > 32)
            x ^= h_mix(h_r64(p + 16) ^ HP2, h_r64(p + 24) ^ st);
        st = x;
        a = h_r64(p + len - 16);
        b = h_r64(p + len - 8);
    } else {
        size_t i = len;
        while (i > 16) {
            st = h_mix(h_r64(p) ^ HP1, h_r64(p + 8) ^ st);
            p += 16;
            i -= 16;
        }
        a = h_r64(p + i - 16);
        b = h_r64(p + i - 8);
    }
    uint64_t hi, lo = h_mul(a ^ HP1, b ^ st, &hi);
    return h_mix(lo ^ HP0 ^ (uint64_t)len, hi ^ HP1);
}

/* Hash string elements [0, n) of a column (physical index = i + offset; w = offset width).
   Inlined with constant w so that each call site is a specialised loop. */
static inline __attribute__((always_inline)) void
hash64_range(const uint8_t *data, const uint8_t *offs, int w, const uint8_t *validity,
             Py_ssize_t offset, Py_ssize_t n, uint8_t *restrict hp, uint8_t *restrict np)
{
    if (n <= 0)
        return; /* an empty column's buffers are not validated */
    offs += (size_t)w * (size_t)offset;
    int64_t s = w == 4 ? load_i32(offs) : load_i64(offs);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t e = w == 4 ? load_i32(offs + 4 * (i + 1)) : load_i64(offs + 8 * (i + 1));
        uint64_t h = hash64_bytes(data + s, (size_t)(e - s));
        uint8_t isnull = 0;
        if (validity) {
            Py_ssize_t j = i + offset;
            isnull = !((validity[j >> 3] >> (j & 7)) & 1);
            h = isnull ? 0 : h; /* branch-free: a null slot still has in-bounds offsets */
        }
        memcpy(hp + 8 * i, &h, 8);
        np[i] = isnull;
        s = e;
    }
}

PyDoc_STRVAR(hash64_doc,
             "hash64(column, nthreads=1) -> (hashes, nulls)\n\n"
             "64-bit non-cryptographic hash of every value of a string column (kind 0 or 1):\n"
             "hashes is n*8 bytes of native-endian uint64 (0 for nulls), nulls n bytes\n"
             "(1 = null, 0 = valid). Equal strings hash equal whatever the array type, offset\n"
             "or slicing. Fast and well mixed (wyhash-style), NOT collision resistant against\n"
             "chosen inputs: confirm candidate duplicates on the strings. The GIL is released;\n"
             "nthreads > 1 splits the rows over pthreads (columns of >= 65536 rows).");

typedef struct {
    const Col *c;
    Py_ssize_t a, b; /* logical rows [a, b) */
    uint8_t *hp, *np;
} H64Job;

static void *hash64_worker(void *arg)
{
    const H64Job *jb = (const H64Job *)arg;
    const Col *c = jb->c;
    const uint8_t *data = c->buf2 ? c->buf2 : (const uint8_t *)"";
    Py_ssize_t a = jb->a, m = jb->b - jb->a;
    if (c->kind == KIND_UTF8)
        hash64_range(data, c->buf1, 4, c->validity, c->offset + a, m, jb->hp + 8 * a,
                     jb->np + a);
    else
        hash64_range(data, c->buf1, 8, c->validity, c->offset + a, m, jb->hp + 8 * a,
                     jb->np + a);
    return NULL;
}

static PyObject *py_hash64(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"column", "nthreads", NULL};
    PyObject *ocol;
    int nthreads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:hash64", kwlist, &ocol, &nthreads))
        return NULL;
    if (nthreads < 1) {
        PyErr_SetString(PyExc_ValueError, "nthreads must be >= 1");
        return NULL;
    }
    Col c;
    if (parse_column(ocol, &c, 0, 0) < 0)
        return NULL;
    PyObject *oh = NULL, *on = NULL, *res = NULL;
    if (c.kind != KIND_UTF8 && c.kind != KIND_LARGE_UTF8) {
        PyErr_SetString(PyExc_TypeError, "hash64: column must be a string column (kind 0 or 1)");
        goto out;
    }
    Py_ssize_t n = c.length;
    if (n > PY_SSIZE_T_MAX / 8) {
        PyErr_NoMemory();
        goto out;
    }
    oh = PyBytes_FromStringAndSize(NULL, n * 8);
    on = PyBytes_FromStringAndSize(NULL, n);
    if (!oh || !on)
        goto out;
    uint8_t *hp = (uint8_t *)PyBytes_AS_STRING(oh), *np = (uint8_t *)PyBytes_AS_STRING(on);
    int nt = nthreads > 64 ? 64 : nthreads;
    if (n < 65536)
        nt = 1; /* not worth a thread */
    H64Job jobs[64];
    pthread_t tids[64];
    Py_BEGIN_ALLOW_THREADS
    for (int k = 0; k < nt; k++) {
        jobs[k].c = &c;
        jobs[k].a = (Py_ssize_t)((int64_t)n * k / nt);
        jobs[k].b = (Py_ssize_t)((int64_t)n * (k + 1) / nt);
        jobs[k].hp = hp;
        jobs[k].np = np;
    }
    int started[64] = {0};
    for (int k = 1; k < nt; k++)
        started[k] = pthread_create(&tids[k], NULL, hash64_worker, &jobs[k]) == 0;
    hash64_worker(&jobs[0]);
    for (int k = 1; k < nt; k++) {
        if (started[k])
            pthread_join(tids[k], NULL);
        else
            hash64_worker(&jobs[k]);
    }
    Py_END_ALLOW_THREADS
    res = PyTuple_Pack(2, oh, on);
out:
    Py_XDECREF(oh);
    Py_XDECREF(on);
    col_release(&c);
    return res;
}

PyDoc_STRVAR(resolve_isa_doc,
             "_resolve_isa(simd=True, isa=None) -> str\n\n"
             "Test helper: the SHA-256 path ('scalar', 'avx2' or 'avx512') that digest() and\n"
             "_sha256_batch() would use for these keywords in the current environment.");

static PyObject *py_resolve_isa(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"simd", "isa", NULL};
    int want_simd = 1;
    PyObject *oisa = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pO:_resolve_isa", kwlist, &want_simd, &oisa))
        return NULL;
    int isa = resolve_isa(want_simd, oisa);
    if (isa < 0)
        return NULL;
    return PyUnicode_FromString(ISA_NAMES[isa]);
}

PyDoc_STRVAR(sha256_batch_doc,
             "_sha256_batch(data, offsets, simd=True, isa=None) -> bytes\n\n"
             "Test helper: SHA-256 of data[offsets[k]:offsets[k+1]] for each k (offsets is a\n"
             "buffer of native int64, non-decreasing, within data). Returns 32 bytes per text.\n"
             "simd= and isa= as for digest(). Single-threaded; the GIL is released.");

static PyObject *py_sha256_batch(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "offsets", "simd", "isa", NULL};
    Py_buffer db, ob;
    int want_simd = 1;
    PyObject *oisa = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*y*|pO:_sha256_batch", kwlist, &db, &ob,
                                     &want_simd, &oisa))
        return NULL;
    PyObject *res = NULL;
    size_t *off = NULL, *len = NULL;
    uint32_t *idx = NULL;
    int isa = resolve_isa(want_simd, oisa);
    if (isa < 0)
        goto out;
    if (ob.len % 8 != 0 || ob.len < 8) {
        PyErr_SetString(PyExc_ValueError, "offsets must hold at least one native int64");
        goto out;
    }
    Py_ssize_t m = ob.len / 8 - 1;
    const uint8_t *op = (const uint8_t *)ob.buf;
    off = PyMem_Malloc(sizeof(size_t) * ((size_t)m + 1));
    len = PyMem_Malloc(sizeof(size_t) * ((size_t)m + 1));
    idx = PyMem_Malloc(sizeof(uint32_t) * ((size_t)m + 1));
    if (!off || !len || !idx) {
        PyErr_NoMemory();
        goto out;
    }
    for (Py_ssize_t k = 0; k < m; k++) {
        int64_t s = load_i64(op + 8 * k), e = load_i64(op + 8 * (k + 1));
        if (s < 0 || e < s || e > db.len) {
            PyErr_Format(PyExc_ValueError, "bad offsets at %zd", k);
            goto out;
        }
        off[k] = (size_t)s;
        len[k] = (size_t)(e - s);
    }
    if (m > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many texts");
        goto out;
    }
    res = PyBytes_FromStringAndSize(NULL, m * 32);
    if (!res)
        goto out;
    uint8_t *outp = (uint8_t *)PyBytes_AS_STRING(res);
    Py_BEGIN_ALLOW_THREADS
    hash_texts((const uint8_t *)db.buf, off, len, (size_t)m, outp, isa, idx);
    Py_END_ALLOW_THREADS
out:
    PyMem_Free(off);
    PyMem_Free(len);
    PyMem_Free(idx);
    PyBuffer_Release(&db);
    PyBuffer_Release(&ob);
    return res;
}

static PyMethodDef native_methods[] = {
    {"canonical", py_canonical, METH_VARARGS, canonical_doc},
    {"digest", (PyCFunction)(void (*)(void))py_digest, METH_VARARGS | METH_KEYWORDS, digest_doc},
    {"unhex", py_unhex, METH_VARARGS, unhex_doc},
    {"segments", py_segments, METH_VARARGS, segments_doc},
    {"hash64", (PyCFunction)(void (*)(void))py_hash64, METH_VARARGS | METH_KEYWORDS, hash64_doc},
    {"_sha256_batch", (PyCFunction)(void (*)(void))py_sha256_batch, METH_VARARGS | METH_KEYWORDS,
     sha256_batch_doc},
    {"_resolve_isa", (PyCFunction)(void (*)(void))py_resolve_isa, METH_VARARGS | METH_KEYWORDS,
     resolve_isa_doc},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "audit_analytics._native",
    "Native kernel: canonical JSON rows from Arrow buffers, multi-lane SHA-256, chain segments,\n"
    "64-bit string hashes.",
    -1, native_methods};

PyMODINIT_FUNC PyInit__native(void)
{
    init_tables();
    g_cpu_isa = cpu_best_isa();
    PyObject *m = PyModule_Create(&native_module);
    if (!m)
        return NULL;
    int isa = default_isa(1);
    if (PyModule_AddObject(m, "SIMD_AVAILABLE", PyBool_FromLong(isa != ISA_SCALAR)) < 0 ||
        PyModule_AddStringConstant(m, "SIMD_ISA", ISA_NAMES[isa]) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
