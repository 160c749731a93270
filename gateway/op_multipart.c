/* op_multipart.c - multipart uploads: create, upload part (and part copy), list parts,
 * complete (part order, ETags and sizes checked; "md5-N" ETag) and abort. */
#include "op.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every part but the last must be at least this large, as on S3. */
#define MIN_PART_SIZE (5ULL << 20)

void op_create_upload(gw_request_t *r)
{
    if (gw_check_acl_header(r) != 0) return;
    backend_put_attrs_t attrs;
    meta_list_t *ml;
    if (op_attrs_from_headers(r, &attrs, &ml) != 0) return;
    char id[33];
    aug_err_t err;
    aug_err_clear(&err);
    int rc = backend_upload_create(r->gw->backend, r->bucket, r->key, &attrs, id, &err);
    op_attrs_free(ml);
    if (rc != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    gw_xml_t *x = gw_xml_begin("InitiateMultipartUploadResult");
    gw_xml_text(x, "Bucket", r->bucket);
    gw_xml_text(x, "Key", r->key);
    gw_xml_text(x, "UploadId", id);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

/* The part number and upload id of a part request; -1 with an error queued. */
static int part_target(gw_request_t *r)
{
    const char *pn = gw_param(r, "partNumber"), *id = gw_param(r, "uploadId");
    if (!pn || !id) {
        gw_respond_error(r, "InvalidRequest", "partNumber and uploadId go together.");
        return -1;
    }
    char *end;
    long n = strtol(pn, &end, 10);
    if (!*pn || *end || n < 1 || n > BACKEND_MAX_PARTS) {
        gw_respond_error(r, "InvalidArgument",
                         "Part number must be an integer between 1 and 10000, inclusive");
        return -1;
    }
    r->part_number = (int)n;
    snprintf(r->upload_id, sizeof(r->upload_id), "%s", id);
    return 0;
}

/* The upload named by id, which must belong to the request's key: S3 answers NoSuchUpload
 * for an upload id used with another key, and without this check a part or a completion
 * sent to /bucket/other would land on the upload's own key. Returns 0 with *out (caller
 * frees; out may be NULL) or -1 with NoSuchBucket or NoSuchUpload queued. */
static int find_upload(gw_request_t *r, const char *id, backend_manifest_t **out)
{
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *up = NULL;
    int rc = id ? backend_upload_get(r->gw->backend, r->bucket, id, &up, &err) : AUG_ENOENT;
    if (rc == 0 && strcmp(up->key, r->key) != 0) {
        backend_manifest_free(up);
        up = NULL;
        rc = AUG_ENOENT;
    }
    if (rc == AUG_ENOENT) {
        if (backend_bucket_stat(r->gw->backend, r->bucket, NULL, NULL) != 0)
            gw_respond_error(r, "NoSuchBucket", NULL);
        else gw_respond_error(r, "NoSuchUpload", NULL);
        return -1;
    }
    if (rc != 0) {
        gw_respond_backend_error(r, &err);
        return -1;
    }
    if (out) *out = up;
    else backend_manifest_free(up);
    return 0;
}

static int part_piece(gw_request_t *r, const uint8_t *data, size_t len)
{
    aug_err_t err;
    aug_err_clear(&err);
    if (backend_writer_write(r->writer, data, len, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return -1;
    }
    return 0;
}

static void finish_part(gw_request_t *r)
{
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *m = NULL;
    backend_writer_t *w = r->writer;
    r->writer = NULL;
    if (backend_writer_commit(w, &m, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    char etag[BACKEND_ETAG_MAX + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", m->etag);
    MHD_add_response_header(resp, "ETag", etag);
    if (r->checksum_name[0]) MHD_add_response_header(resp, r->checksum_name, r->checksum_want);
    backend_manifest_free(m);
    gw_respond(r, 200, resp);
}

static int md5_piece(void *arg, const void *buf, size_t len)
{
    EVP_DigestUpdate(arg, buf, len);
    return 0;
}

/* UploadPartCopy: the part refers to a range of the source; its ETag is the MD5 of it. */
static void upload_part_copy(gw_request_t *r)
{
    backend_manifest_t *src;
    if (op_copy_source(r, &src) != 0) return;
    uint64_t lo = 0, len = src->size;
    const char *range = gw_header(r, "x-amz-copy-source-range");
    if (range) {
        unsigned long long a, b;
        char tail;
        if (sscanf(range, "bytes=%llu-%llu%c", &a, &b, &tail) != 2 || b < a ||
            b >= src->size) {
            backend_manifest_free(src);
            gw_respond_error(r, "InvalidArgument",
                             "The x-amz-copy-source-range value must be of the form "
                             "bytes=first-last where first and last are the zero-based offsets "
                             "of the first and last bytes to copy");
            return;
        }
        lo = a;
        len = b - a + 1;
    }
    aug_err_t err;
    aug_err_clear(&err);
    EVP_MD_CTX *md5 = EVP_MD_CTX_new();
    int rc = md5 && EVP_DigestInit_ex(md5, EVP_md5(), NULL) ? 0 : AUG_ENOMEM;
    if (rc == 0) rc = cache_read(r->gw->cache, src, lo, len, md5_piece, md5, &err);
    char etag[BACKEND_ETAG_MAX + 1] = "";
    if (rc == 0) {
        unsigned char d[16];
        unsigned n = 0;
        EVP_DigestFinal_ex(md5, d, &n);
        aug_hex(d, n, etag);
    }
    EVP_MD_CTX_free(md5);
    backend_manifest_t *m = NULL;
    backend_piece_t piece = {.manifest = src, .off = lo, .len = len};
    if (rc == 0)
        rc = backend_upload_part_compose(r->gw->backend, r->bucket, r->upload_id,
                                         r->part_number, &piece, 1, etag, &m, &err);
    backend_manifest_free(src);
    if (rc != 0) {
        if (rc == AUG_ENOMEM && !err.msg[0]) aug_err_set(&err, rc, "out of memory");
        gw_respond_backend_error(r, &err);
        return;
    }
    op_respond_copy_result(r, "CopyPartResult", m);
    backend_manifest_free(m);
}

void op_upload_part(gw_request_t *r)
{
    if (part_target(r) != 0 || find_upload(r, r->upload_id, NULL) != 0) return;
    if (gw_header(r, "x-amz-copy-source")) {
        upload_part_copy(r);
        return;
    }
    if (op_check_upload_headers(r) != 0) return;
    aug_err_t err;
    aug_err_clear(&err);
    if (backend_upload_part_writer(r->gw->backend, r->bucket, r->upload_id, r->part_number,
                                   &r->writer, &err) != 0) {
        gw_respond_backend_error(r, &err);
        return;
    }
    r->on_body = part_piece;
    r->on_finish = finish_part;
}

void op_abort_upload(gw_request_t *r)
{
    if (find_upload(r, gw_param(r, "uploadId"), NULL) != 0) return;
    aug_err_t err;
    aug_err_clear(&err);
    if (backend_upload_abort(r->gw->backend, r->bucket, gw_param(r, "uploadId"), &err) != 0)
        gw_respond_backend_error(r, &err);
    else gw_respond_empty(r, 204);
}

void op_list_parts(gw_request_t *r)
{
    const char *id = gw_param(r, "uploadId");
    aug_err_t err;
    aug_err_clear(&err);
    backend_manifest_t *up;
    if (find_upload(r, id, &up) != 0) return;
    backend_part_list_t parts;
    if (backend_upload_list_parts(r->gw->backend, r->bucket, id, &parts, &err) != 0) {
        backend_manifest_free(up);
        gw_respond_backend_error(r, &err);
        return;
    }
    const char *pm = gw_param(r, "part-number-marker"), *mp = gw_param(r, "max-parts");
    long marker = pm ? strtol(pm, NULL, 10) : 0;
    long max = mp ? strtol(mp, NULL, 10) : 1000;
    if (max < 0 || max > 1000) max = 1000;
    gw_xml_t *x = gw_xml_begin("ListPartsResult");
    gw_xml_text(x, "Bucket", r->bucket);
    gw_xml_text(x, "Key", up->key);
    gw_xml_text(x, "UploadId", id);
    gw_xml_open(x, "Initiator");
    gw_xml_text(x, "ID", "augur");
    gw_xml_text(x, "DisplayName", "augur");
    gw_xml_close(x);
    gw_xml_open(x, "Owner");
    gw_xml_text(x, "ID", "augur");
    gw_xml_text(x, "DisplayName", "augur");
    gw_xml_close(x);
    gw_xml_text(x, "StorageClass", "STANDARD");
    gw_xml_textf(x, "PartNumberMarker", "%ld", marker);
    size_t first = 0;
    while (first < parts.n && parts.parts[first].number <= marker) first++;
    size_t shown = parts.n - first < (size_t)max ? parts.n - first : (size_t)max;
    int truncated = first + shown < parts.n;
    if (shown > 0)
        gw_xml_textf(x, "NextPartNumberMarker", "%d", parts.parts[first + shown - 1].number);
    gw_xml_textf(x, "MaxParts", "%ld", max);
    gw_xml_text(x, "IsTruncated", truncated ? "true" : "false");
    for (size_t i = first; i < first + shown; i++) {
        const backend_manifest_t *m = parts.parts[i].manifest;
        char when[40];
        gw_time_iso(m->written_ns, when, sizeof(when));
        gw_xml_open(x, "Part");
        gw_xml_textf(x, "PartNumber", "%d", parts.parts[i].number);
        gw_xml_text(x, "LastModified", when);
        gw_xml_textf(x, "ETag", "\"%s\"", m->etag);
        gw_xml_textf(x, "Size", "%llu", (unsigned long long)m->size);
        gw_xml_close(x);
    }
    backend_part_list_free(&parts);
    backend_manifest_free(up);
    size_t len;
    char *xml = gw_xml_finish(x, &len);
    gw_respond_xml(r, 200, xml, len);
}

/* ---- complete ------------------------------------------------------------------------------ */

static void finish_complete(gw_request_t *r)
{
    const char *id = gw_param(r, "uploadId");
    if (find_upload(r, id, NULL) != 0) return;
    s3xml_part_t *want;
    size_t count;
    const char *bad = s3xml_parse_complete(r->body, r->body_len, &want, &count);
    if (bad) {
        gw_respond_error(r, bad, NULL);
        return;
    }
    int n = (int)count;
    /* the order of the whole list is checked first, as S3 does, so a list in the wrong order
     * is InvalidPartOrder even when a part in it is also too small */
    for (int i = 1; i < n; i++) {
        if (want[i].number <= want[i - 1].number) {
            free(want);
            gw_respond_error(r, "InvalidPartOrder", NULL);
            return;
        }
    }
    aug_err_t err;
    aug_err_clear(&err);
    backend_part_list_t parts;
    if (backend_upload_list_parts(r->gw->backend, r->bucket, id, &parts, &err) != 0) {
        free(want);
        gw_respond_backend_error(r, &err);
        return;
    }
    backend_piece_t *pieces = calloc((size_t)n, sizeof(*pieces));
    EVP_MD_CTX *md5 = EVP_MD_CTX_new();
    char *sizes = malloc((size_t)n * 21 + 1);
    const char *code = NULL;
    if (!pieces || !md5 || !sizes || !EVP_DigestInit_ex(md5, EVP_md5(), NULL))
        code = "InternalError";
    size_t slen = 0;
    if (sizes) sizes[0] = '\0';
    for (int i = 0; i < n && !code; i++) {
        if (i > 0 && want[i].number <= want[i - 1].number) {
            code = "InvalidPartOrder";
            break;
        }
        const backend_manifest_t *pm = NULL;
        for (size_t j = 0; j < parts.n; j++)
            if (parts.parts[j].number == want[i].number) pm = parts.parts[j].manifest;
        if (!pm || strcmp(pm->etag, want[i].etag) != 0) {
            code = "InvalidPart";
            break;
        }
        if (i < n - 1 && pm->size < MIN_PART_SIZE) {
            code = "EntityTooSmall";
            break;
        }
        uint8_t raw[16];
        if (aug_unhex(pm->etag, raw, sizeof(raw)) == 0) EVP_DigestUpdate(md5, raw, sizeof(raw));
        pieces[i] = (backend_piece_t){.manifest = pm, .off = 0, .len = pm->size};
        slen += (size_t)snprintf(sizes + slen, 22, "%s%llu", i ? "," : "",
                                 (unsigned long long)pm->size);
    }
    backend_manifest_t *m = NULL;
    if (!code) {
        unsigned char d[16];
        unsigned dl = 0;
        EVP_DigestFinal_ex(md5, d, &dl);
        char etag[BACKEND_ETAG_MAX + 1];
        aug_hex(d, 16, etag);
        snprintf(etag + 32, sizeof(etag) - 32, "-%d", n);
        /* a file closed on a mount of this process may still be uploading: go after it */
        cache_pending_wait(r->gw->cache, r->bucket, r->key);
        if (cache_upload_complete(r->gw->cache, r->bucket, id, pieces, (size_t)n, etag,
                                    sizes, &m, &err) != 0) {
            gw_respond_backend_error(r, &err);
            code = "";
        }
    }
    if (code && *code) gw_respond_error(r, code, NULL);
    if (!code) {
        gw_xml_t *x = gw_xml_begin("CompleteMultipartUploadResult");
        gw_xml_textf(x, "Location", "/%s/%s", r->bucket, r->key);
        gw_xml_text(x, "Bucket", r->bucket);
        gw_xml_text(x, "Key", r->key);
        gw_xml_textf(x, "ETag", "\"%s\"", m->etag);
        size_t len;
        char *xml = gw_xml_finish(x, &len);
        gw_respond_xml(r, 200, xml, len);
    }
    backend_manifest_free(m);
    backend_part_list_free(&parts);
    EVP_MD_CTX_free(md5);
    free(sizes);
    free(pieces);
    free(want);
}

void op_complete_upload(gw_request_t *r)
{
    gw_collect_body(r, GW_XML_BODY_MAX, finish_complete);
}
