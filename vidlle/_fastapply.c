/* The full-resolution apply step in one pass over the frame (see vidlle/apply.py for the maths
 * and vidlle/fused.py for the Python side).
 *
 * apply(frame, height, width, rows, map_h, map_w, table, table_rows, keep, strength, out,
 *       prev, classes, cls_h, cls_w, w_still, w_between, w_moving)
 *
 *   frame    (height, width, 3) uint8 RGB, read
 *   rows     (map_h, map_w) float32: the low-resolution map already scaled to table rows
 *   table    (table_rows, 256) float32 output levels T(row, v)
 *   keep     (256,) float32 shadow-chroma factors V / (V + knee)
 *   strength float, the per-frame blend of the curve with the identity
 *   out      (height, width, 3) uint8, written
 *   prev     None or (height, width, 3) uint8: the previous output, for the temporal blend
 *   classes  None or (cls_h, cls_w) uint8 in {0, 1, 2}: still / in between / moving
 *   w_*      weight of the new frame per class (the previous output gets 1 - w)
 *
 * Per pixel: the map row by bilinear interpolation of the low-resolution map (the geometry of
 * cv2.resize INTER_LINEAR), V = max(R, G, B), one gain and one saturation factor from a per-frame
 * table over the rows the frame uses, the scaled colour, and the blend with the previous output
 * at the class of the nearest half-resolution pixel. The frame is read once and written once;
 * the GIL is released while the loop runs, so the decoder and encoder threads keep going.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t nbytes, int writable, const char *name)
{
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->len != nbytes) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, view->len, nbytes);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Round half to even for 0 <= v < 2^22: adding 1.5 * 2^23 leaves no fraction bits, so the FPU's
 * default rounding (to nearest, ties to even) does the rounding; subtracting restores the value.
 * (lrintf would be a library call here, since errno handling keeps it from being inlined.) */
static inline float round_even(float v)
{
    const float big = 12582912.0f; /* not folded away: without -ffast-math (v + c) - c != v */
    return (v + big) - big;
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Column (or row) geometry of cv2.resize INTER_LINEAR from n_src to n_dst samples. */
static void linear_geometry(Py_ssize_t n_dst, Py_ssize_t n_src, int *i0, int *i1, float *f)
{
    double scale = (double)n_src / (double)n_dst;
    for (Py_ssize_t x = 0; x < n_dst; x++) {
        double s = (x + 0.5) * scale - 0.5;
        int a = (int)floor(s);
        double frac = s - a;
        if (a < 0) {
            a = 0;
            frac = 0.0;
        }
        if (a >= n_src - 1) {
            a = (int)n_src - 1;
            frac = 0.0;
        }
        i0[x] = a;
        i1[x] = a + 1 < n_src ? a + 1 : a;
        f[x] = (float)frac;
    }
}

/* Row buffers, float, one output row each: the row's work is split into simple loops over
 * them (the compiler vectorises all but the table lookup), all in L1 cache. */
typedef struct {
    float *r, *g, *b, *s, *o;
} RowBuffers;

/* One output row. uint8 stores may alias anything, so every pointer is restrict-qualified.
 * With GCC on x86-64 the row is also compiled for AVX2 and the CPU picks at load time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
static void run_row(const uint8_t *restrict src, uint8_t *restrict dst, const uint8_t *restrict old,
                    const uint8_t *restrict cls, const int *restrict cx, const int *restrict offs, Py_ssize_t width,
                    const float *restrict scale_tab, const float *restrict offset_tab, const float *restrict wtab,
                    RowBuffers buf)
{
    float *restrict fr = buf.r, *restrict fg = buf.g, *restrict fb = buf.b;
    float *restrict fs = buf.s, *restrict fo = buf.o;
    for (Py_ssize_t x = 0; x < width; x++) {
        int cr = src[3 * x], cg = src[3 * x + 1], cb = src[3 * x + 2];
        int v = cr > cg ? cr : cg;
        v = v > cb ? v : cb;
        fr[x] = (float)cr;
        fg[x] = (float)cg;
        fb[x] = (float)cb;
        fs[x] = (float)(offs[x] + v); /* table index, looked up below */
    }
    for (Py_ssize_t x = 0; x < width; x++) {
        int t = (int)fs[x];
        fs[x] = scale_tab[t];
        fo[x] = offset_tab[t];
    }
    for (Py_ssize_t x = 0; x < width; x++) {
        float o = fo[x] * (0.299f * fr[x] + 0.587f * fg[x] + 0.114f * fb[x]) + 0.5f;
        /* a ternary, not fminf: fminf's NaN rules keep the loop from being vectorised */
        float r = fs[x] * fr[x] + o, g = fs[x] * fg[x] + o, b = fs[x] * fb[x] + o;
        fr[x] = r < 255.0f ? r : 255.0f;
        fg[x] = g < 255.0f ? g : 255.0f;
        fb[x] = b < 255.0f ? b : 255.0f;
    }
    if (cls) {
        /* blend the rounded value, as the NumPy path blends the uint8 frame */
        for (Py_ssize_t x = 0; x < width; x++)
            fs[x] = wtab[cls[cx[x]]];
        /* Round half to even (as OpenCV's addWeighted): rounding halves up would add a drift of
         * +0.25 levels per frame at weight 1/2, which a recursive average accumulates. The
         * 0.5 of the +0.5 above is taken off again. */
        for (Py_ssize_t x = 0; x < width; x++) {
            float w = fs[x], u = 1.0f - w;
            fr[x] = 0.5f + round_even(w * (float)(int)fr[x] + u * (float)old[3 * x]);
            fg[x] = 0.5f + round_even(w * (float)(int)fg[x] + u * (float)old[3 * x + 1]);
            fb[x] = 0.5f + round_even(w * (float)(int)fb[x] + u * (float)old[3 * x + 2]);
        }
    }
    for (Py_ssize_t x = 0; x < width; x++) {
        dst[3 * x] = (uint8_t)(int)fr[x];
        dst[3 * x + 1] = (uint8_t)(int)fg[x];
        dst[3 * x + 2] = (uint8_t)(int)fb[x];
    }
}

static void run(const uint8_t *frame, Py_ssize_t height, Py_ssize_t width, const float *rows, Py_ssize_t map_h,
                Py_ssize_t map_w, const float *table, Py_ssize_t table_rows, const float *keep, double strength,
                uint8_t *out, const uint8_t *prev, const uint8_t *classes, Py_ssize_t cls_h, Py_ssize_t cls_w,
                const float weights[3], float *scale_tab, float *offset_tab, int first_row, int n_rows,
                int *x0, int *x1, float *fx, int *y0, int *y1, float *fy, int *cx, float *line, int *offs,
                RowBuffers buf)
{
    /* The frame's part of the table as scale and offset factors: out = scale * c + offset * luma. */
    for (int i = 0; i < n_rows; i++) {
        const float *t_row = table + (Py_ssize_t)(first_row + i) * 256;
        for (int v = 0; v < 256; v++) {
            float vf = (float)v, t = t_row[v];
            if (strength != 1.0) {
                t = vf + (float)strength * (t - vf);
                t = t < 0.0f ? 0.0f : (t > 255.0f ? 255.0f : t);
            }
            float gain = t / (vf > 1.0f ? vf : 1.0f);
            float amplified = gain > 1.0f ? 1.0f - 1.0f / gain : 0.0f;
            float sat = 1.0f - (1.0f - keep[v]) * amplified;
            scale_tab[i * 256 + v] = gain * sat;
            offset_tab[i * 256 + v] = gain - gain * sat;
        }
    }
    /* Weight per class value; classes above 2 count as moving. */
    float wtab[256];
    for (int k = 0; k < 256; k++)
        wtab[k] = weights[k < 2 ? k : 2];
    linear_geometry(width, map_w, x0, x1, fx);
    linear_geometry(height, map_h, y0, y1, fy);
    if (classes)
        for (Py_ssize_t x = 0; x < width; x++)
            cx[x] = (int)((x * cls_w) / width);
    for (Py_ssize_t y = 0; y < height; y++) {
        const float *ra = rows + (Py_ssize_t)y0[y] * map_w, *rb = rows + (Py_ssize_t)y1[y] * map_w;
        for (Py_ssize_t j = 0; j < map_w; j++)
            line[j] = ra[j] + fy[y] * (rb[j] - ra[j]);
        for (Py_ssize_t x = 0; x < width; x++) {
            float a = line[x0[x]], r = a + fx[x] * (line[x1[x]] - a);
            offs[x] = clamp_int((int)(r + 0.5f) - first_row, 0, n_rows - 1) * 256;
        }
        run_row(frame + y * width * 3, out + y * width * 3, prev ? prev + y * width * 3 : NULL,
                classes ? classes + ((y * cls_h) / height) * cls_w : NULL, cx, offs, width, scale_tab, offset_tab,
                wtab, buf);
    }
}

static PyObject *fast_apply(PyObject *self, PyObject *args)
{
    PyObject *frame_o, *rows_o, *table_o, *keep_o, *out_o, *prev_o, *classes_o;
    Py_ssize_t height, width, map_h, map_w, table_rows, cls_h, cls_w;
    double strength, w_still, w_between, w_moving;
    if (!PyArg_ParseTuple(args, "OnnOnnOnOdOOOnnddd", &frame_o, &height, &width, &rows_o, &map_h, &map_w, &table_o,
                          &table_rows, &keep_o, &strength, &out_o, &prev_o, &classes_o, &cls_h, &cls_w, &w_still,
                          &w_between, &w_moving))
        return NULL;
    if (height < 1 || width < 1 || map_h < 1 || map_w < 1 || table_rows < 1 || height > INT_MAX / 4 ||
        width > INT_MAX / 4 || table_rows > INT_MAX / 256) {
        PyErr_SetString(PyExc_ValueError, "apply: sizes out of range");
        return NULL;
    }
    int blend = prev_o != Py_None;
    if (blend && (classes_o == Py_None || cls_h < 1 || cls_w < 1)) {
        PyErr_SetString(PyExc_ValueError, "apply: a blend needs prev and classes");
        return NULL;
    }
    Py_buffer frame, rows, table, keep, out, prev = {0}, classes = {0};
    Py_ssize_t pixels = height * width;
    if (get_buffer(frame_o, &frame, pixels * 3, 0, "frame") < 0)
        return NULL;
    if (get_buffer(rows_o, &rows, map_h * map_w * 4, 0, "rows") < 0)
        goto fail_frame;
    if (get_buffer(table_o, &table, table_rows * 256 * 4, 0, "table") < 0)
        goto fail_rows;
    if (get_buffer(keep_o, &keep, 256 * 4, 0, "keep") < 0)
        goto fail_table;
    if (get_buffer(out_o, &out, pixels * 3, 1, "out") < 0)
        goto fail_keep;
    if (blend) {
        if (get_buffer(prev_o, &prev, pixels * 3, 0, "prev") < 0)
            goto fail_out;
        if (get_buffer(classes_o, &classes, cls_h * cls_w, 0, "classes") < 0) {
            PyBuffer_Release(&prev);
            goto fail_out;
        }
    }

    /* Rows the frame uses: bilinear values stay between the map's minimum and maximum. */
    const float *r = (const float *)rows.buf;
    float lo = r[0], hi = r[0];
    for (Py_ssize_t i = 1; i < map_h * map_w; i++) {
        lo = r[i] < lo ? r[i] : lo;
        hi = r[i] > hi ? r[i] : hi;
    }
    int first = clamp_int((int)floorf(lo + 0.5f), 0, (int)table_rows - 1);
    int last = clamp_int((int)floorf(hi + 0.5f), 0, (int)table_rows - 1);
    if (!(lo == lo) || !(hi == hi)) { /* NaN in the map: every row */
        first = 0;
        last = (int)table_rows - 1;
    }
    int n_rows = last - first + 1;
    float weights[3] = {(float)w_still, (float)w_between, (float)w_moving};
    size_t floats = (size_t)n_rows * 512 + 7 * (size_t)width + (size_t)height + (size_t)map_w;
    size_t ints = 4 * (size_t)width + 2 * (size_t)height;
    float *fbuf = malloc(floats * sizeof(float));
    int *ibuf = malloc(ints * sizeof(int));
    if (!fbuf || !ibuf) {
        free(fbuf);
        free(ibuf);
        PyErr_NoMemory();
    } else {
        float *scale_tab = fbuf, *offset_tab = fbuf + (size_t)n_rows * 256, *fx = offset_tab + (size_t)n_rows * 256;
        float *fy = fx + width, *line = fy + height;
        float *rb = line + map_w;
        RowBuffers buf = {rb, rb + width, rb + 2 * width, rb + 3 * width, rb + 4 * width};
        int *x0 = ibuf, *x1 = x0 + width, *cx = x1 + width, *offs = cx + width, *y0 = offs + width, *y1 = y0 + height;
        Py_BEGIN_ALLOW_THREADS
        run((const uint8_t *)frame.buf, height, width, r, map_h, map_w, (const float *)table.buf, table_rows,
            (const float *)keep.buf, strength, (uint8_t *)out.buf, blend ? (const uint8_t *)prev.buf : NULL,
            blend ? (const uint8_t *)classes.buf : NULL, cls_h, cls_w, weights, scale_tab, offset_tab, first, n_rows,
            x0, x1, fx, y0, y1, fy, cx, line, offs, buf);
        Py_END_ALLOW_THREADS
        free(fbuf);
        free(ibuf);
    }
    if (blend) {
        PyBuffer_Release(&classes);
        PyBuffer_Release(&prev);
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&keep);
    PyBuffer_Release(&table);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&frame);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;

fail_out:
    PyBuffer_Release(&out);
fail_keep:
    PyBuffer_Release(&keep);
fail_table:
    PyBuffer_Release(&table);
fail_rows:
    PyBuffer_Release(&rows);
fail_frame:
    PyBuffer_Release(&frame);
    return NULL;
}

static PyMethodDef methods[] = {
    {"apply", fast_apply, METH_VARARGS, "The fused full-resolution apply step (see the module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastapply", "Fused apply step (C).", -1, methods};

PyMODINIT_FUNC PyInit__fastapply(void) { return PyModule_Create(&module); }
