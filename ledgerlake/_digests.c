/* The record rule's hashing for a whole batch in one call (ledgerlake.fastrecords).
 *
 * records.py stays the rule: a record's commitment is SHA-256(salt || canonical record)
 * and records.merkle_root folds the commitments pairwise as SHA-256(0x01 || left ||
 * right), an odd last node carried up unchanged. Python's hashlib costs ~0.4 us of call
 * overhead per digest, more than hashing a record; these two functions do the same
 * digests with OpenSSL's libcrypto (the library hashlib itself uses), one call per batch,
 * without the GIL. tests/unit/test_digests.py checks them against records.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define DIGEST 32
#define SALT 16

/* fetched once: EVP_sha256() would be looked up in the provider on every init */
static EVP_MD *sha256_md;

/* SHA-256 of a then b (b may be empty) into out; 0 on an OpenSSL failure. */
static int digest2(EVP_MD_CTX *ctx, const unsigned char *a, size_t an,
                   const unsigned char *b, size_t bn, unsigned char *out)
{
    return EVP_DigestInit_ex(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, a, an) &&
           (bn == 0 || EVP_DigestUpdate(ctx, b, bn)) && EVP_DigestFinal_ex(ctx, out, NULL);
}

PyDoc_STRVAR(commitments_doc,
"commitments(salts, data, ends) -> bytes\n\n"
"The commitments SHA-256(salt_i || record_i) of n records, 32 bytes each, concatenated.\n"
"salts: n 16-byte salts, concatenated; data: the records' bytes, concatenated; ends:\n"
"each record's end offset in data, n native int64 values, non-decreasing.");

static PyObject *commitments(PyObject *self, PyObject *args)
{
    Py_buffer salts, data, ends;
    PyObject *result = NULL;
    int64_t *end = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*", &salts, &data, &ends))
        return NULL;
    Py_ssize_t n = ends.len / (Py_ssize_t)sizeof(int64_t);
    if (ends.len % (Py_ssize_t)sizeof(int64_t) || salts.len != n * SALT) {
        PyErr_SetString(PyExc_ValueError, "salts must be 16 bytes per end offset");
        goto done;
    }
    /* a copy, checked before any hashing: a writable buffer could change once the GIL
     * is released (and may be unaligned) */
    end = PyMem_Malloc(n ? (size_t)n * sizeof(int64_t) : 1);
    if (end == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(end, ends.buf, (size_t)n * sizeof(int64_t));
    int64_t previous = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (end[i] < previous || end[i] > data.len) {
            PyErr_SetString(PyExc_ValueError, "end offsets must rise within data");
            goto done;
        }
        previous = end[i];
    }
    result = PyBytes_FromStringAndSize(NULL, n * DIGEST);
    if (result == NULL)
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    const unsigned char *salt = salts.buf, *bytes = data.buf;
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx != NULL;
    int64_t start = 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        ok = digest2(ctx, salt + i * SALT, SALT, bytes + start, (size_t)(end[i] - start),
                     out + i * DIGEST);
        start = end[i];
    }
    EVP_MD_CTX_free(ctx);
    Py_END_ALLOW_THREADS
    if (!ok) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to compute SHA-256");
    }
done:
    PyMem_Free(end);
    PyBuffer_Release(&salts);
    PyBuffer_Release(&data);
    PyBuffer_Release(&ends);
    return result;
}

PyDoc_STRVAR(merkle_root_doc,
"merkle_root(leaves) -> bytes\n\n"
"records.merkle_root of n 32-byte leaves given concatenated (n >= 1): each level hashes\n"
"pairs as SHA-256(0x01 || left || right), an odd last node carried up unchanged.");

static PyObject *merkle_root(PyObject *self, PyObject *args)
{
    Py_buffer leaves;
    if (!PyArg_ParseTuple(args, "y*", &leaves))
        return NULL;
    Py_ssize_t n = leaves.len / DIGEST;
    if (n < 1 || leaves.len % DIGEST) {
        PyBuffer_Release(&leaves);
        PyErr_SetString(PyExc_ValueError, "leaves must be one or more 32-byte digests");
        return NULL;
    }
    unsigned char *level = PyMem_RawMalloc((size_t)n * DIGEST);
    if (level == NULL) {
        PyBuffer_Release(&leaves);
        return PyErr_NoMemory();
    }
    memcpy(level, leaves.buf, (size_t)n * DIGEST);
    PyBuffer_Release(&leaves);
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx != NULL;
    unsigned char node[1 + 2 * DIGEST];
    node[0] = 0x01;
    while (ok && n > 1) {
        Py_ssize_t pairs = n / 2;
        for (Py_ssize_t i = 0; ok && i < pairs; i++) {  /* parent i over 2i, 2i+1: in place */
            memcpy(node + 1, level + 2 * i * DIGEST, 2 * DIGEST);
            ok = digest2(ctx, node, sizeof node, NULL, 0, level + i * DIGEST);
        }
        if (n % 2)
            memmove(level + pairs * DIGEST, level + (n - 1) * DIGEST, DIGEST);
        n = pairs + n % 2;
    }
    EVP_MD_CTX_free(ctx);
    Py_END_ALLOW_THREADS
    PyObject *result = ok ? PyBytes_FromStringAndSize((const char *)level, DIGEST) : NULL;
    PyMem_RawFree(level);
    if (!ok)
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to compute SHA-256");
    return result;
}

static PyMethodDef methods[] = {
    {"commitments", commitments, METH_VARARGS, commitments_doc},
    {"merkle_root", merkle_root, METH_VARARGS, merkle_root_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_digests",
    "The record rule's SHA-256 commitments and Merkle root, a batch per call.", -1, methods,
};

PyMODINIT_FUNC PyInit__digests(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    return PyModule_Create(&module);
}
