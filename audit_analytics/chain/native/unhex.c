/*
 * Stored hex digests decoded: 64 lowercase hex characters to 32 bytes, with a flag per
 * row (0 = decoded, 1 = null, 2 = malformed, 3 = equals the genesis marker). Rows with a
 * non-zero flag get 32 zero bytes.
 */
#include "kernel.h"

void unhex_column(const Col *c, const uint8_t *g, int64_t glen, uint8_t *d, uint8_t *f)
{
    Py_ssize_t n = c->length;
    int8_t hv[256];
    memset(hv, -1, sizeof(hv));
    for (int k = 0; k < 10; k++)
        hv['0' + k] = (int8_t)k;
    for (int k = 0; k < 6; k++)
        hv['a' + k] = (int8_t)(10 + k);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t *o = d + 32 * i;
        if (!col_valid(c, i)) {
            f[i] = 1;
            memset(o, 0, 32);
            continue;
        }
        int64_t s, e;
        col_str(c, i, &s, &e);
        const uint8_t *p = c->buf2 ? c->buf2 + s : (const uint8_t *)"";
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
}
