/* The full-resolution apply step in one pass over the frame (see vidlle/apply.py for the maths
 * and vidlle/fused.py for the Python side).
 *
 * apply(frame, height, width, rows, map_h, map_w, table, table_rows, keep, strength, out,
 *       prev, classes, cls_h, cls_w, w_still, w_between, w_moving,
 *       guide, guide_h, guide_w, dn_strength, full_gain, chroma, s_still, s_between, s_moving)
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
 *   guide    None or (6, guide_h, guide_w) float32: the spatial denoiser's low-resolution fields
 *            (guided-filter a, b of the luma; of R - Y and B - Y against the luma; vidlle/denoise.py)
 *   dn_strength, full_gain, chroma: alpha = min(1, dn_strength * clamp((gain - 1) / (full_gain - 1)))
 *            of the filtered luma, min(1, chroma * alpha) of the low-pass chroma
 *   s_*      share of alpha per motion class (with classes; 1 without)
 *
 * Per pixel: the map row by bilinear interpolation of the low-resolution map (the geometry of
 * cv2.resize INTER_LINEAR), V = max(R, G, B), one gain and one saturation factor from a per-frame
 * table over the rows the frame uses, the scaled colour, and the blend with the previous output
 * at the class of the nearest motion-resolution pixel. With a guide, the pixel is first denoised
 * (luma and chroma, by the gain its undenoised brightness gets) and V is taken from the result. The frame is read once and written once;
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

/* The guide's fields (vidlle/denoise.py): luma a, b; chroma R - Y as ar * Y + br; B - Y as
 * ac * Y + bc (Y the denoised luma). */
#define GUIDE_FIELDS 6

/* The spatial denoiser of one row: the guide's fields upsampled to this row, and the per-pixel
 * factors. */
typedef struct {
    const float *h0, *h1;               /* the guide rows around this output row, upsampled */
    float fy;                           /* the row's weight of h1 */
    const float *alpha_tab;             /* alpha per (table row, level), as scale_tab */
    const float *stab;                  /* share of alpha per motion class value */
    float chroma;
} RowGuide;

/* One field of the guide from its line buffer to a full-resolution row (bilinear). */
static inline void upsample_row(const float *restrict line, const int *restrict i0, const int *restrict i1,
                                const float *restrict f, float *restrict dst, Py_ssize_t width)
{
    for (Py_ssize_t x = 0; x < width; x++) {
        float a = line[i0[x]];
        dst[x] = a + f[x] * (line[i1[x]] - a);
    }
}

/* Denoise one row in place (see vidlle/denoise.py): alpha of the filtered luma a * Y + b, min(1,
 * chroma * alpha) of the low-pass chroma; then the table index of the denoised brightness (the
 * row's offset plus V rounded) replaces the undenoised one in idx. */
static inline void denoise_row(float *restrict fr, float *restrict fg, float *restrict fb, float *restrict idx,
                               const float *restrict alpha_row, const float *restrict h0, const float *restrict h1,
                               float f, const int *restrict offs, float chroma, Py_ssize_t width)
{
    /* the guide's fields at this row: a blend of the two guide rows around it (h0, h1: the
     * GUIDE_FIELDS fields of each, upsampled to full width, one after the other) */
    const float *restrict a0 = h0, *restrict b0 = h0 + width, *restrict ar0 = h0 + 2 * width;
    const float *restrict br0 = h0 + 3 * width, *restrict ac0 = h0 + 4 * width, *restrict bc0 = h0 + 5 * width;
    const float *restrict a1 = h1, *restrict b1 = h1 + width, *restrict ar1 = h1 + 2 * width;
    const float *restrict br1 = h1 + 3 * width, *restrict ac1 = h1 + 4 * width, *restrict bc1 = h1 + 5 * width;
    for (Py_ssize_t x = 0; x < width; x++) {
        float ua = a0[x] + f * (a1[x] - a0[x]), ub = b0[x] + f * (b1[x] - b0[x]);
        float uar = ar0[x] + f * (ar1[x] - ar0[x]), ubr = br0[x] + f * (br1[x] - br0[x]);
        float uac = ac0[x] + f * (ac1[x] - ac0[x]), ubc = bc0[x] + f * (bc1[x] - bc0[x]);
        float alpha = alpha_row[x], r = fr[x], g = fg[x], bl = fb[x];
        float y = 0.299f * r + 0.587f * g + 0.114f * bl;
        float ac = chroma * alpha;
        ac = ac < 1.0f ? ac : 1.0f;
        float dy = alpha * (ua * y + ub - y);
        float yd = y + dy; /* the chroma's guide: the denoised luma */
        float dr = ac * (uar * yd + ubr - (r - y)), db = ac * (uac * yd + ubc - (bl - y));
        float dg = -(0.299f * dr + 0.114f * db) * (1.0f / 0.587f);
        r += dy + dr;
        g += dy + dg;
        bl += dy + db;
        r = r < 0.0f ? 0.0f : (r > 255.0f ? 255.0f : r);
        g = g < 0.0f ? 0.0f : (g > 255.0f ? 255.0f : g);
        bl = bl < 0.0f ? 0.0f : (bl > 255.0f ? 255.0f : bl);
        fr[x] = r;
        fg[x] = g;
        fb[x] = bl;
        float v = r > g ? r : g;
        v = v > bl ? v : bl;
        idx[x] = (float)offs[x] + (float)(int)(v + 0.5f);
    }
}

/* One output row. uint8 stores may alias anything, so every pointer is restrict-qualified.
 * With GCC on x86-64 the row is also compiled for AVX2 and the CPU picks at load time. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
static void run_row(const uint8_t *restrict src, uint8_t *restrict dst, const uint8_t *restrict old,
                    const uint8_t *restrict cls, const int *restrict cx, const int *restrict offs, Py_ssize_t width,
                    const float *restrict scale_tab, const float *restrict offset_tab, const float *restrict wtab,
                    RowBuffers buf, const RowGuide *guide)
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
    if (guide) {
        const float *restrict alpha_tab = guide->alpha_tab, *restrict stab = guide->stab;
        const float chroma = guide->chroma;
        /* alpha from the undenoised brightness's gain, scaled by the motion class's share */
        for (Py_ssize_t x = 0; x < width; x++)
            fo[x] = alpha_tab[(int)fs[x]];
        if (cls)
            for (Py_ssize_t x = 0; x < width; x++)
                fo[x] *= stab[cls[cx[x]]];
        denoise_row(fr, fg, fb, fs, fo, guide->h0, guide->h1, guide->fy, offs, chroma, width);
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

/* The spatial denoiser's inputs and scratch (see apply() above); guide == NULL: off. */
typedef struct {
    const float *guide;   /* (GUIDE_FIELDS, h, w) float32 */
    Py_ssize_t h, w;
    float strength, full_gain, chroma;
    float shares[3];      /* share of alpha per motion class */
    float *alpha_tab;     /* n_rows * 256 */
    float *hrows;         /* 2 slots of GUIDE_FIELDS * width: guide rows upsampled horizontally */
    int slot_row[2];      /* the guide row each slot holds (-1: none) */
    int *gx0, *gx1, *gy0, *gy1;
    float *gfx, *gfy;
} Denoise;

/* The guide's row r, every field upsampled to full width (in one of two slots; the slot holding
 * row `keep` is left alone). */
static const float *guide_row(Denoise *dn, int r, int keep, Py_ssize_t width)
{
    for (int k = 0; k < 2; k++)
        if (dn->slot_row[k] == r)
            return dn->hrows + (size_t)k * GUIDE_FIELDS * width;
    int k = dn->slot_row[0] == keep ? 1 : 0;
    float *dst = dn->hrows + (size_t)k * GUIDE_FIELDS * width;
    Py_ssize_t plane = dn->h * dn->w;
    for (int c = 0; c < GUIDE_FIELDS; c++)
        upsample_row(dn->guide + c * plane + (Py_ssize_t)r * dn->w, dn->gx0, dn->gx1, dn->gfx, dst + c * width, width);
    dn->slot_row[k] = r;
    return dst;
}

static void run(const uint8_t *frame, Py_ssize_t height, Py_ssize_t width, const float *rows, Py_ssize_t map_h,
                Py_ssize_t map_w, const float *table, Py_ssize_t table_rows, const float *keep, double strength,
                uint8_t *out, const uint8_t *prev, const uint8_t *classes, Py_ssize_t cls_h, Py_ssize_t cls_w,
                const float weights[3], float *scale_tab, float *offset_tab, int first_row, int n_rows,
                int *x0, int *x1, float *fx, int *y0, int *y1, float *fy, int *cx, float *line, int *offs,
                RowBuffers buf, Denoise *dn)
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
            if (dn) {
                float ramp = (gain - 1.0f) / (dn->full_gain - 1.0f);
                ramp = ramp < 0.0f ? 0.0f : (ramp > 1.0f ? 1.0f : ramp);
                float alpha = dn->strength * ramp;
                dn->alpha_tab[i * 256 + v] = alpha < 1.0f ? alpha : 1.0f;
            }
        }
    }
    float stab[256];
    for (int k = 0; k < 256; k++)
        stab[k] = dn ? dn->shares[k < 2 ? k : 2] : 1.0f;
    RowGuide rg;
    if (dn) {
        linear_geometry(width, dn->w, dn->gx0, dn->gx1, dn->gfx);
        linear_geometry(height, dn->h, dn->gy0, dn->gy1, dn->gfy);
        rg.alpha_tab = dn->alpha_tab;
        rg.stab = stab;
        rg.chroma = dn->chroma;

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
        if (dn) {
            /* Horizontal upsampling (a gather) once per guide row, kept for the 2-4 output rows
             * that share it; per output row the pass blends the two rows as it reads them. */
            rg.h0 = guide_row(dn, dn->gy0[y], dn->gy1[y], width);
            rg.h1 = guide_row(dn, dn->gy1[y], dn->gy0[y], width);
            rg.fy = dn->gfy[y];
        }
        run_row(frame + y * width * 3, out + y * width * 3, prev ? prev + y * width * 3 : NULL,
                classes ? classes + ((y * cls_h) / height) * cls_w : NULL, cx, offs, width, scale_tab, offset_tab,
                wtab, buf, dn ? &rg : NULL);
    }
}

static PyObject *fast_apply(PyObject *self, PyObject *args)
{
    PyObject *frame_o, *rows_o, *table_o, *keep_o, *out_o, *prev_o, *classes_o, *guide_o;
    Py_ssize_t height, width, map_h, map_w, table_rows, cls_h, cls_w, guide_h, guide_w;
    double strength, w_still, w_between, w_moving, dn_strength, full_gain, chroma, s_still, s_between, s_moving;
    if (!PyArg_ParseTuple(args, "OnnOnnOnOdOOOnndddOnndddddd", &frame_o, &height, &width, &rows_o, &map_h, &map_w,
                          &table_o, &table_rows, &keep_o, &strength, &out_o, &prev_o, &classes_o, &cls_h, &cls_w,
                          &w_still, &w_between, &w_moving, &guide_o, &guide_h, &guide_w, &dn_strength, &full_gain,
                          &chroma, &s_still, &s_between, &s_moving))
        return NULL;
    int denoise = guide_o != Py_None;
    if (denoise && (guide_h < 1 || guide_w < 1 || guide_h > INT_MAX / 4 || guide_w > INT_MAX / 4 || !(full_gain > 1.0))) {
        PyErr_SetString(PyExc_ValueError, "apply: guide sizes or full_gain out of range");
        return NULL;
    }
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
    Py_buffer frame, rows, table, keep, out, prev = {0}, classes = {0}, guide = {0};
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
    if (denoise && get_buffer(guide_o, &guide, GUIDE_FIELDS * guide_h * guide_w * 4, 0, "guide") < 0) {
        if (blend) {
            PyBuffer_Release(&classes);
            PyBuffer_Release(&prev);
        }
        goto fail_out;
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
    /* the denoiser's: alpha table, line buffers, upsampled rows, column and row geometry */
    size_t dn_floats = denoise ? (size_t)n_rows * 256 + 2 * GUIDE_FIELDS * (size_t)width + (size_t)width +
                                     (size_t)height : 0;
    size_t dn_ints = denoise ? 2 * (size_t)width + 2 * (size_t)height : 0;
    floats += dn_floats;
    ints += dn_ints;
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
        Denoise dn_state, *dn = NULL;
        if (denoise) {
            float *fd = rb + 5 * (size_t)width;
            int *id = y1 + height;
            dn_state.guide = (const float *)guide.buf;
            dn_state.h = guide_h;
            dn_state.w = guide_w;
            dn_state.strength = (float)dn_strength;
            dn_state.full_gain = (float)full_gain;
            dn_state.chroma = (float)chroma;
            dn_state.shares[0] = (float)s_still;
            dn_state.shares[1] = (float)s_between;
            dn_state.shares[2] = (float)s_moving;
            dn_state.alpha_tab = fd;
            dn_state.hrows = fd + (size_t)n_rows * 256;
            dn_state.slot_row[0] = dn_state.slot_row[1] = -1;
            dn_state.gfx = dn_state.hrows + 2 * GUIDE_FIELDS * (size_t)width;
            dn_state.gfy = dn_state.gfx + width;
            dn_state.gx0 = id;
            dn_state.gx1 = id + width;
            dn_state.gy0 = id + 2 * width;
            dn_state.gy1 = id + 2 * width + height;
            dn = &dn_state;
        }
        Py_BEGIN_ALLOW_THREADS
        run((const uint8_t *)frame.buf, height, width, r, map_h, map_w, (const float *)table.buf, table_rows,
            (const float *)keep.buf, strength, (uint8_t *)out.buf, blend ? (const uint8_t *)prev.buf : NULL,
            blend ? (const uint8_t *)classes.buf : NULL, cls_h, cls_w, weights, scale_tab, offset_tab, first, n_rows,
            x0, x1, fx, y0, y1, fy, cx, line, offs, buf, dn);
        Py_END_ALLOW_THREADS
        free(fbuf);
        free(ibuf);
    }
    if (denoise)
        PyBuffer_Release(&guide);
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
