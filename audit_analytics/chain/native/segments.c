/*
 * Chain segments. parent[i] is the predecessor row of row i or -1. A link i -> parent[i]
 * is kept when parent[i] >= 0 and parent[i] has exactly one child, so kept links form
 * simple paths (and cycles). root[i] is the first row of i's path, depth[i] its distance
 * from it. Cycles are broken at their lowest index.
 */
#include "kernel.h"

int segments_compute(const uint8_t *pp, Py_ssize_t n, int64_t *root, int64_t *depth,
                     Py_ssize_t *bad_i, int64_t *bad_v)
{
    int err = 0;
    /* cnt[p] = number of children of p, saturated at 2. The root output doubles as the
       "down" array (down[p] = the only child of p over a kept link, or -1) until a row is
       visited; each walk reads down[j] before it overwrites root[j]. */
    uint8_t *cnt = calloc((size_t)n + 1, 1);
    int64_t *down = root;
    if (!cnt)
        return 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t p = load_i64(pp + 8 * i);
        if (p >= n || p < -1) {
            err = 2;
            *bad_i = i;
            *bad_v = p;
            break;
        }
        if (p >= 0 && cnt[p] < 2)
            cnt[p]++;
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
    return err;
}
