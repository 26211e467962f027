/*
 * Repeated values: the rows whose 64-bit value occurs more than once among the selected
 * rows, found with open-addressing hash tables (two linear passes) instead of a sort.
 *
 * The values are already hashes (digest prefixes, hash64 of ids), but they come from the
 * data, which an attacker may choose; the slot of a value is therefore taken from a
 * bijective mix with a per-call random multiplier, so that no input can be built to make
 * many distinct values share slots. Equal values always meet in one slot.
 *
 * A large input is first split by the top bits of the mixed value into partitions small
 * enough that each one's table stays in the core's cache (one counting pass, one scatter
 * pass), and the partitions are then counted on two threads: a table of millions of slots
 * would miss the cache on nearly every probe.
 */
#include "kernel.h"

#include <time.h>

static uint64_t call_seed(const void *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t s = (uint64_t)(uintptr_t)p ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    /* splitmix64 finaliser, made odd so that the multiply below is a bijection */
    s += 0x9e3779b97f4a7c15ULL;
    s = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ULL;
    s = (s ^ (s >> 27)) * 0x94d049bb133111ebULL;
    return (s ^ (s >> 31)) | 1;
}

static inline uint64_t slot_of(uint64_t v, uint64_t mul, int shift)
{
    v ^= v >> 29;
    v *= mul;
    return v >> shift;
}


/* Count the mixed values `mixed[0..len)` (positions `pos`) in a table of (1 << bits)
 * slots, the slot taken from the bits below the top `skip` ones (those chose the
 * partition): flag[pos[i]] = 1 for every value that occurs more than once. `keys` and
 * `count` are scratch of at least (1 << bits) entries. */
static void count_values(const uint64_t *mixed, const uint32_t *pos, size_t len, int skip,
                         int bits, uint64_t *keys, uint8_t *count, uint8_t *flag)
{
    size_t wrap = ((size_t)1 << bits) - 1;
    memset(count, 0, wrap + 1); /* 0 empty, 1 seen once, 2 seen more than once */
    for (size_t i = 0; i < len; i++) {
        uint64_t v = mixed[i];
        size_t s = (size_t)((v << skip) >> (64 - bits));
        while (count[s] && keys[s] != v)
            s = (s + 1) & wrap;
        if (!count[s]) {
            keys[s] = v;
            count[s] = 1;
        } else {
            count[s] = 2;
        }
    }
    for (size_t i = 0; i < len; i++) {
        uint64_t v = mixed[i];
        size_t s = (size_t)((v << skip) >> (64 - bits));
        while (keys[s] != v) /* every value is in the table */
            s = (s + 1) & wrap;
        if (count[s] == 2)
            flag[pos[i]] = 1;
    }
}

static int table_bits(size_t m)
{
    int bits = 4;
    while (((size_t)1 << bits) < m * 2)
        bits++;
    return bits;
}

#define PART_BITS 8
#define PARTS (1 << PART_BITS)
#define SMALL 65536 /* at most this many selected values: one table, no partitions */

typedef struct {
    const uint64_t *mixed;
    const uint32_t *pos;
    const size_t *start; /* PARTS + 1 offsets */
    int bits;            /* table size for the largest partition */
    uint8_t *flag;
} Parts;

static void count_parts(void *ctx, Py_ssize_t a, Py_ssize_t b, int *err)
{
    Parts *p = (Parts *)ctx;
    size_t size = (size_t)1 << p->bits;
    uint64_t *keys = malloc(size * sizeof(uint64_t));
    uint8_t *count = malloc(size);
    if (!keys || !count) {
        free(keys);
        free(count);
        *err = 1;
        return;
    }
    for (Py_ssize_t k = a; k < b; k++) {
        size_t lo = p->start[k], len = p->start[k + 1] - lo;
        if (len > 1)
            count_values(p->mixed + lo, p->pos + lo, len, PART_BITS, table_bits(len), keys,
                         count, p->flag);
    }
    free(keys);
    free(count);
}

/* More than 2^32 rows: positions do not fit the partitions' 32 bits; one table over the
 * values in place. */
static int count_in_place(const uint64_t *values, Py_ssize_t stride, const uint8_t *mask,
                          Py_ssize_t n, size_t m, uint64_t mul, uint8_t *flag)
{
    int bits = table_bits(m);
    size_t wrap = ((size_t)1 << bits) - 1;
    uint64_t *keys = malloc((wrap + 1) * sizeof(uint64_t));
    uint8_t *count = calloc(wrap + 1, 1);
    if (!keys || !count) {
        free(keys);
        free(count);
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (Py_ssize_t i = 0; i < n; i++) {
            if (mask && !mask[i])
                continue;
            uint64_t v = values[i * stride];
            size_t s = (size_t)slot_of(v, mul, 64 - bits);
            while (count[s] && keys[s] != v)
                s = (s + 1) & wrap;
            if (pass == 1)
                flag[i] = count[s] == 2;
            else if (!count[s]) {
                keys[s] = v;
                count[s] = 1;
            } else {
                count[s] = 2;
            }
        }
    }
    free(keys);
    free(count);
    return 0;
}

Py_ssize_t repeated_positions(const uint64_t *values, Py_ssize_t stride, const uint8_t *mask,
                              Py_ssize_t n, int64_t *out)
{
    size_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        m += mask ? (mask[i] != 0) : 1;
    if (m < 2)
        return 0;
    uint8_t *flag = calloc((size_t)n, 1);
    if (!flag)
        return -1;
    uint64_t mul = call_seed(flag);
    int err = 0;
    if ((uint64_t)n > UINT32_MAX) {
        err = count_in_place(values, stride, mask, n, m, mul, flag);
    } else {
        /* the mixed values (a bijection of the values: equal exactly when they are), each
         * partition's together */
        int parts = m <= SMALL ? 1 : PARTS;
        size_t hist[PARTS] = {0}, start[PARTS + 1], fill[PARTS], largest = 0;
        if (parts > 1) {
            for (Py_ssize_t i = 0; i < n; i++)
                if (!mask || mask[i])
                    hist[slot_of(values[i * stride], mul, 64 - PART_BITS)]++;
        } else {
            hist[0] = m;
        }
        start[0] = 0;
        for (int k = 0; k < parts; k++) {
            start[k + 1] = start[k] + hist[k];
            fill[k] = start[k];
            if (hist[k] > largest)
                largest = hist[k];
        }
        uint64_t *mixed = malloc(m * sizeof(uint64_t));
        uint32_t *pos = malloc(m * sizeof(uint32_t));
        if (mixed && pos) {
            for (Py_ssize_t i = 0; i < n; i++) {
                if (mask && !mask[i])
                    continue;
                uint64_t v = slot_of(values[i * stride], mul, 0);
                size_t at = fill[parts > 1 ? v >> (64 - PART_BITS) : 0]++;
                mixed[at] = v;
                pos[at] = (uint32_t)i;
            }
            if (parts > 1) {
                Parts p = {mixed, pos, start, table_bits(largest), flag};
                err = run_spans(count_parts, &p, PARTS, 2);
            } else {
                size_t size = (size_t)1 << table_bits(m);
                uint64_t *keys = malloc(size * sizeof(uint64_t));
                uint8_t *count = malloc(size);
                if (keys && count)
                    count_values(mixed, pos, m, 0, table_bits(m), keys, count, flag);
                else
                    err = 1;
                free(keys);
                free(count);
            }
        } else {
            err = 1;
        }
        free(mixed);
        free(pos);
    }
    Py_ssize_t k = 0;
    if (!err)
        for (Py_ssize_t i = 0; i < n; i++)
            if (flag[i])
                out[k++] = (int64_t)i;
    free(flag);
    return err ? -1 : k;
}
