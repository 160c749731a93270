/* auth_sigv2.c - AWS Signature Version 2 for S3: "Authorization: AWS AKID:signature" and the
 * AWSAccessKeyId/Expires/Signature query form (libs3 and older tools still sign this way). */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Base64 of an HMAC-SHA1: 20 bytes -> 28 characters. */
#define V2_SIG_LEN 28

#define MSG_NEED_DATE "AWS authentication requires a valid Date or x-amz-date header"
#define MSG_SIG_MISMATCH                                                                           \
    "The request signature we calculated does not match the signature you provided. Check "        \
    "your key and signing method."
#define MSG_NO_SUCH_KEY "The AWS Access Key Id you provided does not exist in our records."

/* Query parameters that are part of the signed resource: the sub-resources S3 documents for
 * V2 plus those the SDKs added later (botocore and s3cmd sign the same set), the response
 * header overrides, and "delete". Sorted. */
static const char *const subresources[] = {
    "accelerate",
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
};

static bool is_subresource(const auth_param_t *p)
{
    for (size_t i = 0; i < sizeof(subresources) / sizeof(subresources[0]); i++) {
        size_t l = strlen(subresources[i]);
        if (p->name_len == l && memcmp(p->name, subresources[i], l) == 0) return true;
    }
    return false;
}

static const char *trim_left(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Append s without leading and trailing spaces or tabs. */
static void put_trimmed(auth_buf_t *b, const char *s)
{
    s = trim_left(s);
    size_t l = strlen(s);
    while (l > 0 && (s[l - 1] == ' ' || s[l - 1] == '\t'))
        l--;
    auth_buf_put(b, s, l);
}

typedef struct amz_header {
    char name[128]; /* lower case; a longer name is cut, which only fails the signature */
    const char *value;
    size_t order;
} amz_header_t;

static int amz_header_cmp(const void *a, const void *b)
{
    const amz_header_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* CanonicalizedAmzHeaders: every x-amz-* header (but x-amz-date when skip_date), names in
 * lower case, sorted, repeated names joined with ',', values trimmed; one per line. */
static bool put_amz_headers(auth_buf_t *b, const auth_request_t *req, bool skip_date)
{
    amz_header_t *hs = calloc(req->n_headers ? req->n_headers : 1, sizeof(*hs));
    if (!hs) return false;
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (!name || strncasecmp(name, "x-amz-", 6) != 0) continue;
        if (skip_date && strcasecmp(name, "x-amz-date") == 0) continue;
        size_t l = strlen(name);
        if (l >= sizeof(hs[n].name)) l = sizeof(hs[n].name) - 1;
        for (size_t j = 0; j < l; j++)
            hs[n].name[j] =
                name[j] >= 'A' && name[j] <= 'Z' ? (char)(name[j] - 'A' + 'a') : name[j];
        hs[n].name[l] = '\0';
        hs[n].value = req->headers[i].value ? req->headers[i].value : "";
        hs[n].order = i;
        n++;
    }
    qsort(hs, n, sizeof(*hs), amz_header_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0) {
            auth_buf_putc(b, ',');
        } else {
            if (i > 0) auth_buf_putc(b, '\n');
            auth_buf_puts(b, hs[i].name);
            auth_buf_putc(b, ':');
        }
        put_trimmed(b, hs[i].value);
    }
    if (n > 0) auth_buf_putc(b, '\n');
    free(hs);
    return true;
}

static int param_cmp(const void *a, const void *b)
{
    const auth_param_t *const *x = a, *const *y = b;
    int c = strcmp((*x)->name, (*y)->name);
    if (c) return c;
    return *x < *y ? -1 : *x > *y;
}

/* CanonicalizedResource: ["/" bucket] + path as sent + "?sub&sub=value" (values decoded). */
static bool put_resource(auth_buf_t *b, const auth_request_t *req, const auth_param_t *ps, size_t n)
{
    if (req->host_bucket && *req->host_bucket) {
        auth_buf_putc(b, '/');
        auth_buf_puts(b, req->host_bucket);
    }
    auth_buf_puts(b, req->path && *req->path ? req->path : "/");
    const auth_param_t **subs = calloc(n ? n : 1, sizeof(*subs));
    if (!subs) return false;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (is_subresource(&ps[i])) subs[m++] = &ps[i];
    qsort(subs, m, sizeof(*subs), param_cmp);
    for (size_t i = 0; i < m; i++) {
        auth_buf_putc(b, i == 0 ? '?' : '&');
        auth_buf_put(b, subs[i]->name, subs[i]->name_len);
        if (subs[i]->has_value) {
            auth_buf_putc(b, '=');
            auth_buf_put(b, subs[i]->value, subs[i]->value_len);
        }
    }
    free(subs);
    return true;
}

/* Longest "/bucket" path (a bucket name is at most 63 bytes) plus the slash. */
#define AUTH_PATH_WITH_SLASH_MAX 80

/* A path-style request naming only a bucket: "/bucket" without a trailing slash. */
static bool bucket_only_path(const auth_request_t *req)
{
    if (req->host_bucket && *req->host_bucket) return false;
    const char *p = req->path;
    if (!p || p[0] != '/' || !p[1] || strchr(p + 1, '/')) return false;
    return strlen(p) + 2 <= AUTH_PATH_WITH_SLASH_MAX;
}

/* StringToSign = Verb \n Content-MD5 \n Content-Type \n Date \n AmzHeaders Resource */
static bool string_to_sign(auth_buf_t *b, const auth_request_t *req, const char *date_line,
                           bool skip_amz_date, const auth_param_t *ps, size_t n)
{
    const char *md5 = auth_header_get(req, "content-md5", NULL);
    const char *type = auth_header_get(req, "content-type", NULL);
    auth_buf_puts(b, req->method ? req->method : "");
    auth_buf_putc(b, '\n');
    put_trimmed(b, md5 ? md5 : "");
    auth_buf_putc(b, '\n');
    put_trimmed(b, type ? type : "");
    auth_buf_putc(b, '\n');
    put_trimmed(b, date_line);
    auth_buf_putc(b, '\n');
    return put_amz_headers(b, req, skip_amz_date) && put_resource(b, req, ps, n) && !b->oom;
}

/* Sign sts with secret; 1 when it equals sig (base64), 0 when not, or a negative code. */
static int v2_compare(const char *secret, const auth_buf_t *sts, const char *sig, size_t sig_len)
{
    uint8_t mac[20];
    unsigned int mac_len = sizeof(mac);
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)sts->data, sts->len,
              mac, &mac_len) ||
        mac_len != sizeof(mac))
        return AUG_EIO;
    unsigned char b64[V2_SIG_LEN + 1];
    EVP_EncodeBlock(b64, mac, sizeof(mac));
    OPENSSL_cleanse(mac, sizeof(mac));
    if (sig_len != V2_SIG_LEN) return 0;
    return CRYPTO_memcmp(b64, sig, V2_SIG_LEN) == 0;
}

int auth_verify_v2(const auth_creds_t *creds, const auth_request_t *req, const char *authz,
                   const auth_param_t *ps, size_t n, bool query_auth, auth_result_t *out,
                   aug_err_t *err)
{
    char sig[V2_SIG_LEN + 2]; /* one more than valid, to notice longer ones */
    size_t sig_len = 0;
    const char *date_line;
    const char *xdate = NULL;
    out->scheme = query_auth ? AUTH_V2_QUERY : AUTH_V2_HEADER;
    out->payload = AUTH_PAYLOAD_UNSIGNED;

    if (query_auth) {
        size_t ck, cs, ce;
        const auth_param_t *akid = auth_param_find(ps, n, "AWSAccessKeyId", &ck);
        const auth_param_t *sp = auth_param_find(ps, n, "Signature", &cs);
        const auth_param_t *exp = auth_param_find(ps, n, "Expires", &ce);
        if (ck != 1 || cs != 1 || ce != 1)
            return auth_fail(out, err, "AccessDenied",
                             "Query-string authentication requires the Signature, Expires and "
                             "AWSAccessKeyId parameters, once each");
        if (akid->value_len == 0 || akid->value_len > AUTH_ACCESS_KEY_MAX ||
            strlen(akid->value) != akid->value_len)
            return auth_fail(out, err, "InvalidAccessKeyId", MSG_NO_SUCH_KEY);
        snprintf(out->access_key, sizeof(out->access_key), "%s", akid->value);
        int64_t expires = 0;
        size_t i = 0;
        for (; i < 12 && exp->value[i] >= '0' && exp->value[i] <= '9'; i++)
            expires = expires * 10 + (exp->value[i] - '0');
        if (i == 0 || i != exp->value_len)
            return auth_fail(out, err, "AccessDenied",
                             "Invalid date (should be seconds since epoch): Expires");
        if (req->now > expires) return auth_fail(out, err, "AccessDenied", "Request has expired");
        date_line = exp->value;
        /* a '+' the client forgot to encode arrives as a space; base64 has no spaces */
        sig_len = sp->value_len < sizeof(sig) - 1 ? sp->value_len : sizeof(sig) - 1;
        for (size_t j = 0; j < sig_len; j++)
            sig[j] = sp->value[j] == ' ' ? '+' : sp->value[j];
        sig[sig_len] = '\0';
    } else {
        const char *a = trim_left(authz + 4);
        const char *colon = strrchr(a, ':');
        size_t klen = colon ? (size_t)(colon - a) : 0;
        const char *s = colon ? trim_left(colon + 1) : "";
        size_t slen = strlen(s);
        while (slen > 0 && (s[slen - 1] == ' ' || s[slen - 1] == '\t'))
            slen--;
        bool ok = klen > 0 && klen <= AUTH_ACCESS_KEY_MAX && slen > 0;
        for (size_t i = 0; ok && i < klen; i++)
            ok = (unsigned char)a[i] > 0x20 && (unsigned char)a[i] < 0x7f;
        if (!ok)
            return auth_fail(out, err, "InvalidArgument",
                             "AWS authorization header is invalid.  Expected "
                             "AwsAccessKeyId:signature");
        memcpy(out->access_key, a, klen);
        out->access_key[klen] = '\0';
        sig_len = slen < sizeof(sig) - 1 ? slen : sizeof(sig) - 1;
        memcpy(sig, s, sig_len);
        sig[sig_len] = '\0';

        /* x-amz-date, when present, is the request time and signed among the x-amz-*
         * headers; the Date line is then empty. */
        xdate = auth_header_get(req, "x-amz-date", NULL);
        const char *d = xdate ? xdate : auth_header_get(req, "date", NULL);
        int64_t t;
        if (!d || auth_parse_http_date(d, &t) != 0)
            return auth_fail(out, err, "AccessDenied", MSG_NEED_DATE);
        out->request_time = t;
        if (t > req->now + AUTH_MAX_SKEW_SEC || t < req->now - AUTH_MAX_SKEW_SEC)
            return auth_fail(out, err, "RequestTimeTooSkewed",
                             "The difference between the request time and the current time is "
                             "too large (%lld seconds; at most %d allowed).",
                             (long long)(t - req->now), AUTH_MAX_SKEW_SEC);
        date_line = xdate ? "" : d;
    }

    const auth_key_t *key = auth_creds_lookup(creds, out->access_key);
    if (!key) return auth_fail(out, err, "InvalidAccessKeyId", MSG_NO_SUCH_KEY);

    auth_buf_t sts = {0};
    int rc;
    if (!string_to_sign(&sts, req, date_line, false, ps, n)) {
        rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
        goto done;
    }
    rc = v2_compare(auth_key_secret(key), &sts, sig, sig_len);
    if (rc == 0 && xdate) {
        /* AWS's own example signs x-amz-date in the Date line instead, leaving it out of
         * the x-amz-* headers: accept that spelling too (same time, same request). */
        auth_buf_t alt = {0};
        if (!string_to_sign(&alt, req, xdate, true, ps, n))
            rc = AUG_ENOMEM;
        else
            rc = v2_compare(auth_key_secret(key), &alt, sig, sig_len);
        auth_buf_free(&alt);
    }
    if (rc == 0 && bucket_only_path(req)) {
        /* botocore sends a path-style bucket request to "/bucket" but signs "/bucket/":
         * the same resource, so accept that spelling too */
        char path[AUTH_PATH_WITH_SLASH_MAX];
        snprintf(path, sizeof(path), "%s/", req->path);
        auth_request_t slashed = *req;
        slashed.path = path;
        auth_buf_t alt = {0};
        if (!string_to_sign(&alt, &slashed, date_line, false, ps, n))
            rc = AUG_ENOMEM;
        else
            rc = v2_compare(auth_key_secret(key), &alt, sig, sig_len);
        auth_buf_free(&alt);
    }
    if (rc < 0) {
        aug_err_set(err, rc,
                    rc == AUG_ENOMEM ? "out of memory" : "OpenSSL could not compute an HMAC");
        goto done;
    }
    if (rc == 0) {
        auth_log_mismatch("sigv2", out->access_key, NULL, sts.data);
        rc = auth_fail(out, err, "SignatureDoesNotMatch", MSG_SIG_MISMATCH);
        goto done;
    }
    rc = 0;
    out->key = key;
done:
    auth_buf_free(&sts);
    return rc;
}
