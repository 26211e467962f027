/*
 * Repeated values: the rows whose 64-bit value occurs more than once among the selected
 * rows, found with one open-addressing hash table (two linear passes) instead of a sort.
 *
 * The values are already hashes (digest prefixes, hash64 of ids), but they come from the
 * data, which an attacker may choose; the slot of a value is therefore taken from a
 * bijective mix with a per-call random multiplier, so that no input can be built to make
 * many distinct values share slots. Equal values always meet in one slot.
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

Py_ssize_t repeated_positions(const uint64_t *values, const uint8_t *mask, Py_ssize_t n,
                              int64_t *out)
{
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        m += mask ? (mask[i] != 0) : 1;
    if (m < 2)
        return 0;
    int bits = 4;
    while (((size_t)1 << bits) < (size_t)m * 2)
        bits++;
    size_t size = (size_t)1 << bits, wrap = size - 1;
    uint64_t *keys = malloc(size * sizeof(uint64_t));
    uint8_t *count = calloc(size, 1); /* 0 empty, 1 seen once, 2 seen more than once */
    if (!keys || !count) {
        free(keys);
        free(count);
        return -1;
    }
    uint64_t mul = call_seed(keys);
    int shift = 64 - bits;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (mask && !mask[i])
            continue;
        uint64_t v = values[i];
        size_t s = (size_t)slot_of(v, mul, shift);
        while (count[s] && keys[s] != v)
            s = (s + 1) & wrap;
        if (!count[s]) {
            keys[s] = v;
            count[s] = 1;
        } else {
            count[s] = 2;
        }
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (mask && !mask[i])
            continue;
        uint64_t v = values[i];
        size_t s = (size_t)slot_of(v, mul, shift);
        while (keys[s] != v) /* every selected value is in the table */
            s = (s + 1) & wrap;
        if (count[s] == 2)
            out[k++] = (int64_t)i;
    }
    free(keys);
    free(count);
    return k;
}
