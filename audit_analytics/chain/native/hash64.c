/*
 * hash64: a fast 64-bit hash of string values (non-cryptographic), for duplicate-id
 * candidates and id lookups.
 */
#include "kernel.h"

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

void hash64_span(const Col *c, Py_ssize_t a, Py_ssize_t b, uint8_t *hp, uint8_t *np)
{
    const uint8_t *data = c->buf2 ? c->buf2 : (const uint8_t *)"";
    Py_ssize_t m = b - a;
    if (c->kind == KIND_UTF8)
        hash64_range(data, c->buf1, 4, c->validity, c->offset + a, m, hp + 8 * a, np + a);
    else
        hash64_range(data, c->buf1, 8, c->validity, c->offset + a, m, hp + 8 * a, np + a);
}
