/* names.c - what makes a bucket name or a key acceptable (S3's rules plus being a path). */
#include "backend.h"

#include <string.h>

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* True for four dot-separated decimal groups, which S3 refuses as bucket names. */
static int looks_like_ipv4(const char *s)
{
    int groups = 0, digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (++digits > 3) return 0;
        } else if (*s == '.') {
            if (digits == 0) return 0;
            groups++;
            digits = 0;
        } else {
            return 0;
        }
    }
    return digits > 0 && groups == 3;
}

/* Up to len-1 bytes of a refused name for a message, with every byte that is not printable
 * ASCII shown as '?': a name holding a newline must not break the one-line error. */
static const char *printable_name(const char *name, char *buf, size_t len)
{
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++)
        buf[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    buf[i] = '\0';
    return buf;
}

int backend_check_bucket_name(const char *bucket, aug_err_t *err)
{
    size_t n = strlen(bucket);
    char shown[81]; /* only the first two checks can see bytes outside [a-z0-9.-] */
    if (n < BACKEND_BUCKET_MIN || n > BACKEND_BUCKET_MAX)
        return aug_err_set(err, AUG_EINVAL,
                           "invalid bucket name '%s': must be 3 to 63 characters long",
                           printable_name(bucket, shown, sizeof(shown)));
    for (size_t i = 0; i < n; i++) {
        char c = bucket[i];
        if (!is_lower_alnum(c) && c != '-' && c != '.')
            return aug_err_set(err, AUG_EINVAL,
                               "invalid bucket name '%s': only lower-case letters, digits, '.' "
                               "and '-' are allowed",
                               printable_name(bucket, shown, sizeof(shown)));
    }
    if (!is_lower_alnum(bucket[0]) || !is_lower_alnum(bucket[n - 1]))
        return aug_err_set(err, AUG_EINVAL,
                           "invalid bucket name '%s': must start and end with a letter or digit",
                           bucket);
    if (strstr(bucket, "..") || strstr(bucket, ".-") || strstr(bucket, "-."))
        return aug_err_set(err, AUG_EINVAL,
                           "invalid bucket name '%s': '.' must not be next to '.' or '-'", bucket);
    if (looks_like_ipv4(bucket))
        return aug_err_set(err, AUG_EINVAL,
                           "invalid bucket name '%s': must not look like an IP address", bucket);
    return 0;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes), or 0 if it is not valid:
 * overlong forms, surrogates and code points above U+10FFFF are refused. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return c == 0 ? 0 : 1;
    size_t len;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int backend_check_key(const char *key, aug_err_t *err)
{
    size_t n = strlen(key);
    if (n == 0) return aug_err_set(err, AUG_EINVAL, "invalid key: the key is empty");
    if (n > BACKEND_KEY_MAX)
        return aug_err_set(err, AUG_ETOOLONG,
                           "key too long: %zu bytes, at most %d are allowed", n, BACKEND_KEY_MAX);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_char_len((const unsigned char *)key + i, n - i);
        if (l == 0)
            return aug_err_set(err, AUG_EINVAL, "invalid key: not valid UTF-8 at byte %zu", i);
        /* DEL (0x7f) is a control character too: as unusable in a file name as 0x01-0x1f */
        if (l == 1 && ((unsigned char)key[i] < 0x20 || key[i] == 0x7f))
            return aug_err_set(err, AUG_EINVAL,
                               "invalid key: control character at byte %zu", i);
        i += l;
    }
    /* every component must be usable as a file name in the mount */
    const char *p = key;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t clen = slash ? (size_t)(slash - p) : strlen(p);
        int last = slash == NULL || slash[1] == '\0';
        if (clen == 0)
            return aug_err_set(err, AUG_EINVAL,
                               "invalid key '%.200s': empty path component ('//' or leading '/')",
                               key);
        if ((clen == 1 && p[0] == '.') || (clen == 2 && p[0] == '.' && p[1] == '.'))
            return aug_err_set(err, AUG_EINVAL,
                               "invalid key '%.200s': '.' and '..' cannot be path components",
                               key);
        if (clen > BACKEND_COMPONENT_MAX)
            return aug_err_set(err, AUG_ETOOLONG,
                               "invalid key: a path component is %zu bytes, at most %d are "
                               "allowed",
                               clen, BACKEND_COMPONENT_MAX);
        if (last) break;
        p = slash + 1;
    }
    return 0;
}
