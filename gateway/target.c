/* target.c - the request target as S3 reads it: bucket (from the path or a virtual host), key,
 * and query parameters, percent-decoded; the raw path and query kept for signatures. Pure
 * string work, so the fuzz target can drive it. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *gw_percent_decode(const char *s, size_t n, int plus_space)
{
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3) {
                free(out);
                return NULL;
            }
            int a = hexval((unsigned char)s[i + 1]), b = hexval((unsigned char)s[i + 2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(a << 4 | b);
            i += 2;
        } else if (s[i] == '+' && plus_space) {
            *o++ = ' ';
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static int parse_query(gw_target_t *t)
{
    const char *q = t->raw_query;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n > 0) {
            const char *eq = memchr(q, '=', n);
            size_t nlen = eq ? (size_t)(eq - q) : n;
            gw_param_t *p = realloc(t->params, (t->n_params + 1) * sizeof(*p));
            if (!p) return -1;
            t->params = p;
            p = &t->params[t->n_params];
            p->name = gw_percent_decode(q, nlen, 1);
            p->value = eq ? gw_percent_decode(eq + 1, n - nlen - 1, 1) : strdup("");
            if (!p->name || !p->value) {
                free(p->name);
                free(p->value);
                return -1;
            }
            t->n_params++;
        }
        q += n + (amp ? 1 : 0);
    }
    return 0;
}

/* The bucket a virtual-hosted style Host header names, when domain is configured. */
static int bucket_from_host(const char *host, const char *domain, char *bucket, size_t len)
{
    if (!domain || !*domain || !host) return 0;
    size_t hlen = strcspn(host, ":"), dlen = strlen(domain);
    if (hlen <= dlen + 1 || host[hlen - dlen - 1] != '.' ||
        strncasecmp(host + hlen - dlen, domain, dlen) != 0)
        return 0;
    size_t blen = hlen - dlen - 1;
    if (blen >= len) blen = len - 1;
    memcpy(bucket, host, blen);
    bucket[blen] = '\0';
    return 1;
}

void gw_target_free(gw_target_t *t)
{
    for (size_t i = 0; i < t->n_params; i++) {
        free(t->params[i].name);
        free(t->params[i].value);
    }
    free(t->params);
    free(t->raw_path);
    free(t->raw_query);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

int gw_target_parse(const char *raw_uri, const char *host, const char *domain, gw_target_t *t,
                    const char **why)
{
    memset(t, 0, sizeof(*t));
    *why = NULL;
    const char *q = strchr(raw_uri, '?');
    size_t plen = q ? (size_t)(q - raw_uri) : strlen(raw_uri);
    t->raw_path = strndup(raw_uri, plen);
    t->raw_query = strdup(q ? q + 1 : "");
    if (!t->raw_path || !t->raw_query || parse_query(t) != 0 || t->raw_path[0] != '/') {
        *why = "Couldn't parse the specified URI.";
        gw_target_free(t);
        return -1;
    }
    char *path = gw_percent_decode(t->raw_path, plen, 0);
    if (!path) {
        *why = "The URI is not properly percent-encoded.";
        gw_target_free(t);
        return -1;
    }
    const char *rest = path + 1;
    if (!bucket_from_host(host, domain, t->bucket, sizeof(t->bucket))) {
        size_t blen = strcspn(rest, "/");
        if (blen >= sizeof(t->bucket)) blen = sizeof(t->bucket) - 1;
        memcpy(t->bucket, rest, blen);
        t->bucket[blen] = '\0';
        rest += strcspn(rest, "/");
        if (*rest == '/') rest++;
    }
    if (*rest && !(t->key = strdup(rest))) {
        free(path);
        gw_target_free(t);
        *why = "out of memory";
        return -1;
    }
    free(path);
    return 0;
}
