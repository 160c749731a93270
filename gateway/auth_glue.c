/* auth_glue.c - ties the auth module to requests: who may do what, and the checks every body
 * goes through (aws-chunked decoding, x-amz-content-sha256, Content-MD5, x-amz-checksum-*). */
#include "auth.h"
#include "gw.h"

#include <isa-l/crc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int gw_auth_load(gateway_t *gw, aug_err_t *err)
{
    auth_creds_t *creds;
    int rc = auth_creds_load(gw->cfg.gateway.credentials, &creds, err);
    if (rc != 0) return rc;
    gw->creds = (struct auth_creds *)creds;
    aug_info("gateway: %zu access key(s) loaded", auth_creds_count(creds));
    return 0;
}

void gw_auth_free(gateway_t *gw)
{
    auth_creds_free((auth_creds_t *)gw->creds);
    gw->creds = NULL;
}

typedef struct header_list {
    auth_header_t *items;
    size_t n, cap;
} header_list_t;

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    header_list_t *h = cls;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        auth_header_t *p = realloc(h->items, cap * sizeof(*p));
        if (!p) return MHD_NO;
        h->items = p;
        h->cap = cap;
    }
    h->items[h->n].name = key;
    h->items[h->n].value = value ? value : "";
    h->n++;
    return MHD_YES;
}

static int is_public_read(const gateway_t *gw, const char *bucket)
{
    for (int i = 0; i < gw->n_public; i++)
        if (strcmp(gw->public_read[i], bucket) == 0) return 1;
    return 0;
}

/* Which x-amz-checksum-* the client sent (header, or announced as a trailer). */
static const char *const checksum_names[] = {"x-amz-checksum-crc32", "x-amz-checksum-crc32c",
                                             "x-amz-checksum-sha1", "x-amz-checksum-sha256"};

/* Does the comma-separated x-amz-trailer list name exactly this header? */
static int trailer_announces(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t len = strcspn(p, ", ");
        if (len == n && strncasecmp(p, name, n) == 0) return 1;
        p += len;
    }
    return 0;
}

static void setup_checksum(gw_request_t *r)
{
    for (size_t i = 0; i < 4; i++) {
        const char *v = gw_header(r, checksum_names[i]);
        int in_trailer = r->auth && trailer_announces(r->auth->trailer, checksum_names[i]);
        if (!v && !in_trailer) continue;
        snprintf(r->checksum_name, sizeof(r->checksum_name), "%s", checksum_names[i]);
        snprintf(r->checksum_want, sizeof(r->checksum_want), "%s", v ? v : "");
        if (i == 2 || i == 3) {
            r->checksum_md = EVP_MD_CTX_new();
            if (r->checksum_md)
                EVP_DigestInit_ex(r->checksum_md, i == 2 ? EVP_sha1() : EVP_sha256(), NULL);
        }
        return;
    }
}

/* Base64 of the finished checksum into out. */
static void checksum_value(gw_request_t *r, char *out, size_t len)
{
    uint8_t raw[32];
    unsigned n = 0;
    if (r->checksum_md) {
        EVP_DigestFinal_ex(r->checksum_md, raw, &n);
    } else {
        raw[0] = (uint8_t)(r->crc >> 24);
        raw[1] = (uint8_t)(r->crc >> 16);
        raw[2] = (uint8_t)(r->crc >> 8);
        raw[3] = (uint8_t)r->crc;
        n = 4;
    }
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
    snprintf(out, len, "%s", b64);
}

int gw_authenticate(gw_request_t *r, int write)
{
    gateway_t *gw = r->gw;
    header_list_t h = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_header, &h);
    char host_bucket[BACKEND_BUCKET_MAX + 2] = "";
    if (gw->cfg.gateway.domain[0] && r->bucket[0]) {
        const char *host = gw_header(r, "Host");
        if (host && strncmp(host, r->bucket, strlen(r->bucket)) == 0 &&
            host[strlen(r->bucket)] == '.')
            snprintf(host_bucket, sizeof(host_bucket), "%s", r->bucket);
    }
    auth_request_t req = {.method = r->method, .path = r->raw_path, .query = r->raw_query,
                          .headers = h.items, .n_headers = h.n, .now = aug_now_ns() / 1000000000LL,
                          .host_bucket = host_bucket[0] ? host_bucket : NULL,
                          /* an unset region accepts whatever region the client signs for */
                          .region = gw->cfg.gateway.region[0] ? gw->cfg.gateway.region : NULL};
    r->auth = calloc(1, sizeof(*r->auth));
    aug_err_t err;
    aug_err_clear(&err);
    int rc = r->auth ? auth_verify((const auth_creds_t *)gw->creds, &req, r->auth, &err)
                     : AUG_ENOMEM;
    free(h.items);
    if (r->auth) snprintf(r->access_key, sizeof(r->access_key), "%s", r->auth->access_key);
    if (rc != 0) {
        if (rc == AUG_ENOMEM || !r->auth->s3_code) gw_respond_error(r, "InternalError", NULL);
        else gw_respond_error(r, r->auth->s3_code, err.msg[0] ? err.msg : NULL);
        return -1;
    }
    if (r->auth->scheme == AUTH_ANONYMOUS) {
        if (write || !r->bucket[0] || !is_public_read(gw, r->bucket)) {
            gw_respond_error(r, "AccessDenied", NULL);
            return -1;
        }
    } else if (!auth_creds_allows(r->auth->key, r->bucket[0] ? r->bucket : NULL, write)) {
        gw_respond_error(r, "AccessDenied", NULL);
        return -1;
    }
    switch (r->auth->payload) {
    case AUTH_PAYLOAD_SHA256:
        r->sha256 = EVP_MD_CTX_new();
        if (!r->sha256 || !EVP_DigestInit_ex(r->sha256, EVP_sha256(), NULL)) {
            gw_respond_error(r, "InternalError", NULL);
            return -1;
        }
        break;
    case AUTH_PAYLOAD_STREAMING:
    case AUTH_PAYLOAD_STREAMING_TRAILER:
    case AUTH_PAYLOAD_UNSIGNED_TRAILER:
        if (auth_chunked_new(r->auth, (auth_chunked_t **)&r->chunked, &err) != 0) {
            gw_respond_error(r, "InvalidRequest", err.msg);
            return -1;
        }
        r->declared_len = (uint64_t)r->auth->decoded_length;
        r->has_declared_len = 1;
        break;
    default: break;
    }
    const char *md5 = gw_header(r, "Content-MD5");
    if (md5) {
        uint8_t raw[48];
        int n = EVP_DecodeBlock(raw, (const unsigned char *)md5, (int)strlen(md5));
        size_t mlen = strlen(md5);
        if (n != 18 || mlen != 24 || md5[22] != '=' || md5[23] != '=') {
            gw_respond_error(r, "InvalidDigest", NULL);
            return -1;
        }
        memcpy(r->want_md5, raw, 16);
        r->md5 = EVP_MD_CTX_new();
        if (!r->md5 || !EVP_DigestInit_ex(r->md5, EVP_md5(), NULL)) {
            gw_respond_error(r, "InternalError", NULL);
            return -1;
        }
        r->check_md5 = 1;
    }
    setup_checksum(r);
    return 0;
}

/* Decoded payload bytes: update the running checks and pass them to the operation. */
static int deliver(void *arg, const void *data, size_t len)
{
    gw_request_t *r = arg;
    if (r->sha256) EVP_DigestUpdate(r->sha256, data, len);
    if (r->md5) EVP_DigestUpdate(r->md5, data, len);
    if (r->checksum_md) EVP_DigestUpdate(r->checksum_md, data, len);
    else if (strcmp(r->checksum_name, "x-amz-checksum-crc32c") == 0)
        r->crc = aug_crc32c(r->crc, data, len);
    else if (strcmp(r->checksum_name, "x-amz-checksum-crc32") == 0)
        r->crc = crc32_gzip_refl(r->crc, (unsigned char *)data, len); /* zlib's CRC32 */
    if (!r->on_body) return 0; /* a body nobody asked for is read and dropped */
    return r->on_body(r, data, len) == 0 ? 0 : AUG_ECANCELED;
}

int gw_feed_body(gw_request_t *r, const uint8_t *data, size_t len)
{
    if (!r->chunked) return deliver(r, data, len) == 0 ? 0 : -1;
    aug_err_t err;
    aug_err_clear(&err);
    int rc = auth_chunked_feed((auth_chunked_t *)r->chunked, data, len, deliver, r, &err);
    if (rc == 0) return 0;
    const char *code = auth_chunked_s3_code((auth_chunked_t *)r->chunked);
    if (code) gw_respond_error(r, code, err.msg[0] ? err.msg : NULL);
    else if (!r->responded) gw_respond_error(r, "InternalError", NULL);
    return -1;
}

int gw_finish_body(gw_request_t *r)
{
    aug_err_t err;
    aug_err_clear(&err);
    if (r->chunked && auth_chunked_finish((auth_chunked_t *)r->chunked, &err) != 0) {
        const char *code = auth_chunked_s3_code((auth_chunked_t *)r->chunked);
        gw_respond_error(r, code ? code : "IncompleteBody", err.msg[0] ? err.msg : NULL);
        return -1;
    }
    if (r->sha256) {
        uint8_t got[32];
        unsigned n = 0;
        EVP_DigestFinal_ex(r->sha256, got, &n);
        if (memcmp(got, r->auth->payload_sha256, 32) != 0) {
            gw_respond_error(r, "XAmzContentSHA256Mismatch", NULL);
            return -1;
        }
    }
    if (r->check_md5) {
        uint8_t got[16];
        unsigned n = 0;
        EVP_DigestFinal_ex(r->md5, got, &n);
        if (memcmp(got, r->want_md5, 16) != 0) {
            gw_respond_error(r, "BadDigest", NULL);
            return -1;
        }
    }
    if (r->checksum_name[0]) {
        const char *want = r->checksum_want;
        if (!*want && r->chunked)
            want = auth_chunked_trailer((auth_chunked_t *)r->chunked, r->checksum_name);
        char got[96];
        checksum_value(r, got, sizeof(got));
        /* compare first: want may point at r->checksum_want, which then keeps what was
         * verified so GET and HEAD can return it (overwriting it first made every header
         * checksum match) */
        int match = want && strcmp(want, got) == 0;
        snprintf(r->checksum_want, sizeof(r->checksum_want), "%s", got);
        if (!match) {
            char msg[160];
            snprintf(msg, sizeof(msg), "The %s you specified did not match the calculated "
                     "checksum.", r->checksum_name + strlen("x-amz-checksum-"));
            gw_respond_error(r, "BadDigest", msg);
            return -1;
        }
    }
    return 0;
}

void gw_request_free_auth(gw_request_t *r)
{
    auth_chunked_free((auth_chunked_t *)r->chunked);
    r->chunked = NULL;
    if (r->auth) {
        auth_result_wipe(r->auth);
        free(r->auth);
        r->auth = NULL;
    }
    EVP_MD_CTX_free(r->sha256);
    EVP_MD_CTX_free(r->md5);
    EVP_MD_CTX_free(r->checksum_md);
    r->sha256 = r->md5 = r->checksum_md = NULL;
}
