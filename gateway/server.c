/* server.c - the HTTP side of the gateway: libmicrohttpd daemon, request lifecycle, routing to
 * the S3 operations, responses with the headers every S3 answer carries, the access log. */
#include "gw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* Request line plus headers a client may send: 64 KiB as S3 allows 8 KiB of headers plus
 * user metadata of 2 KiB, with room to spare; larger requests get 431 from libmicrohttpd. */
#define GW_CONNECTION_MEMORY (64u << 10)

/* ---- reading the request --------------------------------------------------------------- */

const char *gw_header(gw_request_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *gw_param(const gw_request_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].name, name) == 0) return r->params[i].value;
    return NULL;
}

/* Split the target into bucket, key and parameters. Returns 0 or queues an error. */
static int parse_target(gw_request_t *r)
{
    gw_target_t t;
    const char *why = NULL;
    if (gw_target_parse(r->raw_uri, gw_header(r, "Host"), r->gw->cfg.gateway.domain, &t,
                        &why) != 0) {
        gw_respond_error(r, "InvalidURI", why);
        return -1;
    }
    snprintf(r->bucket, sizeof(r->bucket), "%s", t.bucket);
    r->key = t.key;
    r->raw_path = t.raw_path;
    r->raw_query = t.raw_query;
    r->params = t.params;
    r->n_params = t.n_params;
    return 0;
}

/* ---- answering ------------------------------------------------------------------------- */

static void add_common_headers(gw_request_t *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "x-amz-request-id", r->request_id);
    MHD_add_response_header(resp, "x-amz-id-2", r->request_id);
    MHD_add_response_header(resp, "Server", "augur");
}

void gw_respond(gw_request_t *r, unsigned status, struct MHD_Response *resp)
{
    if (r->responded) {
        MHD_destroy_response(resp);
        return;
    }
    add_common_headers(r, resp);
    r->responded = 1;
    r->status = (int)status;
    if (r->in_body) {
        /* the body is still arriving: answer once it has been read */
        r->pending = resp;
        r->pending_status = status;
        return;
    }
    if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
        aug_warn("gateway: could not queue a %u response for request %s", status,
                 r->request_id);
    MHD_destroy_response(resp);
}

void gw_respond_xml(gw_request_t *r, unsigned status, char *xml, size_t len)
{
    if (!xml) {
        gw_respond_error(r, "InternalError", NULL);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, xml, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/xml");
    r->bytes_out += len;
    gw_respond(r, status, resp);
}

void gw_respond_empty(gw_request_t *r, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    gw_respond(r, status, resp);
}

void gw_respond_error(gw_request_t *r, const char *code, const char *message)
{
    if (r->responded) return;
    unsigned status = s3error_status(code);
    if (!message) message = s3error_message(code);
    if (strcmp(r->method, "HEAD") == 0 || status == 304) {
        /* HEAD answers and 304s carry no body */
        gw_respond_empty(r, status);
        return;
    }
    gw_xml_t *x = gw_xml_begin("Error");
    gw_xml_text(x, "Code", code);
    gw_xml_text(x, "Message", message);
    if (r->key) gw_xml_text(x, "Key", r->key);
    if (r->bucket[0]) gw_xml_text(x, "BucketName", r->bucket);
    gw_xml_text(x, "Resource", r->raw_path ? r->raw_path : "/");
    gw_xml_text(x, "RequestId", r->request_id);
    gw_xml_text(x, "HostId", r->request_id);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, status, xml, len);
}

void gw_respond_backend_error(gw_request_t *r, const aug_err_t *err)
{
    const char *code;
    switch (err->code) {
    case AUG_ENOENT:
        /* by the backend's message prefixes only: "BUCKET/KEY not found" quotes user names,
         * and a key or bucket with "upload" in its name must still be NoSuchKey */
        code = strncmp(err->msg, "bucket '", 8) == 0 ? "NoSuchBucket"
               : strncmp(err->msg, "no such upload", 14) == 0 ? "NoSuchUpload"
                                                              : "NoSuchKey";
        break;
    case AUG_EEXIST: code = "BucketAlreadyOwnedByYou"; break;
    case AUG_ENOTEMPTY: code = "BucketNotEmpty"; break;
    case AUG_ETOOLONG: code = "KeyTooLongError"; break;
    case AUG_EINVAL: code = strstr(err->msg, "bucket name") ? "InvalidBucketName"
                                                            : "InvalidArgument"; break;
    case AUG_EQUORUM:
    case AUG_EUNAVAIL: code = "ServiceUnavailable"; break;
    default: code = "InternalError"; break;
    }
    if (err->code == AUG_EQUORUM || err->code == AUG_EUNAVAIL || err->code == AUG_EIO ||
        err->code == AUG_ECORRUPT)
        aug_warn("gateway: request %s %s: %s", r->request_id, r->method, err->msg);
    gw_respond_error(r, code, err->msg[0] ? err->msg : NULL);
}

/* ---- collecting small bodies ----------------------------------------------------------- */

static int collect_piece(gw_request_t *r, const uint8_t *data, size_t len)
{
    if (r->body_len + len > r->body_cap) {
        gw_respond_error(r, "MaxMessageLengthExceeded", NULL);
        return -1;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    return 0;
}

void gw_collect_body(gw_request_t *r, size_t limit, gw_finish_fn finish)
{
    r->body = malloc(limit + 1);
    if (!r->body) {
        gw_respond_error(r, "InternalError", NULL);
        return;
    }
    r->body_cap = limit;
    r->on_body = collect_piece;
    r->on_finish = finish;
}

/* ---- routing --------------------------------------------------------------------------- */

static void dispatch(gw_request_t *r)
{
    int write = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
    if (!r->bucket[0]) {
        if (gw_authenticate(r, write) != 0) return;
        if (strcmp(r->method, "GET") == 0) op_list_buckets(r);
        else if (strcmp(r->method, "POST") == 0)
            gw_respond_error(r, "NotImplemented",
                             "augur serves S3 only: IAM, STS and other services are not offered.");
        else gw_respond_error(r, "MethodNotAllowed", NULL);
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        /* a CORS preflight: no bucket has CORS rules */
        gw_respond_error(r, "CORSResponse", "CORS is not enabled for this bucket.");
        return;
    }
    if (backend_check_bucket_name(r->bucket, NULL) != 0) {
        gw_respond_error(r, "InvalidBucketName", NULL);
        return;
    }
    if (gw_authenticate(r, write) != 0) return;
    if (r->key) op_object(r);
    else op_bucket(r);
}

/* ---- libmicrohttpd callbacks ----------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    gw_request_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->gw = cls;
    r->conn = conn;
    r->start_ns = aug_mono_ns();
    r->raw_uri = strdup(uri ? uri : "/");
    uint8_t rnd[8];
    aug_random_bytes(rnd, sizeof(rnd));
    aug_hex(rnd, sizeof(rnd), r->request_id);
    for (char *p = r->request_id; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    return r;
}

static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s); /* signatures need the target exactly as sent */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)url, (void)version;
    gw_request_t *r = *con_cls;
    if (!r) {
        r = on_uri(cls, url, conn);
        if (!r) return MHD_NO;
        *con_cls = r;
    }
    /* r->started: 0 before the first call, 1 once the headers were seen, 2 once dispatched */
    if (!r->started) {
        r->started = 1;
        r->conn = conn;
        snprintf(r->method, sizeof(r->method), "%s", method);
        const char *cl = gw_header(r, "Content-Length");
        if (cl) {
            r->declared_len = strtoull(cl, NULL, 10);
            r->has_declared_len = 1;
        }
        /* A request without a body is answered on the next call, when libmicrohttpd knows
         * the request is complete: a response queued on this first call counts as "early"
         * and makes it close the connection, so every GET would cost a new connection. A
         * request with a body is dispatched now, so that a refusal goes out before the body
         * (and before 100 Continue). */
        if (!(cl && r->declared_len > 0) && !gw_header(r, "Transfer-Encoding")) return MHD_YES;
        r->started = 2;
        if (parse_target(r) == 0) dispatch(r);
        return MHD_YES;
    }
    if (r->started == 1) {
        r->started = 2;
        if (parse_target(r) == 0) dispatch(r);
        /* no body follows: fall through to its end */
    }
    if (*upload_data_size > 0) {
        r->in_body = 1;
        r->bytes_in += *upload_data_size;
        if (!r->responded && !r->body_failed &&
            gw_feed_body(r, (const uint8_t *)upload_data, *upload_data_size) != 0)
            r->body_failed = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    r->in_body = 0;
    if (r->pending) {
        struct MHD_Response *resp = r->pending;
        r->pending = NULL;
        MHD_queue_response(conn, r->pending_status, resp);
        MHD_destroy_response(resp);
        return MHD_YES;
    }
    if (!r->responded) {
        if (gw_finish_body(r) == 0) {
            if (r->on_finish) r->on_finish(r);
            else gw_respond_error(r, "InternalError", "the request was not answered");
        }
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn;
    gw_request_t *r = *con_cls;
    if (!r) return;
    double ms = (double)(aug_mono_ns() - r->start_ns) / 1e6;
    const char *why = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)";
    if (r->started) {
        int kind = !r->bucket[0] ? GW_KIND_SERVICE : r->key ? GW_KIND_OBJECT : GW_KIND_BUCKET;
        gw_stats_count(r->gw, r->method, kind, r->status, aug_mono_ns() - r->start_ns);
        atomic_fetch_add(&r->gw->stats.bytes_in, r->bytes_in);
        atomic_fetch_add(&r->gw->stats.bytes_out, r->bytes_out);
    }
    /* the path only: a presigned query string carries a signature */
    aug_log_access("%s %s %s %d in=%llu out=%llu %.1fms key=%s%s", r->request_id, r->method,
                   r->raw_path ? r->raw_path : "?", r->status, (unsigned long long)r->bytes_in,
                   (unsigned long long)r->bytes_out, ms,
                   r->access_key[0] ? r->access_key : "-", why);
    /* a client gone mid-upload: nothing becomes visible, nothing is left behind */
    backend_writer_abort(r->writer);
    cache_writer_abort(r->cwriter);
    cache_reader_close(r->reader);
    backend_manifest_free(r->manifest);
    if (r->pending) MHD_destroy_response(r->pending);
    gw_request_free_auth(r);
    for (size_t i = 0; i < r->n_params; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    free(r->params);
    free(r->raw_uri);
    free(r->raw_path);
    free(r->raw_query);
    free(r->key);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    aug_debug("http: %s", line);
}

/* Parse "HOST:PORT" or "[V6]:PORT" into a socket address. */
int gw_parse_listen(const char *spec, struct sockaddr_storage *ss, aug_err_t *err)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return aug_err_set(err, AUG_ECONFIG, "[gateway] listen '%s' must be HOST:PORT", spec);
    size_t hlen = (size_t)(colon - spec);
    if (hlen >= sizeof(host)) hlen = sizeof(host) - 1;
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return aug_err_set(err, AUG_ECONFIG, "[gateway] listen '%s': bad port", spec);
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return aug_err_set(err, AUG_ECONFIG, "[gateway] listen '%s': bad address", spec);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof(host), "127.0.0.1");
    if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
        return 0;
    }
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return aug_err_set(err, AUG_ECONFIG, "[gateway] listen '%s': bad address", spec);
    return 0;
}

static void load_public_buckets(gateway_t *gw)
{
    char list[sizeof(gw->cfg.gateway.public_read)];
    snprintf(list, sizeof(list), "%s", gw->cfg.gateway.public_read);
    char *save = NULL;
    for (char *t = strtok_r(list, ", \t", &save); t && gw->n_public < 32;
         t = strtok_r(NULL, ", \t", &save))
        snprintf(gw->public_read[gw->n_public++], sizeof(gw->public_read[0]), "%s", t);
}

int gateway_start(const aug_config_t *cfg, cache_t *c, gateway_t **out, aug_err_t *err)
{
    struct sockaddr_storage addr;
    int rc = gw_parse_listen(cfg->gateway.listen, &addr, err);
    if (rc != 0) return rc;
    gateway_t *gw = calloc(1, sizeof(*gw));
    if (!gw) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    gw->cache = c;
    gw->backend = cache_backend(c);
    gw->cfg = *cfg;
    load_public_buckets(gw);
    rc = gw_auth_load(gw, err);
    if (rc != 0) {
        free(gw);
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    gw->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, gw, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, gw, MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->gateway.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->gateway.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)((cfg->gateway.idle_timeout_ms + 999) / 1000), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)GW_CONNECTION_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_END);
    if (!gw->daemon) {
        gw_auth_free(gw);
        free(gw);
        return aug_err_set(err, AUG_EIO, "cannot listen on %s: %s", cfg->gateway.listen,
                           strerror(errno));
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(gw->daemon, MHD_DAEMON_INFO_BIND_PORT);
    gw->port = info ? info->port : 0;
    aug_info("gateway: serving S3 on %s (port %d, %d threads)", cfg->gateway.listen, gw->port,
             cfg->gateway.threads);
    *out = gw;
    return 0;
}

int gateway_port(const gateway_t *gw)
{
    return gw->port;
}

void gateway_stop(gateway_t *gw)
{
    if (!gw) return;
    MHD_stop_daemon(gw->daemon);
    gw_auth_free(gw);
    free(gw);
}
