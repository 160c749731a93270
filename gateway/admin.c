/* admin.c - the admin endpoint on localhost: /metrics in Prometheus text format and /status
 * (text, or JSON with ?format=json), both behind the admin token. */
#include "gw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct admin {
    struct MHD_Daemon *daemon;
    cache_t *cache;
    gateway_t *gw;
    const admin_heal_stats_t *heal;
    char token[256];
    int64_t started_ns;
    pthread_mutex_t staged_mu; /* guards staged_fn and staged_arg */
    admin_staged_fn staged_fn;
    void *staged_arg;
};

void admin_set_staged(admin_t *a, admin_staged_fn fn, void *arg)
{
    if (!a) return;
    pthread_mutex_lock(&a->staged_mu);
    a->staged_fn = fn;
    a->staged_arg = arg;
    pthread_mutex_unlock(&a->staged_mu);
}

/* The mount's staged writes; 0 when no mount is served here. */
static int staged_of(struct admin *a, uint64_t *files, uint64_t *bytes)
{
    *files = *bytes = 0;
    pthread_mutex_lock(&a->staged_mu);
    int have = a->staged_fn != NULL;
    if (have) a->staged_fn(a->staged_arg, files, bytes);
    pthread_mutex_unlock(&a->staged_mu);
    return have;
}

static const char *const method_names[GW_METHODS] = {"GET", "HEAD", "PUT", "POST", "DELETE",
                                                     "OTHER"};
static const char *const kind_names[GW_KINDS] = {"service", "bucket", "object"};
static const char *const class_names[GW_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
/* Upper bounds of the latency histogram, in seconds (Prometheus "le" labels). */
static const double latency_bounds[GW_LAT_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,  0.1,    0.25,  0.5,
                                                      1,      2.5,   5,      10};

void gw_stats_count(gateway_t *gw, const char *method, int kind, int status, int64_t ns)
{
    int m = GW_METHODS - 1;
    for (int i = 0; i < GW_METHODS - 1; i++)
        if (strcmp(method, method_names[i]) == 0) m = i;
    int c = status >= 100 && status < 600 ? status / 100 - 1 : GW_CLASSES - 1;
    atomic_fetch_add(&gw->stats.requests[m][kind][c], 1);
    double s = (double)ns / 1e9;
    int b = 0;
    while (b < GW_LAT_BUCKETS && s > latency_bounds[b]) b++;
    atomic_fetch_add(&gw->stats.latency[m][b], 1);
    atomic_fetch_add(&gw->stats.latency_sum_us[m], (uint64_t)(ns / 1000));
}

/* ---- documents ------------------------------------------------------------------------------ */

typedef struct doc {
    char *buf;
    size_t len;
    FILE *f;
} doc_t;

static void cache_metrics(FILE *f, cache_t *c)
{
    cache_stats_t st;
    cache_get_stats(c, &st);
    const struct {
        const char *name;
        const cache_tier_stats_t *t;
    } tiers[] = {{"ram", &st.ram}, {"redis", &st.redis}, {"ssd", &st.ssd}};
    /* one family per figure, one sample per tier */
    static const struct {
        const char *name, *help, *type;
        size_t offset;
    } families[] = {
        {"augur_cache_hits_total", "Block lookups answered by a cache tier.", "counter",
         offsetof(cache_tier_stats_t, hits)},
        {"augur_cache_misses_total", "Block lookups a cache tier could not answer.", "counter",
         offsetof(cache_tier_stats_t, misses)},
        {"augur_cache_evictions_total", "Blocks evicted to stay within a budget.", "counter",
         offsetof(cache_tier_stats_t, evictions)},
        {"augur_cache_used_bytes", "Bytes held by a cache tier.", "gauge",
         offsetof(cache_tier_stats_t, used_bytes)},
        {"augur_cache_capacity_bytes", "Budget of a cache tier.", "gauge",
         offsetof(cache_tier_stats_t, capacity_bytes)},
    };
    for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", families[k].name, families[k].help,
                families[k].name, families[k].type);
        for (int i = 0; i < 3; i++) {
            uint64_t v = *(const uint64_t *)((const char *)tiers[i].t + families[k].offset);
            fprintf(f, "%s{tier=\"%s\"} %llu\n", families[k].name, tiers[i].name,
                    (unsigned long long)v);
        }
    }
    fprintf(f,
            "# HELP augur_backend_block_reads_total Blocks read from the backend.\n"
            "# TYPE augur_backend_block_reads_total counter\n"
            "augur_backend_block_reads_total %llu\n"
            "# HELP augur_prefetch_issued_total Blocks fetched ahead of use.\n"
            "# TYPE augur_prefetch_issued_total counter\naugur_prefetch_issued_total %llu\n"
            "# HELP augur_prefetch_used_total Prefetched blocks later read.\n"
            "# TYPE augur_prefetch_used_total counter\naugur_prefetch_used_total %llu\n"
            "# HELP augur_prefetch_wasted_total Prefetched blocks evicted unread.\n"
            "# TYPE augur_prefetch_wasted_total counter\naugur_prefetch_wasted_total %llu\n"
            "# HELP augur_redis_up Whether the Redis tier is connected.\n"
            "# TYPE augur_redis_up gauge\naugur_redis_up %d\n",
            (unsigned long long)st.backend_reads, (unsigned long long)st.prefetch_issued,
            (unsigned long long)st.prefetch_used, (unsigned long long)st.prefetch_wasted,
            st.redis_up);
}

static void node_metrics(FILE *f, backend_t *b)
{
    int n = backend_node_count(b);
    backend_node_status_t *ns = calloc((size_t)n, sizeof(*ns));
    if (!ns) return;
    for (int i = 0; i < n; i++) backend_node_status(b, i, &ns[i]);
    fprintf(f, "# HELP augur_node_up Whether a backend node answers.\n"
               "# TYPE augur_node_up gauge\n");
    for (int i = 0; i < n; i++) fprintf(f, "augur_node_up{node=\"%s\"} %d\n", ns[i].spec, ns[i].up);
    fprintf(f, "# HELP augur_node_free_bytes Free space on a backend node.\n"
               "# TYPE augur_node_free_bytes gauge\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "augur_node_free_bytes{node=\"%s\"} %llu\n", ns[i].spec,
                (unsigned long long)ns[i].free_bytes);
    fprintf(f, "# HELP augur_node_operations_total Operations sent to a backend node.\n"
               "# TYPE augur_node_operations_total counter\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "augur_node_operations_total{node=\"%s\"} %llu\n", ns[i].spec,
                (unsigned long long)ns[i].ops);
    fprintf(f, "# HELP augur_node_errors_total Node operations that failed (I/O, checksum).\n"
               "# TYPE augur_node_errors_total counter\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "augur_node_errors_total{node=\"%s\"} %llu\n", ns[i].spec,
                (unsigned long long)ns[i].errors);
    fprintf(f, "# HELP augur_node_read_seconds Time of reads from a backend node.\n"
               "# TYPE augur_node_read_seconds summary\n");
    for (int i = 0; i < n; i++)
        fprintf(f,
                "augur_node_read_seconds_sum{node=\"%s\"} %.6f\n"
                "augur_node_read_seconds_count{node=\"%s\"} %llu\n",
                ns[i].spec, (double)ns[i].time_us / 1e6, ns[i].spec,
                (unsigned long long)ns[i].timed_ops);
    free(ns);
}

static void gateway_metrics(FILE *f, gateway_t *gw)
{
    if (!gw) return;
    fprintf(f, "# HELP augur_s3_requests_total S3 requests by method, resource and status.\n"
               "# TYPE augur_s3_requests_total counter\n");
    for (int m = 0; m < GW_METHODS; m++)
        for (int k = 0; k < GW_KINDS; k++)
            for (int c = 0; c < GW_CLASSES; c++) {
                uint64_t v = atomic_load(&gw->stats.requests[m][k][c]);
                if (v)
                    fprintf(f,
                            "augur_s3_requests_total{method=\"%s\",resource=\"%s\","
                            "status=\"%s\"} %llu\n",
                            method_names[m], kind_names[k], class_names[c],
                            (unsigned long long)v);
            }
    fprintf(f, "# HELP augur_s3_request_duration_seconds Time from request to answer.\n"
               "# TYPE augur_s3_request_duration_seconds histogram\n");
    for (int m = 0; m < GW_METHODS; m++) {
        uint64_t cum = 0;
        for (int b = 0; b < GW_LAT_BUCKETS; b++) {
            cum += atomic_load(&gw->stats.latency[m][b]);
            fprintf(f, "augur_s3_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
                    method_names[m], latency_bounds[b], (unsigned long long)cum);
        }
        cum += atomic_load(&gw->stats.latency[m][GW_LAT_BUCKETS]);
        fprintf(f, "augur_s3_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n",
                method_names[m], (unsigned long long)cum);
        fprintf(f, "augur_s3_request_duration_seconds_sum{method=\"%s\"} %.6f\n",
                method_names[m], (double)atomic_load(&gw->stats.latency_sum_us[m]) / 1e6);
        fprintf(f, "augur_s3_request_duration_seconds_count{method=\"%s\"} %llu\n",
                method_names[m], (unsigned long long)cum);
    }
    fprintf(f,
            "# HELP augur_s3_received_bytes_total Request bytes received.\n"
            "# TYPE augur_s3_received_bytes_total counter\naugur_s3_received_bytes_total %llu\n"
            "# HELP augur_s3_sent_bytes_total Response body bytes sent.\n"
            "# TYPE augur_s3_sent_bytes_total counter\naugur_s3_sent_bytes_total %llu\n",
            (unsigned long long)atomic_load(&gw->stats.bytes_in),
            (unsigned long long)atomic_load(&gw->stats.bytes_out));
}

static void heal_metrics(FILE *f, const admin_heal_stats_t *h)
{
    if (!h) return;
    fprintf(f,
            "# HELP augur_heal_runs_total Completed scrubs of every object.\n"
            "# TYPE augur_heal_runs_total counter\naugur_heal_runs_total %llu\n"
            "# HELP augur_heal_shards_repaired_total Shards rebuilt or patched by scrubs.\n"
            "# TYPE augur_heal_shards_repaired_total counter\n"
            "augur_heal_shards_repaired_total %llu\n"
            "# HELP augur_heal_manifests_repaired_total Manifest copies rewritten by scrubs.\n"
            "# TYPE augur_heal_manifests_repaired_total counter\n"
            "augur_heal_manifests_repaired_total %llu\n",
            (unsigned long long)atomic_load(&h->runs),
            (unsigned long long)atomic_load(&h->shards_repaired),
            (unsigned long long)atomic_load(&h->manifests_repaired));
}

/* The predictor: what it saw, how often its top guess came next, what it cost. */
static void predictor_metrics(FILE *f, const cache_predictor_stats_t *p)
{
    if (!p->enabled) return;
    double accuracy = p->guesses ? (double)p->guesses_right / (double)p->guesses : 0.0;
    fprintf(f,
            "# HELP augur_predictor_info The predictor's model.\n"
            "# TYPE augur_predictor_info gauge\naugur_predictor_info{model=\"%s\"} 1\n"
            "# HELP augur_predictor_events_total Block reads the predictor learned from.\n"
            "# TYPE augur_predictor_events_total counter\naugur_predictor_events_total %llu\n"
            "# HELP augur_predictor_dropped_total Block reads dropped because it fell behind.\n"
            "# TYPE augur_predictor_dropped_total counter\naugur_predictor_dropped_total %llu\n"
            "# HELP augur_predictor_lag_events Block reads queued and not yet learned from.\n"
            "# TYPE augur_predictor_lag_events gauge\naugur_predictor_lag_events %llu\n"
            "# HELP augur_predictor_guesses_total Guesses handed to the cache.\n"
            "# TYPE augur_predictor_guesses_total counter\naugur_predictor_guesses_total %llu\n"
            "# HELP augur_predictor_guesses_right_total Top guesses that were the next read.\n"
            "# TYPE augur_predictor_guesses_right_total counter\n"
            "augur_predictor_guesses_right_total %llu\n"
            "# HELP augur_predictor_accuracy Share of guesses that were right.\n"
            "# TYPE augur_predictor_accuracy gauge\naugur_predictor_accuracy %.4f\n"
            "# HELP augur_predictor_prefetches_total Guesses turned into prefetches.\n"
            "# TYPE augur_predictor_prefetches_total counter\naugur_predictor_prefetches_total %llu\n"
            "# HELP augur_predictor_train_steps_total Training steps (lstm).\n"
            "# TYPE augur_predictor_train_steps_total counter\n"
            "augur_predictor_train_steps_total %llu\n"
            "# HELP augur_predictor_loss Cross-entropy of the last training step (lstm).\n"
            "# TYPE augur_predictor_loss gauge\naugur_predictor_loss %.4f\n"
            "# HELP augur_predictor_cpu_seconds_total CPU time of the predictor's threads.\n"
            "# TYPE augur_predictor_cpu_seconds_total counter\n"
            "augur_predictor_cpu_seconds_total %.3f\n"
            "# HELP augur_predictor_save_errors_total Model saves that failed.\n"
            "# TYPE augur_predictor_save_errors_total counter\n"
            "augur_predictor_save_errors_total %llu\n",
            p->model, (unsigned long long)p->observed, (unsigned long long)p->dropped,
            (unsigned long long)p->lag_events, (unsigned long long)p->guesses,
            (unsigned long long)p->guesses_right, accuracy,
            (unsigned long long)p->guess_prefetches, (unsigned long long)p->train_steps,
            p->last_loss, (double)p->cpu_ns / 1e9, (unsigned long long)p->save_errors);
}

/* The predictor in /status: one line of text, or a "predictor" member of the JSON. */
static void predictor_status(FILE *f, const cache_predictor_stats_t *p, int json)
{
    if (!p->enabled) return;
    double accuracy = p->guesses ? (double)p->guesses_right / (double)p->guesses : 0.0;
    if (json)
        fprintf(f,
                ",\"predictor\":{\"model\":\"%s\",\"events\":%llu,\"dropped\":%llu,"
                "\"lag_events\":%llu,\"guesses\":%llu,\"accuracy\":%.4f,"
                "\"prefetches\":%llu,\"train_steps\":%llu,\"cpu_seconds\":%.3f}",
                p->model, (unsigned long long)p->observed, (unsigned long long)p->dropped,
                (unsigned long long)p->lag_events, (unsigned long long)p->guesses, accuracy,
                (unsigned long long)p->guess_prefetches, (unsigned long long)p->train_steps,
                (double)p->cpu_ns / 1e9);
    else
        fprintf(f,
                "predictor: %s, %llu reads learned (%llu dropped, %llu behind), accuracy %.3f "
                "of %llu guesses, %llu prefetched, %llu training steps, %.1f s CPU\n",
                p->model, (unsigned long long)p->observed, (unsigned long long)p->dropped,
                (unsigned long long)p->lag_events, accuracy, (unsigned long long)p->guesses,
                (unsigned long long)p->guess_prefetches, (unsigned long long)p->train_steps,
                (double)p->cpu_ns / 1e9);
}

static void mount_metrics(FILE *f, struct admin *a)
{
    uint64_t files, bytes;
    if (!staged_of(a, &files, &bytes)) return;
    fprintf(f,
            "# HELP augur_fuse_staged_files Files written through the mount and not uploaded "
            "yet.\n"
            "# TYPE augur_fuse_staged_files gauge\naugur_fuse_staged_files %llu\n"
            "# HELP augur_fuse_staged_bytes Bytes of the files not uploaded yet.\n"
            "# TYPE augur_fuse_staged_bytes gauge\naugur_fuse_staged_bytes %llu\n",
            (unsigned long long)files, (unsigned long long)bytes);
}

/* Multipart uploads in progress in every bucket (a walk: /status is asked for rarely). */
static size_t open_uploads(backend_t *b)
{
    backend_bucket_info_t *buckets;
    size_t n, total = 0;
    if (backend_bucket_list(b, &buckets, &n, NULL) != 0) return 0;
    for (size_t i = 0; i < n; i++) {
        backend_upload_info_t *ups;
        size_t k;
        if (backend_upload_list(b, buckets[i].name, &ups, &k, NULL) == 0) {
            total += k;
            backend_upload_list_free(ups, k);
        }
    }
    free(buckets);
    return total;
}

static double ratio(uint64_t hits, uint64_t misses)
{
    return hits + misses ? (double)hits / (double)(hits + misses) : 0.0;
}

static void status_doc(FILE *f, struct admin *a, int json)
{
    backend_t *b = cache_backend(a->cache);
    int n = backend_node_count(b);
    cache_stats_t st;
    cache_get_stats(a->cache, &st);
    double uptime = (double)(aug_mono_ns() - a->started_ns) / 1e9;
    if (json) fprintf(f, "{\"version\":\"%s\",\"uptime_seconds\":%.0f,\"nodes\":[", AUGUR_VERSION, uptime);
    else fprintf(f, "augurd %s, up %.0f s\n\nnodes:\n", AUGUR_VERSION, uptime);
    for (int i = 0; i < n; i++) {
        backend_node_status_t ns;
        backend_node_status(b, i, &ns);
        double ms = ns.timed_ops ? (double)ns.time_us / 1000.0 / (double)ns.timed_ops : 0.0;
        if (json)
            fprintf(f,
                    "%s{\"node\":\"%s\",\"up\":%s,\"total_bytes\":%llu,\"free_bytes\":%llu,"
                    "\"operations\":%llu,\"errors\":%llu,\"mean_read_ms\":%.3f}",
                    i ? "," : "", ns.spec, ns.up ? "true" : "false",
                    (unsigned long long)ns.total_bytes, (unsigned long long)ns.free_bytes,
                    (unsigned long long)ns.ops, (unsigned long long)ns.errors, ms);
        else
            fprintf(f, "  %-40s %-4s %8.1f GiB free of %.1f GiB  read %.2f ms  %llu errors%s%s\n",
                    ns.spec, ns.up ? "up" : "DOWN", (double)ns.free_bytes / (1 << 30),
                    (double)ns.total_bytes / (1 << 30), ms, (unsigned long long)ns.errors,
                    ns.up ? "" : "  ", ns.reason);
    }
    const struct {
        const char *name;
        const cache_tier_stats_t *t;
    } tiers[] = {{"ram", &st.ram}, {"redis", &st.redis}, {"ssd", &st.ssd}};
    if (json) fprintf(f, "],\"cache\":{");
    else fprintf(f, "\ncache tiers:\n");
    for (int i = 0; i < 3; i++) {
        const cache_tier_stats_t *t = tiers[i].t;
        if (json)
            fprintf(f,
                    "%s\"%s\":{\"capacity_bytes\":%llu,\"used_bytes\":%llu,\"blocks\":%llu,"
                    "\"hits\":%llu,\"misses\":%llu,\"hit_ratio\":%.4f}",
                    i ? "," : "", tiers[i].name, (unsigned long long)t->capacity_bytes,
                    (unsigned long long)t->used_bytes, (unsigned long long)t->blocks,
                    (unsigned long long)t->hits, (unsigned long long)t->misses,
                    ratio(t->hits, t->misses));
        else
            fprintf(f, "  %-6s %8.1f of %8.1f MiB  %8llu blocks  hit ratio %.3f\n",
                    tiers[i].name, (double)t->used_bytes / (1 << 20),
                    (double)t->capacity_bytes / (1 << 20), (unsigned long long)t->blocks,
                    ratio(t->hits, t->misses));
    }
    double useful = st.prefetch_issued ? (double)st.prefetch_used / (double)st.prefetch_issued : 0;
    size_t uploads = open_uploads(b);
    uint64_t sfiles, sbytes;
    int mounted = staged_of(a, &sfiles, &sbytes);
    if (json && mounted)
        fprintf(f, "},\"staged_writes\":{\"files\":%llu,\"bytes\":%llu", (unsigned long long)sfiles,
                (unsigned long long)sbytes);
    if (json) {
        fputs("}", f);
        predictor_status(f, &st.predictor, 1);
    }
    if (json)
        fprintf(f,
                ",\"redis_up\":%s,\"prefetch\":{\"issued\":%llu,\"used\":%llu,\"wasted\":%llu,"
                "\"usefulness\":%.4f},\"open_uploads\":%zu}\n",
                st.redis_up ? "true" : "false", (unsigned long long)st.prefetch_issued,
                (unsigned long long)st.prefetch_used, (unsigned long long)st.prefetch_wasted,
                useful, uploads);
    else
        fprintf(f,
                "  redis %s\n\nprefetch: %llu issued, %llu used, %llu wasted (usefulness %.3f)\n"
                "multipart uploads in progress: %zu\n",
                st.redis_up ? "connected" : "not connected", (unsigned long long)st.prefetch_issued,
                (unsigned long long)st.prefetch_used, (unsigned long long)st.prefetch_wasted,
                useful, uploads);
    if (!json) predictor_status(f, &st.predictor, 0);
    if (!json && mounted)
        fprintf(f, "mount staged writes: %llu file(s), %.1f MiB waiting to be uploaded\n",
                (unsigned long long)sfiles, (double)sbytes / (1 << 20));
}

/* ---- HTTP -------------------------------------------------------------------------------- */

static int authorised(struct MHD_Connection *conn, const struct admin *a)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    size_t n = strlen(h + 7), want = strlen(a->token);
    return n == want && CRYPTO_memcmp(h + 7, a->token, n) == 0;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_admin(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload;
    struct admin *a = cls;
    if (!*con_cls) { /* answer on the second call: the first is only the headers */
        *con_cls = a;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    doc_t d = {0};
    d.f = open_memstream(&d.buf, &d.len);
    if (!d.f) return MHD_NO;
    unsigned status = 200;
    const char *type = "text/plain; charset=utf-8";
    if (!authorised(conn, a)) {
        status = 401;
        fprintf(d.f, "the admin token is missing or wrong\n");
    } else if (strcmp(method, "GET") != 0) {
        status = 405;
        fprintf(d.f, "only GET is served here\n");
    } else if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4";
        gateway_metrics(d.f, a->gw);
        cache_metrics(d.f, a->cache);
        node_metrics(d.f, cache_backend(a->cache));
        heal_metrics(d.f, a->heal);
        mount_metrics(d.f, a);
        cache_stats_t st;
        cache_get_stats(a->cache, &st);
        predictor_metrics(d.f, &st.predictor);
    } else if (strcmp(url, "/status") == 0) {
        const char *fmt = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");
        int json = fmt && strcmp(fmt, "json") == 0;
        if (json) type = "application/json";
        status_doc(d.f, a, json);
    } else {
        status = 404;
        fprintf(d.f, "not found: /metrics and /status are served here\n");
    }
    fclose(d.f);
    return answer(conn, status, type, d.buf, d.len);
}

/* Read the token, refusing a file others can read. */
static int load_token(const char *path, char *out, size_t len, aug_err_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return aug_err_set(err, AUG_ECONFIG, "[admin] token_file %s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return aug_err_set(err, AUG_ECONFIG,
                           "[admin] token_file %s is readable by others: chmod 600 it", path);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(out, (int)len, f)) {
        if (f) fclose(f);
        return aug_err_set(err, AUG_ECONFIG, "[admin] token_file %s cannot be read", path);
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (strlen(out) < 16)
        return aug_err_set(err, AUG_ECONFIG,
                           "[admin] token_file %s: the token must be at least 16 characters",
                           path);
    return 0;
}

int admin_start(const aug_config_t *cfg, cache_t *c, gateway_t *gw,
                const admin_heal_stats_t *heal, admin_t **out, aug_err_t *err)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (!a) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int rc = load_token(cfg->admin.token_file, a->token, sizeof(a->token), err);
    struct sockaddr_storage addr;
    if (rc == 0) rc = gw_parse_listen(cfg->admin.listen, &addr, err);
    if (rc != 0) {
        OPENSSL_cleanse(a->token, sizeof(a->token));
        free(a);
        return rc;
    }
    pthread_mutex_init(&a->staged_mu, NULL);
    a->cache = c;
    a->gw = gw;
    a->heal = heal;
    a->started_ns = aug_mono_ns();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    a->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_admin, a, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)30, MHD_OPTION_END);
    if (!a->daemon) {
        OPENSSL_cleanse(a->token, sizeof(a->token));
        pthread_mutex_destroy(&a->staged_mu);
        free(a);
        return aug_err_set(err, AUG_EIO, "cannot listen on %s for the admin endpoint: %s",
                           cfg->admin.listen, strerror(errno));
    }
    aug_info("admin: /metrics and /status on %s", cfg->admin.listen);
    *out = a;
    return 0;
}

void admin_stop(admin_t *a)
{
    if (!a) return;
    MHD_stop_daemon(a->daemon);
    OPENSSL_cleanse(a->token, sizeof(a->token));
    pthread_mutex_destroy(&a->staged_mu);
    free(a);
}
