/* parse.c - sizes with K/M/G suffixes and durations, as written in config files and flags. */
#include "common.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Read leading decimal digits; returns the number of digits or 0 on none/overflow. */
static size_t parse_digits(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; isdigit((unsigned char)s[i]); i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

int aug_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    while (isspace((unsigned char)*s)) s++;
    size_t n = parse_digits(s, &v);
    if (n == 0) return AUG_EINVAL;
    const char *u = s + n;
    while (isspace((unsigned char)*u)) u++;
    unsigned shift = 0;
    switch (toupper((unsigned char)*u)) {
    case '\0': break;
    case 'B': shift = 0; break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return AUG_EINVAL;
    }
    if (*u && toupper((unsigned char)*u) != 'B') {
        u++;
        if (strcasecmp(u, "") != 0 && strcasecmp(u, "B") != 0 && strcasecmp(u, "iB") != 0)
            return AUG_EINVAL;
    } else if (*u) {
        if (strcasecmp(u, "B") != 0) return AUG_EINVAL;
    }
    if (shift && v > (UINT64_MAX >> shift)) return AUG_EINVAL;
    *out = v << shift;
    return 0;
}

int aug_parse_duration_ms(const char *s, uint64_t *out)
{
    uint64_t v;
    while (isspace((unsigned char)*s)) s++;
    size_t n = parse_digits(s, &v);
    if (n == 0) return AUG_EINVAL;
    const char *u = s + n;
    uint64_t mul;
    if (*u == '\0' || strcmp(u, "s") == 0) mul = 1000;
    else if (strcmp(u, "ms") == 0) mul = 1;
    else if (strcmp(u, "m") == 0) mul = 60000;
    else if (strcmp(u, "h") == 0) mul = 3600000;
    else if (strcmp(u, "d") == 0) mul = 86400000;
    else return AUG_EINVAL;
    if (v > UINT64_MAX / mul) return AUG_EINVAL;
    *out = v * mul;
    return 0;
}

char *aug_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0) snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}
