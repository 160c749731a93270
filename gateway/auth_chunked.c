/* auth_chunked.c - decoder for aws-chunked request bodies: frames, per-chunk SigV4 signatures,
 * trailing headers and their signature, checked as bytes arrive. */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A chunk header is "HEX;chunk-signature=<64 hex>" (under 100 bytes) and a trailer line a
 * checksum or the trailer signature; longer lines are refused rather than buffered. */
#define LINE_MAX_BYTES 1024
/* Trailers a request may announce and send (SDKs send one checksum). */
#define TRAILERS_MAX 8
/* Hex digits of a chunk size: 16 cover any 64-bit length. */
#define SIZE_DIGITS_MAX 16

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum {
    ST_HEADER,     /* reading "HEX[;chunk-signature=SIG]\r\n" */
    ST_DATA,       /* reading the chunk's bytes */
    ST_DATA_CRLF,  /* reading the "\r\n" after them */
    ST_FINAL_CRLF, /* after the 0-size chunk of a body without trailer: "\r\n" */
    ST_TRAILER,    /* trailer lines up to an empty line */
    ST_DONE,
    ST_FAILED,
};

struct auth_chunked {
    bool signed_chunks; /* chunk-signature on every frame */
    bool has_trailer;   /* a trailer section follows the 0-size chunk */
    uint8_t key[32];
    char amz_date[17];
    char scope[AUTH_SCOPE_MAX + 1];
    char prev_sig[65]; /* hex signature the next one chains from */
    uint64_t decoded_length;
    uint64_t total; /* payload bytes passed on */

    int state;
    char line[LINE_MAX_BYTES];
    size_t line_len;
    uint64_t remaining;   /* bytes of the current chunk still to come */
    uint64_t chunk_start; /* payload offset of the current chunk */
    int crlf_pos;         /* bytes of a "\r\n" seen */
    uint8_t chunk_sig[32];
    EVP_MD_CTX *md;

    size_t n_announced;
    char announced[TRAILERS_MAX][AUTH_TRAILER_MAX + 1];
    size_t n_trailers;
    char *trailer_name[TRAILERS_MAX];
    char *trailer_value[TRAILERS_MAX];
    bool have_trailer_sig;
    uint8_t trailer_sig[32];
    bool blank_seen; /* an empty line before any trailer line (tolerated once) */

    const char *s3_code;
    aug_err_t failure; /* repeated by every call once failed */
};

/* ---- failure ------------------------------------------------------------------------------ */

static int chunked_fail(auth_chunked_t *d, aug_err_t *err, int code, const char *s3_code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int chunked_fail(auth_chunked_t *d, aug_err_t *err, int code, const char *s3_code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->failure.msg, sizeof(d->failure.msg), fmt, ap);
    va_end(ap);
    d->failure.code = code;
    d->s3_code = s3_code;
    d->state = ST_FAILED;
    if (err) *err = d->failure;
    return code;
}

static int repeat_failure(const auth_chunked_t *d, aug_err_t *err)
{
    if (err) *err = d->failure;
    return d->failure.code;
}

/* ---- setup -------------------------------------------------------------------------------- */

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

/* Copy len bytes of s without surrounding spaces or tabs into out (cap bytes); false if too
 * long. */
static bool copy_trimmed(char *out, size_t cap, const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= cap) return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

int auth_chunked_new(const auth_result_t *auth, auth_chunked_t **out, aug_err_t *err)
{
    *out = NULL;
    if (auth->payload != AUTH_PAYLOAD_STREAMING &&
        auth->payload != AUTH_PAYLOAD_STREAMING_TRAILER &&
        auth->payload != AUTH_PAYLOAD_UNSIGNED_TRAILER)
        return aug_err_set(err, AUG_EINVAL, "the request body is not aws-chunked");
    if (auth->decoded_length < 0)
        return aug_err_set(err, AUG_EINVAL, "x-amz-decoded-content-length is unknown");
    auth_chunked_t *d = calloc(1, sizeof(*d));
    if (!d) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    d->signed_chunks = auth->payload != AUTH_PAYLOAD_UNSIGNED_TRAILER;
    d->has_trailer = auth->payload != AUTH_PAYLOAD_STREAMING;
    d->decoded_length = (uint64_t)auth->decoded_length;
    d->state = ST_HEADER;
    if (d->signed_chunks) {
        if (auth->scheme != AUTH_V4_HEADER || strlen(auth->seed_signature) != 64) {
            free(d);
            return aug_err_set(err, AUG_EINVAL,
                               "signed aws-chunked bodies need a SigV4 Authorization header");
        }
        memcpy(d->key, auth->signing_key, sizeof(d->key));
        memcpy(d->amz_date, auth->amz_date, sizeof(d->amz_date));
        memcpy(d->scope, auth->scope, sizeof(d->scope));
        memcpy(d->prev_sig, auth->seed_signature, sizeof(d->prev_sig));
        d->md = EVP_MD_CTX_new();
        if (!d->md) {
            auth_chunked_free(d);
            return aug_err_set(err, AUG_ENOMEM, "out of memory");
        }
    }
    /* x-amz-trailer: "name[,name...]" */
    const char *p = auth->trailer;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[AUTH_TRAILER_MAX + 1];
        if (copy_trimmed(name, sizeof(name), p, l) && name[0]) {
            if (d->n_announced == TRAILERS_MAX) {
                auth_chunked_free(d);
                return aug_err_set(err, AUG_EINVAL, "x-amz-trailer names more than %d trailers",
                                   TRAILERS_MAX);
            }
            lower(name);
            memcpy(d->announced[d->n_announced++], name, sizeof(name));
        }
        if (!e) break;
        p = e + 1;
    }
    *out = d;
    return 0;
}

void auth_chunked_free(auth_chunked_t *d)
{
    if (!d) return;
    EVP_MD_CTX_free(d->md);
    for (size_t i = 0; i < d->n_trailers; i++) {
        free(d->trailer_name[i]);
        free(d->trailer_value[i]);
    }
    OPENSSL_cleanse(d->key, sizeof(d->key));
    free(d);
}

/* ---- signatures --------------------------------------------------------------------------- */

/* HMAC the string to sign "ALGO\nDATE\nSCOPE\nPREV\n<rest>" and compare with want; on a
 * match the new signature becomes prev_sig. */
static bool sign_and_check(auth_chunked_t *d, const char *algo, const char *rest,
                           const uint8_t want[32])
{
    char sts[512];
    int n = snprintf(sts, sizeof(sts), "%s\n%s\n%s\n%s\n%s", algo, d->amz_date, d->scope,
                     d->prev_sig, rest);
    if (n < 0 || (size_t)n >= sizeof(sts)) return false;
    uint8_t mac[32];
    unsigned int mlen = sizeof(mac);
    if (!HMAC(EVP_sha256(), d->key, sizeof(d->key), (const unsigned char *)sts, (size_t)n, mac,
              &mlen))
        return false;
    bool ok = CRYPTO_memcmp(mac, want, sizeof(mac)) == 0;
    if (ok) aug_hex(mac, sizeof(mac), d->prev_sig);
    return ok;
}

/* The chunk just read (its data hashed into d->md) against its chunk-signature. */
static int check_chunk_signature(auth_chunked_t *d, aug_err_t *err)
{
    uint8_t md[32];
    unsigned int mlen = sizeof(md);
    if (!EVP_DigestFinal_ex(d->md, md, &mlen))
        return chunked_fail(d, err, AUG_EIO, NULL, "OpenSSL could not compute a SHA-256");
    char rest[2 * 65 + 1];
    memcpy(rest, EMPTY_SHA256 "\n", 65);
    aug_hex(md, sizeof(md), rest + 65);
    if (!sign_and_check(d, "AWS4-HMAC-SHA256-PAYLOAD", rest, d->chunk_sig))
        return chunked_fail(d, err, AUG_EINVAL, "SignatureDoesNotMatch",
                            "The chunk signature at payload offset %llu does not match: the "
                            "chunk was altered, reordered or signed with another key.",
                            (unsigned long long)d->chunk_start);
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int start_chunk(auth_chunked_t *d, aug_err_t *err)
{
    if (d->signed_chunks && !EVP_DigestInit_ex(d->md, EVP_sha256(), NULL))
        return chunked_fail(d, err, AUG_EIO, NULL, "OpenSSL could not start a SHA-256");
    return 0;
}

/* "HEX;chunk-signature=SIG" (signed) or "HEX[;extensions]" (unsigned), without its CRLF. */
static int parse_chunk_header(auth_chunked_t *d, aug_err_t *err)
{
    const char *s = d->line;
    size_t len = d->line_len, i = 0;
    uint64_t size = 0;
    while (i < len && hexval(s[i]) >= 0) {
        if (i == SIZE_DIGITS_MAX) break;
        size = size << 4 | (uint64_t)hexval(s[i]);
        i++;
    }
    if (i == 0 || (i < len && s[i] != ';'))
        return chunked_fail(d, err, AUG_EINVAL, "InvalidRequest",
                            "Malformed aws-chunked body: a chunk must start with its size in "
                            "hexadecimal.");
    if (d->signed_chunks) {
        static const char ext[] = ";chunk-signature=";
        size_t el = sizeof(ext) - 1;
        if (len - i != el + 64 || memcmp(s + i, ext, el) != 0 ||
            aug_unhex(s + i + el, d->chunk_sig, 32) != 0)
            return chunked_fail(d, err, AUG_EINVAL, "InvalidRequest",
                                "Malformed aws-chunked body: each chunk size must be followed by "
                                "';chunk-signature=' and 64 hexadecimal digits.");
    }
    if (size > d->decoded_length - d->total)
        return chunked_fail(d, err, AUG_EINVAL, "IncompleteBody",
                            "The aws-chunked body holds more than x-amz-decoded-content-length "
                            "(%llu) bytes.",
                            (unsigned long long)d->decoded_length);
    int rc = start_chunk(d, err);
    if (rc) return rc;
    d->chunk_start = d->total;
    if (size > 0) {
        d->remaining = size;
        d->state = ST_DATA;
        return 0;
    }
    if (d->signed_chunks && (rc = check_chunk_signature(d, err))) return rc;
    d->state = d->has_trailer ? ST_TRAILER : ST_FINAL_CRLF;
    d->crlf_pos = 0;
    return 0;
}

/* ---- trailers ----------------------------------------------------------------------------- */

static bool announced(const auth_chunked_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_announced; i++)
        if (strcmp(d->announced[i], name) == 0) return true;
    return false;
}

static const char *find_trailer(const auth_chunked_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_trailers; i++)
        if (strcmp(d->trailer_name[i], name) == 0) return d->trailer_value[i];
    return NULL;
}

/* One trailer line "name:value" (without line ending). */
static int parse_trailer_line(auth_chunked_t *d, aug_err_t *err)
{
    const char *colon = memchr(d->line, ':', d->line_len);
    char name[AUTH_TRAILER_MAX + 1], value[LINE_MAX_BYTES];
    if (!colon || !copy_trimmed(name, sizeof(name), d->line, (size_t)(colon - d->line)) ||
        !name[0] ||
        !copy_trimmed(value, sizeof(value), colon + 1, d->line_len - (size_t)(colon - d->line) - 1))
        return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                            "The request contained trailing data that was not well-formed: "
                            "expected 'name:value' lines.");
    lower(name);
    if (d->have_trailer_sig)
        return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                            "The request contained trailing data after x-amz-trailer-signature.");
    if (strcmp(name, "x-amz-trailer-signature") == 0) {
        if (!d->signed_chunks)
            return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                                "x-amz-trailer-signature was sent with an unsigned payload.");
        if (strlen(value) != 64 || aug_unhex(value, d->trailer_sig, 32) != 0)
            return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                                "x-amz-trailer-signature must be 64 hexadecimal digits.");
        d->have_trailer_sig = true;
        return 0;
    }
    if (!announced(d, name))
        return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                            "The trailer '%.64s' was not announced in x-amz-trailer.", name);
    if (find_trailer(d, name))
        return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                            "The trailer '%.64s' was sent twice.", name);
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return chunked_fail(d, err, AUG_ENOMEM, NULL, "out of memory");
    }
    d->trailer_name[d->n_trailers] = n;
    d->trailer_value[d->n_trailers] = v;
    d->n_trailers++; /* n_trailers <= n_announced <= TRAILERS_MAX: names are unique */
    return 0;
}

/* The trailer section ended: every announced trailer present, and its signature right. */
static int end_of_trailer(auth_chunked_t *d, aug_err_t *err)
{
    for (size_t i = 0; i < d->n_announced; i++)
        if (!find_trailer(d, d->announced[i]))
            return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                                "The trailer '%.64s' announced in x-amz-trailer is missing.",
                                d->announced[i]);
    if (d->signed_chunks) {
        if (!d->have_trailer_sig)
            return chunked_fail(d, err, AUG_EINVAL, "MalformedTrailerError",
                                "The trailer has no x-amz-trailer-signature.");
        /* the signed form of the trailer: "name:value\n" per trailer, in the order sent */
        auth_buf_t t = {0};
        for (size_t i = 0; i < d->n_trailers; i++) {
            auth_buf_puts(&t, d->trailer_name[i]);
            auth_buf_putc(&t, ':');
            auth_buf_puts(&t, d->trailer_value[i]);
            auth_buf_putc(&t, '\n');
        }
        auth_buf_put(&t, "", 0);
        if (t.oom) {
            auth_buf_free(&t);
            return chunked_fail(d, err, AUG_ENOMEM, NULL, "out of memory");
        }
        uint8_t md[32];
        char hex[65];
        EVP_Digest(t.data, t.len, md, NULL, EVP_sha256(), NULL);
        auth_buf_free(&t);
        aug_hex(md, sizeof(md), hex);
        if (!sign_and_check(d, "AWS4-HMAC-SHA256-TRAILER", hex, d->trailer_sig))
            return chunked_fail(d, err, AUG_EINVAL, "SignatureDoesNotMatch",
                                "The trailer signature does not match: the trailer was altered "
                                "or signed with another key.");
    }
    d->state = ST_DONE;
    return 0;
}

/* An empty trailer line. The first one may come before any trailer: clients differ on whether
 * the 0-size chunk ends with its own CRLF. */
static int trailer_blank_line(auth_chunked_t *d, aug_err_t *err)
{
    if (d->n_trailers == 0 && !d->have_trailer_sig && !d->blank_seen) {
        d->blank_seen = true;
        return 0;
    }
    return end_of_trailer(d, err);
}

/* ---- feeding ------------------------------------------------------------------------------ */

/* Add up to len bytes to the line buffer, up to and including '\n'. Returns how many were
 * taken; *complete tells whether the line ended. */
static size_t take_line(auth_chunked_t *d, const char *p, size_t len, bool *complete,
                        aug_err_t *err, int *rc)
{
    const char *nl = memchr(p, '\n', len);
    size_t n = nl ? (size_t)(nl - p) + 1 : len;
    *complete = nl != NULL;
    *rc = 0;
    if (d->line_len + n > sizeof(d->line)) {
        *rc = chunked_fail(d, err, AUG_EINVAL,
                           d->state == ST_TRAILER ? "MalformedTrailerError" : "InvalidRequest",
                           "Malformed aws-chunked body: a %s line is longer than %d bytes.",
                           d->state == ST_TRAILER ? "trailer" : "chunk header", LINE_MAX_BYTES);
        return n;
    }
    memcpy(d->line + d->line_len, p, n);
    d->line_len += n;
    return n;
}

int auth_chunked_feed(auth_chunked_t *d, const void *data, size_t len, auth_chunked_sink_fn sink,
                      void *arg, aug_err_t *err)
{
    const char *p = data;
    int rc = 0;
    if (d->state == ST_FAILED) return repeat_failure(d, err);
    while (len > 0) {
        switch (d->state) {
        case ST_HEADER:
        case ST_TRAILER: {
            bool complete;
            size_t n = take_line(d, p, len, &complete, err, &rc);
            if (rc) return rc;
            p += n;
            len -= n;
            if (!complete) break;
            d->line_len--; /* the '\n' */
            bool cr = d->line_len > 0 && d->line[d->line_len - 1] == '\r';
            if (cr) d->line_len--;
            if (d->state == ST_HEADER) {
                if (!cr)
                    return chunked_fail(d, err, AUG_EINVAL, "InvalidRequest",
                                        "Malformed aws-chunked body: a chunk header must end "
                                        "with CRLF.");
                rc = parse_chunk_header(d, err);
            } else {
                rc = d->line_len == 0 ? trailer_blank_line(d, err) : parse_trailer_line(d, err);
            }
            d->line_len = 0;
            if (rc) return rc;
            break;
        }
        case ST_DATA: {
            size_t n = len < d->remaining ? len : (size_t)d->remaining;
            if (d->signed_chunks && !EVP_DigestUpdate(d->md, p, n))
                return chunked_fail(d, err, AUG_EIO, NULL, "OpenSSL could not compute a SHA-256");
            if (sink && (rc = sink(arg, p, n)) != 0)
                return chunked_fail(d, err, rc, NULL, "the payload consumer stopped (%s)",
                                    aug_strerror(rc));
            d->total += n;
            d->remaining -= n;
            p += n;
            len -= n;
            if (d->remaining == 0) {
                if (d->signed_chunks && (rc = check_chunk_signature(d, err))) return rc;
                d->state = ST_DATA_CRLF;
                d->crlf_pos = 0;
            }
            break;
        }
        case ST_DATA_CRLF:
        case ST_FINAL_CRLF:
            if (*p != "\r\n"[d->crlf_pos])
                return chunked_fail(d, err, AUG_EINVAL, "InvalidRequest",
                                    "Malformed aws-chunked body: chunk data must be followed "
                                    "by CRLF.");
            p++;
            len--;
            if (++d->crlf_pos == 2) d->state = d->state == ST_DATA_CRLF ? ST_HEADER : ST_DONE;
            break;
        case ST_DONE:
            /* stray line endings after the end are harmless; anything else is not */
            if (*p != '\r' && *p != '\n')
                return chunked_fail(d, err, AUG_EINVAL, "InvalidRequest",
                                    "Malformed aws-chunked body: data after the final chunk.");
            p++;
            len--;
            break;
        default:
            return repeat_failure(d, err);
        }
    }
    return 0;
}

int auth_chunked_finish(auth_chunked_t *d, aug_err_t *err)
{
    int rc;
    switch (d->state) {
    case ST_FAILED:
        return repeat_failure(d, err);
    case ST_DONE:
        break;
    case ST_FINAL_CRLF:
        /* the final chunk and its signature arrived; only its closing CRLF did not */
        break;
    case ST_TRAILER:
        /* every line complete (the closing empty line may be missing): judge the trailer */
        if (d->line_len == 0) {
            if ((rc = end_of_trailer(d, err))) return rc;
            break;
        }
        return chunked_fail(d, err, AUG_EINVAL, "IncompleteBody",
                            "The aws-chunked body ended inside its trailer.");
    default:
        return chunked_fail(d, err, AUG_EINVAL, "IncompleteBody",
                            "The aws-chunked body ended before its final 0-size chunk.");
    }
    if (d->total != d->decoded_length)
        return chunked_fail(d, err, AUG_EINVAL, "IncompleteBody",
                            "The aws-chunked body carried %llu bytes but "
                            "x-amz-decoded-content-length says %llu.",
                            (unsigned long long)d->total, (unsigned long long)d->decoded_length);
    d->state = ST_DONE;
    return 0;
}

const char *auth_chunked_s3_code(const auth_chunked_t *d)
{
    return d->state == ST_FAILED ? d->s3_code : NULL;
}

uint64_t auth_chunked_decoded_bytes(const auth_chunked_t *d)
{
    return d->total;
}

const char *auth_chunked_trailer(const auth_chunked_t *d, const char *name)
{
    return find_trailer(d, name);
}
