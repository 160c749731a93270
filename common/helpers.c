/* helpers.c - randomness, hex, clocks, CRC32C and hashing used across augur. */
#include "common.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <sys/random.h>
#include <time.h>

int aug_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return AUG_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void aug_hex(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int aug_unhex(const char *hex, void *out, size_t len)
{
    unsigned char *p = out;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(hex[2 * i]);
        if (hi < 0) return AUG_EINVAL;
        int lo = hex_value(hex[2 * i + 1]);
        if (lo < 0) return AUG_EINVAL;
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

int64_t aug_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct timespec aug_deadline_in(int64_t ns)
{
    int64_t t = aug_now_ns() + ns;
    return (struct timespec){.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
}

int64_t aug_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

uint32_t aug_crc32c(uint32_t crc, const void *data, size_t len)
{
    /* ISA-L's crc32_iscsi takes and returns the raw register; invert at both ends so the
     * result is the standard CRC32C value and can be chained. */
    return ~crc32_iscsi((unsigned char *)data, (int)len, ~crc);
}

/* A 64-bit mix (the splitmix64 finaliser) over FNV-1a-style byte folding: cheap and well
 * spread, good enough for rendezvous placement and hash tables. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t aug_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed + 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return mix64(h ^ len);
}
