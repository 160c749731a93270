/* gw.h - (private to gateway/) one S3 request as it moves through the gateway, and the helpers
 * every operation uses to read it and answer it. */
#ifndef AUGUR_GATEWAY_GW_H
#define AUGUR_GATEWAY_GW_H

#include "gateway.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <openssl/evp.h>
#include <stdint.h>

/* Largest XML request body we accept (DeleteObjects with 1000 keys of 1 KiB fits). */
#define GW_XML_BODY_MAX (2u << 20)
/* Largest single PUT, as S3. */
#define GW_PUT_MAX (5ULL << 30)
#define GW_MAX_KEYS 1000

typedef struct gw_request gw_request_t;
struct auth_creds;

/* Request counters for /metrics: method x resource kind x status class, latency histogram. */
#define GW_METHODS 6 /* GET HEAD PUT POST DELETE other */
#define GW_KINDS 3   /* service, bucket, object */
#define GW_CLASSES 5 /* 1xx..5xx */
#define GW_LAT_BUCKETS 14
enum { GW_KIND_SERVICE = 0, GW_KIND_BUCKET = 1, GW_KIND_OBJECT = 2 };
typedef struct gw_stats {
    _Atomic uint64_t requests[GW_METHODS][GW_KINDS][GW_CLASSES];
    _Atomic uint64_t latency[GW_METHODS][GW_LAT_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us[GW_METHODS];
    _Atomic uint64_t bytes_in, bytes_out;
} gw_stats_t;

struct gateway {
    cache_t *cache;
    backend_t *backend; /* the cache's, for buckets and uploads */
    struct MHD_Daemon *daemon;
    struct auth_creds *creds;
    aug_config_t cfg;
    int port;
    char public_read[32][BACKEND_BUCKET_MAX + 1];
    int n_public;
    gw_stats_t stats;
};

/* Count one finished request (admin.c). */
void gw_stats_count(gateway_t *gw, const char *method, int kind, int status, int64_t ns);
/* Parse "HOST:PORT" or "[V6]:PORT" (server.c). AUG_ECONFIG with a reason. */
int gw_parse_listen(const char *spec, struct sockaddr_storage *ss, aug_err_t *err);

typedef struct gw_param {
    char *name;
    char *value; /* decoded; "" for a bare "?acl" */
} gw_param_t;

/* Called with each piece of the request body (already de-chunked and checked). */
typedef int (*gw_body_fn)(gw_request_t *r, const uint8_t *data, size_t len);
/* Called once the whole body arrived: queue the response. */
typedef void (*gw_finish_fn)(gw_request_t *r);

struct gw_request {
    gateway_t *gw;
    struct MHD_Connection *conn;
    char request_id[17];
    int64_t start_ns;
    char *raw_uri;    /* as sent: path?query */
    char *raw_path;   /* as sent, still percent-encoded */
    char *raw_query;  /* after '?', "" when none */
    char method[16];
    char bucket[BACKEND_BUCKET_MAX + 2];
    char *key; /* decoded; NULL for service and bucket requests */
    gw_param_t *params;
    size_t n_params;
    char access_key[160]; /* who signed it; "" when anonymous */
    int started;
    int responded;
    int status;
    uint64_t bytes_in, bytes_out;
    uint64_t declared_len; /* Content-Length or x-amz-decoded-content-length */
    int has_declared_len;

    /* body processing */
    gw_body_fn on_body;
    gw_finish_fn on_finish;
    int body_failed; /* an error response is queued: drop the rest of the body */
    struct auth_chunked *chunked; /* aws-chunked decoder, when the body uses it */
    struct auth_result *auth;     /* who signed and how the body is protected */
    int in_body;                  /* between the headers and the end of the body */
    struct MHD_Response *pending; /* an answer decided mid-body, sent when the body ends */
    unsigned pending_status;
    EVP_MD_CTX *sha256;    /* checks x-amz-content-sha256 of a plain signed body */
    char want_sha256[65];
    EVP_MD_CTX *md5;       /* checks Content-MD5 */
    uint8_t want_md5[16];
    int check_md5;
    char checksum_name[32];       /* x-amz-checksum-* being verified ("" for none) */
    char checksum_want[96];       /* its value as sent (base64), "" when it is in a trailer */
    uint32_t crc;                 /* running CRC32 or CRC32C of the body */
    EVP_MD_CTX *checksum_md;      /* running SHA-1 or SHA-256 of the body */

    /* operation state */
    backend_writer_t *writer; /* a multipart part */
    cache_writer_t *cwriter;  /* an object */
    cache_reader_t *reader;
    backend_manifest_t *manifest;
    uint8_t *body;
    size_t body_len, body_cap;
    int part_number;
    char upload_id[64];
};

/* ---- target.c ---------------------------------------------------------------------------- */

typedef struct gw_target {
    char bucket[BACKEND_BUCKET_MAX + 2];
    char *key; /* NULL when none */
    char *raw_path, *raw_query;
    gw_param_t *params;
    size_t n_params;
} gw_target_t;

/* Parse a request target ("/bucket/key?query" as sent) with its Host header (may be NULL)
 * and the virtual-host domain ("" for none). Returns 0, or -1 with *why for the client. */
int gw_target_parse(const char *raw_uri, const char *host, const char *domain, gw_target_t *t,
                    const char **why);
void gw_target_free(gw_target_t *t);
/* Percent-decode n bytes; '+' becomes ' ' when plus_space. NULL on a bad escape or %00. */
char *gw_percent_decode(const char *s, size_t n, int plus_space);

/* The region this endpoint reports: the configured one, else us-east-1. */
static inline const char *gw_region(const gateway_t *gw)
{
    return gw->cfg.gateway.region[0] ? gw->cfg.gateway.region : "us-east-1";
}

/* ---- server.c: reading the request, answering it ---------------------------------------- */

/* A request header (any case) or NULL. */
const char *gw_header(gw_request_t *r, const char *name);
/* A query parameter (decoded) or NULL; "" for a parameter without value. */
const char *gw_param(const gw_request_t *r, const char *name);
/* Queue a response; takes ownership of resp. Adds the common headers. */
void gw_respond(gw_request_t *r, unsigned status, struct MHD_Response *resp);
/* Queue an XML body (takes ownership of the malloc'd xml). */
void gw_respond_xml(gw_request_t *r, unsigned status, char *xml, size_t len);
/* Queue an empty body with the given status. */
void gw_respond_empty(gw_request_t *r, unsigned status);
/* Queue an S3 error: code is the S3 error code name ("NoSuchKey"); message may be NULL for
 * the standard one. The status comes from the code. */
void gw_respond_error(gw_request_t *r, const char *code, const char *message);
/* Map a backend error to the S3 error and queue it. */
void gw_respond_backend_error(gw_request_t *r, const aug_err_t *err);
/* Collect the body into r->body (up to limit bytes) and call finish when it is complete. */
void gw_collect_body(gw_request_t *r, size_t limit, gw_finish_fn finish);

/* ---- s3error.c ---------------------------------------------------------------------------- */

/* HTTP status and standard message of an S3 error code (500 for unknown codes). */
unsigned s3error_status(const char *code);
const char *s3error_message(const char *code);

/* ---- s3xml.c: building responses and reading request bodies ------------------------------ */

typedef struct gw_xml gw_xml_t;
/* Start a document whose root element is root (in the S3 namespace). */
gw_xml_t *gw_xml_begin(const char *root);
void gw_xml_open(gw_xml_t *x, const char *name);
void gw_xml_close(gw_xml_t *x);
void gw_xml_text(gw_xml_t *x, const char *name, const char *value);
/* Text inside the element currently open. */
void gw_xml_content(gw_xml_t *x, const char *text);
void gw_xml_textf(gw_xml_t *x, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Finish and hand over the document (malloc'd, NUL-terminated); NULL on failure. */
char *gw_xml_finish(gw_xml_t *x, size_t *len);
/* ISO 8601 time as S3 writes it (2006-02-03T16:45:09.000Z). */
void gw_time_iso(int64_t ns, char *out, size_t len);
/* RFC 1123 time for HTTP headers. */
void gw_time_http(int64_t ns, char *out, size_t len);
/* Parse an HTTP date (RFC 1123, RFC 850 or asctime); returns 0 and *ns or AUG_EINVAL. */
int gw_parse_http_time(const char *s, int64_t *ns);
/* URL-encode for encoding-type=url listings (keeps '/'). Caller frees. */
char *gw_url_encode(const char *s);

/* A part named in a CompleteMultipartUpload body. */
typedef struct s3xml_part {
    int number;
    char etag[BACKEND_ETAG_MAX + 1]; /* without quotes */
} s3xml_part_t;
/* Parse request bodies. Each returns NULL on success or the S3 error code to answer. */
const char *s3xml_parse_location(const uint8_t *body, size_t len, char *region, size_t cap);
const char *s3xml_parse_complete(const uint8_t *body, size_t len, s3xml_part_t **parts,
                                 size_t *n);
/* Keys to delete (at most 1000), each malloc'd, and the Quiet flag. */
const char *s3xml_parse_delete(const uint8_t *body, size_t len, int *quiet, char ***keys,
                               size_t *n);

/* ---- operations ---------------------------------------------------------------------------- */

/* 0 if x-amz-acl is absent or a canned ACL S3 knows; else InvalidArgument is queued. */
int gw_check_acl_header(gw_request_t *r);
/* Answer ?acl: the owner's full control, the only ACL augur keeps. */
void gw_respond_owner_acl(gw_request_t *r);
void op_list_buckets(gw_request_t *r);
void op_bucket(gw_request_t *r);  /* every request naming only a bucket */
void op_object(gw_request_t *r);  /* every request naming a key */

/* ---- auth glue (auth_glue.c) ------------------------------------------------------------- */

/* Check the request's signature or public access; on failure an error is queued and -1
 * returned. Sets up body checks (chunked decoding, payload hash). */
int gw_authenticate(gw_request_t *r, int write);
/* Feed raw body bytes through chunk decoding and hash checks to r->on_body. */
int gw_feed_body(gw_request_t *r, const uint8_t *data, size_t len);
/* The body ended: run the final checks; returns 0 or -1 with an error queued. */
int gw_finish_body(gw_request_t *r);
void gw_request_free_auth(gw_request_t *r);
/* Load and free the credentials named by the configuration. */
int gw_auth_load(gateway_t *gw, aug_err_t *err);
void gw_auth_free(gateway_t *gw);

#endif
