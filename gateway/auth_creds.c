/* auth_creds.c - the gateway's credentials file: access keys, secrets and bucket permissions. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A credentials file is a handful of lines; anything this large is a mistake. */
#define CREDS_FILE_MAX (4 << 20)

/* One "r:" or "rw:" pattern: a bucket name, or a prefix when it ended in '*'. */
typedef struct auth_grant {
    char *pattern; /* without the '*'; "" with prefix set matches every bucket */
    bool prefix;
    bool write;
} auth_grant_t;

struct auth_key {
    char id[AUTH_ACCESS_KEY_MAX + 1];
    char secret[AUTH_SECRET_MAX + 1];
    bool unrestricted; /* no permissions given, or '*' */
    size_t n_grants;
    auth_grant_t *grants;
};

struct auth_creds {
    size_t n;
    auth_key_t *keys; /* sorted by id */
};

/* ---- parsing ------------------------------------------------------------------------------ */

static bool is_field_sep(char c)
{
    return c == ' ' || c == '\t';
}

/* Printable ASCII without spaces: what keys, secrets and permission fields are made of. */
static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* Bucket names as S3 allows them, with legacy upper case and '_' tolerated. */
static bool is_bucket_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static void key_free_grants(auth_key_t *k)
{
    for (size_t i = 0; i < k->n_grants; i++)
        free(k->grants[i].pattern);
    free(k->grants);
    k->grants = NULL;
    k->n_grants = 0;
}

/* Parse one comma-separated bucket list (len bytes at s) into grants of k. */
static int parse_bucket_list(auth_key_t *k, const char *s, size_t len, bool write, const char *name,
                             int line, int field, aug_err_t *err)
{
    if (len == 0)
        return aug_err_set(err, AUG_ECONFIG, "%s:%d: field %d: empty bucket list", name, line,
                           field);
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && s[end] != ',')
            end++;
        size_t n = end - start;
        const char *p = s + start;
        bool prefix = n > 0 && p[n - 1] == '*';
        size_t plen = prefix ? n - 1 : n;
        bool ok = n > 0 && plen <= 63 && (plen > 0 || prefix);
        for (size_t i = 0; ok && i < plen; i++)
            ok = is_bucket_char(p[i]);
        if (!ok)
            return aug_err_set(err, AUG_ECONFIG,
                               "%s:%d: field %d: bad bucket name or pattern (use names of "
                               "a-z 0-9 . -, optionally ending in '*', separated by commas)",
                               name, line, field);
        auth_grant_t *g = realloc(k->grants, (k->n_grants + 1) * sizeof(*g));
        if (!g) return aug_err_set(err, AUG_ENOMEM, "out of memory");
        k->grants = g;
        g = &k->grants[k->n_grants];
        g->pattern = strndup(p, plen);
        if (!g->pattern) return aug_err_set(err, AUG_ENOMEM, "out of memory");
        g->prefix = prefix;
        g->write = write;
        k->n_grants++;
        start = end + 1;
    }
    return 0;
}

/* Parse one permission field. Never quotes the field: a secret written in the wrong column
 * would end up here. */
static int parse_permission(auth_key_t *k, const char *s, size_t len, const char *name, int line,
                            int field, aug_err_t *err)
{
    if (len == 1 && s[0] == '*') {
        k->unrestricted = true;
        return 0;
    }
    if (len >= 3 && memcmp(s, "rw:", 3) == 0)
        return parse_bucket_list(k, s + 3, len - 3, true, name, line, field, err);
    if (len >= 2 && memcmp(s, "r:", 2) == 0)
        return parse_bucket_list(k, s + 2, len - 2, false, name, line, field, err);
    return aug_err_set(err, AUG_ECONFIG,
                       "%s:%d: field %d: unknown permission (expected '*', 'rw:BUCKETS' or "
                       "'r:BUCKETS')",
                       name, line, field);
}

/* Parse one line (len bytes, no newline) into *k. Returns 1 when the line holds a key, 0 when
 * it is blank or a comment, or a negative code. */
static int parse_line(const char *s, size_t len, auth_key_t *k, const char *name, int line,
                      aug_err_t *err)
{
    memset(k, 0, sizeof(*k));
    int field = 0;
    size_t i = 0;
    int rc = 0;
    while (i < len) {
        while (i < len && is_field_sep(s[i]))
            i++;
        if (i >= len || s[i] == '#') break;
        size_t start = i;
        while (i < len && !is_field_sep(s[i]))
            i++;
        const char *f = s + start;
        size_t flen = i - start;
        field++;
        for (size_t j = 0; j < flen; j++) {
            if (!is_token_char((unsigned char)f[j])) {
                rc = aug_err_set(err, AUG_ECONFIG,
                                 "%s:%d: field %d contains a control or non-ASCII character", name,
                                 line, field);
                goto fail;
            }
        }
        if (field == 1) {
            if (flen > AUTH_ACCESS_KEY_MAX) {
                rc = aug_err_set(err, AUG_ECONFIG, "%s:%d: access key is longer than %d characters",
                                 name, line, AUTH_ACCESS_KEY_MAX);
                goto fail;
            }
            if (memchr(f, ':', flen)) {
                rc = aug_err_set(err, AUG_ECONFIG,
                                 "%s:%d: access key contains ':' (Signature V2 cannot carry it)",
                                 name, line);
                goto fail;
            }
            memcpy(k->id, f, flen);
            k->id[flen] = '\0';
        } else if (field == 2) {
            if (flen > AUTH_SECRET_MAX) {
                rc = aug_err_set(err, AUG_ECONFIG, "%s:%d: secret key is longer than %d characters",
                                 name, line, AUTH_SECRET_MAX);
                goto fail;
            }
            memcpy(k->secret, f, flen);
            k->secret[flen] = '\0';
        } else {
            rc = parse_permission(k, f, flen, name, line, field, err);
            if (rc) goto fail;
        }
    }
    if (field == 0) return 0;
    if (field == 1) {
        rc = aug_err_set(err, AUG_ECONFIG,
                         "%s:%d: missing secret key (expected 'ACCESS_KEY SECRET_KEY "
                         "[PERMISSION ...]')",
                         name, line);
        goto fail;
    }
    if (k->n_grants == 0) k->unrestricted = true; /* no permissions: every bucket */
    return 1;
fail:
    key_free_grants(k);
    OPENSSL_cleanse(k, sizeof(*k));
    return rc;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const auth_key_t *)a)->id, ((const auth_key_t *)b)->id);
}

int auth_creds_parse(const char *text, const char *name, auth_creds_t **out, aug_err_t *err)
{
    *out = NULL;
    auth_creds_t *c = calloc(1, sizeof(*c));
    if (!c) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    int *lines = NULL; /* line number of each key, for duplicate messages */
    size_t cap = 0;
    int line = 0;
    int rc = 0;
    const char *p = text;
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        size_t l = len;
        if (l > 0 && p[l - 1] == '\r') l--;
        auth_key_t k;
        rc = parse_line(p, l, &k, name, line, err);
        if (rc < 0) goto fail;
        if (rc == 1) {
            rc = 0;
            if (c->n == cap) {
                size_t ncap = cap ? 2 * cap : 8;
                auth_key_t *nk = realloc(c->keys, ncap * sizeof(*nk));
                int *nl = nk ? realloc(lines, ncap * sizeof(*nl)) : NULL;
                if (nk) c->keys = nk;
                if (nl) lines = nl;
                if (!nk || !nl) {
                    key_free_grants(&k);
                    OPENSSL_cleanse(&k, sizeof(k));
                    rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
                    goto fail;
                }
                cap = ncap;
            }
            for (size_t i = 0; i < c->n; i++) {
                if (strcmp(c->keys[i].id, k.id) == 0) {
                    rc = aug_err_set(err, AUG_ECONFIG,
                                     "%s:%d: duplicate access key (first defined on line %d)", name,
                                     line, lines[i]);
                    key_free_grants(&k);
                    OPENSSL_cleanse(&k, sizeof(k));
                    goto fail;
                }
            }
            lines[c->n] = line;
            c->keys[c->n++] = k;
        }
        p += len;
        if (*p == '\n') p++;
    }
    free(lines);
    if (c->n > 1) qsort(c->keys, c->n, sizeof(*c->keys), key_cmp);
    *out = c;
    return 0;
fail:
    free(lines);
    auth_creds_free(c);
    return rc;
}

int auth_creds_load(const char *path, auth_creds_t **out, aug_err_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return aug_err_set(err, AUG_ECONFIG,
                               "credentials file %s does not exist (create it with one "
                               "'ACCESS_KEY SECRET_KEY' per line, mode 600)",
                               path);
        return aug_err_set(err, AUG_ECONFIG, "cannot open credentials file %s: %s", path,
                           strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return aug_err_set(err, AUG_ECONFIG, "cannot stat credentials file %s: %s", path,
                           strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return aug_err_set(err, AUG_ECONFIG, "credentials file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return aug_err_set(err, AUG_ECONFIG,
                           "credentials file %s has mode %04o: group or others may access it; "
                           "run 'chmod 600 %s'",
                           path, (unsigned)(st.st_mode & 07777), path);
    }
    if (st.st_size > CREDS_FILE_MAX) {
        close(fd);
        return aug_err_set(err, AUG_ECONFIG, "credentials file %s is larger than %d bytes", path,
                           CREDS_FILE_MAX);
    }
    size_t size = (size_t)st.st_size;
    char *text = malloc(size + 1);
    if (!text) {
        close(fd);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, text + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(text, got);
            free(text);
            return aug_err_set(err, AUG_ECONFIG, "cannot read credentials file %s: %s", path,
                               strerror(e));
        }
        if (n == 0) break; /* shrank under us: parse what is there */
        got += (size_t)n;
    }
    close(fd);
    text[got] = '\0';
    int rc = 0;
    if (strlen(text) != got)
        rc = aug_err_set(err, AUG_ECONFIG, "credentials file %s contains a NUL byte", path);
    else
        rc = auth_creds_parse(text, path, out, err);
    OPENSSL_cleanse(text, got);
    free(text);
    return rc;
}

void auth_creds_free(auth_creds_t *creds)
{
    if (!creds) return;
    for (size_t i = 0; i < creds->n; i++) {
        key_free_grants(&creds->keys[i]);
        OPENSSL_cleanse(&creds->keys[i], sizeof(creds->keys[i]));
    }
    free(creds->keys);
    free(creds);
}

size_t auth_creds_count(const auth_creds_t *creds)
{
    return creds ? creds->n : 0;
}

const auth_key_t *auth_creds_lookup(const auth_creds_t *creds, const char *access_key)
{
    if (!creds || !access_key || creds->n == 0) return NULL;
    size_t lo = 0, hi = creds->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(access_key, creds->keys[mid].id);
        if (c == 0) return &creds->keys[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *auth_key_id(const auth_key_t *key)
{
    return key->id;
}

const char *auth_key_secret(const auth_key_t *key)
{
    return key->secret;
}

static bool grant_matches(const auth_grant_t *g, const char *bucket)
{
    if (g->prefix) return strncmp(bucket, g->pattern, strlen(g->pattern)) == 0;
    return strcmp(bucket, g->pattern) == 0;
}

bool auth_creds_allows(const auth_key_t *key, const char *bucket, bool write)
{
    if (!key) return false;
    if (key->unrestricted) return true;
    if (!bucket) {
        if (!write) return true;
        for (size_t i = 0; i < key->n_grants; i++)
            if (key->grants[i].write && key->grants[i].prefix && key->grants[i].pattern[0] == 0)
                return true;
        return false;
    }
    for (size_t i = 0; i < key->n_grants; i++) {
        const auth_grant_t *g = &key->grants[i];
        if ((g->write || !write) && grant_matches(g, bucket)) return true;
    }
    return false;
}
