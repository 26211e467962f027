/*
 * Column descriptors and the text spec: the Python tuples the kernel reads, parsed and
 * fully validated before any buffer is touched.
 *
 * A column descriptor is (kind, length, offset, validity, buf1, buf2):
 *   kind 0 utf8 (int32 offsets), 1 large utf8 (int64 offsets): buf1 offsets, buf2 data;
 *   kind 2 timestamp[us, UTC] int64, kind 3 int64: buf1 values, buf2 None.
 * A spec is (keys, item_sep, kv_sep, escape_mode, ts_mode, null_mode).
 */
#include "kernel.h"

void col_release(Col *c)
{
    for (int k = 0; k < 3; k++) {
        if (c->have[k]) {
            PyBuffer_Release(&c->views[k]);
            c->have[k] = 0;
        }
    }
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

int parse_column(PyObject *t, Col *c, int idx, int check_ts)
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

void colset_release(ColSet *cs)
{
    if (cs->cols) {
        for (Py_ssize_t k = 0; k < cs->ncols; k++)
            col_release(&cs->cols[k]);
        PyMem_Free(cs->cols);
    }
    cs->cols = NULL;
    cs->ncols = 0;
}

int parse_columns(PyObject *seq, ColSet *cs)
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


void spec_release(Spec *sp)
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

int parse_spec(PyObject *o, Spec *sp)
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

