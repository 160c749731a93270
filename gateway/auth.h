/* auth.h - S3 request authentication for the gateway: AWS Signature Version 4 (Authorization
 * header and presigned query), Signature Version 2 (header and query), the credentials file,
 * and the aws-chunked streaming payload decoder that checks every chunk and trailer signature.
 *
 * Private to gateway/. Nothing here knows about HTTP libraries: the gateway describes each
 * request in an auth_request_t and feeds body bytes to an auth_chunked_t.
 *
 * Thread safety: an auth_creds_t never changes once loaded, so auth_verify() and the
 * auth_creds_* lookups may run on it from any number of threads at once (reload by loading a
 * new one and swapping the pointer). An auth_chunked_t belongs to one request.
 *
 * Errors: functions return 0 or a negative AUG_E* code with a sentence in *err (err may be
 * NULL). An authentication failure is AUG_EINVAL plus the S3 error code to answer with
 * (InvalidAccessKeyId, SignatureDoesNotMatch, ...); its sentence is fit for the <Message> of
 * the S3 error response. Secrets never appear in messages or logs and are never returned (a
 * result carries only the day's derived signing key, which chunk signatures need). */
#ifndef AUGUR_GATEWAY_AUTH_H
#define AUGUR_GATEWAY_AUTH_H

#include "common/common.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_ACCESS_KEY_MAX 128 /* bytes of an access key id (AWS uses 16-128) */
#define AUTH_SECRET_MAX 128     /* bytes of a secret key (AWS uses 40) */
#define AUTH_REGION_MAX 63      /* bytes of the region in a SigV4 credential scope */
/* "YYYYMMDD/" + region + "/s3/aws4_request" */
#define AUTH_SCOPE_MAX (9 + AUTH_REGION_MAX + 16)
#define AUTH_TRAILER_MAX 255 /* bytes of the x-amz-trailer header value */
/* S3 refuses header-signed requests whose time is more than 15 minutes off its clock. */
#define AUTH_MAX_SKEW_SEC (15 * 60)
/* S3 refuses presigned URLs valid for more than 7 days (X-Amz-Expires <= 604800). */
#define AUTH_PRESIGN_MAX_EXPIRES (7 * 24 * 3600)

/* ---- credentials --------------------------------------------------------------------------
 *
 * The credentials file ([gateway] credentials) has one key per line:
 *
 *     # comment (a field starting with '#' comments out the rest of the line)
 *     ACCESS_KEY SECRET_KEY [PERMISSION ...]
 *
 * Fields are separated by spaces or tabs. ACCESS_KEY is 1-128 printable characters without
 * ':' (SigV2 splits on it); SECRET_KEY is 1-128 printable characters. PERMISSIONs:
 *
 *     *             read-write on every bucket (the default when no PERMISSION is given)
 *     rw:BUCKETS    read-write on these buckets
 *     r:BUCKETS     read-only on these buckets
 *
 * BUCKETS is a comma-separated list of bucket names, prefixes ending in '*' ("logs-*"), or '*'.
 * A key with PERMISSIONs may touch only the buckets they name; when several match, the widest
 * wins. Example: "AKIDBUILD s3cr3t rw:artifacts r:datasets,shared-*".
 *
 * Bad lines fail the whole load with "FILE:LINE: what is wrong"; messages never quote a
 * secret, nor any field that could be one (a misplaced secret may sit in the permission
 * column), only its position. */

typedef struct auth_creds auth_creds_t;
typedef struct auth_key auth_key_t;

/* Load the credentials file at path. Refuses (AUG_ECONFIG) a file that is missing, not a
 * regular file, or readable or writable by group or others (mode & 077: "chmod 600 FILE"),
 * and any bad line (AUG_ECONFIG, "FILE:LINE: ..."). An empty file loads zero keys (only
 * anonymous requests can then succeed). Caller frees *out with auth_creds_free(). */
int auth_creds_load(const char *path, auth_creds_t **out, aug_err_t *err);
/* Same from a string, without the file mode check; name is used in messages. */
int auth_creds_parse(const char *text, const char *name, auth_creds_t **out, aug_err_t *err);
/* Free creds and wipe the secrets it held. NULL is a no-op. */
void auth_creds_free(auth_creds_t *creds);
/* Number of keys loaded. */
size_t auth_creds_count(const auth_creds_t *creds);
/* The key with this access key id, or NULL. Valid as long as creds. */
const auth_key_t *auth_creds_lookup(const auth_creds_t *creds, const char *access_key);
/* The access key id of key. */
const char *auth_key_id(const auth_key_t *key);
/* May key read (write false) or write (write true) bucket? bucket NULL asks about requests
 * that name no bucket: reading (ListBuckets; the gateway lists only buckets the key may read)
 * is always allowed, writing only to keys that may write every bucket. */
bool auth_creds_allows(const auth_key_t *key, const char *bucket, bool write);

/* ---- verifying a request ------------------------------------------------------------------ */

/* One request header as received. Names in any case; repeated headers appear once each, in
 * the order received. */
typedef struct auth_header {
    const char *name;
    const char *value;
} auth_header_t;

/* What the gateway knows of a request before reading its body. Every pointer is borrowed
 * for the duration of the call. */
typedef struct auth_request {
    const char *method; /* "GET", "PUT", ... */
    /* The path exactly as received, still percent-encoded, without the query ("/b/k%20x").
     * Never decode it first: SigV4 signs every byte encoded exactly once ("$" and "%24" both
     * sign as "%24", "%2F" stays "%2F") and no "//", "." or ".." is normalised; the path
     * spelled exactly as sent is accepted too. SigV2 signs it as sent. */
    const char *path;
    /* The query exactly as received, without '?' (NULL or "" when none). '+' and a raw
     * space both mean a space. */
    const char *query;
    const auth_header_t *headers; /* every header, including Host */
    size_t n_headers;
    int64_t now; /* the gateway's clock, seconds since the epoch */
    /* Virtual-hosted-style requests: the bucket named by the Host header, else NULL. Only
     * SigV2 needs it (its signed resource always starts with "/bucket"). */
    const char *host_bucket;
    /* The region this endpoint answers for: a SigV4 scope naming another region fails with
     * AuthorizationHeaderMalformed as on S3. NULL accepts any region. */
    const char *region;
} auth_request_t;

typedef enum auth_scheme {
    AUTH_ANONYMOUS = 0, /* no Authorization header and no signature in the query */
    AUTH_V4_HEADER,     /* Authorization: AWS4-HMAC-SHA256 ... */
    AUTH_V4_QUERY,      /* presigned URL: X-Amz-Algorithm=AWS4-HMAC-SHA256&... */
    AUTH_V2_HEADER,     /* Authorization: AWS AKID:signature */
    AUTH_V2_QUERY,      /* AWSAccessKeyId=...&Expires=...&Signature=... */
} auth_scheme_t;

/* How the body is protected, from x-amz-content-sha256. */
typedef enum auth_payload {
    /* Not covered by the signature: anonymous, SigV2, presigned, or UNSIGNED-PAYLOAD. */
    AUTH_PAYLOAD_UNSIGNED = 0,
    /* payload_sha256 is the SHA-256 the client signed: the gateway hashes the body as it
     * arrives and, if it differs, answers XAmzContentSHA256Mismatch and stores nothing. */
    AUTH_PAYLOAD_SHA256,
    /* aws-chunked bodies, decoded with auth_chunked_*:
     * STREAMING-AWS4-HMAC-SHA256-PAYLOAD (every chunk signed), */
    AUTH_PAYLOAD_STREAMING,
    /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (chunks and trailer signed), */
    AUTH_PAYLOAD_STREAMING_TRAILER,
    /* STREAMING-UNSIGNED-PAYLOAD-TRAILER (nothing signed; the trailer carries a checksum). */
    AUTH_PAYLOAD_UNSIGNED_TRAILER,
} auth_payload_t;

/* What auth_verify() found. Holds a derived signing key: do not log it; auth_result_wipe()
 * clears it when the request is done. */
typedef struct auth_result {
    auth_scheme_t scheme;
    const auth_key_t *key; /* the key that signed; NULL when anonymous or on failure */
    /* The access key the request claims, "" when anonymous; set as soon as it is parsed,
     * also when verification then fails (for the access log). */
    char access_key[AUTH_ACCESS_KEY_MAX + 1];
    int64_t request_time; /* the signed request time (seconds since the epoch), 0 if none */

    auth_payload_t payload;
    uint8_t payload_sha256[32]; /* AUTH_PAYLOAD_SHA256 only */
    /* x-amz-decoded-content-length (required for the three STREAMING kinds), -1 if absent */
    int64_t decoded_length;
    /* x-amz-trailer: comma-separated trailer names, e.g. "x-amz-checksum-crc32c"; "" if
     * absent */
    char trailer[AUTH_TRAILER_MAX + 1];

    /* SigV4 only: what auth_chunked_new() needs to check chunk signatures. */
    char amz_date[17];              /* "YYYYMMDDTHHMMSSZ" */
    char scope[AUTH_SCOPE_MAX + 1]; /* "YYYYMMDD/region/s3/aws4_request" */
    uint8_t signing_key[32];        /* HMAC key derived from the secret for that day */
    char seed_signature[65];        /* the request's signature, lower-case hex */

    /* Failure: the S3 error code to answer with (see auth_http_status()), NULL on success. */
    const char *s3_code;
} auth_result_t;

/* Authenticate req against creds (which may hold no keys). Works out the scheme, checks the
 * request time (header-signed requests: within AUTH_MAX_SKEW_SEC of req->now; presigned:
 * not expired), the signed headers (Host must be signed, and so must every x-amz-* header
 * sent), and the signature, compared in constant time.
 *
 * Returns 0 when the request is authenticated or anonymous (out->scheme says which; whether
 * an anonymous request may touch a bucket is the gateway's call). Returns AUG_EINVAL when it
 * must be refused, with out->s3_code set, among: InvalidAccessKeyId, SignatureDoesNotMatch,
 * AccessDenied (expired presigned URL, missing date, unsigned x-amz-* headers),
 * RequestTimeTooSkewed, AuthorizationHeaderMalformed, AuthorizationQueryParametersError,
 * InvalidArgument (unknown scheme, two schemes at once, bad x-amz-content-sha256),
 * InvalidRequest (x-amz-content-sha256 missing), MissingContentLength (streaming without
 * x-amz-decoded-content-length), NotImplemented (SigV4a); and err->msg the sentence for the
 * client. AUG_ENOMEM when memory runs out. Never logs secrets; logs the canonical request
 * and string to sign at debug level when a signature does not match. */
int auth_verify(const auth_creds_t *creds, const auth_request_t *req, auth_result_t *out,
                aug_err_t *err);
/* Clear the derived key and signature held in res. */
void auth_result_wipe(auth_result_t *res);
/* "anonymous", "sigv4", "sigv4-presigned", "sigv2", "sigv2-query": for the access log. */
const char *auth_scheme_name(auth_scheme_t scheme);
/* HTTP status S3 answers with for an error code produced here (403 for the signature and
 * access errors, 400 for malformed requests, 411 MissingContentLength, 501
 * NotImplemented); 400 for codes it does not know, 500 for NULL. */
int auth_http_status(const char *s3_code);

/* ---- aws-chunked bodies ------------------------------------------------------------------
 *
 * A body sent with one of the STREAMING payload kinds is a sequence of frames
 *
 *     HEX-SIZE;chunk-signature=SIG\r\n DATA \r\n         (signed kinds)
 *     HEX-SIZE\r\n DATA \r\n                             (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
 *
 * ending with a frame of size 0, then, for the TRAILER kinds, trailer lines such as
 * "x-amz-checksum-crc32c:sOO8/Q==" (and "x-amz-trailer-signature:SIG" for the signed one)
 * and an empty line. Each chunk signature chains from the previous one, starting from the
 * request's seed signature; the trailer signature chains from the final chunk's.
 *
 * The decoder is push-style: give it body bytes as they arrive, split anywhere. It hands
 * decoded payload bytes to a sink as soon as they arrive, BEFORE the signature of their
 * chunk (which follows them) has been checked: the gateway must treat the object as
 * unwritten until auth_chunked_finish() returns 0, and abandon it on any error. Memory use
 * is fixed (a few hundred bytes plus the trailer lines), whatever the chunk sizes. */

typedef struct auth_chunked auth_chunked_t;

/* Consume len decoded payload bytes; return 0, or a negative AUG_E* code to stop. */
typedef int (*auth_chunked_sink_fn)(void *arg, const void *data, size_t len);

/* A decoder for the body of the request auth verified. auth->payload must be one of the
 * STREAMING kinds and auth->decoded_length known (auth_verify() ensures both). Copies what it
 * needs from auth. Caller frees *out with auth_chunked_free(). AUG_EINVAL, AUG_ENOMEM. */
int auth_chunked_new(const auth_result_t *auth, auth_chunked_t **out, aug_err_t *err);
/* Decode len more body bytes, passing payload bytes to sink(arg, ...). Returns 0; AUG_EINVAL
 * when the body is malformed, a signature does not match or the payload outgrows
 * x-amz-decoded-content-length (see auth_chunked_s3_code()); or the sink's own negative code.
 * After an error the decoder refuses further input with the same code. */
int auth_chunked_feed(auth_chunked_t *dec, const void *data, size_t len, auth_chunked_sink_fn sink,
                      void *arg, aug_err_t *err);
/* Call at the end of the body: checks that the final chunk, the trailer (its signature, and
 * every trailer x-amz-trailer announced) and the closing empty line were all seen, and that
 * the payload was exactly x-amz-decoded-content-length bytes. Returns 0 or AUG_EINVAL. */
int auth_chunked_finish(auth_chunked_t *dec, aug_err_t *err);
/* The S3 error code of the decoder's failure, NULL if none: IncompleteBody (body ended early
 * or the length differs), InvalidRequest (malformed framing), SignatureDoesNotMatch (a chunk
 * or the trailer), MalformedTrailerError (bad, unannounced or missing trailer). NULL after a
 * sink error too: that failure is the gateway's own. */
const char *auth_chunked_s3_code(const auth_chunked_t *dec);
/* Payload bytes decoded so far. */
uint64_t auth_chunked_decoded_bytes(const auth_chunked_t *dec);
/* The value of trailer name (lower case, e.g. "x-amz-checksum-crc32c") once received, else
 * NULL. The checksum it carries is for the gateway to compare with the decoded bytes. Valid
 * until auth_chunked_free(). */
const char *auth_chunked_trailer(const auth_chunked_t *dec, const char *name);
/* Free dec and wipe its key. NULL is a no-op. */
void auth_chunked_free(auth_chunked_t *dec);

/* ---- internal: shared by the gateway/auth_*.c files, not for the rest of the gateway ---- */

/* The secret of key, for computing signatures. Never log it or copy it into a message. */
const char *auth_key_secret(const auth_key_t *key);

/* A growable byte string; an allocation failure sets oom and makes later appends no-ops. */
typedef struct auth_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len, cap;
    bool oom;
} auth_buf_t;
void auth_buf_put(auth_buf_t *b, const void *data, size_t len);
void auth_buf_puts(auth_buf_t *b, const char *s);
void auth_buf_putc(auth_buf_t *b, char c);
void auth_buf_free(auth_buf_t *b);

/* One query parameter, percent-decoded (name and value may hold any byte, even NUL). */
typedef struct auth_param {
    char *name, *value; /* value is "" when the parameter had no '=' */
    size_t name_len, value_len;
    bool has_value; /* "name=..." rather than just "name" */
} auth_param_t;
/* Split a raw query into decoded parameters, in order. Caller frees with
 * auth_params_free(). AUG_ENOMEM. */
int auth_params_parse(const char *query, auth_param_t **out, size_t *n);
void auth_params_free(auth_param_t *params, size_t n);
/* The first parameter named name (exact, case-sensitive), or NULL; *count (may be NULL)
 * gets how many there are. */
const auth_param_t *auth_param_find(const auth_param_t *params, size_t n, const char *name,
                                    size_t *count);

/* The first header named name (any case), or NULL; *count (may be NULL) gets how many. */
const char *auth_header_get(const auth_request_t *req, const char *name, size_t *count);
/* Parse an HTTP date (RFC 1123 "Sun, 06 Nov 1994 08:49:37 GMT", also with a "+0000"-style
 * zone as in AWS's examples; RFC 850; asctime) into seconds since the epoch. 0 or
 * AUG_EINVAL. */
int auth_parse_http_date(const char *s, int64_t *out);
/* Record a refusal: out->s3_code = code and the printf-style sentence in err. Returns
 * AUG_EINVAL. */
int auth_fail(auth_result_t *out, aug_err_t *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Log, at debug level, why a signature did not match: the canonical request (NULL for SigV2)
 * and string to sign, with secret-bearing values (SSE-C keys, session tokens) redacted. */
void auth_log_mismatch(const char *scheme, const char *access_key, const char *creq,
                       const char *sts);
/* SigV2 verification of a request already known to carry V2 credentials (query_auth: in the
 * query, else in the Authorization header value authz). Called by auth_verify(). */
int auth_verify_v2(const auth_creds_t *creds, const auth_request_t *req, const char *authz,
                   const auth_param_t *params, size_t n_params, bool query_auth, auth_result_t *out,
                   aug_err_t *err);

#endif
