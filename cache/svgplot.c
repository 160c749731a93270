/* svgplot.c - a small hand-written SVG line chart of miss ratio against cache size. */
#include "cache/trace.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Canvas and plot-area geometry in SVG user units (pixels). */
#define SVG_W 760
#define SVG_H 480
#define SVG_LEFT 70     /* room for y tick labels */
#define SVG_RIGHT 170   /* room for the legend */
#define SVG_TOP 50      /* room for the title */
#define SVG_BOTTOM 60   /* room for x tick labels and axis name */
#define SVG_X_TICKS 5   /* tick count on a linear x axis */
#define SVG_LOG_TICKS 8 /* most ticks on a log x axis */

/* Line colours, cycled: a colour-blind-safe qualitative palette (Okabe-Ito). */
static const char *const svg_colors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                         "#E69F00", "#56B4E9", "#000000", "#F0E442"};
#define SVG_N_COLORS (sizeof(svg_colors) / sizeof(svg_colors[0]))

/* Plot-area mapping from data to pixels. */
typedef struct svg_axes {
    double x0, x1; /* data range (log10 of it when logx) */
    double y0, y1;
    int logx;
} svg_axes_t;

/* Write s with XML's special characters escaped. */
static void svg_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* Pixel column of data value x. */
static double svg_px(const svg_axes_t *a, double x)
{
    double v = a->logx ? log10(x) : x;
    double w = SVG_W - SVG_LEFT - SVG_RIGHT;
    if (a->x1 <= a->x0) return SVG_LEFT + w / 2;
    return SVG_LEFT + (v - a->x0) / (a->x1 - a->x0) * w;
}

/* Pixel row of data value y. */
static double svg_py(const svg_axes_t *a, double y)
{
    double h = SVG_H - SVG_TOP - SVG_BOTTOM;
    return SVG_TOP + (a->y1 - y) / (a->y1 - a->y0) * h;
}

/* Choose the axes: x spans the data, y the data rounded out to tenths within [0, 1]. */
static void svg_fit(svg_axes_t *a, const svgplot_series_t *series, size_t n_series)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = 1, ymax = 0;
    for (size_t s = 0; s < n_series; s++) {
        for (size_t i = 0; i < series[s].n; i++) {
            xmin = fmin(xmin, series[s].x[i]);
            xmax = fmax(xmax, series[s].x[i]);
            ymin = fmin(ymin, series[s].y[i]);
            ymax = fmax(ymax, series[s].y[i]);
        }
    }
    if (!(xmin <= xmax)) xmin = xmax = 1;
    if (xmin < 1) xmin = 1;
    if (xmax < xmin) xmax = xmin;
    a->logx = xmax / xmin >= 4;
    a->x0 = a->logx ? log10(xmin) : xmin;
    a->x1 = a->logx ? log10(xmax) : xmax;
    a->y0 = fmax(0, floor(ymin * 10) / 10);
    a->y1 = fmin(1, ceil(ymax * 10) / 10);
    if (a->y1 - a->y0 < 0.1) {
        a->y0 = fmax(0, a->y0 - 0.1);
        a->y1 = fmin(1, a->y0 + 0.2);
    }
}

/* Draw one x tick (grid line and size label) at data value x. */
static void svg_xtick(FILE *f, const svg_axes_t *a, double x)
{
    char buf[32];
    double px = svg_px(a, x);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", px, SVG_TOP,
            px, SVG_H - SVG_BOTTOM);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px,
            SVG_H - SVG_BOTTOM + 18, aug_format_size((uint64_t)llround(x), buf, sizeof(buf)));
}

/* Grid, ticks and axis names. */
static void svg_axes(FILE *f, const svg_axes_t *a)
{
    int right = SVG_W - SVG_RIGHT, bottom = SVG_H - SVG_BOTTOM;
    for (int i = 0; i <= 10; i++) {
        double y = a->y0 + (a->y1 - a->y0) * i / 10.0;
        double py = svg_py(a, y);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                SVG_LEFT, py, right, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", SVG_LEFT - 6,
                py + 4, y);
    }
    if (a->logx) {
        /* Ticks at powers of two, so the labels read as round KiB/MiB/GiB, thinned to at
         * most SVG_LOG_TICKS. */
        int e0 = (int)ceil(a->x0 / log10(2) - 1e-9), e1 = (int)floor(a->x1 / log10(2) + 1e-9);
        int step = (e1 - e0) / SVG_LOG_TICKS + 1;
        for (int e = e0; e <= e1; e += step)
            svg_xtick(f, a, ldexp(1, e));
    } else if (a->x1 > a->x0) {
        for (int i = 0; i <= SVG_X_TICKS; i++)
            svg_xtick(f, a, a->x0 + (a->x1 - a->x0) * i / SVG_X_TICKS);
    } else {
        svg_xtick(f, a, a->x0);
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            SVG_LEFT, SVG_TOP, right - SVG_LEFT, bottom - SVG_TOP);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">cache size%s</text>\n",
            (SVG_LEFT + right) / 2, SVG_H - 15, a->logx ? " (log scale)" : "");
    fprintf(f,
            "<text x=\"18\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
            "miss ratio</text>\n",
            (SVG_TOP + bottom) / 2, (SVG_TOP + bottom) / 2);
}

/* One series: polyline, point markers and a legend entry. */
static void svg_series(FILE *f, const svg_axes_t *a, const svgplot_series_t *s, size_t idx)
{
    const char *color = svg_colors[idx % SVG_N_COLORS];
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", svg_px(a, s->x[i]), svg_py(a, s->y[i]));
    fputs("\"/>\n", f);
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", svg_px(a, s->x[i]),
                svg_py(a, s->y[i]), color);
    int ly = SVG_TOP + 10 + (int)idx * 22;
    int lx = SVG_W - SVG_RIGHT + 16;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>\n",
            lx, ly, lx + 24, ly, color);
    fprintf(f, "<text x=\"%d\" y=\"%d\">", lx + 30, ly + 4);
    svg_text(f, s->label);
    fputs("</text>\n", f);
}

/* Write the whole chart to path; AUG_EIO with err set if it cannot be created or written. */
int svgplot_write(const char *path, const char *title, const svgplot_series_t *series,
                  size_t n_series, aug_err_t *err)
{
    FILE *f = fopen(path, "w");
    if (!f) return aug_err_set(err, AUG_EIO, "%s: cannot create: %s", path, strerror(errno));
    svg_axes_t a;
    svg_fit(&a, series, n_series);
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(f, "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">",
            (SVG_LEFT + SVG_W - SVG_RIGHT) / 2);
    svg_text(f, title);
    fputs("</text>\n", f);
    svg_axes(f, &a);
    for (size_t s = 0; s < n_series; s++)
        svg_series(f, &a, &series[s], s);
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad) return aug_err_set(err, AUG_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}
