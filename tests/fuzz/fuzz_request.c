/* fuzz_request.c - libFuzzer target for what the gateway does with untrusted bytes before any
 * data is stored: request target parsing, signature canonicalisation and verification (V4 and
 * V2, header and query), aws-chunked body decoding, and the XML request bodies.
 *
 * Input: line 1 method, line 2 target ("/bucket/key?query"), then "Name: value" header lines
 * up to an empty line, then the body. */
#include "gateway/auth.h"
#include "gateway/gw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

static auth_creds_t *creds;

static int sink(void *arg, const void *data, size_t len)
{
    (void)arg, (void)data, (void)len;
    return 0;
}

/* Cut the next '\n'-terminated line out of buf (in place); NULL when none is left. */
static char *next_line(char **buf, char *end)
{
    if (*buf >= end) return NULL;
    char *line = *buf;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl) {
        *buf = end;
        return line;
    }
    *nl = '\0';
    if (nl > line && nl[-1] == '\r') nl[-1] = '\0';
    *buf = nl + 1;
    return line;
}

static void fuzz_bodies(const uint8_t *body, size_t len)
{
    char region[64];
    s3xml_parse_location(body, len, region, sizeof(region));
    s3xml_part_t *parts;
    size_t n;
    if (!s3xml_parse_complete(body, len, &parts, &n)) free(parts);
    int quiet;
    char **keys;
    if (!s3xml_parse_delete(body, len, &quiet, &keys, &n)) {
        for (size_t i = 0; i < n; i++) free(keys[i]);
        free(keys);
    }
}

static void fuzz_auth(const char *method, const gw_target_t *t, const auth_header_t *headers,
                      size_t n_headers, const uint8_t *body, size_t body_len)
{
    auth_request_t req = {.method = method, .path = t->raw_path, .query = t->raw_query,
                          .headers = headers, .n_headers = n_headers,
                          /* the time of AWS's documented examples, so their seeds verify */
                          .now = 1369353600, .region = "us-east-1"};
    auth_result_t res;
    aug_err_t err;
    if (auth_verify(creds, &req, &res, &err) == 0 &&
        (res.payload == AUTH_PAYLOAD_STREAMING || res.payload == AUTH_PAYLOAD_STREAMING_TRAILER ||
         res.payload == AUTH_PAYLOAD_UNSIGNED_TRAILER)) {
        auth_chunked_t *dec;
        if (auth_chunked_new(&res, &dec, &err) == 0) {
            /* split the body in two to exercise resumption at an arbitrary point */
            size_t half = body_len / 2;
            if (auth_chunked_feed(dec, body, half, sink, NULL, &err) == 0)
                auth_chunked_feed(dec, body + half, body_len - half, sink, NULL, &err);
            auth_chunked_finish(dec, &err);
            auth_chunked_free(dec);
        }
    }
    auth_result_wipe(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!creds && auth_creds_parse("AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
                                   "AKID2 secret2 r:public rw:b*\n",
                                   "fuzz", &creds, NULL) != 0)
        abort();
    aug_log_set_level(AUG_LOG_ERROR);
    char *copy = malloc(size + 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *p = copy, *end = copy + size;
    char *method = next_line(&p, end);
    char *target = next_line(&p, end);
    auth_header_t headers[MAX_HEADERS];
    size_t n = 0;
    const char *host = NULL;
    char *line;
    while ((line = next_line(&p, end)) && *line && n < MAX_HEADERS) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ') value++;
        headers[n].name = line;
        headers[n].value = value;
        if (strcasecmp(line, "host") == 0) host = value;
        n++;
    }
    const uint8_t *body = (const uint8_t *)p;
    size_t body_len = (size_t)(end - p);
    if (method && target) {
        gw_target_t t;
        const char *why;
        if (gw_target_parse(target, host, "s3.example.com", &t, &why) == 0) {
            fuzz_auth(method, &t, headers, n, body, body_len);
            gw_target_free(&t);
        }
    }
    fuzz_bodies(body, body_len);
    free(copy);
    return 0;
}
