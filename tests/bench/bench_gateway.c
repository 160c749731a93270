/* bench_gateway.c - load generator for the S3 gateway, beside nginx serving the same bytes.
 *
 * Run by tests/bench/bench_gateway.sh, which starts augurd and nginx on loopback and passes
 * their ports; run bare (as `make bench` runs every bench_*), it says so and exits 0.
 *
 *   bench_gateway --augur-port P --nginx-port Q --nginx-root DIR --access AK --secret SK
 *                 [--augur-pid N --nginx-pid N] [--duration S] [--warmup S] [--rounds N]
 *                 [--threads N] [--cells GET-4k-16,PUT-1m-1,...]
 *   bench_gateway --free-port          print a free loopback TCP port and exit
 *   bench_gateway --self-test          check the SigV4 signer against AWS's published example
 *
 * What it does, in one run:
 *   1. Creates bucket "bench" in augur and stores 256 objects of 4 KiB and 32 of 1 MiB there
 *      (signed PUTs), and the same bytes as files under DIR/bench/ for nginx, so both serve
 *      them under the same path /bench/obj/....
 *   2. Reads every object once from each server and checks the bytes (this also warms the
 *      page cache: the GET cells below measure cached reads).
 *   3. For GET and PUT of 4 KiB and 1 MiB objects at 1, 16 and 64 concurrent keep-alive
 *      connections, runs both servers taking turns: --rounds slices each (default 3), each a
 *      short warm-up on fresh connections then a measured window, --duration seconds measured
 *      per server in all (default 3). Turns spread load from elsewhere on the machine over
 *      both alike. Reports ops/s, MiB/s, p50 and p99 latency (exact, from the sorted samples
 *      of every window), the server's CPU time per answered request (user+sys of the process
 *      and its children, from /proc, when --augur-pid/--nginx-pid are given: far steadier
 *      than throughput on a busy machine), non-2xx answers and I/O errors. PUT writes one key
 *      per connection, overwritten again and again (nginx: the dav module's PUT).
 *   4. Prints the ratios augur/nginx and the targets of the gateway issue as PASS/FAIL (the
 *      throughput ones at each concurrency; p99 at 16 connections).
 *
 * Every request is SigV4-signed (Authorization header, host;x-amz-content-sha256;x-amz-date,
 * region us-east-1, service s3; PUT bodies as UNSIGNED-PAYLOAD). A signed request is built once
 * per (server, method, key) and reused: S3 accepts a signature for 15 minutes; before each
 * slice, requests signed more than RESIGN_AFTER_S ago are signed again. nginx gets the same
 * request bytes and ignores the signature.
 *
 * The client: each thread runs an epoll loop over its share of the connections, one request
 * in flight per connection, no pipelining. Latency is from the first byte sent to the last
 * byte received. Exit status: 0 whatever the targets say (the bench reports, it does not
 * gate); 1 when the bench itself cannot run (setup, wrong bytes in the check pass). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MiB_D (1024.0 * 1024.0)
#define SMALL (4u << 10)
#define LARGE (1u << 20)
#define N_SMALL_OBJ 256
#define N_LARGE_OBJ 32
#define MAX_CONNS 64
#define MAX_THREADS 8
#define PAT_LEN (LARGE + (64u << 10)) /* object i starts at pattern offset (i * 4099) % 64K */
#define RESIGN_AFTER_S 240.0          /* + one cell < 5 minutes: well inside S3's 15 */
#define REQ_TIMEOUT_S 10.0
#define DRAIN_TIMEOUT_S 10.0
#define HDR_MAX (64u << 10)
#define RBUF_LEN (256u << 10)
#define MAX_REQ_HDR 2048

static const char *const REGION = "us-east-1";
static const char *const EMPTY_SHA256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

enum { SRV_NGINX, SRV_AUGUR, N_SRV };
static const char *const SRV_NAME[N_SRV] = {"nginx", "augur"};
enum { KS_GET_SMALL, KS_GET_LARGE, KS_PUT_SMALL, KS_PUT_LARGE, N_KS };

static struct {
    int port[N_SRV], pid[N_SRV];
    const char *nginx_root, *ak, *sk;
    double duration, warmup;
    int threads, rounds;
    const char *cells; /* optional filter, e.g. "GET-4k-16,PUT-1m-1" */
} opt = {.duration = 3.0, .warmup = 0.25, .threads = 0, .rounds = 3};

static uint8_t *g_pat;

/* ---- small helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_gateway: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static const uint8_t *obj_bytes(int i)
{
    return g_pat + ((size_t)i * 4099u) % (64u << 10);
}

static void hexs(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- SigV4 ------------------------------------------------------------------------------- */

typedef struct hdr {
    const char *name; /* lower case; the list sorted by name */
    const char *value;
} hdr_t;

static void sha256_hex(const void *d, size_t n, char out[65])
{
    uint8_t h[32];
    unsigned len = 0;
    if (!EVP_Digest(d, n, h, &len, EVP_sha256(), NULL)) die("SHA-256 failed");
    hexs(h, 32, out);
}

static void hmac256(const void *key, size_t klen, const char *msg, uint8_t out[32])
{
    unsigned len = 32;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len))
        die("HMAC-SHA256 failed");
}

/* S3's URI encoding of a path: every byte but the unreserved ones and '/' as %XX. */
static void uri_encode_path(const char *in, char *out, size_t cap)
{
    static const char d[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' || *p == '/') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = d[*p >> 4];
            out[o++] = d[*p & 15];
        }
    }
    out[o] = '\0';
}

/* The Authorization header value for a request; query is already canonical ("" for none). */
static void sigv4_authorization(const char *method, const char *path, const char *query,
                                const hdr_t *h, size_t nh, const char *payload_hash,
                                const char *amz_date, const char *ak, const char *sk,
                                const char *region, char *out, size_t cap)
{
    char canon[8192], signed_hdrs[512] = "", upath[4096];
    uri_encode_path(path, upath, sizeof(upath));
    int n = snprintf(canon, sizeof(canon), "%s\n%s\n%s\n", method, upath, query);
    for (size_t i = 0; i < nh; i++) {
        n += snprintf(canon + n, sizeof(canon) - (size_t)n, "%s:%s\n", h[i].name, h[i].value);
        size_t sl = strlen(signed_hdrs);
        snprintf(signed_hdrs + sl, sizeof(signed_hdrs) - sl, "%s%s", i ? ";" : "", h[i].name);
    }
    n += snprintf(canon + n, sizeof(canon) - (size_t)n, "\n%s\n%s", signed_hdrs, payload_hash);
    if (n >= (int)sizeof(canon)) die("canonical request too long");
    char canon_hash[65];
    sha256_hex(canon, (size_t)n, canon_hash);
    char scope[128], sts[512];
    snprintf(scope, sizeof(scope), "%.8s/%s/s3/aws4_request", amz_date, region);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canon_hash);
    char ksecret[256], date8[9];
    snprintf(ksecret, sizeof(ksecret), "AWS4%s", sk);
    snprintf(date8, sizeof(date8), "%.8s", amz_date);
    uint8_t k1[32], k2[32], k3[32], k4[32], sig[32];
    hmac256(ksecret, strlen(ksecret), date8, k1);
    hmac256(k1, 32, region, k2);
    hmac256(k2, 32, "s3", k3);
    hmac256(k3, 32, "aws4_request", k4);
    hmac256(k4, 32, sts, sig);
    char sighex[65];
    hexs(sig, 32, sighex);
    snprintf(out, cap, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", ak,
             scope, signed_hdrs, sighex);
}

/* AWS's published example (S3 docs, "Example: GET Object", header-signed). */
static int sigv4_self_test(void)
{
    const hdr_t h[] = {
        {"host", "examplebucket.s3.amazonaws.com"},
        {"range", "bytes=0-9"},
        {"x-amz-content-sha256", EMPTY_SHA256},
        {"x-amz-date", "20130524T000000Z"},
    };
    char authz[512];
    sigv4_authorization("GET", "/test.txt", "", h, 4, EMPTY_SHA256, "20130524T000000Z",
                        "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        "us-east-1", authz, sizeof(authz));
    const char *want = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                       "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                       "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    if (strcmp(authz, want) != 0) {
        fprintf(stderr, "bench_gateway: SigV4 self-test failed:\n  got  %s\n  want %s\n", authz,
                want);
        return -1;
    }
    return 0;
}

/* A complete signed request head (request line, headers, blank line) for port. */
static char *build_request(int port, const char *method, const char *path, uint64_t body_len,
                           size_t *len_out)
{
    char amz_date[17], host[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    int put = strcmp(method, "PUT") == 0;
    const char *payload = put ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256;
    const hdr_t h[] = {{"host", host}, {"x-amz-content-sha256", payload}, {"x-amz-date", amz_date}};
    char authz[512];
    sigv4_authorization(method, path, "", h, 3, payload, amz_date, opt.ak, opt.sk, REGION, authz,
                        sizeof(authz));
    char *buf = xmalloc(MAX_REQ_HDR);
    int n = snprintf(buf, MAX_REQ_HDR,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nx-amz-date: %s\r\n"
                     "x-amz-content-sha256: %s\r\nAuthorization: %s\r\n",
                     method, path, host, amz_date, payload, authz);
    if (put || body_len)
        n += snprintf(buf + n, MAX_REQ_HDR - (size_t)n, "Content-Length: %llu\r\n",
                      (unsigned long long)body_len);
    n += snprintf(buf + n, MAX_REQ_HDR - (size_t)n, "\r\n");
    if (n >= MAX_REQ_HDR) die("request head too long");
    *len_out = (size_t)n;
    return buf;
}

/* ---- the request table: one signed request per (server, key set, key) ------------------- */

typedef struct sreq {
    char *buf;
    size_t len;
    double signed_at;
} sreq_t;

typedef struct keyset {
    const char *method;
    const char *fmt; /* path, with %03d for the key's index */
    size_t size;
    int n;
    sreq_t req[N_SRV][N_SMALL_OBJ];
} keyset_t;

static keyset_t g_ks[N_KS] = {
    [KS_GET_SMALL] = {"GET", "/bench/obj/4k/%03d", SMALL, N_SMALL_OBJ, {{{0}}}},
    [KS_GET_LARGE] = {"GET", "/bench/obj/1m/%03d", LARGE, N_LARGE_OBJ, {{{0}}}},
    [KS_PUT_SMALL] = {"PUT", "/bench/put/4k/c%02d", SMALL, MAX_CONNS, {{{0}}}},
    [KS_PUT_LARGE] = {"PUT", "/bench/put/1m/c%02d", LARGE, MAX_CONNS, {{{0}}}},
};

static void ks_path(const keyset_t *ks, int i, char *out, size_t cap)
{
    snprintf(out, cap, ks->fmt, i);
}

/* Sign what was never signed or was signed more than RESIGN_AFTER_S ago. */
static void ks_refresh(int srv, int k)
{
    keyset_t *ks = &g_ks[k];
    double now = now_s();
    for (int i = 0; i < ks->n; i++) {
        sreq_t *s = &ks->req[srv][i];
        if (s->buf && now - s->signed_at < RESIGN_AFTER_S) continue;
        free(s->buf);
        char path[256];
        ks_path(ks, i, path, sizeof(path));
        s->buf = build_request(opt.port[srv], ks->method, path,
                               strcmp(ks->method, "PUT") == 0 ? ks->size : 0, &s->len);
        s->signed_at = now;
    }
}

/* ---- HTTP response parsing ---------------------------------------------------------------- */

enum { BODY_NONE, BODY_LEN, BODY_CHUNKED, BODY_EOF };
enum { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER };

typedef struct body_rx {
    int mode;
    uint64_t left; /* BODY_LEN: bytes to go; CH_DATA: bytes of this chunk to go */
    int cstate, digits, in_ext, line_len;
    uint64_t got;
    int done;
} body_rx_t;

typedef struct head {
    int status;
    int close;
    int has_len;
    uint64_t len;
    int chunked;
} head_t;

/* Parse a response head (status line and headers, up to but excluding the blank line). */
static int parse_head(const char *p, size_t n, head_t *h)
{
    memset(h, 0, sizeof(*h));
    const char *end = p + n;
    if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[9])) return -1;
    int minor = p[7] - '0';
    h->status = atoi(p + 9);
    h->close = minor == 0;
    const char *line = memchr(p, '\n', n);
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t ll = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (ll && line[ll - 1] == '\r') ll--;
        const char *colon = memchr(line, ':', ll);
        if (colon) {
            size_t nl = (size_t)(colon - line);
            const char *v = colon + 1;
            while (v < line + ll && (*v == ' ' || *v == '\t')) v++;
            size_t vl = (size_t)(line + ll - v);
            char val[128];
            snprintf(val, sizeof(val), "%.*s", (int)(vl < 127 ? vl : 127), v);
            if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
                char *e;
                h->len = strtoull(val, &e, 10);
                if (e == val) return -1;
                h->has_len = 1;
            } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
                h->chunked = strcasestr(val, "chunked") != NULL;
            } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
                if (strcasestr(val, "close")) h->close = 1;
                else if (strcasestr(val, "keep-alive")) h->close = 0;
            }
        }
        line = eol;
    }
    return 0;
}

static void body_begin(body_rx_t *b, const head_t *h, int head_request)
{
    memset(b, 0, sizeof(*b));
    if (head_request || h->status / 100 == 1 || h->status == 204 || h->status == 304) {
        b->mode = BODY_NONE;
        b->done = 1;
    } else if (h->chunked) {
        b->mode = BODY_CHUNKED;
        b->cstate = CH_SIZE;
    } else if (h->has_len) {
        b->mode = BODY_LEN;
        b->left = h->len;
        b->done = h->len == 0;
    } else {
        b->mode = BODY_EOF;
    }
}

typedef void (*sink_fn)(void *ctx, const char *p, size_t n);

static int hexdig(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Feed body bytes; returns how many were consumed (stops once the body is done) or -1 on a
 * malformed chunked body. */
static ssize_t body_feed(body_rx_t *b, const char *p, size_t n, sink_fn sink, void *ctx)
{
    size_t i = 0;
    while (i < n && !b->done) {
        if (b->mode == BODY_LEN || b->mode == BODY_EOF) {
            size_t take = n - i;
            if (b->mode == BODY_LEN && take > b->left) take = (size_t)b->left;
            if (sink) sink(ctx, p + i, take);
            b->got += take;
            i += take;
            if (b->mode == BODY_LEN) {
                b->left -= take;
                if (b->left == 0) b->done = 1;
            }
            continue;
        }
        char c = p[i];
        switch (b->cstate) {
        case CH_SIZE:
            i++;
            if (c == '\n') {
                if (!b->digits) return -1;
                if (b->left == 0) {
                    b->cstate = CH_TRAILER;
                    b->line_len = 0;
                } else {
                    b->cstate = CH_DATA;
                }
            } else if (c == ';') {
                b->in_ext = 1;
            } else if (!b->in_ext && c != '\r' && c != ' ' && c != '\t') {
                int v = hexdig((unsigned char)c);
                if (v < 0 || b->digits >= 15) return -1;
                b->left = b->left * 16 + (uint64_t)v;
                b->digits++;
            }
            break;
        case CH_DATA: {
            size_t take = n - i;
            if (take > b->left) take = (size_t)b->left;
            if (sink) sink(ctx, p + i, take);
            b->got += take;
            b->left -= take;
            i += take;
            if (b->left == 0) b->cstate = CH_DATA_CRLF;
            break;
        }
        case CH_DATA_CRLF:
            i++;
            if (c == '\n') {
                b->cstate = CH_SIZE;
                b->digits = b->in_ext = 0;
                b->left = 0;
            } else if (c != '\r') {
                return -1;
            }
            break;
        case CH_TRAILER:
            i++;
            if (c == '\n') {
                if (b->line_len == 0) b->done = 1;
                b->line_len = 0;
            } else if (c != '\r') {
                b->line_len++;
            }
            break;
        }
    }
    return (ssize_t)i;
}

/* ---- a blocking client for setup and the check pass ---------------------------------------- */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct collect {
    char *p;
    size_t n, cap;
} collect_t;

static void collect_sink(void *ctx, const char *p, size_t n)
{
    collect_t *c = ctx;
    if (c->n + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        while (cap < c->n + n) cap *= 2;
        char *q = realloc(c->p, cap);
        if (!q) die("out of memory");
        c->p = q;
        c->cap = cap;
    }
    memcpy(c->p + c->n, p, n);
    c->n += n;
}

/* One request on *fd (connected on demand, closed when the server says so). Returns the
 * status, with the body in *body (malloc'd, caller frees) when body is not NULL; -1 on an
 * I/O or protocol error. */
static int http_do(int *fd, int port, const char *head, size_t head_len, const void *payload,
                   size_t payload_len, collect_t *body)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (*fd < 0 && (*fd = tcp_connect(port)) < 0) return -1;
        if (send_all(*fd, head, head_len) == 0 &&
            (payload_len == 0 || send_all(*fd, payload, payload_len) == 0))
            break;
        close(*fd); /* a kept-alive connection the server had closed: once more */
        *fd = -1;
        if (attempt == 1) return -1;
    }
    char *buf = xmalloc(RBUF_LEN);
    size_t have = 0;
    head_t h;
    body_rx_t b;
    int status = -1;
    for (;;) { /* the head (skipping 1xx) */
        char *e = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
        if (!e) {
            if (have == RBUF_LEN) goto fail;
            ssize_t r = recv(*fd, buf + have, RBUF_LEN - have, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) goto fail;
            have += (size_t)r;
            continue;
        }
        size_t hl = (size_t)(e - buf) + 4;
        if (parse_head(buf, hl - 4, &h) != 0) goto fail;
        memmove(buf, buf + hl, have - hl);
        have -= hl;
        if (h.status / 100 != 1) break;
    }
    body_begin(&b, &h, 0);
    ssize_t used = body_feed(&b, buf, have, body ? collect_sink : NULL, body);
    if (used < 0) goto fail;
    while (!b.done) {
        ssize_t r = recv(*fd, buf, RBUF_LEN, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 && b.mode == BODY_EOF) {
            b.done = 1;
            h.close = 1;
            break;
        }
        if (r <= 0) goto fail;
        if (body_feed(&b, buf, (size_t)r, body ? collect_sink : NULL, body) < 0) goto fail;
    }
    status = h.status;
    if (h.close) {
        close(*fd);
        *fd = -1;
    }
    free(buf);
    return status;
fail:
    free(buf);
    close(*fd);
    *fd = -1;
    return -1;
}

/* ---- the load loop ------------------------------------------------------------------------ */

typedef struct cell {
    int srv, ks, conns;
    double t0, t1; /* the measured window */
    pthread_barrier_t ready, go;
} cell_t;

enum { C_IDLE, C_SEND, C_HEAD, C_BODY };

typedef struct conn {
    int fd, idx, key;
    int state;
    const sreq_t *req;
    struct iovec iov[2];
    int iovcnt;
    char *hbuf;
    size_t hlen;
    head_t head;
    body_rx_t body;
    double t_start;
    int abandoned; /* the answer came before the whole body was sent: close afterwards */
} conn_t;

#define MAX_STATUS 8
typedef struct worker {
    cell_t *cell;
    int first, n; /* connections first .. first+n-1 */
    pthread_t th;
    uint64_t *lat;
    size_t nlat, caplat;
    uint64_t ok, all_ok, io_errs, timeouts, bad_len, reconnects;
    int st_code[MAX_STATUS];
    uint64_t st_count[MAX_STATUS];
    char first_err[320];
    int epfd;
    char *rbuf;
} worker_t;

static void note_err(worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_err(worker_t *w, const char *fmt, ...)
{
    if (w->first_err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_err, sizeof(w->first_err), fmt, ap);
    va_end(ap);
}

static void count_status(worker_t *w, int status)
{
    for (int i = 0; i < MAX_STATUS; i++) {
        if (w->st_code[i] == status || w->st_code[i] == 0) {
            w->st_code[i] = status;
            w->st_count[i]++;
            return;
        }
    }
    w->st_count[MAX_STATUS - 1]++;
}

static int conn_open(worker_t *w, conn_t *c)
{
    c->fd = tcp_connect(opt.port[w->cell->srv]);
    if (c->fd < 0) return -1;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->state = C_IDLE;
    c->hlen = 0;
    return 0;
}

static void conn_close(worker_t *w, conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_IDLE;
}

static void set_out(worker_t *w, conn_t *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is left of the request; 1 when all is sent, 0 to wait for EPOLLOUT, -1 on error. */
static int conn_push(conn_t *c)
{
    while (c->iovcnt > 0) {
        ssize_t n = writev(c->fd, c->iov, c->iovcnt);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        size_t left = (size_t)n;
        while (c->iovcnt > 0 && left >= c->iov[0].iov_len) {
            left -= c->iov[0].iov_len;
            c->iov[0] = c->iov[1];
            c->iovcnt--;
        }
        if (c->iovcnt > 0) {
            c->iov[0].iov_base = (char *)c->iov[0].iov_base + left;
            c->iov[0].iov_len -= left;
        }
    }
    return 1;
}

static void conn_fail(worker_t *w, conn_t *c, const char *what);

static void conn_issue(worker_t *w, conn_t *c)
{
    const cell_t *cell = w->cell;
    const keyset_t *ks = &g_ks[cell->ks];
    if (c->fd < 0) {
        if (conn_open(w, c) != 0) {
            w->io_errs++;
            note_err(w, "connect: %s", strerror(errno));
            return;
        }
        w->reconnects++;
    }
    int put = ks->method[0] == 'P';
    int key = put ? c->idx : c->key;
    if (!put) c->key = (c->key + 1) % ks->n;
    c->req = &ks->req[cell->srv][key];
    c->iov[0].iov_base = c->req->buf;
    c->iov[0].iov_len = c->req->len;
    c->iovcnt = 1;
    if (put) {
        c->iov[1].iov_base = (void *)obj_bytes(N_SMALL_OBJ + c->idx);
        c->iov[1].iov_len = ks->size;
        c->iovcnt = 2;
    }
    c->t_start = now_s();
    c->hlen = 0;
    c->abandoned = 0;
    int rc = conn_push(c);
    if (rc < 0) {
        conn_fail(w, c, "send");
        return;
    }
    c->state = rc ? C_HEAD : C_SEND;
    if (!rc) set_out(w, c, 1);
}

static void conn_fail(worker_t *w, conn_t *c, const char *what)
{
    w->io_errs++;
    note_err(w, "%s: %s (connection %d, %.*s)", what, errno ? strerror(errno) : "closed",
             c->idx, c->req ? (int)strcspn(c->req->buf, "\r") : 0, c->req ? c->req->buf : "");
    conn_close(w, c);
    if (now_s() < w->cell->t1) conn_issue(w, c);
}

static void conn_done(worker_t *w, conn_t *c, double t_end)
{
    const cell_t *cell = w->cell;
    const keyset_t *ks = &g_ks[cell->ks];
    int good = c->head.status / 100 == 2;
    if (!good) {
        count_status(w, c->head.status);
        note_err(w, "HTTP %d for %.*s", c->head.status,
                 (int)strcspn(c->req->buf, "\r"), c->req->buf);
    } else if (c->abandoned) {
        good = 0;
        w->bad_len++;
        note_err(w, "2xx answer before the request body was sent (%.*s)",
                 (int)strcspn(c->req->buf, "\r"), c->req->buf);
    } else if (ks->method[0] == 'G' && c->body.got != ks->size) {
        good = 0;
        w->bad_len++;
        note_err(w, "GET returned %llu bytes, expected %zu", (unsigned long long)c->body.got,
                 ks->size);
    }
    if (good) w->all_ok++;
    if (good && c->t_start >= cell->t0 && t_end <= cell->t1) {
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat ? w->caplat * 2 : 65536;
            w->lat = realloc(w->lat, w->caplat * sizeof(*w->lat));
            if (!w->lat) die("out of memory");
        }
        w->lat[w->nlat++] = (uint64_t)((t_end - c->t_start) * 1e9);
        w->ok++;
    }
    c->state = C_IDLE;
    if (c->head.close || c->abandoned) conn_close(w, c);
    if (t_end < cell->t1) conn_issue(w, c);
}

/* Bytes arrived on c: feed the head parser and the body. Returns -1 on a protocol error. */
static int conn_feed(worker_t *w, conn_t *c, const char *p, size_t n)
{
    if (c->state == C_SEND) { /* an early answer (a refusal): stop sending, read it */
        c->iovcnt = 0;
        c->abandoned = 1;
        c->state = C_HEAD;
        set_out(w, c, 0);
    }
    while (n > 0) {
        if (c->state == C_HEAD) {
            const char *body_start = NULL;
            size_t body_n = 0;
            if (c->hlen == 0) {
                const char *e = memmem(p, n, "\r\n\r\n", 4);
                if (e) {
                    if (parse_head(p, (size_t)(e - p), &c->head) != 0) return -1;
                    body_start = e + 4;
                    body_n = n - (size_t)(body_start - p);
                }
            }
            if (!body_start) {
                size_t old = c->hlen, take = n;
                if (take > HDR_MAX - c->hlen) take = HDR_MAX - c->hlen;
                memcpy(c->hbuf + c->hlen, p, take);
                c->hlen += take;
                size_t from = old > 3 ? old - 3 : 0;
                char *e = memmem(c->hbuf + from, c->hlen - from, "\r\n\r\n", 4);
                if (!e) {
                    if (c->hlen == HDR_MAX) return -1;
                    return 0;
                }
                if (parse_head(c->hbuf, (size_t)(e - c->hbuf), &c->head) != 0) return -1;
                /* what followed the head: the rest of hbuf, then the rest of p */
                size_t in_hbuf = c->hlen - (size_t)(e + 4 - c->hbuf);
                memmove(c->hbuf, e + 4, in_hbuf);
                c->hlen = 0;
                p += take;
                n -= take;
                if (c->head.status / 100 == 1) {
                    if (in_hbuf) return -1; /* not expected: we send no Expect */
                    continue;
                }
                body_begin(&c->body, &c->head, 0);
                c->state = C_BODY;
                ssize_t used = body_feed(&c->body, c->hbuf, in_hbuf, NULL, NULL);
                if (used < 0) return -1;
                if (c->body.done) {
                    if (n > 0 || (size_t)used < in_hbuf) return -1; /* bytes after the answer */
                    conn_done(w, c, now_s());
                    return 0;
                }
                continue;
            }
            c->hlen = 0;
            if (c->head.status / 100 == 1) {
                n = body_n;
                p = body_start;
                continue;
            }
            body_begin(&c->body, &c->head, 0);
            c->state = C_BODY;
            p = body_start;
            n = body_n;
            if (c->body.done) {
                if (n > 0) return -1;
                conn_done(w, c, now_s());
                return 0;
            }
            continue;
        }
        if (c->state != C_BODY) return -1; /* bytes while idle or still sending */
        ssize_t used = body_feed(&c->body, p, n, NULL, NULL);
        if (used < 0) return -1;
        p += used;
        n -= (size_t)used;
        if (c->body.done) {
            if (n > 0) return -1;
            conn_done(w, c, now_s());
            return 0;
        }
    }
    return 0;
}

static void conn_readable(worker_t *w, conn_t *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, w->rbuf, RBUF_LEN, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            conn_fail(w, c, "recv");
            return;
        }
        if (r == 0) {
            if (c->state == C_BODY && c->body.mode == BODY_EOF) {
                c->body.done = 1;
                c->head.close = 1;
                conn_done(w, c, now_s());
                return;
            }
            errno = 0;
            if (c->state == C_IDLE) { /* the server closed an idle keep-alive connection */
                conn_close(w, c);
                return;
            }
            conn_fail(w, c, "recv");
            return;
        }
        int fd = c->fd;
        if (conn_feed(w, c, w->rbuf, (size_t)r) != 0) {
            errno = EPROTO;
            conn_fail(w, c, "bad response");
            return;
        }
        if (c->fd != fd || (c->state != C_HEAD && c->state != C_BODY)) return;
        if ((size_t)r < RBUF_LEN) return; /* drained, most likely: let epoll say */
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    cell_t *cell = w->cell;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rbuf = xmalloc(RBUF_LEN);
    conn_t *conns = calloc((size_t)w->n, sizeof(*conns));
    if (!conns || w->epfd < 0) die("worker setup failed");
    const keyset_t *ks = &g_ks[cell->ks];
    for (int i = 0; i < w->n; i++) {
        conn_t *c = &conns[i];
        c->idx = w->first + i;
        c->key = (c->idx * 37) % ks->n;
        c->hbuf = xmalloc(HDR_MAX);
        if (conn_open(w, c) != 0) die("connect to %s: %s", SRV_NAME[cell->srv], strerror(errno));
    }
    pthread_barrier_wait(&cell->ready);
    pthread_barrier_wait(&cell->go);
    for (int i = 0; i < w->n; i++) conn_issue(w, &conns[i]);
    struct epoll_event evs[MAX_CONNS];
    double last_check = now_s();
    for (;;) {
        double now = now_s();
        int busy = 0;
        for (int i = 0; i < w->n; i++) busy += conns[i].state != C_IDLE;
        if (now >= cell->t1 && busy == 0) break;
        if (now >= cell->t1 + DRAIN_TIMEOUT_S) {
            for (int i = 0; i < w->n; i++)
                if (conns[i].state != C_IDLE) {
                    w->timeouts++;
                    note_err(w, "no answer within %.0f s after the end", DRAIN_TIMEOUT_S);
                }
            break;
        }
        int ne = epoll_wait(w->epfd, evs, MAX_CONNS, 20);
        for (int i = 0; i < ne; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            if ((evs[i].events & EPOLLOUT) && c->state == C_SEND) {
                int rc = conn_push(c);
                if (rc < 0) {
                    conn_fail(w, c, "send");
                    continue;
                }
                if (rc) {
                    c->state = C_HEAD;
                    set_out(w, c, 0);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_readable(w, c);
        }
        now = now_s();
        if (now - last_check > 0.1) {
            last_check = now;
            for (int i = 0; i < w->n; i++) {
                conn_t *c = &conns[i];
                if (c->state != C_IDLE && now - c->t_start > REQ_TIMEOUT_S) {
                    w->timeouts++;
                    note_err(w, "no answer within %.0f s (connection %d, %.*s)", REQ_TIMEOUT_S,
                             c->idx, (int)strcspn(c->req->buf, "\r"), c->req->buf);
                    conn_close(w, c);
                    if (now < cell->t1) conn_issue(w, c);
                }
            }
        }
    }
    for (int i = 0; i < w->n; i++) {
        conn_close(w, &conns[i]);
        free(conns[i].hbuf);
    }
    free(conns);
    free(w->rbuf);
    close(w->epfd);
    return NULL;
}

/* ---- server CPU time -------------------------------------------------------------------- */

/* utime + stime of one process (all its threads), in seconds; 0 if it cannot be read. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* field 2, the name, may hold spaces */
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ')': field 3 (state) ... field 14 utime, 15 stime */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds used by this process so far (all threads). */
static double self_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of a server: the process and its children (nginx's workers). */
static double server_cpu_s(int srv)
{
    int pid = opt.pid[srv];
    if (pid <= 0) return 0;
    double t = proc_cpu_s(pid);
    char path[96], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
    FILE *f = fopen(path, "r");
    if (!f) return t;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
        t += proc_cpu_s(atoi(tok));
    return t;
}

/* ---- cells -------------------------------------------------------------------------------- */

/* What one server did in one cell, summed over the rounds. */
typedef struct result {
    int ran;
    double measured_s;      /* sum of the measured windows */
    uint64_t *lat;          /* latencies (ns) of requests inside the windows */
    size_t n, cap;
    uint64_t all_ok;        /* 2xx answers in whole slices (warm-up and drain too) */
    double cpu_s;           /* server CPU over whole slices */
    double client_cpu_s;    /* this process's CPU over whole slices */
    uint64_t io, to, bad_len, reconnects;
    int st_code[MAX_STATUS];
    uint64_t st_count[MAX_STATUS];
    char first_err[320];
    /* derived by result_finish */
    double ops, mibs, p50_ms, p99_ms, p999_ms, max_ms, cpu_us_op, client_us_op;
    uint64_t errors;
    char err_summary[512];
} result_t;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double p)
{
    if (n == 0) return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999); /* nearest rank */
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return (double)v[rank - 1] / 1e6;
}

static int threads_for(int conns)
{
    int t = opt.threads > 0 ? opt.threads : 2;
    if (t > conns) t = conns;
    if (t > MAX_THREADS) t = MAX_THREADS;
    return t;
}

/* One slice: conns connections to srv for warmup + dur seconds, added to res. */
static void run_slice(int srv, int ks, int conns, double warmup, double dur, result_t *res)
{
    ks_refresh(srv, ks);
    cell_t cell = {.srv = srv, .ks = ks, .conns = conns};
    int nt = threads_for(conns);
    worker_t *w = calloc((size_t)nt, sizeof(*w));
    if (!w) die("out of memory");
    pthread_barrier_init(&cell.ready, NULL, (unsigned)nt + 1);
    pthread_barrier_init(&cell.go, NULL, (unsigned)nt + 1);
    for (int i = 0, first = 0; i < nt; i++) {
        w[i].cell = &cell;
        w[i].first = first;
        w[i].n = conns / nt + (i < conns % nt);
        first += w[i].n;
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&cell.ready);
    double cpu0 = server_cpu_s(srv), ccpu0 = self_cpu_s();
    double start = now_s();
    cell.t0 = start + warmup;
    cell.t1 = cell.t0 + dur;
    pthread_barrier_wait(&cell.go);
    for (int i = 0; i < nt; i++) pthread_join(w[i].th, NULL);
    res->cpu_s += server_cpu_s(srv) - cpu0;
    res->client_cpu_s += self_cpu_s() - ccpu0;
    res->ran = 1;
    res->measured_s += dur;
    for (int i = 0; i < nt; i++) {
        if (res->n + w[i].nlat > res->cap) {
            while (res->n + w[i].nlat > res->cap) res->cap = res->cap ? res->cap * 2 : 65536;
            res->lat = realloc(res->lat, res->cap * sizeof(*res->lat));
            if (!res->lat) die("out of memory");
        }
        if (w[i].nlat) memcpy(res->lat + res->n, w[i].lat, w[i].nlat * sizeof(*res->lat));
        res->n += w[i].nlat;
        free(w[i].lat);
        res->all_ok += w[i].all_ok;
        res->io += w[i].io_errs;
        res->to += w[i].timeouts;
        res->bad_len += w[i].bad_len;
        res->reconnects += w[i].reconnects;
        if (!res->first_err[0] && w[i].first_err[0])
            snprintf(res->first_err, sizeof(res->first_err), "%s", w[i].first_err);
        for (int j = 0; j < MAX_STATUS && w[i].st_code[j]; j++) {
            int k = 0;
            while (k < MAX_STATUS - 1 && res->st_code[k] && res->st_code[k] != w[i].st_code[j]) k++;
            res->st_code[k] = w[i].st_code[j];
            res->st_count[k] += w[i].st_count[j];
        }
    }
    free(w);
    pthread_barrier_destroy(&cell.ready);
    pthread_barrier_destroy(&cell.go);
}

static void result_finish(result_t *res, size_t obj_size)
{
    if (!res->ran) return;
    qsort(res->lat, res->n, sizeof(*res->lat), cmp_u64);
    res->ops = res->measured_s > 0 ? (double)res->n / res->measured_s : 0;
    res->mibs = res->ops * (double)obj_size / MiB_D;
    res->p50_ms = pct_ms(res->lat, res->n, 0.50);
    res->p99_ms = pct_ms(res->lat, res->n, 0.99);
    res->p999_ms = pct_ms(res->lat, res->n, 0.999);
    res->max_ms = res->n ? (double)res->lat[res->n - 1] / 1e6 : 0;
    res->cpu_us_op = res->all_ok ? res->cpu_s * 1e6 / (double)res->all_ok : 0;
    res->client_us_op = res->all_ok ? res->client_cpu_s * 1e6 / (double)res->all_ok : 0;
    free(res->lat);
    res->lat = NULL;
    res->errors = res->io + res->to + res->bad_len;
    for (int k = 0; k < MAX_STATUS; k++) res->errors += res->st_count[k];
    if (res->errors) {
        size_t o = 0;
        char *s = res->err_summary;
        size_t cap = sizeof(res->err_summary);
        for (int k = 0; k < MAX_STATUS && res->st_code[k] && o < cap; k++)
            o += (size_t)snprintf(s + o, cap - o, "HTTP %d x%llu; ", res->st_code[k],
                                  (unsigned long long)res->st_count[k]);
        if (res->io && o < cap)
            o += (size_t)snprintf(s + o, cap - o, "I/O x%llu; ", (unsigned long long)res->io);
        if (res->to && o < cap)
            o += (size_t)snprintf(s + o, cap - o, "timeout x%llu; ", (unsigned long long)res->to);
        if (res->bad_len && o < cap)
            o += (size_t)snprintf(s + o, cap - o, "short body x%llu; ",
                                  (unsigned long long)res->bad_len);
        if (o < cap) snprintf(s + o, cap - o, "first: %s", res->first_err);
    }
}

/* A cell: the servers take turns, opt.rounds slices each, so that load from elsewhere on the
 * machine falls on both alike; each slice has its own warm-up on fresh connections. */
static void run_cell(int ks, int conns, int with_nginx, result_t res[N_SRV])
{
    double dur = opt.duration / opt.rounds;
    for (int round = 0; round < opt.rounds; round++) {
        /* alternate who goes first, so neither always follows the other's writeback */
        for (int j = 0; j < N_SRV; j++) {
            int srv = (round + j) % 2 ? SRV_AUGUR : SRV_NGINX;
            if (srv == SRV_NGINX && !with_nginx) continue;
            run_slice(srv, ks, conns, opt.warmup, dur, &res[srv]);
        }
    }
    for (int s = 0; s < N_SRV; s++) result_finish(&res[s], g_ks[ks].size);
}

/* ---- setup and the check pass --------------------------------------------------------------- */

static void mkdir_p(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die("mkdir %s: %s", tmp, strerror(errno));
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) die("write %s: %s", path, strerror(errno));
}

/* A one-off signed request to augur: status, body into *body if given. */
static int augur_request(int *fd, const char *method, const char *path, const void *payload,
                         size_t payload_len, collect_t *body)
{
    size_t hl;
    char *head = build_request(opt.port[SRV_AUGUR], method, path, payload_len, &hl);
    int st = http_do(fd, opt.port[SRV_AUGUR], head, hl, payload, payload_len, body);
    free(head);
    return st;
}

static int g_nginx_put_ok;
static char g_nginx_put_why[256] = "";

static void setup(void)
{
    int fd = -1;
    collect_t body = {0};
    int st = augur_request(&fd, "PUT", "/bench", NULL, 0, &body);
    if (st != 200)
        die("CreateBucket on augur: HTTP %d: %.*s", st, (int)(body.n < 400 ? body.n : 400),
            body.p ? body.p : "");
    body.n = 0;
    char path[256], file[4096];
    for (int k = KS_GET_SMALL; k <= KS_GET_LARGE; k++) {
        const keyset_t *ks = &g_ks[k];
        snprintf(file, sizeof(file), "%s/bench/obj/%s", opt.nginx_root,
                 k == KS_GET_SMALL ? "4k" : "1m");
        mkdir_p(file);
        for (int i = 0; i < ks->n; i++) {
            ks_path(ks, i, path, sizeof(path));
            st = augur_request(&fd, "PUT", path, obj_bytes(i), ks->size, &body);
            if (st != 200)
                die("PUT %s on augur: HTTP %d: %.*s", path, st, (int)(body.n < 400 ? body.n : 400),
                    body.p ? body.p : "");
            body.n = 0;
            snprintf(file, sizeof(file), "%s%s", opt.nginx_root, path);
            write_file(file, obj_bytes(i), ks->size);
        }
    }
    for (int k = KS_PUT_SMALL; k <= KS_PUT_LARGE; k++) {
        snprintf(file, sizeof(file), "%s/bench/put/%s", opt.nginx_root,
                 k == KS_PUT_SMALL ? "4k" : "1m");
        mkdir_p(file);
    }
    /* the check pass, which also warms the page cache for both: every object once, bytes
     * compared */
    for (int srv = 0; srv < N_SRV; srv++) {
        int sfd = -1;
        for (int k = KS_GET_SMALL; k <= KS_GET_LARGE; k++) {
            ks_refresh(srv, k);
            const keyset_t *ks = &g_ks[k];
            for (int i = 0; i < ks->n; i++) {
                const sreq_t *r = &ks->req[srv][i];
                body.n = 0;
                st = http_do(&sfd, opt.port[srv], r->buf, r->len, NULL, 0, &body);
                if (st != 200 || body.n != ks->size || memcmp(body.p, obj_bytes(i), ks->size) != 0)
                    die("check pass: %s GET %.*s: HTTP %d, %zu bytes (expected 200, %zu bytes%s)",
                        SRV_NAME[srv], (int)strcspn(r->buf + 4, " "), r->buf + 4, st, body.n,
                        ks->size, st == 200 && body.n == ks->size ? ", and they differ" : "");
            }
        }
        /* PUT works, and what was put reads back (augur) or lands in the file (nginx) */
        ks_refresh(srv, KS_PUT_SMALL);
        const sreq_t *r = &g_ks[KS_PUT_SMALL].req[srv][0];
        body.n = 0;
        st = http_do(&sfd, opt.port[srv], r->buf, r->len, obj_bytes(N_SMALL_OBJ), SMALL, &body);
        if (srv == SRV_NGINX) {
            struct stat sb;
            snprintf(file, sizeof(file), "%s/bench/put/4k/c00", opt.nginx_root);
            g_nginx_put_ok = st / 100 == 2 && stat(file, &sb) == 0 && sb.st_size == SMALL;
            if (!g_nginx_put_ok)
                snprintf(g_nginx_put_why, sizeof(g_nginx_put_why),
                         "nginx answered PUT with HTTP %d%s", st,
                         st / 100 == 2 ? " but wrote no file" : "");
        } else {
            if (st != 200)
                die("check pass: augur PUT /bench/put/4k/c00: HTTP %d: %.*s", st,
                    (int)(body.n < 400 ? body.n : 400), body.p ? body.p : "");
            body.n = 0;
            st = augur_request(&sfd, "GET", "/bench/put/4k/c00", NULL, 0, &body);
            if (st != 200 || body.n != SMALL || memcmp(body.p, obj_bytes(N_SMALL_OBJ), SMALL))
                die("check pass: augur GET after PUT /bench/put/4k/c00: HTTP %d, %zu bytes", st,
                    body.n);
        }
        if (sfd >= 0) close(sfd);
    }
    if (fd >= 0) close(fd);
    free(body.p);
}

/* ---- report ---------------------------------------------------------------------------------- */

static const char *size_name(size_t s)
{
    return s == SMALL ? "4KiB" : "1MiB";
}

static void print_result(const result_t *r)
{
    if (!r->ran) {
        printf(" %7s %7s %6s %6s %6s %4s", "-", "-", "-", "-", "-", "-");
        return;
    }
    printf(" %7.0f %7.1f %6.2f %6.2f %6.0f %4llu", r->ops, r->mibs, r->p50_ms, r->p99_ms,
           r->cpu_us_op, (unsigned long long)r->errors);
}

static int cell_wanted(int ks, int conns)
{
    if (!opt.cells) return 1;
    char name[32];
    snprintf(name, sizeof(name), "%s-%s-%d", g_ks[ks].method,
             g_ks[ks].size == SMALL ? "4k" : "1m", conns);
    const char *p = opt.cells;
    size_t nl = strlen(name);
    while ((p = strcasestr(p, name)) != NULL) {
        if ((p == opt.cells || p[-1] == ',') && (p[nl] == '\0' || p[nl] == ',')) return 1;
        p += nl;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_gateway --augur-port P --nginx-port Q --nginx-root DIR --access AK "
            "--secret SK\n"
            "                     [--augur-pid N] [--nginx-pid N] [--duration S] [--warmup S]\n"
            "                     [--rounds N] [--threads N] [--cells GET-4k-16,PUT-1m-1,...]\n"
            "       bench_gateway --free-port | --self-test\n");
    exit(2);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("cannot find a free port: %s", strerror(errno));
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 1) {
        printf("bench_gateway: needs augurd and nginx running; tests/bench/bench_gateway.sh runs "
               "it (skipped)\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--free-port") == 0) return free_port();
        if (strcmp(a, "--self-test") == 0) {
            if (sigv4_self_test() != 0) return 1;
            printf("bench_gateway: SigV4 self-test passed\n");
            return 0;
        }
        if (!v) usage();
        if (strcmp(a, "--augur-port") == 0) opt.port[SRV_AUGUR] = atoi(v);
        else if (strcmp(a, "--nginx-port") == 0) opt.port[SRV_NGINX] = atoi(v);
        else if (strcmp(a, "--nginx-root") == 0) opt.nginx_root = v;
        else if (strcmp(a, "--access") == 0) opt.ak = v;
        else if (strcmp(a, "--secret") == 0) opt.sk = v;
        else if (strcmp(a, "--duration") == 0) opt.duration = atof(v);
        else if (strcmp(a, "--warmup") == 0) opt.warmup = atof(v);
        else if (strcmp(a, "--threads") == 0) opt.threads = atoi(v);
        else if (strcmp(a, "--rounds") == 0) opt.rounds = atoi(v);
        else if (strcmp(a, "--augur-pid") == 0) opt.pid[SRV_AUGUR] = atoi(v);
        else if (strcmp(a, "--nginx-pid") == 0) opt.pid[SRV_NGINX] = atoi(v);
        else if (strcmp(a, "--cells") == 0) opt.cells = v;
        else usage();
        i++;
    }
    if (!opt.port[SRV_AUGUR] || !opt.port[SRV_NGINX] || !opt.nginx_root || !opt.ak || !opt.sk ||
        opt.duration <= 0 || opt.warmup < 0 || opt.rounds < 1)
        usage();
    if (sigv4_self_test() != 0) return 1;

    g_pat = xmalloc(PAT_LEN);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < PAT_LEN; i++) { /* xorshift: incompressible, reproducible */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g_pat[i] = (uint8_t)(x >> 32);
    }
    double t_setup = now_s();
    setup();
    printf("setup: %d x 4 KiB and %d x 1 MiB objects stored in augur and as files for nginx, "
           "each read back once from both and checked (%.1f s)\n",
           N_SMALL_OBJ, N_LARGE_OBJ, now_s() - t_setup);
    if (!g_nginx_put_ok) printf("nginx PUT unavailable: %s; PUT ratios are n/a\n", g_nginx_put_why);
    printf("each cell: the servers take turns, %d rounds of (%.2f s warm-up on fresh "
           "connections + %.2f s measured) each, %.1f s measured per server; %d client "
           "thread(s) at most; latency from first byte sent to last byte received; cpu = "
           "server CPU time (user+sys, all threads/workers) per 2xx answer\n\n",
           opt.rounds, opt.warmup, opt.duration / opt.rounds, opt.duration,
           opt.threads > 0 ? opt.threads : 2);

    static const int conc[] = {1, 16, 64};
    static const int order[] = {KS_GET_SMALL, KS_GET_LARGE, KS_PUT_SMALL, KS_PUT_LARGE};
    static result_t res[N_KS][3][N_SRV];
    printf("%-3s %-4s %5s |%-42s|%-42s| %s\n", "op", "size", "conns",
           "                  augur", "                  nginx", "   augur/nginx");
    printf("%-3s %-4s %5s |%7s %7s %6s %6s %6s %4s |%7s %7s %6s %6s %6s %4s | %6s %5s %5s\n",
           "", "", "", "ops/s", "MiB/s", "p50ms", "p99ms", "cpuus", "errs", "ops/s", "MiB/s",
           "p50ms", "p99ms", "cpuus", "errs", "thrput", "p99", "cpu");
    for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
        int ks = order[o];
        int put = g_ks[ks].method[0] == 'P';
        for (int c = 0; c < 3; c++) {
            if (!cell_wanted(ks, conc[c])) continue;
            run_cell(ks, conc[c], !put || g_nginx_put_ok, res[ks][c]);
            const result_t *a = &res[ks][c][SRV_AUGUR], *n = &res[ks][c][SRV_NGINX];
            printf("%-3s %-4s %5d |", g_ks[ks].method, size_name(g_ks[ks].size), conc[c]);
            print_result(a);
            printf(" |");
            print_result(n);
            if (n->ran && n->ops > 0 && n->p99_ms > 0 && n->cpu_us_op > 0)
                printf(" | %5.2fx %4.1fx %4.1fx\n", a->ops / n->ops, a->p99_ms / n->p99_ms,
                       a->cpu_us_op / n->cpu_us_op);
            else
                printf(" | %6s %5s %5s\n", "n/a", "n/a", "n/a");
        }
    }

    int any_err = 0;
    for (int k = 0; k < N_KS; k++)
        for (int c = 0; c < 3; c++)
            for (int s = 0; s < N_SRV; s++) {
                const result_t *r = &res[k][c][s];
                if (!r->ran || !r->errors) continue;
                if (!any_err)
                    printf("\nerrors (requests that did not end in 2xx, or ended short):\n");
                any_err = 1;
                printf("  %s %s %s x%d: %llu: %s\n", SRV_NAME[s], g_ks[k].method,
                       size_name(g_ks[k].size), conc[c], (unsigned long long)r->errors,
                       r->err_summary);
            }
    if (!any_err) printf("\nerrors: none (every response 2xx, every GET body of the right length)\n");
    for (int k = 0; k < N_KS; k++)
        for (int c = 0; c < 3; c++)
            for (int s = 0; s < N_SRV; s++) {
                const result_t *r = &res[k][c][s];
                if (r->ran && r->reconnects)
                    printf("note: %s %s %s x%d: %llu reconnect(s): the server closed kept-alive "
                           "connections\n",
                           SRV_NAME[s], g_ks[k].method, size_name(g_ks[k].size), conc[c],
                           (unsigned long long)r->reconnects);
            }
    if (!g_nginx_put_ok) printf("PUT ratios n/a: %s\n", g_nginx_put_why);
    printf("load generator CPU per request, us (augur / nginx cells):");
    for (size_t o = 0, first = 1; o < 4; o++)
        for (int c = 0; c < 3; c++) {
            int k = order[o];
            const result_t *a = &res[k][c][SRV_AUGUR], *n = &res[k][c][SRV_NGINX];
            if (!a->ran) continue;
            printf("%s %s %s x%d %.0f/%s", first ? "" : ",", g_ks[k].method,
                   size_name(g_ks[k].size), conc[c], a->client_us_op, "");
            if (n->ran) printf("%.0f", n->client_us_op);
            else printf("-");
            first = 0;
        }
    printf("\n");

    printf("\ntargets (gateway issue):\n");
    for (int c = 0; c < 3; c++) {
        const result_t *a = &res[KS_GET_LARGE][c][SRV_AUGUR], *n = &res[KS_GET_LARGE][c][SRV_NGINX];
        if (!a->ran || !n->ran) continue;
        double ratio = n->mibs > 0 ? a->mibs / n->mibs : 0;
        printf("  %s  cached 1 MiB GET, %2d conns: augur %.0f MiB/s = %.2fx nginx %.0f MiB/s "
               "(want >= 0.70x)\n",
               ratio >= 0.7 ? "PASS" : "FAIL", conc[c], a->mibs, ratio, n->mibs);
    }
    for (int c = 0; c < 3; c++) {
        const result_t *a = &res[KS_GET_SMALL][c][SRV_AUGUR], *n = &res[KS_GET_SMALL][c][SRV_NGINX];
        if (!a->ran || !n->ran) continue;
        double ratio = n->ops > 0 ? a->ops / n->ops : 0;
        printf("  %s  cached 4 KiB GET, %2d conns: augur %.0f ops/s = %.2fx nginx %.0f ops/s "
               "(want >= 0.50x)\n",
               ratio >= 0.5 ? "PASS" : "FAIL", conc[c], a->ops, ratio, n->ops);
    }
    {
        const result_t *a = &res[KS_GET_SMALL][1][SRV_AUGUR];
        if (a->ran)
            printf("  %s  cached 4 KiB GET, 16 conns: augur p99 %.2f ms (want < 10 ms; p99.9 "
                   "%.2f ms, max %.2f ms)\n",
                   a->p99_ms < 10.0 && a->errors == 0 ? "PASS" : "FAIL", a->p99_ms, a->p999_ms,
                   a->max_ms);
    }
    free(g_pat);
    for (int k = 0; k < N_KS; k++)
        for (int s = 0; s < N_SRV; s++)
            for (int i = 0; i < g_ks[k].n; i++) free(g_ks[k].req[s][i].buf);
    return 0;
}
