/*
 * Canonical JSON text of a row, rendered straight from the Arrow column buffers exactly as
 * the profile's producer wrote it: keys in spec order, the spec's separators, strings
 * escaped ASCII-only (json.dumps) or raw (JSON.stringify), timestamps as
 * datetime.isoformat() or Date.toISOString(), nulls as null or left out.
 */
#include "kernel.h"

static const char HEXL[] = "0123456789abcdef";

/* class tables: 0 = copy raw, 1 = needs escaping */
static uint8_t ESC_RAW[256], ESC_ASCII[256];

void init_tables(void)
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
size_t row_bound(const Spec *sp, const ColSet *cs, Py_ssize_t i)
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

uint8_t *render_row(const Spec *sp, const ColSet *cs, Py_ssize_t i, uint8_t *o)
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
