/* auth_sigv4.c - AWS Signature Version 4 for S3 (Authorization header and presigned URLs),
 * auth_verify() which picks the scheme, and the helpers the auth_*.c files share. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define V4_ALGORITHM "AWS4-HMAC-SHA256"
#define V4A_ALGORITHM "AWS4-ECDSA-P256-SHA256"
#define V4A_STREAMING "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" /* and its -TRAILER form */
#define V4_SERVICE "s3"
#define V4_TERMINATOR "aws4_request"
/* Longest SignedHeaders list accepted: far above what any SDK signs (about a dozen). */
#define V4_SIGNED_HEADERS_MAX 4096

#define MSG_NEED_DATE "AWS authentication requires a valid Date or x-amz-date header"
#define MSG_SIG_MISMATCH                                                                           \
    "The request signature we calculated does not match the signature you provided. Check "        \
    "your key and signing method."
#define MSG_NO_SUCH_KEY "The AWS Access Key Id you provided does not exist in our records."
#define MSG_TWO_MECHANISMS                                                                         \
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "        \
    "query string parameter or the Authorization header should be specified"

/* ---- small shared helpers ----------------------------------------------------------------- */

void auth_buf_put(auth_buf_t *b, const void *data, size_t len)
{
    if (b->oom) return;
    if (b->len + len + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + len + 1)
            ncap *= 2;
        char *n = realloc(b->data, ncap);
        if (!n) {
            b->oom = true;
            return;
        }
        b->data = n;
        b->cap = ncap;
    }
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void auth_buf_puts(auth_buf_t *b, const char *s)
{
    auth_buf_put(b, s, strlen(s));
}

void auth_buf_putc(auth_buf_t *b, char c)
{
    auth_buf_put(b, &c, 1);
}

void auth_buf_free(auth_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int auth_fail(auth_result_t *out, aug_err_t *err, const char *code, const char *fmt, ...)
{
    out->s3_code = code;
    out->key = NULL;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = AUG_EINVAL;
    }
    return AUG_EINVAL;
}

const char *auth_header_get(const auth_request_t *req, const char *name, size_t *count)
{
    const char *first = NULL;
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0) {
            if (!first) first = req->headers[i].value ? req->headers[i].value : "";
            n++;
        }
    }
    if (count) *count = n;
    return first;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode len bytes of a query component ('+' is a space). Caller frees. */
static char *query_decode(const char *s, size_t len, size_t *out_len)
{
    char *d = malloc(len + 1);
    if (!d) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hex_digit((unsigned char)s[i + 1]) >= 0 &&
            hex_digit((unsigned char)s[i + 2]) >= 0) {
            d[j++] = (char)(hex_digit((unsigned char)s[i + 1]) << 4 |
                            hex_digit((unsigned char)s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            d[j++] = ' ';
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out_len = j;
    return d;
}

void auth_params_free(auth_param_t *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    free(params);
}

int auth_params_parse(const char *query, auth_param_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!query || !*query) return 0;
    size_t cap = 1;
    for (const char *p = query; *p; p++)
        cap += *p == '&';
    auth_param_t *ps = calloc(cap, sizeof(*ps));
    if (!ps) return AUG_ENOMEM;
    size_t count = 0;
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            auth_param_t *q = &ps[count++];
            q->has_value = eq != NULL;
            q->name = query_decode(p, nlen, &q->name_len);
            q->value = eq ? query_decode(eq + 1, len - nlen - 1, &q->value_len)
                          : query_decode("", 0, &q->value_len);
            if (!q->name || !q->value) {
                auth_params_free(ps, count);
                return AUG_ENOMEM;
            }
        }
        p += len;
        if (*p == '&') p++;
    }
    *out = ps;
    *n = count;
    return 0;
}

const auth_param_t *auth_param_find(const auth_param_t *params, size_t n, const char *name,
                                    size_t *count)
{
    const auth_param_t *first = NULL;
    size_t c = 0, len = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (params[i].name_len == len && memcmp(params[i].name, name, len) == 0) {
            if (!first) first = &params[i];
            c++;
        }
    }
    if (count) *count = c;
    return first;
}

/* ---- dates -------------------------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (March-based years make
 * the leap day the last day of the year). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Seconds since the epoch of a checked UTC date and time; false when a field is out of
 * range. A leap second 60 counts as 59. */
static bool civil_to_epoch(int y, int mo, int d, int h, int mi, int s, int64_t *out)
{
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || s > 60)
        return false;
    if (s == 60) s = 59;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parse ISO 8601 basic "YYYYMMDDTHHMMSSZ" (X-Amz-Date). */
static bool parse_amz_date(const char *s, int64_t *out)
{
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z') return false;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 9, 2), mi = digits(s + 11, 2), sec = digits(s + 13, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return false;
    return civil_to_epoch(y, mo, d, h, mi, sec, out);
}

static void format_amz_date(int64_t t, char out[17])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16) out[0] = '\0';
}

static int month_from_name(const char *s)
{
    static const char *names[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                    "jul", "aug", "sep", "oct", "nov", "dec"};
    for (int i = 0; i < 12; i++)
        if (strncasecmp(s, names[i], 3) == 0) return i + 1;
    return -1;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Read 1 to max digits; -1 if none. */
static int read_number(const char **pp, int max)
{
    const char *p = *pp;
    int v = 0, n = 0;
    while (n < max && *p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0'), n++;
    if (n == 0) return -1;
    *pp = p;
    return v;
}

/* "HH:MM:SS" */
static bool read_time(const char **pp, int *h, int *mi, int *s)
{
    const char *p = *pp;
    if ((*h = read_number(&p, 2)) < 0 || *p++ != ':') return false;
    if ((*mi = read_number(&p, 2)) < 0 || *p++ != ':') return false;
    if ((*s = read_number(&p, 2)) < 0) return false;
    *pp = p;
    return true;
}

/* A zone: GMT, UTC, UT, Z, or +hhmm/-hhmm; returns its offset east of UTC in seconds. */
static bool read_zone(const char **pp, int *offset)
{
    const char *p = *pp;
    *offset = 0;
    if (strncasecmp(p, "GMT", 3) == 0 || strncasecmp(p, "UTC", 3) == 0)
        p += 3;
    else if (strncasecmp(p, "UT", 2) == 0)
        p += 2;
    else if (*p == 'Z')
        p++;
    else if ((*p == '+' || *p == '-') && digits(p + 1, 4) >= 0) {
        int hh = digits(p + 1, 2), mm = digits(p + 3, 2);
        if (hh > 23 || mm > 59) return false;
        *offset = (*p == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
        p += 5;
    } else
        return false;
    *pp = p;
    return true;
}

int auth_parse_http_date(const char *s, int64_t *out)
{
    if (!s) return AUG_EINVAL;
    const char *p = skip_spaces(s);
    int y, mo, d, h, mi, sec, offset = 0;
    /* optional weekday, with a comma in RFC 1123 and RFC 850 */
    const char *w = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
        p++;
    bool asctime_form = false;
    if (p != w) {
        if (*p == ',')
            p++;
        else
            asctime_form = true;
        p = skip_spaces(p);
    }
    if (!asctime_form) {
        /* "06 Nov 1994 08:49:37 GMT" or "06-Nov-94 08:49:37 GMT" */
        if ((d = read_number(&p, 2)) < 0) return AUG_EINVAL;
        char sep = *p;
        if (sep != ' ' && sep != '-') return AUG_EINVAL;
        p++;
        if ((mo = month_from_name(p)) < 0) return AUG_EINVAL;
        p += 3;
        if (*p++ != sep) return AUG_EINVAL;
        const char *ys = p;
        if ((y = read_number(&p, 4)) < 0) return AUG_EINVAL;
        if (p - ys == 2)
            y += y < 70 ? 2000 : 1900;
        else if (p - ys != 4)
            return AUG_EINVAL;
        p = skip_spaces(p);
        if (!read_time(&p, &h, &mi, &sec)) return AUG_EINVAL;
        p = skip_spaces(p);
        if (!read_zone(&p, &offset)) return AUG_EINVAL;
    } else {
        /* asctime: "Nov  6 08:49:37 1994", always UTC */
        if ((mo = month_from_name(p)) < 0) return AUG_EINVAL;
        p = skip_spaces(p + 3);
        if ((d = read_number(&p, 2)) < 0) return AUG_EINVAL;
        p = skip_spaces(p);
        if (!read_time(&p, &h, &mi, &sec)) return AUG_EINVAL;
        p = skip_spaces(p);
        const char *ys = p;
        if ((y = read_number(&p, 4)) < 0 || p - ys != 4) return AUG_EINVAL;
    }
    if (*skip_spaces(p) != '\0') return AUG_EINVAL;
    int64_t t;
    if (!civil_to_epoch(y, mo, d, h, mi, sec, &t)) return AUG_EINVAL;
    *out = t - offset;
    return 0;
}

/* ---- debug log of a mismatch ------------------------------------------------------------- */

/* Signed headers that carry secrets of their own: SSE-C keys and session tokens. */
static const char *const secret_headers[] = {
    "x-amz-server-side-encryption-customer-key:",
    "x-amz-copy-source-server-side-encryption-customer-key:",
    "x-amz-security-token:",
};
#define SECRET_QUERY "X-Amz-Security-Token="

/* Append one line of a canonical request or string to sign with secret values replaced. */
static void put_redacted_line(auth_buf_t *b, const char *line, size_t len)
{
    for (size_t i = 0; i < sizeof(secret_headers) / sizeof(secret_headers[0]); i++) {
        size_t l = strlen(secret_headers[i]);
        if (len >= l && strncasecmp(line, secret_headers[i], l) == 0) {
            auth_buf_put(b, line, l);
            auth_buf_puts(b, "<redacted>");
            return;
        }
    }
    size_t ql = strlen(SECRET_QUERY);
    for (size_t i = 0; i < len;) {
        if (len - i >= ql && strncmp(line + i, SECRET_QUERY, ql) == 0) {
            auth_buf_put(b, line + i, ql);
            auth_buf_puts(b, "<redacted>");
            i += ql;
            while (i < len && line[i] != '&')
                i++;
        } else {
            auth_buf_putc(b, line[i++]);
        }
    }
}

static void put_redacted(auth_buf_t *b, const char *text)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        put_redacted_line(b, text, len);
        if (!nl) break;
        auth_buf_putc(b, '\n');
        text = nl + 1;
    }
    auth_buf_put(b, "", 0);
}

void auth_log_mismatch(const char *scheme, const char *access_key, const char *creq,
                       const char *sts)
{
    if (aug_log_get_level() < AUG_LOG_DEBUG) return;
    auth_buf_t c = {0}, s = {0};
    put_redacted(&c, creq);
    put_redacted(&s, sts);
    if (creq)
        aug_debug("%s signature mismatch for access key %s; canonical request:\n%s\n"
                  "string to sign:\n%s",
                  scheme, access_key, c.oom ? "?" : c.data, s.oom ? "?" : s.data);
    else
        aug_debug("%s signature mismatch for access key %s; string to sign:\n%s", scheme,
                  access_key, s.oom ? "?" : s.data);
    auth_buf_free(&c);
    auth_buf_free(&s);
}

/* ---- crypto ------------------------------------------------------------------------------- */

static bool hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    unsigned int olen = 32;
    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) != NULL && olen == 32;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t md[32];
    SHA256(data, len, md);
    aug_hex(md, 32, out);
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request") */
/* Derived signing keys, reused for the day they are valid: deriving one costs four HMACs,
 * a large share of a small request. Direct-mapped, keyed by a hash of the secret (never the
 * secret itself, nor its address: a rotated secret must not match an old entry). */
#define V4_KEY_CACHE_SLOTS 64

typedef struct v4_cached_key {
    uint64_t secret_hash;
    char date8[9];
    char region[AUTH_REGION_MAX + 1];
    uint8_t key[32];
    bool valid;
} v4_cached_key_t;

static v4_cached_key_t v4_key_cache[V4_KEY_CACHE_SLOTS];
static pthread_mutex_t v4_key_cache_mu = PTHREAD_MUTEX_INITIALIZER;

static bool v4_derive_key(const char *secret, const char *date8, const char *region,
                          uint8_t out[32]);

static bool v4_signing_key(const char *secret, const char *date8, const char *region,
                           uint8_t out[32])
{
    uint64_t h = aug_hash64(secret, strlen(secret), 0x7334);
    size_t slot = (size_t)((h ^ aug_hash64(date8, strlen(date8), h) ^
                            aug_hash64(region, strlen(region), 1)) %
                           V4_KEY_CACHE_SLOTS);
    if (strlen(date8) > 8 || strlen(region) > AUTH_REGION_MAX)
        return v4_derive_key(secret, date8, region, out);
    pthread_mutex_lock(&v4_key_cache_mu);
    v4_cached_key_t *e = &v4_key_cache[slot];
    bool hit = e->valid && e->secret_hash == h && strcmp(e->date8, date8) == 0 &&
               strcmp(e->region, region) == 0;
    if (hit) memcpy(out, e->key, 32);
    pthread_mutex_unlock(&v4_key_cache_mu);
    if (hit) return true;
    if (!v4_derive_key(secret, date8, region, out)) return false;
    pthread_mutex_lock(&v4_key_cache_mu);
    e->secret_hash = h;
    snprintf(e->date8, sizeof(e->date8), "%s", date8);
    snprintf(e->region, sizeof(e->region), "%s", region);
    memcpy(e->key, out, 32);
    e->valid = true;
    pthread_mutex_unlock(&v4_key_cache_mu);
    return true;
}

static bool v4_derive_key(const char *secret, const char *date8, const char *region,
                          uint8_t out[32])
{
    char k0[4 + AUTH_SECRET_MAX + 1];
    size_t slen = strlen(secret);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    uint8_t k1[32], k2[32], k3[32];
    bool ok = hmac_sha256(k0, 4 + slen, date8, strlen(date8), k1) &&
              hmac_sha256(k1, 32, region, strlen(region), k2) &&
              hmac_sha256(k2, 32, V4_SERVICE, strlen(V4_SERVICE), k3) &&
              hmac_sha256(k3, 32, V4_TERMINATOR, strlen(V4_TERMINATOR), out);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    return ok;
}

static bool is_hex_string(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (hex_digit((unsigned char)s[i]) < 0) return false;
    return true;
}

/* ---- canonical request -------------------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void uri_encode_byte(auth_buf_t *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    if (is_unreserved(c)) {
        auth_buf_putc(b, (char)c);
    } else {
        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
        auth_buf_put(b, e, 3);
    }
}

static void uri_encode(auth_buf_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        uri_encode_byte(b, (unsigned char)s[i]);
}

/* The canonical URI as SigV4 defines it for S3: every byte of the path encoded once (so
 * "$" becomes "%24" while "%24" stays), '/' kept, an encoded "%2F" kept encoded; no
 * normalisation of "//", "." or "..". */
static void canonical_uri(auth_buf_t *b, const char *path)
{
    if (!path || !*path) {
        auth_buf_putc(b, '/');
        return;
    }
    for (size_t i = 0; path[i]; i++) {
        unsigned char c = (unsigned char)path[i];
        int hi, lo;
        if (c == '%' && (hi = hex_digit((unsigned char)path[i + 1])) >= 0 &&
            (lo = hex_digit((unsigned char)path[i + 2])) >= 0) {
            uri_encode_byte(b, (unsigned char)(hi << 4 | lo));
            i += 2;
        } else if (c == '/') {
            auth_buf_putc(b, '/');
        } else {
            uri_encode_byte(b, c);
        }
    }
}

typedef struct qpair {
    char *name, *value; /* encoded */
} qpair_t;

static int qpair_cmp(const void *a, const void *b)
{
    const qpair_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* "name=value&..." of every parameter (but X-Amz-Signature when skip_signature), encoded per
 * SigV4 and sorted by name, then value. Returns false when memory runs out. */
static bool canonical_query(auth_buf_t *b, const auth_param_t *ps, size_t n, bool skip_signature)
{
    if (n == 0) return true;
    qpair_t *pairs = calloc(n, sizeof(*pairs));
    if (!pairs) return false;
    size_t m = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (skip_signature && ps[i].name_len == 15 &&
            memcmp(ps[i].name, "X-Amz-Signature", 15) == 0)
            continue;
        auth_buf_t nb = {0}, vb = {0};
        uri_encode(&nb, ps[i].name, ps[i].name_len);
        uri_encode(&vb, ps[i].value, ps[i].value_len);
        auth_buf_put(&nb, "", 0);
        auth_buf_put(&vb, "", 0);
        if (nb.oom || vb.oom) {
            auth_buf_free(&nb);
            auth_buf_free(&vb);
            ok = false;
            break;
        }
        pairs[m].name = nb.data;
        pairs[m].value = vb.data;
        m++;
    }
    if (ok) {
        qsort(pairs, m, sizeof(*pairs), qpair_cmp);
        for (size_t i = 0; i < m; i++) {
            if (i) auth_buf_putc(b, '&');
            auth_buf_puts(b, pairs[i].name);
            auth_buf_putc(b, '=');
            auth_buf_puts(b, pairs[i].value);
        }
    }
    for (size_t i = 0; i < m; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return ok && !b->oom;
}

/* Append value trimmed, with runs of spaces and tabs squeezed to one space. */
static void put_trimmed_value(auth_buf_t *b, const char *v)
{
    const char *p = skip_spaces(v);
    bool space = false;
    for (; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            space = true;
            continue;
        }
        if (space) auth_buf_putc(b, ' ');
        space = false;
        auth_buf_putc(b, *p);
    }
}

/* Is name (len bytes) in the ';'-separated list? Case-insensitive. */
static bool list_has(const char *list, const char *name, size_t len)
{
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == len && strncasecmp(p, name, len) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

/* "name:value\n" for each signed header, in the order SignedHeaders lists them; repeated
 * headers joined with ','. Fails (SignatureDoesNotMatch) when a signed header is absent. */
static int canonical_headers(auth_buf_t *b, const auth_request_t *req, const char *signed_headers,
                             auth_result_t *out, aug_err_t *err)
{
    const char *p = signed_headers;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        for (size_t i = 0; i < l; i++) {
            char c = p[i];
            auth_buf_putc(b, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
        }
        auth_buf_putc(b, ':');
        size_t seen = 0;
        for (size_t i = 0; i < req->n_headers; i++) {
            const char *hn = req->headers[i].name;
            if (!hn || strlen(hn) != l || strncasecmp(hn, p, l) != 0) continue;
            if (seen++) auth_buf_putc(b, ',');
            put_trimmed_value(b, req->headers[i].value ? req->headers[i].value : "");
        }
        if (seen == 0)
            return auth_fail(out, err, "SignatureDoesNotMatch",
                             "The header '%.*s' is listed in SignedHeaders but is not in the "
                             "request.",
                             (int)(l > 64 ? 64 : l), p);
        auth_buf_putc(b, '\n');
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* ---- the parts of a SigV4 signature ------------------------------------------------------- */

typedef struct v4_auth {
    char akid[AUTH_ACCESS_KEY_MAX + 1];
    char date8[9];
    char region[AUTH_REGION_MAX + 1];
    char scope[AUTH_SCOPE_MAX + 1];
    char signed_headers[V4_SIGNED_HEADERS_MAX + 1];
    uint8_t signature[32];
    char amz_date[17];
    int64_t time;
} v4_auth_t;

enum { CRED_OK = 0, CRED_MALFORMED, CRED_SERVICE, CRED_TERMINATOR };

static bool is_region_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Split "AKID/YYYYMMDD/REGION/s3/aws4_request" (len bytes) into a. */
static int parse_credential(const char *s, size_t len, v4_auth_t *a)
{
    const char *part[5];
    size_t plen[5];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            if (n == 5) return CRED_MALFORMED;
            part[n] = s + start;
            plen[n++] = i - start;
            start = i + 1;
        }
    }
    if (n != 5) return CRED_MALFORMED;
    if (plen[0] == 0 || plen[0] > AUTH_ACCESS_KEY_MAX) return CRED_MALFORMED;
    for (size_t i = 0; i < plen[0]; i++)
        if ((unsigned char)part[0][i] <= 0x20 || (unsigned char)part[0][i] >= 0x7f)
            return CRED_MALFORMED;
    if (plen[1] != 8 || digits(part[1], 8) < 0) return CRED_MALFORMED;
    if (plen[2] == 0 || plen[2] > AUTH_REGION_MAX) return CRED_MALFORMED;
    for (size_t i = 0; i < plen[2]; i++)
        if (!is_region_char(part[2][i])) return CRED_MALFORMED;
    memcpy(a->akid, part[0], plen[0]);
    a->akid[plen[0]] = '\0';
    memcpy(a->date8, part[1], 8);
    a->date8[8] = '\0';
    memcpy(a->region, part[2], plen[2]);
    a->region[plen[2]] = '\0';
    if (plen[3] != strlen(V4_SERVICE) || memcmp(part[3], V4_SERVICE, plen[3]) != 0)
        return CRED_SERVICE;
    if (plen[4] != strlen(V4_TERMINATOR) || memcmp(part[4], V4_TERMINATOR, plen[4]) != 0)
        return CRED_TERMINATOR;
    snprintf(a->scope, sizeof(a->scope), "%s/%s/%s/%s", a->date8, a->region, V4_SERVICE,
             V4_TERMINATOR);
    return CRED_OK;
}

/* Check a SignedHeaders list (len bytes): ';'-separated header names, including host. */
static bool parse_signed_headers(const char *s, size_t len, v4_auth_t *a, bool *has_host)
{
    if (len == 0 || len > V4_SIGNED_HEADERS_MAX) return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ';') {
            unsigned char c = (unsigned char)s[i];
            if (c <= 0x20 || c >= 0x7f || c == ':' || c == ',') return false;
            continue;
        }
        if (i == start) return false; /* empty name */
        start = i + 1;
    }
    memcpy(a->signed_headers, s, len);
    a->signed_headers[len] = '\0';
    *has_host = list_has(a->signed_headers, "host", 4);
    return true;
}

static bool parse_signature(const char *s, size_t len, uint8_t out[32])
{
    return len == 64 && is_hex_string(s, len) && aug_unhex(s, out, 32) == 0;
}

/* Refuse unsigned x-amz-* headers, as S3 does: they could be added in transit. */
static int check_amz_headers_signed(const auth_request_t *req, const v4_auth_t *a,
                                    auth_result_t *out, aug_err_t *err)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *n = req->headers[i].name;
        if (!n || strncasecmp(n, "x-amz-", 6) != 0) continue;
        if (list_has(a->signed_headers, n, strlen(n))) continue;
        char shown[65];
        size_t j = 0;
        for (; n[j] && j < sizeof(shown) - 1; j++)
            shown[j] = (unsigned char)n[j] > 0x20 && (unsigned char)n[j] < 0x7f ? n[j] : '?';
        shown[j] = '\0';
        return auth_fail(out, err, "AccessDenied",
                         "There were headers present in the request which were not signed: %s",
                         shown);
    }
    return 0;
}

/* Compute the signature over the canonical request built from uri (already canonical) and
 * compare it with a->signature. Returns 1 on a match, 0 on a mismatch, or a negative code. */
static int v4_try(const auth_request_t *req, const v4_auth_t *a, const uint8_t key[32],
                  const char *uri, const auth_buf_t *query, const auth_buf_t *headers,
                  const char *payload_hash, uint8_t sig_out[32], auth_buf_t *creq_out,
                  auth_buf_t *sts_out)
{
    auth_buf_t creq = {0}, sts = {0};
    auth_buf_puts(&creq, req->method ? req->method : "");
    auth_buf_putc(&creq, '\n');
    auth_buf_puts(&creq, uri);
    auth_buf_putc(&creq, '\n');
    auth_buf_puts(&creq, query->data ? query->data : "");
    auth_buf_putc(&creq, '\n');
    auth_buf_puts(&creq, headers->data ? headers->data : "");
    auth_buf_putc(&creq, '\n');
    auth_buf_puts(&creq, a->signed_headers);
    auth_buf_putc(&creq, '\n');
    auth_buf_puts(&creq, payload_hash);
    char hash[65] = "";
    if (!creq.oom) sha256_hex(creq.data, creq.len, hash);
    auth_buf_puts(&sts, V4_ALGORITHM "\n");
    auth_buf_puts(&sts, a->amz_date);
    auth_buf_putc(&sts, '\n');
    auth_buf_puts(&sts, a->scope);
    auth_buf_putc(&sts, '\n');
    auth_buf_puts(&sts, hash);
    int rc;
    if (creq.oom || sts.oom)
        rc = AUG_ENOMEM;
    else if (!hmac_sha256(key, 32, sts.data, sts.len, sig_out))
        rc = AUG_EIO;
    else
        rc = CRYPTO_memcmp(sig_out, a->signature, 32) == 0 ? 1 : 0;
    auth_buf_free(creq_out);
    auth_buf_free(sts_out);
    *creq_out = creq;
    *sts_out = sts;
    return rc;
}

/* Verify a parsed SigV4 signature with key; fill out for the chunk decoder on success. */
static int v4_verify_signature(const auth_request_t *req, const v4_auth_t *a, const auth_key_t *key,
                               const auth_param_t *ps, size_t n, bool presigned,
                               const char *payload_hash, auth_result_t *out, aug_err_t *err)
{
    auth_buf_t headers = {0}, query = {0}, uri = {0}, creq = {0}, sts = {0};
    uint8_t skey[32], sig[32];
    int rc = canonical_headers(&headers, req, a->signed_headers, out, err);
    if (rc) goto done;
    if (!canonical_query(&query, ps, n, presigned)) {
        rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
        goto done;
    }
    canonical_uri(&uri, req->path);
    auth_buf_put(&uri, "", 0);
    if (headers.oom || uri.oom) {
        rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
        goto done;
    }
    if (!v4_signing_key(auth_key_secret(key), a->date8, a->region, skey)) {
        rc = aug_err_set(err, AUG_EIO, "OpenSSL could not compute an HMAC");
        goto done;
    }
    rc = v4_try(req, a, skey, uri.data, &query, &headers, payload_hash, sig, &creq, &sts);
    /* Some clients sign the path exactly as they send it even where SigV4 would encode a
     * byte ('(' or '!' sent raw): the same object either way, so accept that spelling. */
    const char *raw = req->path && *req->path ? req->path : "/";
    if (rc == 0 && strcmp(raw, uri.data) != 0) {
        auth_buf_t c2 = {0}, s2 = {0};
        rc = v4_try(req, a, skey, raw, &query, &headers, payload_hash, sig, &c2, &s2);
        auth_buf_free(&c2);
        auth_buf_free(&s2);
    }
    if (rc < 0) {
        aug_err_set(err, rc,
                    rc == AUG_ENOMEM ? "out of memory" : "OpenSSL could not compute an HMAC");
        goto done;
    }
    if (rc == 0) {
        auth_log_mismatch("sigv4", a->akid, creq.data, sts.data);
        rc = auth_fail(out, err, "SignatureDoesNotMatch", MSG_SIG_MISMATCH);
        goto done;
    }
    rc = 0;
    out->key = key;
    memcpy(out->signing_key, skey, 32);
    aug_hex(sig, 32, out->seed_signature);
    memcpy(out->amz_date, a->amz_date, sizeof(out->amz_date));
    snprintf(out->scope, sizeof(out->scope), "%s", a->scope);
done:
    OPENSSL_cleanse(skey, sizeof(skey));
    auth_buf_free(&headers);
    auth_buf_free(&query);
    auth_buf_free(&uri);
    auth_buf_free(&creq);
    auth_buf_free(&sts);
    return rc;
}

/* ---- x-amz-content-sha256 ----------------------------------------------------------------- */

static int parse_payload(const auth_request_t *req, const char *value, auth_result_t *out,
                         aug_err_t *err)
{
    size_t len = strlen(value);
    if (strcmp(value, "UNSIGNED-PAYLOAD") == 0) {
        out->payload = AUTH_PAYLOAD_UNSIGNED;
    } else if (len == 64 && is_hex_string(value, 64)) {
        out->payload = AUTH_PAYLOAD_SHA256;
        aug_unhex(value, out->payload_sha256, 32);
    } else if (strcmp(value, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0) {
        out->payload = AUTH_PAYLOAD_STREAMING;
    } else if (strcmp(value, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0) {
        out->payload = AUTH_PAYLOAD_STREAMING_TRAILER;
    } else if (strcmp(value, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0) {
        out->payload = AUTH_PAYLOAD_UNSIGNED_TRAILER;
    } else if (strncmp(value, V4A_STREAMING, sizeof(V4A_STREAMING) - 1) == 0) {
        return auth_fail(out, err, "NotImplemented",
                         "Signature Version 4A streaming payloads are not supported; sign with "
                         "AWS4-HMAC-SHA256.");
    } else {
        return auth_fail(out, err, "InvalidArgument",
                         "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                         "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                         "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                         "STREAMING-UNSIGNED-PAYLOAD-TRAILER or the SHA-256 of the body in "
                         "hexadecimal.");
    }
    if (out->payload < AUTH_PAYLOAD_STREAMING) return 0;
    const char *dl = auth_header_get(req, "x-amz-decoded-content-length", NULL);
    if (!dl)
        return auth_fail(out, err, "MissingContentLength",
                         "x-amz-decoded-content-length is required with x-amz-content-sha256: "
                         "%s.",
                         value);
    dl = skip_spaces(dl);
    int64_t v = 0;
    size_t nd = 0;
    for (; dl[nd] >= '0' && dl[nd] <= '9'; nd++) {
        if (nd >= 18) break;
        v = v * 10 + (dl[nd] - '0');
    }
    if (nd == 0 || *skip_spaces(dl + nd) != '\0')
        return auth_fail(out, err, "InvalidArgument",
                         "x-amz-decoded-content-length must be a number of bytes.");
    out->decoded_length = v;
    const char *tr = auth_header_get(req, "x-amz-trailer", NULL);
    if (tr) {
        tr = skip_spaces(tr);
        size_t tl = strlen(tr);
        while (tl > 0 && (tr[tl - 1] == ' ' || tr[tl - 1] == '\t'))
            tl--;
        if (tl > AUTH_TRAILER_MAX)
            return auth_fail(out, err, "InvalidArgument", "x-amz-trailer is too long.");
        memcpy(out->trailer, tr, tl);
        out->trailer[tl] = '\0';
    }
    return 0;
}

/* ---- Authorization: AWS4-HMAC-SHA256 ... -------------------------------------------------- */

#define HDR_MALFORMED "AuthorizationHeaderMalformed"

static int cred_error(int kind, const char *code, const char *what, auth_result_t *out,
                      aug_err_t *err)
{
    switch (kind) {
    case CRED_SERVICE:
        return auth_fail(out, err, code, "%s; incorrect service; this endpoint belongs to \"s3\".",
                         what);
    case CRED_TERMINATOR:
        return auth_fail(out, err, code,
                         "%s; incorrect terminal; this endpoint uses \"aws4_request\".", what);
    default:
        return auth_fail(out, err, code,
                         "%s; the Credential is mal-formed; expecting "
                         "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
                         what);
    }
}

static int v4_parse_header(const char *authz, v4_auth_t *a, auth_result_t *out, aug_err_t *err)
{
    static const char what[] = "The authorization header is malformed";
    const char *p = authz + strlen(V4_ALGORITHM);
    bool have_cred = false, have_sh = false, have_sig = false, has_host = false;
    int cred_kind = CRED_OK;
    for (;;) {
        p = skip_spaces(p);
        if (!*p) break;
        const char *name = p;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
            p++;
        size_t nlen = (size_t)(p - name);
        if (nlen == 0 || *p != '=')
            return auth_fail(out, err, HDR_MALFORMED,
                             "%s; expecting 'AWS4-HMAC-SHA256 Credential=..., "
                             "SignedHeaders=..., Signature=...'.",
                             what);
        const char *v = ++p;
        while (*p && *p != ',')
            p++;
        size_t vlen = (size_t)(p - v);
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (*p == ',') p++;
        if (nlen == 10 && memcmp(name, "Credential", 10) == 0 && !have_cred) {
            have_cred = true;
            cred_kind = parse_credential(v, vlen, a);
            if (cred_kind == CRED_MALFORMED)
                return cred_error(cred_kind, HDR_MALFORMED, what, out, err);
            snprintf(out->access_key, sizeof(out->access_key), "%s", a->akid);
        } else if (nlen == 13 && memcmp(name, "SignedHeaders", 13) == 0 && !have_sh) {
            have_sh = true;
            if (!parse_signed_headers(v, vlen, a, &has_host))
                return auth_fail(out, err, HDR_MALFORMED,
                                 "%s; SignedHeaders must be header names separated by ';'.", what);
        } else if (nlen == 9 && memcmp(name, "Signature", 9) == 0 && !have_sig) {
            have_sig = true;
            if (!parse_signature(v, vlen, a->signature))
                return auth_fail(out, err, HDR_MALFORMED,
                                 "%s; the Signature must be 64 hexadecimal digits.", what);
        } else {
            return auth_fail(out, err, HDR_MALFORMED,
                             "%s; unexpected or repeated part '%.*s'; expecting 'Credential', "
                             "'SignedHeaders' and 'Signature' once each.",
                             what, (int)(nlen > 32 ? 32 : nlen), name);
        }
    }
    if (!have_cred)
        return auth_fail(out, err, HDR_MALFORMED,
                         "%s; the Authorization header requires a 'Credential' parameter.", what);
    if (!have_sh)
        return auth_fail(out, err, HDR_MALFORMED,
                         "%s; the Authorization header requires a 'SignedHeaders' parameter.",
                         what);
    if (!have_sig)
        return auth_fail(out, err, HDR_MALFORMED,
                         "%s; the Authorization header requires a 'Signature' parameter.", what);
    if (cred_kind != CRED_OK) return cred_error(cred_kind, HDR_MALFORMED, what, out, err);
    if (!has_host)
        return auth_fail(out, err, HDR_MALFORMED, "%s; SignedHeaders must include 'host'.", what);
    return 0;
}

static int check_region(const auth_request_t *req, const v4_auth_t *a, const char *code,
                        const char *what, auth_result_t *out, aug_err_t *err)
{
    if (req->region && strcmp(req->region, a->region) != 0)
        return auth_fail(out, err, code, "%s; the region '%s' is wrong; expecting '%s'", what,
                         a->region, req->region);
    return 0;
}

static int v4_verify_header(const auth_creds_t *creds, const auth_request_t *req, const char *authz,
                            const auth_param_t *ps, size_t n, auth_result_t *out, aug_err_t *err)
{
    static const char what[] = "The authorization header is malformed";
    out->scheme = AUTH_V4_HEADER;
    v4_auth_t *a = calloc(1, sizeof(*a));
    if (!a) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = v4_parse_header(authz, a, out, err);
    if (rc) goto done;

    /* the request time: X-Amz-Date, else Date */
    const char *xd = auth_header_get(req, "x-amz-date", NULL);
    if (xd) {
        if (!parse_amz_date(xd, &a->time)) {
            rc = auth_fail(out, err, "AccessDenied", MSG_NEED_DATE);
            goto done;
        }
        memcpy(a->amz_date, xd, 17);
    } else {
        const char *d = auth_header_get(req, "date", NULL);
        if (!d || auth_parse_http_date(d, &a->time) != 0) {
            rc = auth_fail(out, err, "AccessDenied", MSG_NEED_DATE);
            goto done;
        }
        format_amz_date(a->time, a->amz_date);
    }
    out->request_time = a->time;
    if (memcmp(a->date8, a->amz_date, 8) != 0) {
        rc = auth_fail(out, err, HDR_MALFORMED,
                       "%s; invalid credential date \"%s\": it is not the date of the request "
                       "time \"%.8s\".",
                       what, a->date8, a->amz_date);
        goto done;
    }
    if ((rc = check_region(req, a, HDR_MALFORMED, what, out, err))) goto done;
    if (a->time > req->now + AUTH_MAX_SKEW_SEC || a->time < req->now - AUTH_MAX_SKEW_SEC) {
        rc = auth_fail(out, err, "RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too "
                       "large (%lld seconds; at most %d allowed).",
                       (long long)(a->time - req->now), AUTH_MAX_SKEW_SEC);
        goto done;
    }
    const auth_key_t *key = auth_creds_lookup(creds, a->akid);
    if (!key) {
        rc = auth_fail(out, err, "InvalidAccessKeyId", MSG_NO_SUCH_KEY);
        goto done;
    }
    const char *payload = auth_header_get(req, "x-amz-content-sha256", NULL);
    if (!payload) {
        rc = auth_fail(out, err, "InvalidRequest",
                       "Missing required header for this request: x-amz-content-sha256");
        goto done;
    }
    /* trimmed, as it appears among the canonical headers */
    auth_buf_t pv = {0};
    put_trimmed_value(&pv, payload);
    auth_buf_put(&pv, "", 0);
    if (pv.oom) {
        rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
        goto done;
    }
    rc = parse_payload(req, pv.data, out, err);
    if (!rc) rc = check_amz_headers_signed(req, a, out, err);
    if (!rc) rc = v4_verify_signature(req, a, key, ps, n, false, pv.data, out, err);
    auth_buf_free(&pv);
done:
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
    return rc;
}

/* ---- presigned: X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=... -------------------- */

#define QUERY_ERROR "AuthorizationQueryParametersError"

/* The single value of query parameter name, or NULL (and fail) when absent or repeated. */
static const auth_param_t *one_param(const auth_param_t *ps, size_t n, const char *name)
{
    size_t count;
    const auth_param_t *p = auth_param_find(ps, n, name, &count);
    return count == 1 && strlen(p->value) == p->value_len ? p : NULL;
}

static int v4_verify_query(const auth_creds_t *creds, const auth_request_t *req,
                           const auth_param_t *ps, size_t n, auth_result_t *out, aug_err_t *err)
{
    static const char what[] = "Error parsing the X-Amz-Credential parameter";
    out->scheme = AUTH_V4_QUERY;
    const auth_param_t *alg = one_param(ps, n, "X-Amz-Algorithm");
    const auth_param_t *cred = one_param(ps, n, "X-Amz-Credential");
    const auth_param_t *date = one_param(ps, n, "X-Amz-Date");
    const auth_param_t *exp = one_param(ps, n, "X-Amz-Expires");
    const auth_param_t *sh = one_param(ps, n, "X-Amz-SignedHeaders");
    const auth_param_t *sig = one_param(ps, n, "X-Amz-Signature");
    if (!alg || !cred || !date || !exp || !sh || !sig)
        return auth_fail(out, err, QUERY_ERROR,
                         "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                         "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                         "and X-Amz-Expires parameters, once each.");
    if (strcmp(alg->value, V4_ALGORITHM) != 0)
        return auth_fail(out, err, QUERY_ERROR,
                         "X-Amz-Algorithm only supports \"" V4_ALGORITHM "\"");
    v4_auth_t *a = calloc(1, sizeof(*a));
    if (!a) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = 0;
    int kind = parse_credential(cred->value, cred->value_len, a);
    if (kind != CRED_OK) {
        if (kind != CRED_MALFORMED)
            snprintf(out->access_key, sizeof(out->access_key), "%s", a->akid);
        rc = cred_error(kind, QUERY_ERROR, what, out, err);
        goto done;
    }
    snprintf(out->access_key, sizeof(out->access_key), "%s", a->akid);
    if (!parse_amz_date(date->value, &a->time)) {
        rc = auth_fail(out, err, QUERY_ERROR,
                       "X-Amz-Date must be in the ISO8601 Long Format "
                       "\"yyyyMMdd'T'HHmmss'Z'\"");
        goto done;
    }
    memcpy(a->amz_date, date->value, 17);
    out->request_time = a->time;
    if (memcmp(a->date8, a->amz_date, 8) != 0) {
        rc = auth_fail(out, err, QUERY_ERROR,
                       "%s; invalid credential date \"%s\": it is not the date of X-Amz-Date "
                       "\"%.8s\".",
                       what, a->date8, a->amz_date);
        goto done;
    }
    int64_t expires = 0;
    size_t i = 0;
    for (; exp->value[i] >= '0' && exp->value[i] <= '9' && i < 10; i++)
        expires = expires * 10 + (exp->value[i] - '0');
    if (i == 0 || exp->value[i] != '\0') {
        rc = auth_fail(out, err, QUERY_ERROR,
                       "X-Amz-Expires should be a number of seconds from 0 to %d",
                       AUTH_PRESIGN_MAX_EXPIRES);
        goto done;
    }
    if (expires > AUTH_PRESIGN_MAX_EXPIRES) {
        rc = auth_fail(out, err, QUERY_ERROR,
                       "X-Amz-Expires must be less than a week (in seconds) that is %d",
                       AUTH_PRESIGN_MAX_EXPIRES);
        goto done;
    }
    bool has_host = false;
    if (!parse_signed_headers(sh->value, sh->value_len, a, &has_host)) {
        rc = auth_fail(out, err, QUERY_ERROR,
                       "X-Amz-SignedHeaders must be header names separated by ';'.");
        goto done;
    }
    if (!has_host) {
        rc = auth_fail(out, err, QUERY_ERROR, "X-Amz-SignedHeaders must include 'host'.");
        goto done;
    }
    if (!parse_signature(sig->value, sig->value_len, a->signature)) {
        rc = auth_fail(out, err, QUERY_ERROR, "X-Amz-Signature must be 64 hexadecimal digits.");
        goto done;
    }
    if ((rc = check_region(req, a, QUERY_ERROR, what, out, err))) goto done;
    if (a->time > req->now + AUTH_MAX_SKEW_SEC) {
        rc = auth_fail(out, err, "AccessDenied", "Request is not valid yet");
        goto done;
    }
    if (req->now > a->time + expires) {
        rc = auth_fail(out, err, "AccessDenied", "Request has expired");
        goto done;
    }
    const auth_key_t *key = auth_creds_lookup(creds, a->akid);
    if (!key) {
        rc = auth_fail(out, err, "InvalidAccessKeyId", MSG_NO_SUCH_KEY);
        goto done;
    }
    if ((rc = check_amz_headers_signed(req, a, out, err))) goto done;
    /* A presigned URL cannot know its body: the payload is unsigned unless the URL says
     * otherwise in X-Amz-Content-Sha256. */
    const char *payload = "UNSIGNED-PAYLOAD";
    const auth_param_t *pp = one_param(ps, n, "X-Amz-Content-Sha256");
    if (pp) {
        payload = pp->value;
        if (strcmp(payload, "UNSIGNED-PAYLOAD") == 0) {
            out->payload = AUTH_PAYLOAD_UNSIGNED;
        } else if (pp->value_len == 64 && is_hex_string(payload, 64)) {
            out->payload = AUTH_PAYLOAD_SHA256;
            aug_unhex(payload, out->payload_sha256, 32);
        } else {
            rc = auth_fail(out, err, "InvalidArgument",
                           "X-Amz-Content-Sha256 in a presigned URL must be UNSIGNED-PAYLOAD or "
                           "a SHA-256 in hexadecimal.");
            goto done;
        }
    }
    rc = v4_verify_signature(req, a, key, ps, n, true, payload, out, err);
done:
    OPENSSL_cleanse(a, sizeof(*a));
    free(a);
    return rc;
}

/* ---- the dispatcher ----------------------------------------------------------------------- */

/* Does s start with word followed by a space, a tab or the end? */
static bool starts_with_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    return strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\t' || s[n] == '\0');
}

int auth_verify(const auth_creds_t *creds, const auth_request_t *req, auth_result_t *out,
                aug_err_t *err)
{
    memset(out, 0, sizeof(*out));
    out->decoded_length = -1;
    aug_err_clear(err);
    auth_param_t *ps = NULL;
    size_t n = 0;
    if (auth_params_parse(req->query, &ps, &n) != 0)
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    size_t n_authz;
    const char *authz = auth_header_get(req, "authorization", &n_authz);
    bool v4q = auth_param_find(ps, n, "X-Amz-Algorithm", NULL) ||
               auth_param_find(ps, n, "X-Amz-Credential", NULL) ||
               auth_param_find(ps, n, "X-Amz-Signature", NULL);
    bool v2q =
        auth_param_find(ps, n, "AWSAccessKeyId", NULL) || auth_param_find(ps, n, "Signature", NULL);
    int rc;
    if (n_authz > 1) {
        rc = auth_fail(out, err, "InvalidArgument", "Only one Authorization header is allowed.");
    } else if ((authz != NULL) + v4q + v2q > 1) {
        rc = auth_fail(out, err, "InvalidArgument", MSG_TWO_MECHANISMS);
    } else if (authz) {
        const char *a = skip_spaces(authz);
        if (starts_with_word(a, V4_ALGORITHM))
            rc = v4_verify_header(creds, req, a, ps, n, out, err);
        else if (starts_with_word(a, V4A_ALGORITHM))
            rc = auth_fail(out, err, "NotImplemented",
                           "Signature Version 4A (" V4A_ALGORITHM ") is not supported; sign "
                           "with " V4_ALGORITHM ".");
        else if (strncmp(a, "AWS ", 4) == 0)
            rc = auth_verify_v2(creds, req, a, ps, n, false, out, err);
        else
            rc = auth_fail(out, err, "InvalidArgument", "Unsupported Authorization Type");
    } else if (v4q) {
        rc = v4_verify_query(creds, req, ps, n, out, err);
    } else if (v2q) {
        rc = auth_verify_v2(creds, req, NULL, ps, n, true, out, err);
    } else {
        out->scheme = AUTH_ANONYMOUS;
        rc = 0;
    }
    auth_params_free(ps, n);
    if (rc) {
        out->key = NULL;
        OPENSSL_cleanse(out->signing_key, sizeof(out->signing_key));
    }
    return rc;
}

void auth_result_wipe(auth_result_t *res)
{
    OPENSSL_cleanse(res->signing_key, sizeof(res->signing_key));
    OPENSSL_cleanse(res->seed_signature, sizeof(res->seed_signature));
}

const char *auth_scheme_name(auth_scheme_t scheme)
{
    switch (scheme) {
    case AUTH_ANONYMOUS:
        return "anonymous";
    case AUTH_V4_HEADER:
        return "sigv4";
    case AUTH_V4_QUERY:
        return "sigv4-presigned";
    case AUTH_V2_HEADER:
        return "sigv2";
    case AUTH_V2_QUERY:
        return "sigv2-query";
    }
    return "unknown";
}

int auth_http_status(const char *s3_code)
{
    static const struct {
        const char *code;
        int status;
    } table[] = {
        {"InvalidAccessKeyId", 403},   {"SignatureDoesNotMatch", 403}, {"AccessDenied", 403},
        {"RequestTimeTooSkewed", 403}, {"MissingContentLength", 411},  {"NotImplemented", 501},
    };
    if (!s3_code) return 500;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].code, s3_code) == 0) return table[i].status;
    return 400;
}
