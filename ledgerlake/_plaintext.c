/* A batch's plaintext, when it is written exactly as RFC 8785 writes it, decoded into
 * Arrow column buffers in one pass (ledgerlake.fastrecords.open_arrow).
 *
 * records.py stays the rule, and fastrecords.open_columns its fast form: this decoder
 * takes a plaintext only in the narrow form sealing writes for plain values, and returns
 * None for anything else, which the caller then hands to open_columns (and it to the
 * reference), so every refusal and its message stay theirs. What is taken here:
 *
 *   {"records":[R,...],"salts":["<32 lower-case hex digits>",...]}
 *
 * (or with a cursor first, which the caller checks and skips: `head`), with no
 * whitespace; each R an object whose keys are the schema's field
 * names in RFC 8785 order (byte order: names are ASCII), each at most once, optional ones
 * absent or null; values written as RFC 8785 writes them and within the field's bounds:
 *   - strings of printable ASCII without '"' or '\' (anything else goes to open_columns);
 *   - true / false;
 *   - integers: an integer token within +/-(2^53-1), or (when the field reaches beyond)
 *     the integer rule's decimal string of 17 to 20 digits, no leading zero;
 *   - doubles: an integer token (within +/-(2^53-1)), or a fixed-point token with a
 *     fraction not ending in 0 whose value is not integral and has 1e-5 <= |x| < 1e16:
 *     canonical when it is the shortest decimal that reads back as x. With 15 significant
 *     digits or fewer it is (decimals of 15 digits map to distinct doubles, so no shorter
 *     one reads back as x) and x = m / 10^k exactly rounded; with more, Python's repr (the
 *     shortest round trip) is compared.
 * tests/unit/test_plaintext.py checks it against open_columns and the reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define SAFE 9007199254740991LL /* 2^53 - 1 */
#define SALT 16

enum kind { K_STRING = 0, K_INT = 1, K_FLOAT = 2, K_BOOL = 3 };

typedef struct {
    const char *key; /* "name": */
    Py_ssize_t key_len;
    int kind, optional, big_ok;
    long long int_low, int_high; /* an integer token's bounds (empty: low > high) */
    long long big_low, big_high; /* a decimal string's bounds */
    double float_low, float_high;
    /* output */
    unsigned char *validity; /* optional fields: a bit per record, 1 = a value */
    Py_ssize_t nulls;
    char *data;              /* int64, double, a bit per bool, or string bytes */
    Py_ssize_t data_len, data_cap;
    int32_t *offsets;        /* strings: n + 1 */
} field_t;

typedef struct {
    const char *p, *end;
} cursor_t;

static int grow(field_t *f, Py_ssize_t need)
{
    if (f->data_len + need <= f->data_cap)
        return 1;
    Py_ssize_t cap = f->data_cap ? f->data_cap : 4096;
    while (cap < f->data_len + need) {
        if (cap > PY_SSIZE_T_MAX / 2)
            return 0;
        cap *= 2;
    }
    char *data = PyMem_RawRealloc(f->data, (size_t)cap);
    if (data == NULL)
        return 0;
    f->data = data;
    f->data_cap = cap;
    return 1;
}

static inline int take(cursor_t *c, const char *text, Py_ssize_t len)
{
    if (c->end - c->p < len || memcmp(c->p, text, (size_t)len) != 0)
        return 0;
    c->p += len;
    return 1;
}

/* digits [p, q) as a non-negative integer with at most 20 digits, no overflow of
 * int64; -1 when it does not fit */
static long long digits_value(const char *p, const char *q)
{
    unsigned long long v = 0;
    for (; p < q; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (9223372036854775807ULL - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    return (long long)v;
}

static const double POW10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* An integer token at c (canonical: no leading zero; "-0" only when `fraction`, the int
 * part of a double): 1 and *out, else 0. Stops at a following '.' or exponent. */
static int int_token(cursor_t *c, long long *out, int *digits, int fraction)
{
    const char *p = c->p;
    int negative = p < c->end && *p == '-';
    p += negative;
    const char *start = p;
    while (p < c->end && *p >= '0' && *p <= '9')
        p++;
    Py_ssize_t n = p - start;
    if (n == 0 || n > 16 || (n > 1 && *start == '0'))
        return 0;
    if (negative && n == 1 && *start == '0' && !(fraction && p < c->end && *p == '.'))
        return 0;
    long long v = digits_value(start, p);
    *out = negative ? -v : v;
    *digits = (int)n;
    c->p = p;
    return 1;
}

static int value_ends(const cursor_t *c)
{
    return c->p < c->end && (*c->p == ',' || *c->p == '}');
}

/* A double field's value at c: 1 and *out, else 0. */
static int float_value(cursor_t *c, const field_t *f, double *out)
{
    const char *token = c->p;
    long long whole;
    int int_digits;
    if (!int_token(c, &whole, &int_digits, 1))
        return 0;
    if (value_ends(c)) { /* an integer token: the field's integer branch */
        if (whole < f->int_low || whole > f->int_high)
            return 0;
        *out = (double)whole;
        return 1;
    }
    if (c->p >= c->end || *c->p != '.')
        return 0; /* an exponent: left to open_columns */
    const char *frac = ++c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    Py_ssize_t k = c->p - frac;
    if (k == 0 || c->p[-1] == '0' || !value_ends(c))
        return 0;
    int negative = *token == '-';
    Py_ssize_t significant;
    const char *first = frac; /* the fraction's first significant digit, when whole == 0 */
    if (whole == 0) {
        while (*first == '0')
            first++;
        significant = c->p - first;
    } else {
        significant = int_digits + k;
    }
    double x;
    if (significant <= 15 && k <= 22) {
        /* m < 10^15 < 2^53 and 10^k are exact: one correctly rounded division */
        unsigned long long m = (unsigned long long)(negative ? -whole : whole);
        for (const char *q = frac; q < c->p; q++)
            m = m * 10 + (unsigned)(*q - '0');
        x = (double)m / POW10[k];
        if (negative)
            x = -x;
    } else { /* rare: Python's own conversions, with the GIL taken back */
        PyGILState_STATE gil = PyGILState_Ensure();
        int same = 0;
        char *end;
        x = PyOS_string_to_double(token, &end, NULL);
        if (x == -1.0 && PyErr_Occurred())
            PyErr_Clear();
        else if (end == c->p && significant <= 15)
            same = 1;
        else if (end == c->p) { /* shortest? Python's repr is the shortest round trip */
            char *repr = PyOS_double_to_string(x, 'r', 0, 0, NULL);
            if (repr == NULL) {
                PyErr_Clear();
            } else {
                same = (Py_ssize_t)strlen(repr) == c->p - token &&
                       memcmp(repr, token, (size_t)(c->p - token)) == 0;
                PyMem_Free(repr);
            }
        }
        PyGILState_Release(gil);
        if (!same)
            return 0;
    }
    double magnitude = fabs(x);
    if (trunc(x) == x || magnitude < 1e-5 || magnitude >= 1e16 || x < f->float_low ||
        x > f->float_high)
        return 0;
    *out = x;
    return 1;
}

/* An integer field's value at c: 1 and *out, else 0. */
static int int_value(cursor_t *c, const field_t *f, long long *out)
{
    if (c->p < c->end && *c->p == '"') { /* the integer rule's decimal string */
        if (!f->big_ok)
            return 0;
        const char *start = ++c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
        Py_ssize_t n = c->p - start;
        if (n < 17 || n > 20 || *start == '0' || c->p >= c->end || *c->p != '"')
            return 0;
        long long v = digits_value(start, c->p);
        c->p++;
        if (v < 0 || v < f->big_low || v > f->big_high || !value_ends(c))
            return 0;
        *out = v;
        return 1;
    }
    int digits;
    if (!int_token(c, out, &digits, 0) || !value_ends(c))
        return 0;
    return *out >= f->int_low && *out <= f->int_high;
}

static inline void set_bit(unsigned char *bits, Py_ssize_t i)
{
    bits[i >> 3] |= (unsigned char)(1u << (i & 7));
}

/* Field f of record i has no value (absent or null): 0 when it must have one. */
static int no_value(field_t *f, Py_ssize_t i)
{
    if (!f->optional)
        return 0;
    f->nulls++;
    if (f->kind == K_STRING)
        f->offsets[i + 1] = (int32_t)f->data_len;
    /* numbers and booleans: the slot stays zero, its validity bit unset */
    return 1;
}

static int value(cursor_t *c, field_t *f, Py_ssize_t i)
{
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        return value_ends(c) && no_value(f, i);
    }
    if (f->optional)
        set_bit(f->validity, i);
    switch (f->kind) {
    case K_STRING: {
        if (c->p >= c->end || *c->p != '"')
            return 0;
        const char *start = ++c->p;
        while (c->p < c->end && *c->p != '"') {
            unsigned char ch = (unsigned char)*c->p;
            if (ch < 0x20 || ch > 0x7e || ch == '\\')
                return 0;
            c->p++;
        }
        if (c->p >= c->end)
            return 0;
        Py_ssize_t n = c->p - start;
        c->p++;
        if (!value_ends(c) || f->data_len + n > INT32_MAX || !grow(f, n))
            return 0;
        memcpy(f->data + f->data_len, start, (size_t)n);
        f->data_len += n;
        f->offsets[i + 1] = (int32_t)f->data_len;
        return 1;
    }
    case K_INT:
        return int_value(c, f, (long long *)f->data + i);
    case K_FLOAT:
        return float_value(c, f, (double *)f->data + i);
    case K_BOOL:
        if (take(c, "true", 4)) {
            set_bit((unsigned char *)f->data, i);
            return value_ends(c);
        }
        return take(c, "false", 5) && value_ends(c);
    }
    return 0;
}

/* Record i at c into the fields' buffers: 1, else 0. */
static int record(cursor_t *c, field_t *fields, Py_ssize_t nf, Py_ssize_t i)
{
    if (!take(c, "{", 1))
        return 0;
    Py_ssize_t next = 0; /* the first field whose key may come */
    if (c->p < c->end && *c->p != '}') {
        for (;;) {
            while (next < nf && !(c->end - c->p >= fields[next].key_len &&
                                  memcmp(c->p, fields[next].key,
                                         (size_t)fields[next].key_len) == 0)) {
                if (!no_value(&fields[next], i))
                    return 0;
                next++;
            }
            if (next == nf)
                return 0; /* unknown, repeated or out-of-order key */
            c->p += fields[next].key_len;
            if (!value(c, &fields[next], i))
                return 0;
            next++;
            if (*c->p == '}')
                break;
            c->p++; /* ',' (value_ends) */
        }
    }
    for (; next < nf; next++)
        if (!no_value(&fields[next], i))
            return 0;
    return take(c, "}", 1);
}

static int hex_digit(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static void free_fields(field_t *fields, Py_ssize_t nf)
{
    for (Py_ssize_t j = 0; j < nf; j++) {
        PyMem_RawFree(fields[j].validity);
        PyMem_RawFree(fields[j].data);
        PyMem_RawFree(fields[j].offsets);
    }
    PyMem_RawFree(fields);
}

static int read_field(PyObject *spec, field_t *f, Py_ssize_t count)
{
    PyObject *key;
    if (!PyArg_ParseTuple(spec, "SiiiLLLLdd", &key, &f->kind, &f->optional, &f->big_ok,
                          &f->int_low, &f->int_high, &f->big_low, &f->big_high,
                          &f->float_low, &f->float_high))
        return 0;
    f->key = PyBytes_AS_STRING(key);
    f->key_len = PyBytes_GET_SIZE(key);
    if (f->key_len < 3 || f->kind < K_STRING || f->kind > K_BOOL) {
        PyErr_SetString(PyExc_ValueError, "a field is (b'\"name\":', kind, ...)");
        return 0;
    }
    size_t bits = (size_t)(count + 7) / 8;
    if (f->optional && (f->validity = PyMem_RawCalloc(bits ? bits : 1, 1)) == NULL)
        return 0;
    size_t size = f->kind == K_BOOL ? bits : f->kind == K_STRING ? 0 : (size_t)count * 8;
    if (size && (f->data = PyMem_RawCalloc(size, 1)) == NULL)
        return 0;
    f->data_len = f->data_cap = (Py_ssize_t)size;
    if (f->kind == K_STRING) {
        f->data_len = 0;
        if ((f->offsets = PyMem_RawCalloc((size_t)count + 1, sizeof(int32_t))) == NULL)
            return 0;
    }
    return 1;
}

PyDoc_STRVAR(columns_doc,
"columns(plaintext, count, fields, head=0) -> (columns, salts, records, ends) | None\n\n"
"The canonical plaintext of `count` records decoded into Arrow buffers (see the module's\n"
"comment for the form taken; None for any other). head: where the first record starts,\n"
"the head before it checked by the caller (a cursor); 0: the plaintext has no cursor.\n"
"fields: per field in RFC 8785 key\n"
"order, (b'\"name\":', kind 0 string | 1 int | 2 double | 3 bool, optional, big_ok,\n"
"int_low, int_high, big_low, big_high, float_low, float_high). columns: per field\n"
"(null_count, validity bitmap or None, data, offsets or None); salts: 16 bytes per\n"
"record; records: the records' bytes concatenated; ends: their end offsets (int64).");

static PyObject *columns(PyObject *self, PyObject *args)
{
    Py_buffer text;
    Py_ssize_t count;
    PyObject *specs, *result = NULL;
    Py_ssize_t head = 0;
    if (!PyArg_ParseTuple(args, "y*nO!|n", &text, &count, &PyTuple_Type, &specs, &head))
        return NULL;
    Py_ssize_t nf = PyTuple_GET_SIZE(specs);
    field_t *fields = NULL;
    char *salts = NULL, *bodies = NULL;
    int64_t *ends = NULL;
    /* each record takes 2 bytes at least and its salt 35: a larger count is not this
     * plaintext's (and would only make this allocate) */
    if (count < 1 || count > text.len / 37 || nf < 1 || head < 0 || head > text.len) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    fields = PyMem_RawCalloc((size_t)nf, sizeof(field_t));
    salts = PyMem_RawMalloc((size_t)count * SALT);
    ends = PyMem_RawMalloc((size_t)count * sizeof(int64_t));
    if (fields == NULL || salts == NULL || ends == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < nf; j++)
        if (!read_field(PyTuple_GET_ITEM(specs, j), &fields[j], count))
            goto done;
    cursor_t c = {(const char *)text.buf + head, (const char *)text.buf + text.len};
    const char **starts = PyMem_RawMalloc((size_t)count * sizeof(char *));
    if (starts == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int ok, no_memory = 0;
    Py_ssize_t total = 0;
    Py_BEGIN_ALLOW_THREADS /* C buffers only from here (the rare double takes the GIL) */
    ok = head ? 1 : take(&c, "{\"records\":[", 12);
    for (Py_ssize_t i = 0; ok && i < count; i++) {
        starts[i] = c.p;
        ok = record(&c, fields, nf, i);
        if (ok) {
            total += c.p - starts[i];
            ends[i] = total;
            ok = take(&c, i + 1 < count ? "," : "]", 1);
        }
    }
    ok = ok && take(&c, ",\"salts\":[", 10);
    for (Py_ssize_t s = 0; ok && s < count; s++) {
        ok = take(&c, "\"", 1) && c.end - c.p >= 33 && c.p[32] == '"';
        for (int b = 0; ok && b < SALT; b++) {
            int high = hex_digit((unsigned char)c.p[2 * b]);
            int low = hex_digit((unsigned char)c.p[2 * b + 1]);
            ok = high >= 0 && low >= 0;
            if (ok)
                salts[s * SALT + b] = (char)(high << 4 | low);
        }
        if (ok) {
            c.p += 33;
            ok = take(&c, s + 1 < count ? "," : "]", 1);
        }
    }
    ok = ok && take(&c, "}", 1) && c.p == c.end;
    if (ok && (bodies = PyMem_RawMalloc(total ? (size_t)total : 1)) == NULL)
        ok = 0, no_memory = 1;
    for (Py_ssize_t r = 0; ok && r < count; r++) {
        int64_t begin = r ? ends[r - 1] : 0;
        memcpy(bodies + begin, starts[r], (size_t)(ends[r] - begin));
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(starts);
    if (no_memory) {
        PyErr_NoMemory();
        goto done;
    }
    if (!ok) {
        if (!PyErr_Occurred()) {
            Py_INCREF(Py_None);
            result = Py_None;
        }
        goto done;
    }
    PyObject *list = PyList_New(nf);
    if (list == NULL)
        goto done;
    for (Py_ssize_t j = 0; j < nf; j++) {
        field_t *f = &fields[j];
        PyObject *bits = f->optional ?
            PyBytes_FromStringAndSize((char *)f->validity, (count + 7) / 8) : Py_NewRef(Py_None);
        PyObject *offsets = f->kind == K_STRING ?
            PyBytes_FromStringAndSize((char *)f->offsets,
                                      (count + 1) * (Py_ssize_t)sizeof(int32_t)) :
            Py_NewRef(Py_None);
        PyObject *item = bits && offsets ?
            Py_BuildValue("(nOy#O)", f->nulls, bits, f->data ? f->data : "", f->data_len,
                          offsets) : NULL;
        Py_XDECREF(bits);
        Py_XDECREF(offsets);
        if (item == NULL) {
            Py_DECREF(list);
            goto done;
        }
        PyList_SET_ITEM(list, j, item);
    }
    result = Py_BuildValue("(Ny#y#y#)", list, salts, count * SALT, bodies, total,
                           (char *)ends, count * (Py_ssize_t)sizeof(int64_t));
done:
    if (fields != NULL)
        free_fields(fields, nf);
    PyMem_RawFree(salts);
    PyMem_RawFree(bodies);
    PyMem_RawFree(ends);
    PyBuffer_Release(&text);
    return result;
}

PyDoc_STRVAR(value_end_doc,
"value_end(data, start) -> int\n\n"
"Where the JSON object or array that begins at data[start] ends (the offset after its\n"
"closing bracket), counting brackets outside strings; -1 when none does. Finds a\n"
"plaintext's cursor for the caller, which then checks it as the rule does.");

static PyObject *value_end(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t start, found = -1;
    if (!PyArg_ParseTuple(args, "y*n", &data, &start))
        return NULL;
    const char *p = data.buf, *end = p + data.len;
    if (start >= 0 && start < data.len && (p[start] == '{' || p[start] == '[')) {
        Py_ssize_t depth = 0;
        int in_string = 0;
        for (const char *q = p + start; q < end; q++) {
            if (in_string) {
                if (*q == '\\') {
                    if (end - q < 2)
                        break; /* a string cut short: no end */
                    q++;
                } else if (*q == '"')
                    in_string = 0;
            } else if (*q == '"') {
                in_string = 1;
            } else if (*q == '{' || *q == '[') {
                depth++;
            } else if ((*q == '}' || *q == ']') && --depth == 0) {
                found = q + 1 - p;
                break;
            }
        }
    }
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(found);
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS, columns_doc},
    {"value_end", value_end, METH_VARARGS, value_end_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_plaintext",
    "A batch's canonical plaintext decoded into Arrow column buffers.", -1, methods,
};

PyMODINIT_FUNC PyInit__plaintext(void)
{
    return PyModule_Create(&module);
}
