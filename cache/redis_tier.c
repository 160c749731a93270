/* redis_tier.c - the Redis tier over hiredis: a small pool of synchronous connections for
 * requests, one background thread that reconnects with back-off and holds the subscription
 * to the invalidation channel, and a policy that keeps this instance's blocks in budget. */
#include "cache/redis_tier.h"
#include "cache/policy.h"

#include <hiredis/hiredis.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* A Redis on the site answers a connect in well under a millisecond; one that has not
 * answered in 200 ms is as good as down for a cache whose misses cost a few milliseconds. */
#define RT_CONNECT_TIMEOUT_MS 200
/* Per socket read or write (SO_RCVTIMEO/SO_SNDTIMEO), so a 64 MiB block still moves as long
 * as each write makes progress; a Redis silent this long is treated as lost. */
#define RT_COMMAND_TIMEOUT_MS 500
/* Reconnect back-off (the issue: 100 ms doubling to 5 s). */
#define RT_BACKOFF_MIN_MS 100
#define RT_BACKOFF_MAX_MS 5000
/* Request connections. Redis runs commands one at a time, so a few connections keep it busy;
 * more would only hold more sockets. */
#define RT_POOL_SIZE 4
/* The subscriber pings Redis after this much silence and declares it lost when the answer
 * takes longer than RT_PING_DEAD_MS, so a dead Redis is noticed even when nobody asks. */
#define RT_PING_IDLE_MS 1000
#define RT_PING_DEAD_MS 2000
/* Access-count replies left unread on a connection before they are drained. */
#define RT_PENDING_MAX 128
/* Evicted blocks waiting for their DEL (sent by the next put; kept when it fails). Beyond
 * this, a block whose DEL failed is forgotten and stays in Redis: the server's maxmemory
 * policy is the backstop. */
#define RT_DOOMED_MAX 4096
/* Keys per DEL command when deleting evicted blocks. */
#define RT_DEL_BATCH 128
/* At most one warning per this interval for error replies (OOM, WRONGTYPE, ...). */
#define RT_REPLY_WARN_INTERVAL_NS (60LL * 1000000000LL)
/* Seed of the 64-bit block key given to the policy. */
#define RT_HASH_SEED 0x72656469735f7469ULL /* "redis_ti" */

#define RT_STR_(x) #x
#define RT_STR(x) RT_STR_(x)

#define RT_CHANNEL "augur:inval"
/* "augur:b:" + 32 hex digits + ":" + 20 digits + NUL */
#define RT_BLOCK_KEY_MAX 64
#define RT_PASSWORD_MAX 512

/* ---- endpoint (parsed URL) ------------------------------------------------------------------- */

typedef struct rt_endpoint {
    int is_unix;
    char host[256];
    int port;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int db;
    char user[128];
    char password[RT_PASSWORD_MAX]; /* "" = none; never logged */
    char display[PATH_MAX];         /* the URL without credentials, for messages */
} rt_endpoint_t;

/* ---- map from a policy key back to the block it stands for ----------------------------------- */

typedef struct rt_block_ref {
    uint64_t key; /* the policy's key: rt_block_hash(vid, index) */
    uint64_t index;
    uint8_t vid[16];
    uint8_t used;
} rt_block_ref_t;

/* Open addressing, linear probing, deletion by backward shift (no tombstones). */
typedef struct rt_block_map {
    rt_block_ref_t *slots;
    size_t mask;
    size_t n;
} rt_block_map_t;

/* A growable list of block references. */
typedef struct rt_ref_list {
    rt_block_ref_t *v;
    size_t n, cap;
} rt_ref_list_t;

/* ---- the tier -------------------------------------------------------------------------------- */

typedef struct rt_conn {
    pthread_mutex_t lock;
    redisContext *ctx; /* NULL while down */
    uint64_t gen;      /* t->gen when ctx was installed */
    unsigned pending;  /* access-count replies not read yet */
} rt_conn_t;

struct redis_tier {
    rt_endpoint_t ep;
    uint64_t size_bytes, block_max, ttl_ms;
    redis_invalidate_fn on_invalidate;
    redis_resync_fn on_resync;
    void *arg;

    rt_conn_t pool[RT_POOL_SIZE];
    atomic_uint next_conn;
    atomic_int up;        /* pool and subscription connected */
    _Atomic uint64_t gen; /* bumped at every successful (re)connection */
    atomic_int stopping;
    int wake[2]; /* pipe: wakes the manager thread (stop, or a request saw a loss) */
    pthread_t thread;
    bool thread_started;
    redisContext *sub; /* the subscription; the manager thread's alone once started */

    pthread_mutex_t state_lock; /* guards outage, down_since and last_err */
    bool outage;
    int64_t down_since;
    aug_err_t last_err;

    pthread_mutex_t pol_lock; /* guards pol, map and doomed */
    policy_t *pol;            /* NULL when size_bytes is 0 */
    rt_block_map_t map;
    rt_ref_list_t doomed; /* evicted blocks still to DEL */

    _Atomic uint64_t hits, misses, errors, inval_sent, inval_recv;
    _Atomic int64_t reply_warned_ns;
};

/* ---- small helpers --------------------------------------------------------------------------- */

static struct timeval rt_tv_ms(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* The policy's 64-bit key for a block. */
static uint64_t rt_block_hash(const uint8_t vid[16], uint64_t index)
{
    uint8_t b[24];
    memcpy(b, vid, 16);
    for (int i = 0; i < 8; i++)
        b[16 + i] = (uint8_t)(index >> (8 * i));
    return aug_hash64(b, sizeof(b), RT_HASH_SEED);
}

/* "augur:b:VID:INDEX" into out (RT_BLOCK_KEY_MAX bytes); returns its length. */
static size_t rt_block_key(const uint8_t vid[16], uint64_t index, char *out)
{
    char hex[33];
    aug_hex(vid, 16, hex);
    return (size_t)snprintf(out, RT_BLOCK_KEY_MAX, "augur:b:%s:%llu", hex,
                            (unsigned long long)index);
}

/* "augur:m:BUCKET/KEY" into out (of cap bytes); returns its length or a negative code. */
static int rt_manifest_key(const char *bucket, const char *key, char *out, size_t cap)
{
    if (!bucket || !key || !*bucket || strchr(bucket, '/')) return AUG_EINVAL;
    size_t bl = strlen(bucket), kl = strlen(key);
    if (bl + 1 + kl > REDIS_TIER_NAME_MAX) return AUG_ETOOLONG;
    int n = snprintf(out, cap, "augur:m:%s/%s", bucket, key);
    return (n < 0 || (size_t)n >= cap) ? AUG_ETOOLONG : n;
}

/* Wake the manager thread (never blocks: the pipe is non-blocking and one byte is enough). */
static void rt_wake(redis_tier_t *t)
{
    char c = 1;
    ssize_t w = write(t->wake[1], &c, 1);
    (void)w;
}

static void rt_wake_drain(redis_tier_t *t)
{
    char buf[64];
    while (read(t->wake[0], buf, sizeof(buf)) > 0) {
    }
}

/* ---- URL parsing ----------------------------------------------------------------------------- */

/* url with its credentials replaced by "***", for error messages about a URL that did not
 * parse (so the password is never shown, even where it was mistyped). */
static void rt_redact(const char *url, char *out, size_t cap)
{
    const char *scheme_end = strstr(url, "://");
    const char *at = scheme_end ? strrchr(scheme_end + 3, '@') : NULL;
    if (!at) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s***%s", (int)(scheme_end + 3 - url), url, at);
}

/* Value of one hex digit, or -1. */
static int rt_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode src[0..len) into out (cap bytes, NUL-terminated); 0 or AUG_ECONFIG (a
 * malformed escape, an escaped NUL, or too long). */
static int rt_percent_decode(const char *src, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len) return AUG_ECONFIG;
            int hi = rt_hexval(src[i + 1]), lo = rt_hexval(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0) return AUG_ECONFIG;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap) return AUG_ECONFIG;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Parse decimal digits s[0..len) into *out within [min, max]; 0 or AUG_ECONFIG. */
static int rt_parse_int(const char *s, size_t len, long min, long max, int *out)
{
    if (len == 0 || len > 9) return AUG_ECONFIG;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return AUG_ECONFIG;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return AUG_ECONFIG;
    *out = (int)v;
    return 0;
}

/* Largest database index accepted in a URL; Redis itself refuses SELECT beyond its
 * "databases" setting (16 by default), which shows as an outage with Redis's reason. */
#define RT_DB_MAX 1000000

static int rt_parse_unix(const char *url, const char *rest, rt_endpoint_t *ep, aug_err_t *err)
{
    if (rest[0] != '/' || rest[1] == '\0' || rest[1] == '?')
        return aug_err_set(err, AUG_ECONFIG,
                           "redis url '%s': a unix socket URL needs an absolute path, as in "
                           "unix:///run/redis/redis.sock",
                           url);
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen >= sizeof(ep->path))
        return aug_err_set(err, AUG_ECONFIG, "redis url '%s': socket path longer than %zu bytes",
                           url, sizeof(ep->path) - 1);
    memcpy(ep->path, rest, plen);
    ep->path[plen] = '\0';
    while (q && *q) {
        const char *p = q + 1;
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 3 && strncmp(p, "db=", 3) == 0) {
            if (rt_parse_int(p + 3, n - 3, 0, RT_DB_MAX, &ep->db) != 0)
                return aug_err_set(err, AUG_ECONFIG,
                                   "redis url '%s': db must be a number from 0 to %d", url,
                                   RT_DB_MAX);
        } else {
            return aug_err_set(err, AUG_ECONFIG,
                               "redis url '%s': unknown parameter '%.*s' (only db=N is known)", url,
                               (int)strcspn(p, "=&"), p);
        }
        q = amp;
    }
    snprintf(ep->display, sizeof(ep->display), "unix://%s%s", ep->path, ep->db ? "?db=" : "");
    if (ep->db) {
        size_t l = strlen(ep->display);
        snprintf(ep->display + l, sizeof(ep->display) - l, "%d", ep->db);
    }
    ep->is_unix = 1;
    return 0;
}

static int rt_parse_tcp(const char *url, const char *rest, rt_endpoint_t *ep, aug_err_t *err)
{
    const char *slash = strchr(rest, '/');
    const char *auth_end = slash ? slash : rest + strlen(rest);
    const char *at = NULL;
    for (const char *p = rest; p < auth_end; p++)
        if (*p == '@') at = p;
    const char *hp = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *pw = rest;
        if (colon) {
            if (rt_percent_decode(rest, (size_t)(colon - rest), ep->user, sizeof(ep->user)))
                return aug_err_set(err, AUG_ECONFIG, "redis url '%s': bad user name", url);
            pw = colon + 1;
        }
        if (rt_percent_decode(pw, (size_t)(at - pw), ep->password, sizeof(ep->password)))
            return aug_err_set(err, AUG_ECONFIG,
                               "redis url '%s': bad password (longer than %d bytes, or a "
                               "malformed %%XX escape)",
                               url, RT_PASSWORD_MAX - 1);
        hp = at + 1;
    }
    /* host, [v6 host], then :port */
    const char *host_end, *port_start = NULL;
    if (*hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(auth_end - hp));
        if (!rb || rb == hp + 1)
            return aug_err_set(err, AUG_ECONFIG, "redis url '%s': bad [IPv6] host", url);
        memcpy(ep->host, hp + 1, (size_t)(rb - hp - 1));
        ep->host[rb - hp - 1] = '\0';
        host_end = rb + 1;
        if (host_end < auth_end) {
            if (*host_end != ':')
                return aug_err_set(err, AUG_ECONFIG, "redis url '%s': bad [IPv6] host", url);
            port_start = host_end + 1;
        }
    } else {
        const char *colon = memchr(hp, ':', (size_t)(auth_end - hp));
        host_end = colon ? colon : auth_end;
        if (host_end == hp)
            return aug_err_set(err, AUG_ECONFIG,
                               "redis url '%s': no host (expected "
                               "redis://[:password@]host[:port][/db])",
                               url);
        if ((size_t)(host_end - hp) >= sizeof(ep->host))
            return aug_err_set(err, AUG_ECONFIG, "redis url '%s': host name too long", url);
        memcpy(ep->host, hp, (size_t)(host_end - hp));
        ep->host[host_end - hp] = '\0';
        if (colon) port_start = colon + 1;
    }
    if (ep->host[0] == '\0' || ep->host[strcspn(ep->host, " @?#")] != '\0')
        return aug_err_set(err, AUG_ECONFIG, "redis url '%s': bad host", url);
    ep->port = 6379;
    if (port_start &&
        rt_parse_int(port_start, (size_t)(auth_end - port_start), 1, 65535, &ep->port) != 0)
        return aug_err_set(err, AUG_ECONFIG,
                           "redis url '%s': port must be a number from 1 to "
                           "65535",
                           url);
    if (slash && slash[1] != '\0' &&
        rt_parse_int(slash + 1, strlen(slash + 1), 0, RT_DB_MAX, &ep->db) != 0)
        return aug_err_set(err, AUG_ECONFIG,
                           "redis url '%s': the path must be a database number from 0 to %d", url,
                           RT_DB_MAX);
    int v6 = strchr(ep->host, ':') != NULL;
    snprintf(ep->display, sizeof(ep->display), "redis://%s%s%s:%d/%d", v6 ? "[" : "", ep->host,
             v6 ? "]" : "", ep->port, ep->db);
    return 0;
}

/* Parse url into ep; AUG_ECONFIG with a message (credentials redacted) when malformed. */
static int rt_parse_url(const char *url, rt_endpoint_t *ep, aug_err_t *err)
{
    memset(ep, 0, sizeof(*ep));
    if (!url || !*url)
        return aug_err_set(err, AUG_ECONFIG,
                           "no redis url (expected redis://[:password@]host[:port][/db] or "
                           "unix:///path/to.sock)");
    char shown[600];
    rt_redact(url, shown, sizeof(shown));
    int rc;
    if (strncmp(url, "redis://", 8) == 0)
        rc = rt_parse_tcp(shown, url + 8, ep, err);
    else if (strncmp(url, "unix://", 7) == 0)
        rc = rt_parse_unix(shown, url + 7, ep, err);
    else if (strncmp(url, "rediss://", 9) == 0)
        rc = aug_err_set(err, AUG_ECONFIG,
                         "redis url '%s': TLS (rediss://) is not supported; use redis:// or "
                         "unix://",
                         shown);
    else
        rc = aug_err_set(err, AUG_ECONFIG,
                         "redis url '%s': expected redis://[:password@]host[:port][/db] or "
                         "unix:///path/to.sock",
                         shown);
    if (rc != 0) explicit_bzero(ep->password, sizeof(ep->password));
    return rc;
}

/* ---- block map ------------------------------------------------------------------------------- */

static int rt_map_grow(rt_block_map_t *m)
{
    size_t cap = m->slots ? (m->mask + 1) * 2 : 64;
    rt_block_ref_t *s = calloc(cap, sizeof(*s));
    if (!s) return AUG_ENOMEM;
    for (size_t i = 0; m->slots && i <= m->mask; i++) {
        if (!m->slots[i].used) continue;
        size_t j = m->slots[i].key & (cap - 1);
        while (s[j].used)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->mask = cap - 1;
    return 0;
}

/* Insert or replace the entry for ref->key; 0 or AUG_ENOMEM. A second block with the same
 * 64-bit key (probability ~2^-64 per pair) replaces the first, which then stays in Redis
 * untracked. */
static int rt_map_put(rt_block_map_t *m, const rt_block_ref_t *ref)
{
    if (!m->slots || (m->n + 1) * 4 > (m->mask + 1) * 3) {
        if (rt_map_grow(m) != 0) return AUG_ENOMEM;
    }
    size_t j = ref->key & m->mask;
    while (m->slots[j].used && m->slots[j].key != ref->key)
        j = (j + 1) & m->mask;
    if (!m->slots[j].used) m->n++;
    m->slots[j] = *ref;
    m->slots[j].used = 1;
    return 0;
}

/* Remove key's entry, copying it to *out; 1 if it was there, else 0. */
static int rt_map_take(rt_block_map_t *m, uint64_t key, rt_block_ref_t *out)
{
    if (!m->slots) return 0;
    size_t j = key & m->mask;
    while (m->slots[j].used && m->slots[j].key != key)
        j = (j + 1) & m->mask;
    if (!m->slots[j].used) return 0;
    if (out) *out = m->slots[j];
    /* backward shift: move later entries of the probe run into the hole */
    size_t hole = j;
    for (size_t k = (j + 1) & m->mask; m->slots[k].used; k = (k + 1) & m->mask) {
        size_t home = m->slots[k].key & m->mask;
        /* k's entry may move to hole unless home lies cyclically in (hole, k] */
        int stays = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
        if (stays) continue;
        m->slots[hole] = m->slots[k];
        hole = k;
    }
    m->slots[hole].used = 0;
    m->n--;
    return 1;
}

static int rt_refs_push(rt_ref_list_t *l, const rt_block_ref_t *ref)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rt_block_ref_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v) return AUG_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *ref;
    return 0;
}

/* The policy's eviction hook (called under pol_lock): the block leaves the map and joins the
 * list of blocks to DEL once the lock is released. */
static void rt_on_evict(void *arg, uint64_t key, uint64_t size)
{
    redis_tier_t *t = arg;
    (void)size;
    rt_block_ref_t ref;
    if (!rt_map_take(&t->map, key, &ref)) return;
    if (t->doomed.n >= RT_DOOMED_MAX || rt_refs_push(&t->doomed, &ref) != 0)
        aug_debug("redis: dropped the deletion of an evicted block (list full)");
}

/* ---- connections ----------------------------------------------------------------------------- */

/* Why the connection c failed, in words. */
static const char *rt_ctx_reason(const redisContext *c)
{
    /* hiredis reports a socket timeout with EAGAIN's text */
    if (c->err == REDIS_ERR_IO && strstr(c->errstr, "temporarily unavailable"))
        return "no answer within " RT_STR(RT_COMMAND_TIMEOUT_MS) " ms";
    return c->errstr[0] ? c->errstr : "connection closed";
}

/* Run one command given as argv on c; the reply (caller frees) or NULL when the connection
 * failed. */
static redisReply *rt_argv(redisContext *c, int argc, const char **argv)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return redisCommandArgv(c, argc, argv, lens);
}

/* A new connection to ep, authenticated, with db selected and answering PING. NULL with err
 * set (AUG_EIO; AUG_ENOMEM) otherwise. Messages name the server, never the password. */
static redisContext *rt_connect_one(const rt_endpoint_t *ep, aug_err_t *err)
{
    struct timeval ct = rt_tv_ms(RT_CONNECT_TIMEOUT_MS);
    redisContext *c = ep->is_unix ? redisConnectUnixWithTimeout(ep->path, ct)
                                  : redisConnectWithTimeout(ep->host, ep->port, ct);
    if (!c) {
        aug_err_set(err, AUG_ENOMEM, "redis at %s: out of memory", ep->display);
        return NULL;
    }
    redisReply *r = NULL;
    if (c->err) {
        aug_err_set(err, AUG_EIO, "redis at %s: cannot connect: %s", ep->display, c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, rt_tv_ms(RT_COMMAND_TIMEOUT_MS)) != REDIS_OK) {
        aug_err_set(err, AUG_EIO, "redis at %s: cannot set socket timeouts", ep->display);
        goto fail;
    }
    if (!ep->is_unix) redisEnableKeepAlive(c);
    if (ep->password[0]) {
        const char *argv[3] = {"AUTH", ep->user, ep->password};
        r = ep->user[0] ? rt_argv(c, 3, argv)
                        : rt_argv(c, 2, (const char *[]){"AUTH", ep->password});
        if (!r) {
            aug_err_set(err, AUG_EIO, "redis at %s: connection lost during AUTH: %s", ep->display,
                        rt_ctx_reason(c));
            goto fail;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            aug_err_set(err, AUG_EIO,
                        "redis at %s refused the password (%s); check the password in "
                        "[redis] url or password_file",
                        ep->display, r->str);
            goto fail;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (ep->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", ep->db);
        r = rt_argv(c, 2, (const char *[]){"SELECT", db});
        if (!r) {
            aug_err_set(err, AUG_EIO, "redis at %s: connection lost during SELECT: %s", ep->display,
                        rt_ctx_reason(c));
            goto fail;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            aug_err_set(err, AUG_EIO, "redis at %s: cannot select database %d (%s)", ep->display,
                        ep->db, r->str);
            goto fail;
        }
        freeReplyObject(r);
        r = NULL;
    }
    r = rt_argv(c, 1, (const char *[]){"PING"});
    if (!r) {
        aug_err_set(err, AUG_EIO, "redis at %s: connection lost during PING: %s", ep->display,
                    rt_ctx_reason(c));
        goto fail;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOAUTH", 6) == 0)
            aug_err_set(err, AUG_EIO,
                        "redis at %s wants a password (%s); set it in [redis] url or "
                        "password_file",
                        ep->display, r->str);
        else
            aug_err_set(err, AUG_EIO, "redis at %s does not answer PING (%s)", ep->display, r->str);
        goto fail;
    }
    freeReplyObject(r);
    return c;
fail:
    if (r) freeReplyObject(r);
    redisFree(c);
    return NULL;
}

/* A connection subscribed to RT_CHANNEL, or NULL with err set. */
static redisContext *rt_subscribe(const rt_endpoint_t *ep, aug_err_t *err)
{
    redisContext *c = rt_connect_one(ep, err);
    if (!c) return NULL;
    redisReply *r = rt_argv(c, 2, (const char *[]){"SUBSCRIBE", RT_CHANNEL});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        aug_err_set(err, AUG_EIO, "redis at %s: cannot subscribe to %s: %s", ep->display,
                    RT_CHANNEL,
                    !r                             ? rt_ctx_reason(c)
                    : r->type == REDIS_REPLY_ERROR ? r->str
                                                   : "odd reply");
        if (r) freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

/* Record that Redis is unreachable for err's reason; the first time in an outage, log it. */
static void rt_note_outage(redis_tier_t *t, const aug_err_t *err)
{
    pthread_mutex_lock(&t->state_lock);
    bool first = !t->outage;
    if (first) {
        t->outage = true;
        t->down_since = aug_mono_ns();
    }
    t->last_err = *err;
    pthread_mutex_unlock(&t->state_lock);
    if (first)
        aug_warn("%s; the cache goes on without Redis and reconnects in the background", err->msg);
}

/* A request or the subscriber found the connections of generation gen broken: mark the tier
 * down (once) and wake the manager to reconnect. Losses on connections of an older generation
 * are ignored: they were already replaced. */
static void rt_set_down(redis_tier_t *t, uint64_t gen, const aug_err_t *err)
{
    if (gen != atomic_load(&t->gen)) return;
    int was_up = 1;
    if (!atomic_compare_exchange_strong(&t->up, &was_up, 0)) return;
    rt_note_outage(t, err);
    rt_wake(t);
}

/* Close every connection (pool and subscription). Manager thread, or before it starts. */
static void rt_disconnect_all(redis_tier_t *t)
{
    for (int i = 0; i < RT_POOL_SIZE; i++) {
        rt_conn_t *c = &t->pool[i];
        pthread_mutex_lock(&c->lock);
        redisContext *old = c->ctx;
        c->ctx = NULL;
        c->pending = 0;
        pthread_mutex_unlock(&c->lock);
        if (old) redisFree(old);
    }
    if (t->sub) redisFree(t->sub);
    t->sub = NULL;
}

/* Open the pool and the subscription; on success install them and mark the tier up (logging
 * the end of an outage). 0, or AUG_EIO/AUG_ENOMEM with err set and nothing installed. */
static int rt_connect_all(redis_tier_t *t, aug_err_t *err)
{
    redisContext *ctx[RT_POOL_SIZE] = {0};
    redisContext *sub = NULL;
    int i;
    for (i = 0; i < RT_POOL_SIZE && !atomic_load(&t->stopping); i++)
        if (!(ctx[i] = rt_connect_one(&t->ep, err))) break;
    if (i == RT_POOL_SIZE) sub = rt_subscribe(&t->ep, err);
    if (!sub) {
        if (atomic_load(&t->stopping)) aug_err_set(err, AUG_EIO, "redis tier closing");
        for (int j = 0; j < RT_POOL_SIZE; j++)
            if (ctx[j]) redisFree(ctx[j]);
        return err->code ? err->code : AUG_EIO;
    }
    /* The new generation is published before the connections, so a late failure on an old
     * connection cannot take the new ones down. */
    uint64_t gen = atomic_fetch_add(&t->gen, 1) + 1;
    for (i = 0; i < RT_POOL_SIZE; i++) {
        rt_conn_t *c = &t->pool[i];
        pthread_mutex_lock(&c->lock);
        redisContext *old = c->ctx;
        c->ctx = ctx[i];
        c->gen = gen;
        c->pending = 0;
        pthread_mutex_unlock(&c->lock);
        if (old) redisFree(old);
    }
    t->sub = sub;
    pthread_mutex_lock(&t->state_lock);
    bool was_out = t->outage;
    double secs = was_out ? (double)(aug_mono_ns() - t->down_since) / 1e9 : 0;
    t->outage = false;
    aug_err_clear(&t->last_err);
    pthread_mutex_unlock(&t->state_lock);
    atomic_store(&t->up, 1);
    if (was_out) aug_info("redis at %s is back after %.1f s", t->ep.display, secs);
    return 0;
}

/* A pooled connection, locked: a free one if there is one, else the next in turn. */
static rt_conn_t *rt_conn_acquire(redis_tier_t *t)
{
    unsigned start = atomic_fetch_add(&t->next_conn, 1);
    for (unsigned i = 0; i < RT_POOL_SIZE; i++) {
        rt_conn_t *c = &t->pool[(start + i) % RT_POOL_SIZE];
        if (pthread_mutex_trylock(&c->lock) == 0) return c;
    }
    rt_conn_t *c = &t->pool[start % RT_POOL_SIZE];
    pthread_mutex_lock(&c->lock);
    return c;
}

/* Read the access-count replies still pending on c (locked). 0, or -1 when c failed. */
static int rt_conn_drain(rt_conn_t *c)
{
    while (c->pending > 0) {
        void *r;
        if (redisGetReply(c->ctx, &r) != REDIS_OK) return -1;
        freeReplyObject(r);
        c->pending--;
    }
    return 0;
}

/* c (locked) failed: close it and return its generation, with the reason in err. The caller
 * unlocks c, then calls rt_set_down. */
static uint64_t rt_conn_lost(redis_tier_t *t, rt_conn_t *c, aug_err_t *err)
{
    aug_err_set(err, AUG_EIO, "redis at %s: connection lost: %s", t->ep.display,
                rt_ctx_reason(c->ctx));
    redisFree(c->ctx);
    c->ctx = NULL;
    c->pending = 0;
    return c->gen;
}

/* One command: argc arguments with their lengths. */
typedef struct rt_cmd {
    int argc;
    const char **argv;
    const size_t *lens;
} rt_cmd_t;

/* Send n commands in one round trip on a pooled connection and collect their replies
 * (replies[i], caller frees with freeReplyObject). 0, or AUG_EIO (down, or the connection
 * failed: every replies[i] NULL, the tier marked down) without counting an error. */
static int rt_run(redis_tier_t *t, const rt_cmd_t *cmds, int n, redisReply **replies)
{
    for (int i = 0; i < n; i++)
        replies[i] = NULL;
    if (!atomic_load(&t->up)) return AUG_EIO;
    rt_conn_t *c = rt_conn_acquire(t);
    if (!c->ctx) {
        pthread_mutex_unlock(&c->lock);
        return AUG_EIO;
    }
    if (rt_conn_drain(c) != 0) goto lost;
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(c->ctx, cmds[i].argc, cmds[i].argv, cmds[i].lens) != REDIS_OK)
            goto lost;
    for (int i = 0; i < n; i++) {
        void *r;
        if (redisGetReply(c->ctx, &r) != REDIS_OK) goto lost;
        replies[i] = r;
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
lost:
    for (int i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
    aug_err_t err;
    uint64_t gen = rt_conn_lost(t, c, &err);
    pthread_mutex_unlock(&c->lock);
    rt_set_down(t, gen, &err);
    return AUG_EIO;
}

/* Redis answered what with an error reply (full memory, wrong type, ...): warn at most once a
 * minute and return AUG_EIO. */
static int rt_reply_failed(redis_tier_t *t, const char *what, const redisReply *r)
{
    int64_t now = aug_mono_ns();
    int64_t last = atomic_load(&t->reply_warned_ns);
    if ((last == 0 || now - last >= RT_REPLY_WARN_INTERVAL_NS) &&
        atomic_compare_exchange_strong(&t->reply_warned_ns, &last, now))
        aug_warn("redis at %s: %s failed: %s", t->ep.display, what,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    return AUG_EIO;
}

/* Count a failed call and pass its code on. */
static int rt_failed(redis_tier_t *t, int rc)
{
    if (rc == AUG_EIO) atomic_fetch_add(&t->errors, 1);
    return rc;
}

/* ---- the manager thread: reconnection and subscription --------------------------------------- */

/* Sleep ms milliseconds unless woken by close. */
static void rt_wait(redis_tier_t *t, int ms)
{
    struct pollfd p = {.fd = t->wake[0], .events = POLLIN};
    int64_t end = aug_mono_ns() + (int64_t)ms * 1000000;
    while (!atomic_load(&t->stopping)) {
        int64_t left = (end - aug_mono_ns()) / 1000000;
        if (left <= 0) break;
        if (poll(&p, 1, (int)left) > 0) rt_wake_drain(t);
    }
}

/* One message from the subscription: an invalidation for the callback, or a PING's answer. */
static void rt_sub_message(redis_tier_t *t, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) return;
    const redisReply *kind = r->element[0], *payload = r->element[2];
    if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message") != 0) return;
    if (payload->type != REDIS_REPLY_STRING) return;
    atomic_fetch_add(&t->inval_recv, 1);
    /* "BUCKET/KEY": bucket names never contain '/', so the first one splits. */
    const char *slash = memchr(payload->str, '/', payload->len);
    if (!slash || slash == payload->str || memchr(payload->str, '\0', payload->len)) {
        aug_debug("redis: ignored a malformed invalidation on %s", RT_CHANNEL);
        return;
    }
    char stackbuf[REDIS_TIER_NAME_MAX + 2];
    char *buf = payload->len < sizeof(stackbuf) ? stackbuf : malloc(payload->len + 1);
    if (!buf) return;
    memcpy(buf, payload->str, payload->len);
    buf[payload->len] = '\0';
    buf[slash - payload->str] = '\0';
    if (t->on_invalidate) t->on_invalidate(t->arg, buf, buf + (slash - payload->str) + 1);
    if (buf != stackbuf) free(buf);
}

/* Serve the subscription until it fails or close is called: deliver invalidations, ping when
 * idle, and return when the tier went down (here or on a request). */
static void rt_sub_serve(redis_tier_t *t)
{
    int64_t last_rx = aug_mono_ns(), ping_sent = 0;
    uint64_t gen = atomic_load(&t->gen);
    aug_err_t err;
    while (!atomic_load(&t->stopping) && atomic_load(&t->up)) {
        struct pollfd p[2] = {{.fd = t->sub->fd, .events = POLLIN},
                              {.fd = t->wake[0], .events = POLLIN}};
        int n = poll(p, 2, RT_PING_IDLE_MS / 4);
        if (n < 0 && errno != EINTR) {
            aug_err_set(&err, AUG_EIO, "redis at %s: poll failed: %s", t->ep.display,
                        strerror(errno));
            goto lost;
        }
        if (n > 0 && p[1].revents) rt_wake_drain(t);
        if (n > 0 && p[0].revents) {
            if (redisBufferRead(t->sub) != REDIS_OK) goto lost_ctx;
            for (;;) {
                void *r = NULL;
                if (redisGetReplyFromReader(t->sub, &r) != REDIS_OK) goto lost_ctx;
                if (!r) break;
                rt_sub_message(t, r);
                freeReplyObject(r);
            }
            last_rx = aug_mono_ns();
            ping_sent = 0;
        }
        int64_t now = aug_mono_ns();
        if (!ping_sent && now - last_rx > (int64_t)RT_PING_IDLE_MS * 1000000) {
            int done = 0;
            if (redisAppendCommand(t->sub, "PING") != REDIS_OK) goto lost_ctx;
            while (!done)
                if (redisBufferWrite(t->sub, &done) != REDIS_OK) goto lost_ctx;
            ping_sent = now;
        }
        if (ping_sent && now - ping_sent > (int64_t)RT_PING_DEAD_MS * 1000000) {
            aug_err_set(&err, AUG_EIO, "redis at %s: no answer to PING in %d ms", t->ep.display,
                        RT_PING_DEAD_MS);
            goto lost;
        }
    }
    return;
lost_ctx:
    aug_err_set(&err, AUG_EIO, "redis at %s: subscription lost: %s", t->ep.display,
                rt_ctx_reason(t->sub));
lost:
    rt_set_down(t, gen, &err);
}

static void *rt_manager_main(void *arg)
{
    redis_tier_t *t = arg;
    int backoff = RT_BACKOFF_MIN_MS;
    if (!atomic_load(&t->up)) rt_wait(t, backoff); /* open's attempt just failed */
    while (!atomic_load(&t->stopping)) {
        if (atomic_load(&t->up) && t->sub) {
            rt_sub_serve(t);
            continue;
        }
        rt_disconnect_all(t);
        aug_err_t err;
        aug_err_clear(&err);
        if (rt_connect_all(t, &err) == 0) {
            backoff = RT_BACKOFF_MIN_MS;
            if (t->on_resync) t->on_resync(t->arg);
            continue;
        }
        if (atomic_load(&t->stopping)) break;
        rt_note_outage(t, &err);
        aug_debug("redis: reconnect failed (%s); next try in %d ms", err.msg, backoff);
        rt_wait(t, backoff);
        backoff = backoff * 2 > RT_BACKOFF_MAX_MS ? RT_BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

int redis_tier_open(const redis_tier_config_t *cfg, redis_tier_t **out, aug_err_t *err)
{
    *out = NULL;
    redis_tier_t *t = calloc(1, sizeof(*t));
    if (!t) return aug_err_set(err, AUG_ENOMEM, "redis tier: out of memory");
    t->wake[0] = t->wake[1] = -1;
    int rc = rt_parse_url(cfg->url, &t->ep, err);
    if (rc != 0) goto fail_early;
    if (cfg->password && cfg->password[0]) {
        if (strlen(cfg->password) >= sizeof(t->ep.password)) {
            rc = aug_err_set(err, AUG_ECONFIG, "redis password longer than %d bytes",
                             RT_PASSWORD_MAX - 1);
            goto fail_early;
        }
        snprintf(t->ep.password, sizeof(t->ep.password), "%s", cfg->password);
    }
    t->size_bytes = cfg->size_bytes;
    t->block_max = cfg->block_max;
    t->ttl_ms = cfg->manifest_ttl_ms;
    t->on_invalidate = cfg->on_invalidate;
    t->on_resync = cfg->on_resync;
    t->arg = cfg->arg;
    const char *policy = cfg->policy && cfg->policy[0] ? cfg->policy : "lru";
    if (!policy_name_known(policy)) {
        rc = aug_err_set(err, AUG_ECONFIG, "redis tier: unknown eviction policy '%s' (known: %s)",
                         policy, policy_names());
        goto fail_early;
    }
    if (t->size_bytes > 0) {
        aug_err_t perr;
        t->pol = policy_create(policy, t->size_bytes, &perr);
        if (!t->pol) {
            rc = aug_err_set(err, perr.code == AUG_ENOMEM ? AUG_ENOMEM : AUG_ECONFIG,
                             "redis tier: %s", perr.msg);
            goto fail_early;
        }
        policy_set_evict_hook(t->pol, rt_on_evict, t);
    }
    if (pipe2(t->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = aug_err_set(err, AUG_EIO, "redis tier: pipe: %s", strerror(errno));
        goto fail_early;
    }
    pthread_mutex_init(&t->state_lock, NULL);
    pthread_mutex_init(&t->pol_lock, NULL);
    for (int i = 0; i < RT_POOL_SIZE; i++)
        pthread_mutex_init(&t->pool[i].lock, NULL);

    /* A write to a connection Redis closed raises SIGPIPE, which would kill the process. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);

    aug_err_t cerr;
    aug_err_clear(&cerr);
    if (rt_connect_all(t, &cerr) != 0) {
        if (cerr.code == AUG_ENOMEM) {
            rc = aug_err_set(err, AUG_ENOMEM, "%s", cerr.msg);
            goto fail;
        }
        rt_note_outage(t, &cerr);
    }
    if (pthread_create(&t->thread, NULL, rt_manager_main, t) != 0) {
        rc = aug_err_set(err, AUG_ENOMEM, "redis tier: cannot start its thread");
        goto fail;
    }
    t->thread_started = true;
    *out = t;
    return 0;
fail:
    rt_disconnect_all(t);
    pthread_mutex_destroy(&t->state_lock);
    pthread_mutex_destroy(&t->pol_lock);
    for (int i = 0; i < RT_POOL_SIZE; i++)
        pthread_mutex_destroy(&t->pool[i].lock);
fail_early:
    if (t->wake[0] >= 0) close(t->wake[0]);
    if (t->wake[1] >= 0) close(t->wake[1]);
    policy_destroy(t->pol);
    explicit_bzero(t->ep.password, sizeof(t->ep.password));
    free(t);
    return rc;
}

void redis_tier_close(redis_tier_t *t)
{
    if (!t) return;
    atomic_store(&t->stopping, 1);
    rt_wake(t);
    if (t->thread_started) pthread_join(t->thread, NULL);
    rt_disconnect_all(t);
    close(t->wake[0]);
    close(t->wake[1]);
    pthread_mutex_destroy(&t->state_lock);
    pthread_mutex_destroy(&t->pol_lock);
    for (int i = 0; i < RT_POOL_SIZE; i++)
        pthread_mutex_destroy(&t->pool[i].lock);
    policy_destroy(t->pol);
    free(t->map.slots);
    free(t->doomed.v);
    explicit_bzero(t->ep.password, sizeof(t->ep.password));
    free(t);
}

int redis_tier_up(redis_tier_t *t)
{
    return atomic_load(&t->up);
}

void redis_tier_last_error(redis_tier_t *t, aug_err_t *err)
{
    pthread_mutex_lock(&t->state_lock);
    if (t->outage)
        *err = t->last_err;
    else
        aug_err_clear(err);
    pthread_mutex_unlock(&t->state_lock);
}

/* ---- manifests ------------------------------------------------------------------------------- */

int redis_tier_get_manifest(redis_tier_t *t, const char *bucket, const char *key, uint8_t **buf,
                            size_t *len)
{
    *buf = NULL;
    *len = 0;
    char k[REDIS_TIER_NAME_MAX + 16];
    int kl = rt_manifest_key(bucket, key, k, sizeof(k));
    if (kl < 0) return kl;
    const char *argv[] = {"GET", k};
    const size_t lens[] = {3, (size_t)kl};
    rt_cmd_t cmd = {2, argv, lens};
    redisReply *r;
    int rc = rt_run(t, &cmd, 1, &r);
    if (rc != 0) return rt_failed(t, rc);
    if (r->type == REDIS_REPLY_NIL) {
        rc = AUG_ENOENT;
    } else if (r->type != REDIS_REPLY_STRING) {
        rc = rt_failed(t, rt_reply_failed(t, "GET of a manifest", r));
    } else if (!(*buf = malloc(r->len ? r->len : 1))) {
        rc = AUG_ENOMEM;
    } else {
        memcpy(*buf, r->str, r->len);
        *len = r->len;
    }
    freeReplyObject(r);
    return rc;
}

int redis_tier_put_manifest(redis_tier_t *t, const char *bucket, const char *key,
                            const uint8_t *buf, size_t len)
{
    char k[REDIS_TIER_NAME_MAX + 16];
    int kl = rt_manifest_key(bucket, key, k, sizeof(k));
    if (kl < 0) return kl;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)t->ttl_ms);
    const char *argv[] = {"SET", k, (const char *)buf, "PX", ttl};
    const size_t lens[] = {3, (size_t)kl, len, 2, strlen(ttl)};
    rt_cmd_t cmd = {t->ttl_ms ? 5 : 3, argv, lens};
    redisReply *r;
    int rc = rt_run(t, &cmd, 1, &r);
    if (rc != 0) return rt_failed(t, rc);
    if (r->type != REDIS_REPLY_STATUS)
        rc = rt_failed(t, rt_reply_failed(t, "SET of a manifest", r));
    freeReplyObject(r);
    return rc;
}

int redis_tier_invalidate(redis_tier_t *t, const char *bucket, const char *key)
{
    char k[REDIS_TIER_NAME_MAX + 16];
    int kl = rt_manifest_key(bucket, key, k, sizeof(k));
    if (kl < 0) return kl;
    const char *name = k + 8; /* "BUCKET/KEY" */
    const char *del_argv[] = {"DEL", k};
    const size_t del_lens[] = {3, (size_t)kl};
    const char *pub_argv[] = {"PUBLISH", RT_CHANNEL, name};
    const size_t pub_lens[] = {7, strlen(RT_CHANNEL), (size_t)kl - 8};
    rt_cmd_t cmds[2] = {{2, del_argv, del_lens}, {3, pub_argv, pub_lens}};
    redisReply *r[2];
    int rc = rt_run(t, cmds, 2, r);
    if (rc != 0) return rt_failed(t, rc);
    if (r[0]->type != REDIS_REPLY_INTEGER)
        rc = rt_reply_failed(t, "DEL of a manifest", r[0]);
    else if (r[1]->type != REDIS_REPLY_INTEGER)
        rc = rt_reply_failed(t, "PUBLISH of an invalidation", r[1]);
    else
        atomic_fetch_add(&t->inval_sent, 1);
    freeReplyObject(r[0]);
    freeReplyObject(r[1]);
    return rt_failed(t, rc);
}

/* ---- blocks ---------------------------------------------------------------------------------- */

int redis_tier_get_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index, uint8_t *buf,
                         size_t cap, size_t *len)
{
    *len = 0;
    char k[RT_BLOCK_KEY_MAX];
    size_t kl = rt_block_key(vid, index, k);
    const char *argv[] = {"GET", k};
    const size_t lens[] = {3, kl};
    rt_cmd_t cmd = {2, argv, lens};
    redisReply *r;
    int rc = rt_run(t, &cmd, 1, &r);
    if (rc != 0) return rt_failed(t, rc);
    uint64_t hk = rt_block_hash(vid, index);
    if (r->type == REDIS_REPLY_NIL) {
        /* Gone (flushed, restarted, or deleted by another instance): stop counting it. */
        atomic_fetch_add(&t->misses, 1);
        pthread_mutex_lock(&t->pol_lock);
        if (t->pol && policy_remove(t->pol, hk) == 0) rt_map_take(&t->map, hk, NULL);
        pthread_mutex_unlock(&t->pol_lock);
        rc = AUG_ENOENT;
    } else if (r->type != REDIS_REPLY_STRING) {
        rc = rt_failed(t, rt_reply_failed(t, "GET of a block", r));
    } else if (r->len > cap) {
        *len = r->len;
        rc = AUG_EINVAL;
    } else {
        memcpy(buf, r->str, r->len);
        *len = r->len;
        atomic_fetch_add(&t->hits, 1);
        pthread_mutex_lock(&t->pol_lock);
        if (t->pol && policy_contains(t->pol, hk)) policy_access(t->pol, hk, r->len);
        pthread_mutex_unlock(&t->pol_lock);
    }
    freeReplyObject(r);
    return rc;
}

/* Commands deleting the blocks of refs, RT_DEL_BATCH keys per DEL, appended to cmds from
 * index n. Key strings live in keys (refs->n * RT_BLOCK_KEY_MAX bytes), argument arrays in
 * argv/lens (refs->n + one per command each). Returns the new command count. */
static int rt_del_cmds(const rt_ref_list_t *refs, char *keys, const char **argv, size_t *lens,
                       rt_cmd_t *cmds, int n)
{
    size_t a = 0;
    for (size_t i = 0; i < refs->n; i += RT_DEL_BATCH) {
        size_t m = refs->n - i < RT_DEL_BATCH ? refs->n - i : RT_DEL_BATCH;
        cmds[n].argc = (int)m + 1;
        cmds[n].argv = &argv[a];
        cmds[n].lens = &lens[a];
        argv[a] = "DEL";
        lens[a++] = 3;
        for (size_t j = 0; j < m; j++) {
            char *k = keys + (i + j) * RT_BLOCK_KEY_MAX;
            lens[a] = rt_block_key(refs->v[i + j].vid, refs->v[i + j].index, k);
            argv[a++] = k;
        }
        n++;
    }
    return n;
}

/* Give evicted blocks whose DEL did not happen back to the list (bounded). */
static void rt_doomed_restore(redis_tier_t *t, const rt_ref_list_t *refs)
{
    pthread_mutex_lock(&t->pol_lock);
    for (size_t i = 0; i < refs->n && t->doomed.n < RT_DOOMED_MAX; i++)
        if (rt_refs_push(&t->doomed, &refs->v[i]) != 0) break;
    pthread_mutex_unlock(&t->pol_lock);
}

/* DEL one block (a put that lost a race with its own eviction). */
static void rt_del_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index)
{
    char k[RT_BLOCK_KEY_MAX];
    size_t kl = rt_block_key(vid, index, k);
    const char *argv[] = {"DEL", k};
    const size_t lens[] = {3, kl};
    rt_cmd_t cmd = {2, argv, lens};
    redisReply *r;
    if (rt_run(t, &cmd, 1, &r) == 0) freeReplyObject(r);
}

int redis_tier_put_block(redis_tier_t *t, const uint8_t vid[16], uint64_t index,
                         const uint8_t *data, size_t len)
{
    if (len > t->block_max || !t->pol) return AUG_EINVAL;
    if (!atomic_load(&t->up)) return rt_failed(t, AUG_EIO);

    /* Ask the policy first, so a block it declines is never sent and the blocks it evicts
     * are known; talk to Redis only once the lock is released. */
    uint64_t hk = rt_block_hash(vid, index);
    rt_block_ref_t ref = {.key = hk, .index = index};
    memcpy(ref.vid, vid, 16);
    pthread_mutex_lock(&t->pol_lock);
    int acc = policy_access(t->pol, hk, len);
    bool stored = acc >= 0 && policy_contains(t->pol, hk);
    if (stored && acc == POLICY_MISS && rt_map_put(&t->map, &ref) != 0) {
        policy_remove(t->pol, hk);
        stored = false;
        acc = AUG_ENOMEM;
    }
    rt_ref_list_t doomed = t->doomed;
    memset(&t->doomed, 0, sizeof(t->doomed));
    pthread_mutex_unlock(&t->pol_lock);

    int rc = acc < 0 ? acc : 0;
    size_t ncmd_max = 1 + (doomed.n + RT_DEL_BATCH - 1) / RT_DEL_BATCH;
    rt_cmd_t *cmds = malloc(ncmd_max * sizeof(*cmds));
    redisReply **replies = malloc(ncmd_max * sizeof(*replies));
    char *keys = malloc(doomed.n * RT_BLOCK_KEY_MAX + 1);
    const char **argv = malloc((doomed.n + ncmd_max + 3) * sizeof(*argv));
    size_t *lens = malloc((doomed.n + ncmd_max + 3) * sizeof(*lens));
    if (!cmds || !replies || !keys || !argv || !lens) {
        rc = AUG_ENOMEM;
        goto undo;
    }
    char k[RT_BLOCK_KEY_MAX];
    int n = 0;
    if (stored) {
        argv[0] = "SET";
        lens[0] = 3;
        argv[1] = k;
        lens[1] = rt_block_key(vid, index, k);
        argv[2] = (const char *)data;
        lens[2] = len;
        cmds[n++] = (rt_cmd_t){3, argv, lens};
    }
    n = rt_del_cmds(&doomed, keys, argv + 3, lens + 3, cmds, n);
    if (n == 0) goto out;
    int run = rt_run(t, cmds, n, replies);
    if (run != 0) {
        rc = rt_failed(t, run);
        goto undo;
    }
    if (stored && replies[0]->type != REDIS_REPLY_STATUS) {
        rc = rt_failed(t, rt_reply_failed(t, "SET of a block", replies[0]));
        for (int i = 0; i < n; i++)
            freeReplyObject(replies[i]);
        doomed.n = 0; /* the DELs went through (or failed for good) */
        goto undo;
    }
    for (int i = 0; i < n; i++)
        freeReplyObject(replies[i]);
    if (stored) {
        /* Another put may have evicted this block between the policy and the SET, and its
         * DEL may have come before the SET: delete it again so nothing untracked stays. */
        pthread_mutex_lock(&t->pol_lock);
        bool still = policy_contains(t->pol, hk);
        pthread_mutex_unlock(&t->pol_lock);
        if (!still) rt_del_block(t, vid, index);
    }
    goto out;
undo:
    if (stored && acc == POLICY_MISS) {
        pthread_mutex_lock(&t->pol_lock);
        if (policy_remove(t->pol, hk) == 0) rt_map_take(&t->map, hk, NULL);
        pthread_mutex_unlock(&t->pol_lock);
    }
    rt_doomed_restore(t, &doomed);
out:
    free(cmds);
    free(replies);
    free(keys);
    free(argv);
    free(lens);
    free(doomed.v);
    return rc;
}

void redis_tier_count_access(redis_tier_t *t, const uint8_t vid[16], uint64_t index)
{
    if (!atomic_load(&t->up)) return;
    rt_conn_t *c = NULL;
    for (unsigned i = 0, s = atomic_fetch_add(&t->next_conn, 1); i < RT_POOL_SIZE; i++) {
        rt_conn_t *cand = &t->pool[(s + i) % RT_POOL_SIZE];
        if (pthread_mutex_trylock(&cand->lock) == 0) {
            c = cand;
            break;
        }
    }
    if (!c) return; /* every connection busy: drop the count rather than wait */
    if (!c->ctx) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    char hex[33], idx[24];
    aug_hex(vid, 16, hex);
    snprintf(idx, sizeof(idx), "%llu", (unsigned long long)index);
    int done = 0;
    if (c->pending >= RT_PENDING_MAX && rt_conn_drain(c) != 0) goto lost;
    if (redisAppendCommand(c->ctx, "HINCRBY augur:s:%s %s 1", hex, idx) != REDIS_OK) goto lost;
    while (!done)
        if (redisBufferWrite(c->ctx, &done) != REDIS_OK) goto lost;
    c->pending++;
    pthread_mutex_unlock(&c->lock);
    return;
lost:;
    aug_err_t err;
    uint64_t gen = rt_conn_lost(t, c, &err);
    pthread_mutex_unlock(&c->lock);
    rt_set_down(t, gen, &err);
}

void redis_tier_get_stats(redis_tier_t *t, redis_tier_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&t->pol_lock);
    if (t->pol) {
        st->used_bytes = policy_used_bytes(t->pol);
        st->blocks = policy_count(t->pol);
        st->evictions = policy_evictions(t->pol);
    }
    pthread_mutex_unlock(&t->pol_lock);
    st->capacity_bytes = t->size_bytes;
    st->hits = atomic_load(&t->hits);
    st->misses = atomic_load(&t->misses);
    st->errors = atomic_load(&t->errors);
    st->invalidations_sent = atomic_load(&t->inval_sent);
    st->invalidations_received = atomic_load(&t->inval_recv);
}
