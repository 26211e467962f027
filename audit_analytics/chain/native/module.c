/*
 * audit_analytics.chain._native -- native kernel for re-verifying hash-chained audit logs:
 * the Python module (argument parsing, the GIL, results). kernel.h lists the other files.
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
 *   compare(computed, hash, prev, genesis, size=32, nthreads=1)
 *       -> (stored n*size, hash flags n, prev n*size, prev flags n, ok n, seq n)
 *   segments(parent) -> (bytes root n*int64, bytes depth n*int64)
 *   hash64(column, nthreads=1) -> (bytes n*uint64 hashes, bytes n null flags)
 *   repeated(values, mask=None, stride=1) -> bytes (int64 positions whose value repeats)
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
#include "kernel.h"

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
    uint8_t *outp = (uint8_t *)PyBytes_AS_STRING(res);
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = digest_rows(&sp, &cs, outp, nthreads, isa);
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
    unhex_column(&c, g, glen, d, f);
    Py_END_ALLOW_THREADS
    res = PyTuple_Pack(2, dig, flg);
out:
    Py_XDECREF(dig);
    Py_XDECREF(flg);
    col_release(&c);
    PyBuffer_Release(&gen);
    return res;
}

PyDoc_STRVAR(compare_doc,
             "compare(computed, hash, prev, genesis, size=32, nthreads=1)\n"
             "    -> (stored, hash_flags, prev, prev_flags, ok, seq)\n\n"
             "One pass over a batch: the string columns hash and prev (descriptors) decoded\n"
             "as unhex() does, for digests of size bytes (2*size hex characters); ok[i] = 1\n"
             "when row i decoded and its stored digest equals computed[size*i:size*(i+1)];\n"
             "seq[i] = 1 when i > 0, prev i decoded, hash i-1 decoded and prev i equals it.\n"
             "Digests are n*size bytes, the other results n bytes. The GIL is released;\n"
             "nthreads > 1 splits the rows over pthreads.");

static PyObject *py_compare(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"computed", "hash", "prev", "genesis", "size", "nthreads", NULL};
    Py_buffer cb, gen;
    PyObject *ohash, *oprev;
    Py_ssize_t size = 32;
    int nthreads = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*OOy*|ni:compare", kwlist, &cb, &ohash, &oprev,
                                     &gen, &size, &nthreads))
        return NULL;
    PyObject *res = NULL, *out[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    Col ch, cp;
    int have_h = 0, have_p = 0;
    if (nthreads < 1 || size < 1 || size > 1024) {
        PyErr_SetString(PyExc_ValueError, "compare: nthreads must be >= 1, size 1..1024");
        goto out;
    }
    if (parse_column(ohash, &ch, 0, 0) < 0)
        goto out;
    have_h = 1;
    if (parse_column(oprev, &cp, 1, 0) < 0)
        goto out;
    have_p = 1;
    if ((ch.kind != KIND_UTF8 && ch.kind != KIND_LARGE_UTF8) ||
        (cp.kind != KIND_UTF8 && cp.kind != KIND_LARGE_UTF8)) {
        PyErr_SetString(PyExc_TypeError, "compare: hash and prev must be string columns");
        goto out;
    }
    Py_ssize_t n = ch.length;
    if (cp.length != n || n > PY_SSIZE_T_MAX / size || cb.len != n * size) {
        PyErr_Format(PyExc_ValueError,
                     "compare: %zd computed bytes, %zd hashes and %zd prev hashes do not match "
                     "(digests of %zd bytes)", cb.len, n, cp.length, size);
        goto out;
    }
    Py_ssize_t lens[6] = {n * size, n, n * size, n, n, n};
    for (int k = 0; k < 6; k++)
        if (!(out[k] = PyBytes_FromStringAndSize(NULL, lens[k])))
            goto out;
    uint8_t *p[6];
    for (int k = 0; k < 6; k++)
        p[k] = (uint8_t *)PyBytes_AS_STRING(out[k]);
    const uint8_t *computed = (const uint8_t *)cb.buf, *g = (const uint8_t *)gen.buf;
    int64_t glen = gen.len;
    Py_BEGIN_ALLOW_THREADS
    compare_rows(&ch, &cp, computed, size, g, glen, p[0], p[1], p[2], p[3], p[4], p[5],
                 nthreads);
    Py_END_ALLOW_THREADS
    res = PyTuple_Pack(6, out[0], out[1], out[2], out[3], out[4], out[5]);
out:
    for (int k = 0; k < 6; k++)
        Py_XDECREF(out[k]);
    if (have_h)
        col_release(&ch);
    if (have_p)
        col_release(&cp);
    PyBuffer_Release(&cb);
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
    int err; /* 0 = done, 1 = nomem, 2 = out of range */
    Py_ssize_t bad_i = 0;
    int64_t bad_v = 0;
    Py_BEGIN_ALLOW_THREADS
    err = segments_compute(pp, n, root, depth, &bad_i, &bad_v);
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
    uint8_t *hp, *np;
} H64Job;

static void hash64_worker(void *ctx, Py_ssize_t a, Py_ssize_t b, int *err)
{
    const H64Job *jb = (const H64Job *)ctx;
    (void)err;
    hash64_span(jb->c, a, b, jb->hp, jb->np);
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
    H64Job jb = {&c, (uint8_t *)PyBytes_AS_STRING(oh), (uint8_t *)PyBytes_AS_STRING(on)};
    int nt = nthreads > 64 ? 64 : nthreads;
    if (n < 65536)
        nt = 1; /* not worth a thread */
    Py_BEGIN_ALLOW_THREADS
    run_spans(hash64_worker, &jb, n, nt);
    Py_END_ALLOW_THREADS
    res = PyTuple_Pack(2, oh, on);
out:
    Py_XDECREF(oh);
    Py_XDECREF(on);
    col_release(&c);
    return res;
}

PyDoc_STRVAR(repeated_doc,
             "repeated(values, mask=None, stride=1) -> bytes\n\n"
             "values: buffer of n * stride native uint64, the value of row i at i * stride;\n"
             "mask: None or a buffer of n bytes (non-zero = selected). Returns the positions (native int64, ascending) of the selected rows\n"
             "whose value occurs at least twice among the selected rows. One hash table,\n"
             "linear time; the GIL is released.");

static PyObject *py_repeated(PyObject *self, PyObject *args)
{
    Py_buffer vb, mb;
    PyObject *omask = Py_None;
    int have_mask = 0;
    Py_ssize_t stride = 1;
    if (!PyArg_ParseTuple(args, "y*|On:repeated", &vb, &omask, &stride))
        return NULL;
    PyObject *res = NULL;
    int64_t *out = NULL;
    if (omask != Py_None) {
        if (PyObject_GetBuffer(omask, &mb, PyBUF_SIMPLE) < 0)
            goto out;
        have_mask = 1;
    }
    if (stride < 1 || vb.len % (8 * stride) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "repeated: values buffer length %zd is not a multiple of 8 * stride (%zd)",
                     vb.len, stride);
        goto out;
    }
    Py_ssize_t n = vb.len / (8 * stride);
    if (have_mask && mb.len != n) {
        PyErr_Format(PyExc_ValueError, "repeated: mask holds %zd bytes for %zd values", mb.len,
                     n);
        goto out;
    }
    out = PyMem_Malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!out) {
        PyErr_NoMemory();
        goto out;
    }
    uint64_t *values = NULL;
    int copied = ((uintptr_t)vb.buf % 8) != 0;
    if (copied) {
        values = PyMem_Malloc((size_t)vb.len + 8);
        if (!values) {
            PyErr_NoMemory();
            goto out;
        }
        memcpy(values, vb.buf, (size_t)vb.len);
    } else {
        values = (uint64_t *)vb.buf;
    }
    const uint8_t *mask = have_mask ? (const uint8_t *)mb.buf : NULL;
    Py_ssize_t k;
    Py_BEGIN_ALLOW_THREADS
    k = repeated_positions(values, stride, mask, n, out);
    Py_END_ALLOW_THREADS
    if (copied)
        PyMem_Free(values);
    if (k < 0)
        PyErr_NoMemory();
    else
        res = PyBytes_FromStringAndSize((const char *)out, k * 8);
out:
    PyMem_Free(out);
    if (have_mask)
        PyBuffer_Release(&mb);
    PyBuffer_Release(&vb);
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
    {"compare", (PyCFunction)(void (*)(void))py_compare, METH_VARARGS | METH_KEYWORDS,
     compare_doc},
    {"segments", py_segments, METH_VARARGS, segments_doc},
    {"hash64", (PyCFunction)(void (*)(void))py_hash64, METH_VARARGS | METH_KEYWORDS, hash64_doc},
    {"repeated", py_repeated, METH_VARARGS, repeated_doc},
    {"_sha256_batch", (PyCFunction)(void (*)(void))py_sha256_batch, METH_VARARGS | METH_KEYWORDS,
     sha256_batch_doc},
    {"_resolve_isa", (PyCFunction)(void (*)(void))py_resolve_isa, METH_VARARGS | METH_KEYWORDS,
     resolve_isa_doc},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "audit_analytics.chain._native",
    "Native kernel: canonical JSON rows from Arrow buffers, multi-lane SHA-256, chain segments,\n"
    "64-bit string hashes.",
    -1, native_methods};

PyMODINIT_FUNC PyInit__native(void)
{
    init_tables();
    init_hex_table();
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
