/* op_bucket.c - requests that name a bucket but no key: create, delete, head, location,
 * ListObjects v1/v2, ListObjectVersions, ListMultipartUploads, DeleteObjects, and the
 * configuration sub-resources clients probe. */
#include "auth.h"
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER_ID "augur"

static void write_owner(gw_xml_t *x, const char *element)
{
    gw_xml_open(x, element);
    gw_xml_text(x, "ID", OWNER_ID);
    gw_xml_text(x, "DisplayName", OWNER_ID);
    gw_xml_close(x);
}

void op_list_buckets(gw_request_t *r)
{
    backend_bucket_info_t *buckets;
    size_t n;
    aug_err_t err;
    if (backend_bucket_list(r->gw->backend, &buckets, &n, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    gw_xml_t *x = gw_xml_begin("ListAllMyBucketsResult");
    write_owner(x, "Owner");
    gw_xml_open(x, "Buckets");
    for (size_t i = 0; i < n; i++) {
        /* a key limited to some buckets sees only those it may read (auth.h) */
        if (r->auth && r->auth->key && !auth_creds_allows(r->auth->key, buckets[i].name, false))
            continue;
        char when[40];
        gw_time_iso(buckets[i].created_ns, when, sizeof(when));
        gw_xml_open(x, "Bucket");
        gw_xml_text(x, "Name", buckets[i].name);
        gw_xml_text(x, "CreationDate", when);
        gw_xml_close(x);
    }
    gw_xml_close(x);
    free(buckets);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

static void finish_create_bucket(gw_request_t *r)
{
    char region[64];
    snprintf(region, sizeof(region), "%s", gw_region(r->gw));
    const char *code = s3xml_parse_location(r->body, r->body_len, region, sizeof(region));
    if (code) {
        gw_respond_error(r, code, NULL);
        return;
    }
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_bucket_create(r->gw->backend, r->bucket, &err);
    if (rc == AUG_EEXIST && strcmp(region, "us-east-1") == 0) {
        /* us-east-1 answers a repeated create of your own bucket with success */
        rc = 0;
    }
    if (rc != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char loc[80];
    snprintf(loc, sizeof(loc), "/%s", r->bucket);
    MHD_add_response_header(resp, "Location", loc);
    gw_respond(r, 200, resp);
}

static int valid_canned_acl(const char *acl)
{
    static const char *const acls[] = {"private", "public-read", "public-read-write",
                                       "authenticated-read", "aws-exec-read",
                                       "bucket-owner-read", "bucket-owner-full-control",
                                       "log-delivery-write"};
    for (size_t i = 0; i < sizeof(acls) / sizeof(acls[0]); i++)
        if (strcmp(acl, acls[i]) == 0) return 1;
    return 0;
}

int gw_check_acl_header(gw_request_t *r)
{
    const char *acl = gw_header(r, "x-amz-acl");
    if (acl && !valid_canned_acl(acl)) {
        gw_respond_error(r, "InvalidArgument", "Unknown canned ACL in x-amz-acl.");
        return -1;
    }
    return 0;
}

static void bucket_head(gw_request_t *r)
{
    aug_err_t err;
    if (backend_bucket_stat(r->gw->backend, r->bucket, NULL, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "x-amz-bucket-region", gw_region(r->gw));
    gw_respond(r, 200, resp);
}

static void bucket_location(gw_request_t *r)
{
    aug_err_t err;
    if (backend_bucket_stat(r->gw->backend, r->bucket, NULL, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    /* S3 answers an empty constraint for us-east-1 */
    const char *region = gw_region(r->gw);
    gw_xml_t *x = gw_xml_begin("LocationConstraint");
    if (strcmp(region, "us-east-1") != 0) gw_xml_content(x, region);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

/* Parse max-keys (default 1000, capped at 1000); -1 and an error queued when malformed. */
static long parse_max_keys(gw_request_t *r, const char *name)
{
    const char *v = gw_param(r, name);
    if (!v) return GW_MAX_KEYS;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0) {
        gw_respond_error(r, "InvalidArgument", "max-keys must be a non-negative integer.");
        return -1;
    }
    return n > GW_MAX_KEYS ? GW_MAX_KEYS : n;
}

/* Key or prefix as the listing shows it: URL-encoded when encoding-type=url was asked. */
static void text_maybe_encoded(gw_xml_t *x, const char *name, const char *value, int url)
{
    if (!url) {
        gw_xml_text(x, name, value);
        return;
    }
    char *enc = gw_url_encode(value);
    gw_xml_text(x, name, enc ? enc : "");
    free(enc);
}

static void write_object_entry(gw_xml_t *x, const backend_manifest_t *m, int url, int owner,
                               int version)
{
    char when[40];
    gw_time_iso(m->mtime_ns, when, sizeof(when));
    gw_xml_open(x, version ? "Version" : "Contents");
    text_maybe_encoded(x, "Key", m->key, url);
    if (version) {
        gw_xml_text(x, "VersionId", "null");
        gw_xml_text(x, "IsLatest", "true");
    }
    gw_xml_text(x, "LastModified", when);
    gw_xml_textf(x, "ETag", "\"%s\"", m->etag);
    gw_xml_textf(x, "Size", "%llu", (unsigned long long)m->size);
    if (owner) write_owner(x, "Owner");
    gw_xml_text(x, "StorageClass", "STANDARD");
    gw_xml_close(x);
}

/* Hex continuation tokens: opaque to clients, exact for any key. */
static char *token_encode(const char *key)
{
    size_t n = strlen(key);
    char *out = malloc(2 * n + 1);
    if (out) aug_hex(key, n, out);
    return out;
}

static char *token_decode(const char *tok)
{
    size_t n = strlen(tok);
    if (n % 2) return NULL;
    char *out = malloc(n / 2 + 1);
    if (!out) return NULL;
    if (aug_unhex(tok, out, n / 2) != 0 || memchr(out, '\0', n / 2)) {
        free(out);
        return NULL;
    }
    out[n / 2] = '\0';
    return out;
}

enum { LIST_V1, LIST_V2, LIST_VERSIONS };

static void list_objects(gw_request_t *r, int kind)
{
    const char *enc = gw_param(r, "encoding-type");
    if (enc && strcmp(enc, "url") != 0) {
        gw_respond_error(r, "InvalidArgument", "Invalid Encoding Method specified in Request");
        return;
    }
    int url = enc != NULL;
    long max = parse_max_keys(r, "max-keys");
    if (max < 0) return;
    const char *prefix = gw_param(r, "prefix");
    const char *delim = gw_param(r, "delimiter");
    char *token = NULL;
    const char *after = NULL;
    if (kind == LIST_V2) {
        const char *ct = gw_param(r, "continuation-token");
        if (ct) {
            token = token_decode(ct);
            if (!token) {
                gw_respond_error(r, "InvalidArgument", "The continuation token provided is "
                                                       "incorrect");
                return;
            }
            after = token;
        } else {
            after = gw_param(r, "start-after");
        }
    } else if (kind == LIST_VERSIONS) {
        after = gw_param(r, "key-marker");
    } else {
        after = gw_param(r, "marker");
    }
    backend_list_opts_t opts = {.prefix = prefix, .delimiter = delim, .start_after = after,
                                .max_keys = (size_t)(max ? max : 1)};
    backend_list_result_t *res = NULL;
    aug_err_t err;
    /* files closed on a mount of this process may still be uploading: list them too */
    if (max > 0) cache_pending_wait(r->gw->cache, r->bucket, NULL);
    if (max > 0 && backend_list(r->gw->backend, r->bucket, &opts, &res, &err) != 0) {
        free(token);
        gw_respond_backend_error(r, &err);
        return;
    }
    if (max == 0 && backend_bucket_stat(r->gw->backend, r->bucket, NULL, &err) != 0) {
        free(token);
        gw_respond_backend_error(r, &err);
        return;
    }
    size_t n_obj = res ? res->n_objects : 0, n_pre = res ? res->n_prefixes : 0;
    int truncated = res ? res->truncated : 0;
    gw_xml_t *x = gw_xml_begin(kind == LIST_VERSIONS ? "ListVersionsResult" : "ListBucketResult");
    gw_xml_text(x, "Name", r->bucket);
    text_maybe_encoded(x, "Prefix", prefix ? prefix : "", url);
    if (kind == LIST_V1) text_maybe_encoded(x, "Marker", after ? after : "", url);
    if (kind == LIST_VERSIONS) {
        text_maybe_encoded(x, "KeyMarker", after ? after : "", url);
        gw_xml_text(x, "VersionIdMarker", gw_param(r, "version-id-marker"));
    }
    if (kind == LIST_V2) {
        const char *ct = gw_param(r, "continuation-token");
        if (ct) gw_xml_text(x, "ContinuationToken", ct);
        const char *sa = gw_param(r, "start-after");
        if (sa) text_maybe_encoded(x, "StartAfter", sa, url);
        gw_xml_textf(x, "KeyCount", "%zu", n_obj + n_pre);
    }
    gw_xml_textf(x, "MaxKeys", "%ld", max);
    if (delim) text_maybe_encoded(x, "Delimiter", delim, url);
    if (url) gw_xml_text(x, "EncodingType", "url");
    gw_xml_text(x, "IsTruncated", truncated ? "true" : "false");
    if (truncated && res->next_marker) {
        if (kind == LIST_V1 && delim) text_maybe_encoded(x, "NextMarker", res->next_marker, url);
        if (kind == LIST_V2) {
            char *t = token_encode(res->next_marker);
            gw_xml_text(x, "NextContinuationToken", t);
            free(t);
        }
        if (kind == LIST_VERSIONS) {
            text_maybe_encoded(x, "NextKeyMarker", res->next_marker, url);
            gw_xml_text(x, "NextVersionIdMarker", "null");
        }
    }
    int owner = kind != LIST_V2 || (gw_param(r, "fetch-owner") &&
                                    strcmp(gw_param(r, "fetch-owner"), "true") == 0);
    for (size_t i = 0; i < n_obj; i++)
        write_object_entry(x, res->objects[i], url, owner, kind == LIST_VERSIONS);
    for (size_t i = 0; i < n_pre; i++) {
        gw_xml_open(x, "CommonPrefixes");
        text_maybe_encoded(x, "Prefix", res->prefixes[i], url);
        gw_xml_close(x);
    }
    backend_list_free(res);
    free(token);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

/* Uploads in the order the key-marker / upload-id-marker paging below assumes. */
static int cmp_upload(const void *a, const void *b)
{
    const backend_upload_info_t *x = a, *y = b;
    int c = strcmp(x->manifest->key, y->manifest->key);
    return c ? c : strcmp(x->upload_id, y->upload_id);
}

static void list_uploads(gw_request_t *r)
{
    backend_upload_info_t *ups;
    size_t n;
    aug_err_t err;
    if (backend_upload_list(r->gw->backend, r->bucket, &ups, &n, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    /* the backend does not promise an order among uploads of one key, and paging resumes
     * after (key-marker, upload-id-marker): unsorted ids made later pages skip uploads */
    if (n > 1) qsort(ups, n, sizeof(*ups), cmp_upload);
    const char *prefix = gw_param(r, "prefix");
    const char *key_marker = gw_param(r, "key-marker");
    const char *id_marker = gw_param(r, "upload-id-marker");
    long max = parse_max_keys(r, "max-uploads");
    if (max < 0) {
        backend_upload_list_free(ups, n);
        return;
    }
    gw_xml_t *x = gw_xml_begin("ListMultipartUploadsResult");
    gw_xml_text(x, "Bucket", r->bucket);
    gw_xml_text(x, "KeyMarker", key_marker ? key_marker : "");
    gw_xml_text(x, "UploadIdMarker", id_marker ? id_marker : "");
    if (prefix) gw_xml_text(x, "Prefix", prefix);
    gw_xml_textf(x, "MaxUploads", "%ld", max);
    long shown = 0;
    size_t i = 0, last = 0;
    int truncated = 0;
    for (; i < n; i++) {
        const backend_manifest_t *m = ups[i].manifest;
        if (prefix && strncmp(m->key, prefix, strlen(prefix)) != 0) continue;
        if (key_marker) {
            int c = strcmp(m->key, key_marker);
            if (c < 0 || (c == 0 && (!id_marker || strcmp(ups[i].upload_id, id_marker) <= 0)))
                continue;
        }
        if (shown == max) {
            truncated = 1;
            break;
        }
        shown++;
        last = i;
    }
    gw_xml_text(x, "IsTruncated", truncated ? "true" : "false");
    if (truncated) {
        gw_xml_text(x, "NextKeyMarker", ups[last].manifest->key);
        gw_xml_text(x, "NextUploadIdMarker", ups[last].upload_id);
    }
    shown = 0;
    for (i = 0; i < n && shown < max; i++) {
        const backend_manifest_t *m = ups[i].manifest;
        if (prefix && strncmp(m->key, prefix, strlen(prefix)) != 0) continue;
        if (key_marker) {
            int c = strcmp(m->key, key_marker);
            if (c < 0 || (c == 0 && (!id_marker || strcmp(ups[i].upload_id, id_marker) <= 0)))
                continue;
        }
        char when[40];
        gw_time_iso(m->written_ns, when, sizeof(when));
        gw_xml_open(x, "Upload");
        gw_xml_text(x, "Key", m->key);
        gw_xml_text(x, "UploadId", ups[i].upload_id);
        write_owner(x, "Initiator");
        write_owner(x, "Owner");
        gw_xml_text(x, "StorageClass", "STANDARD");
        gw_xml_text(x, "Initiated", when);
        gw_xml_close(x);
        shown++;
    }
    backend_upload_list_free(ups, n);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

static void finish_delete_objects(gw_request_t *r)
{
    if (!r->check_md5 && !r->checksum_name[0]) {
        gw_respond_error(r, "InvalidRequest",
                         "Missing required header for this request: Content-MD5");
        return;
    }
    int quiet;
    char **keys;
    size_t n;
    const char *code = s3xml_parse_delete(r->body, r->body_len, &quiet, &keys, &n);
    if (code) {
        gw_respond_error(r, code, NULL);
        return;
    }
    gw_xml_t *x = gw_xml_begin("DeleteResult");
    for (size_t i = 0; i < n; i++) {
        aug_err_t err;
        aug_err_clear(&err);
        cache_pending_wait(r->gw->cache, r->bucket, keys[i]); /* after a mount's upload */
        int rc = cache_delete(r->gw->cache, r->bucket, keys[i], &err);
        if (rc == AUG_ENOENT && !strstr(err.msg, "bucket '")) rc = 0; /* already gone */
        if (rc == 0 && !quiet) {
            gw_xml_open(x, "Deleted");
            gw_xml_text(x, "Key", keys[i]);
            gw_xml_close(x);
        } else if (rc != 0) {
            gw_xml_open(x, "Error");
            gw_xml_text(x, "Key", keys[i]);
            gw_xml_text(x, "Code", rc == AUG_EINVAL || rc == AUG_ETOOLONG ? "InvalidArgument"
                                   : rc == AUG_ENOENT                   ? "NoSuchBucket"
                                                                        : "InternalError");
            gw_xml_text(x, "Message", err.msg);
            gw_xml_close(x);
        }
        free(keys[i]);
    }
    free(keys);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

/* The one ACL augur keeps: the owner has full control (canned ACLs are accepted, not
 * stored). Shared by bucket and object ?acl. */
void gw_respond_owner_acl(gw_request_t *r)
{
    gw_xml_t *x = gw_xml_begin("AccessControlPolicy");
    write_owner(x, "Owner");
    gw_xml_open(x, "AccessControlList");
    gw_xml_open(x, "Grant");
    gw_xml_open(x, "Grantee");
    gw_xml_text(x, "ID", OWNER_ID);
    gw_xml_text(x, "DisplayName", OWNER_ID);
    gw_xml_close(x);
    gw_xml_text(x, "Permission", "FULL_CONTROL");
    gw_xml_close(x);
    gw_xml_close(x);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

static void bucket_acl(gw_request_t *r)
{
    aug_err_t err;
    if (backend_bucket_stat(r->gw->backend, r->bucket, NULL, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    gw_respond_owner_acl(r);
}

/* Configuration sub-resources augur keeps no configuration for: answer as S3 does for a
 * bucket without one. */
static int bucket_config_probe(gw_request_t *r)
{
    static const struct {
        const char *param, *code;
    } probes[] = {
        {"cors", "NoSuchCORSConfiguration"},
        {"lifecycle", "NoSuchLifecycleConfiguration"},
        {"policy", "NoSuchBucketPolicy"},
        {"tagging", "NoSuchTagSet"},
        {"website", "NoSuchWebsiteConfiguration"},
        {"encryption", "ServerSideEncryptionConfigurationNotFoundError"},
    };
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        if (!gw_param(r, probes[i].param)) continue;
        aug_err_t err;
        if (backend_bucket_stat(r->gw->backend, r->bucket, NULL, &err) != 0)
            gw_respond_backend_error(r, &err);
        else gw_respond_error(r, probes[i].code, NULL);
        return 1;
    }
    return 0;
}

static void bucket_get(gw_request_t *r)
{
    if (gw_param(r, "location")) bucket_location(r);
    else if (gw_param(r, "versioning")) {
        aug_err_t err;
        if (backend_bucket_stat(r->gw->backend, r->bucket, NULL, &err) != 0) {
            gw_respond_backend_error(r, &err);
            return;
        }
        gw_xml_t *x = gw_xml_begin("VersioningConfiguration");
        size_t len;
        char *xml = gw_xml_finish(x, &len);
        gw_respond_xml(r, 200, xml, len);
    } else if (gw_param(r, "acl")) bucket_acl(r);
    else if (gw_param(r, "uploads")) list_uploads(r);
    else if (gw_param(r, "versions")) list_objects(r, LIST_VERSIONS);
    else if (bucket_config_probe(r)) return;
    else if (gw_param(r, "logging") || gw_param(r, "notification") ||
             gw_param(r, "replication") || gw_param(r, "object-lock") ||
             gw_param(r, "ownershipControls") || gw_param(r, "publicAccessBlock") ||
             gw_param(r, "accelerate") || gw_param(r, "requestPayment") ||
             gw_param(r, "analytics") || gw_param(r, "metrics") || gw_param(r, "inventory") ||
             gw_param(r, "intelligent-tiering"))
        gw_respond_error(r, "NotImplemented", NULL);
    else {
        const char *lt = gw_param(r, "list-type");
        if (lt && strcmp(lt, "2") != 0) {
            gw_respond_error(r, "InvalidArgument", "Invalid list-type");
            return;
        }
        list_objects(r, lt ? LIST_V2 : LIST_V1);
    }
}

void op_bucket(gw_request_t *r)
{
    const char *m = r->method;
    if (strcmp(m, "GET") == 0) {
        bucket_get(r);
    } else if (strcmp(m, "HEAD") == 0) {
        bucket_head(r);
    } else if (strcmp(m, "PUT") == 0) {
        if (r->n_params > 0) {
            /* ACLs are accepted as the canned "private" model; other settings are not kept */
            if (gw_param(r, "acl")) {
                if (gw_check_acl_header(r) != 0) return;
                gw_collect_body(r, GW_XML_BODY_MAX, bucket_head);
                return;
            }
            gw_respond_error(r, "NotImplemented", NULL);
            return;
        }
        if (gw_check_acl_header(r) != 0) return;
        gw_collect_body(r, 64 << 10, finish_create_bucket);
    } else if (strcmp(m, "DELETE") == 0) {
        if (r->n_params > 0) {
            gw_respond_error(r, "NotImplemented", NULL);
            return;
        }
        aug_err_t err;
        if (backend_bucket_delete(r->gw->backend, r->bucket, &err) != 0)
            gw_respond_backend_error(r, &err);
        else gw_respond_empty(r, 204);
    } else if (strcmp(m, "POST") == 0 && gw_param(r, "delete")) {
        gw_collect_body(r, GW_XML_BODY_MAX, finish_delete_objects);
    } else {
        gw_respond_error(r, "MethodNotAllowed", NULL);
    }
}
