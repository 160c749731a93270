/* config.c - augur.conf: INI via libinih, checked key by key, errors as "file:line: message". */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    KEY_INT,
    KEY_SIZE,
    KEY_DURATION,
    KEY_PATH,
    KEY_STRING,
    KEY_LOG_LEVEL,
    KEY_NODES,
    KEY_POLICY,
    KEY_BOOL
} key_type_t;

/* One known key: where it lives in aug_config_t and what values it takes. */
typedef struct config_key {
    const char *section;
    const char *name;
    key_type_t type;
    size_t offset;
    long long min, max; /* for KEY_INT and KEY_SIZE (max 0 = unbounded) */
} config_key_t;

#define FIELD(f) offsetof(aug_config_t, f)

static const config_key_t config_keys[] = {
    {"predictor", "model", KEY_STRING, FIELD(predictor.model), 0,
     sizeof(((aug_config_t *)0)->predictor.model)},
    {"predictor", "min_confidence", KEY_INT, FIELD(predictor.min_confidence), 0, 100},
    {"predictor", "prefetch_tier", KEY_STRING, FIELD(predictor.prefetch_tier), 0,
     sizeof(((aug_config_t *)0)->predictor.prefetch_tier)},
    {"predictor", "threads", KEY_INT, FIELD(predictor.threads), 1, 64},
    {"predictor", "train_steps_per_sec", KEY_INT, FIELD(predictor.train_steps_per_sec), 0, 1000},
    /* counts, not bytes, but K/M suffixes read well; bounds keep tables within memory */
    {"predictor", "queue_events", KEY_SIZE, FIELD(predictor.queue_events), 16, 1LL << 24},
    {"predictor", "ring_events", KEY_SIZE, FIELD(predictor.ring_events), 64, 1LL << 24},
    {"predictor", "table_keys", KEY_SIZE, FIELD(predictor.table_keys), 64, 1LL << 28},
    {"predictor", "save_interval", KEY_DURATION, FIELD(predictor.save_interval_ms), 0, 0},
    {"general", "log_level", KEY_LOG_LEVEL, FIELD(general.log_level), 0, 0},
    {"general", "state_dir", KEY_PATH, FIELD(general.state_dir), 0, 0},
    {"backend", "data_shards", KEY_INT, FIELD(backend.data_shards), 1, 16},
    {"backend", "parity_shards", KEY_INT, FIELD(backend.parity_shards), 0, 8},
    {"backend", "write_quorum", KEY_INT, FIELD(backend.write_quorum), 1, 24},
    {"backend", "nodes", KEY_NODES, FIELD(backend.nodes), 0, 0},
    {"backend", "inline_max", KEY_SIZE, FIELD(backend.inline_max), 0, 1 << 20},
    /* a stripe is split into k shards, each read and written whole: 4 KiB keeps shards
     * aligned to pages, 64 MiB keeps a few stripes per request well within memory */
    {"backend", "stripe_size", KEY_SIZE, FIELD(backend.stripe_size), 4096, 64LL << 20},
    {"backend", "gc_grace", KEY_DURATION, FIELD(backend.gc_grace_ms), 0, 0},
    {"backend", "scrub_interval", KEY_DURATION, FIELD(backend.scrub_interval_ms), 0, 0},
    /* for KEY_STRING, max is the size of the field */
    {"gateway", "listen", KEY_STRING, FIELD(gateway.listen), 0,
     sizeof(((aug_config_t *)0)->gateway.listen)},
    {"gateway", "credentials", KEY_PATH, FIELD(gateway.credentials), 0, 0},
    {"gateway", "threads", KEY_INT, FIELD(gateway.threads), 1, 1024},
    {"gateway", "max_connections", KEY_INT, FIELD(gateway.max_connections), 1, 65536},
    {"gateway", "idle_timeout", KEY_DURATION, FIELD(gateway.idle_timeout_ms), 0, 0},
    {"gateway", "region", KEY_STRING, FIELD(gateway.region), 0,
     sizeof(((aug_config_t *)0)->gateway.region)},
    {"gateway", "domain", KEY_STRING, FIELD(gateway.domain), 0,
     sizeof(((aug_config_t *)0)->gateway.domain)},
    {"gateway", "public_read", KEY_STRING, FIELD(gateway.public_read), 0,
     sizeof(((aug_config_t *)0)->gateway.public_read)},
    {"gateway", "multipart_expiry", KEY_DURATION, FIELD(gateway.multipart_expiry_ms), 0, 0},
    {"cache", "dir", KEY_PATH, FIELD(cache.dir), 0, 0},
    /* blocks from 4 KiB (a page) to 64 MiB (a few per request stay within memory) */
    {"cache", "block_size", KEY_SIZE, FIELD(cache.block_size), 4096, 64LL << 20},
    {"cache", "ram_size", KEY_SIZE, FIELD(cache.ram_size), 0, 0},
    {"cache", "ssd_size", KEY_SIZE, FIELD(cache.ssd_size), 0, 0},
    {"cache", "ssd_min_free", KEY_SIZE, FIELD(cache.ssd_min_free), 0, 0},
    {"cache", "redis_size", KEY_SIZE, FIELD(cache.redis_size), 0, 0},
    {"cache", "redis_block_max", KEY_SIZE, FIELD(cache.redis_block_max), 0, 64LL << 20},
    {"cache", "ram_policy", KEY_POLICY, FIELD(cache.ram_policy), 0, 32},
    {"cache", "ssd_policy", KEY_POLICY, FIELD(cache.ssd_policy), 0, 32},
    {"cache", "redis_policy", KEY_POLICY, FIELD(cache.redis_policy), 0, 32},
    {"cache", "manifest_ttl", KEY_DURATION, FIELD(cache.manifest_ttl_ms), 0, 0},
    {"cache", "prefetch_inflight", KEY_SIZE, FIELD(cache.prefetch_inflight), 0, 0},
    {"cache", "prefetch_rate", KEY_SIZE, FIELD(cache.prefetch_rate), 0, 0},
    {"cache", "readahead_max", KEY_SIZE, FIELD(cache.readahead_max), 0, 0},
    {"redis", "url", KEY_STRING, FIELD(redis.url), 0, 512},
    {"redis", "password_file", KEY_PATH, FIELD(redis.password_file), 0, 0},
    {"admin", "listen", KEY_STRING, FIELD(admin.listen), 0, 128},
    {"admin", "token_file", KEY_PATH, FIELD(admin.token_file), 0, 0},
    {"fuse", "mountpoint", KEY_PATH, FIELD(fuse.mountpoint), 0, 0},
    {"fuse", "allow_other", KEY_BOOL, FIELD(fuse.allow_other), 0, 0},
    {"fuse", "attr_timeout", KEY_DURATION, FIELD(fuse.attr_timeout_ms), 0, 0},
    {"fuse", "entry_timeout", KEY_DURATION, FIELD(fuse.entry_timeout_ms), 0, 0},
    {"fuse", "staging_dir", KEY_PATH, FIELD(fuse.staging_dir), 0, 0},
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Parser state: the file being read, line tracking, the lines where checked keys were set. */
typedef struct load_ctx {
    aug_config_t *cfg;
    const char *name;
    const char *text; /* for string input */
    size_t text_pos;
    FILE *fp; /* for file input */
    int line;
    int err_line; /* line of the error in *err, to compare with libinih's own */
    int key_line[N_KEYS];
    aug_err_t *err;
} load_ctx_t;

int aug_policy_name_valid(const char *name)
{
    char list[] = AUG_POLICY_NAMES;
    char *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (strcmp(t, name) == 0) return 1;
    return 0;
}

void aug_config_defaults(aug_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->general.log_level = AUG_LOG_WARN;
    snprintf(cfg->general.state_dir, sizeof(cfg->general.state_dir), "/var/lib/augur");
    cfg->backend.data_shards = 4;
    cfg->backend.parity_shards = 2;
    cfg->backend.write_quorum = 0; /* resolved to k+1 after loading */
    cfg->backend.inline_max = 32 << 10;
    cfg->backend.stripe_size = 1 << 20;
    cfg->backend.gc_grace_ms = 3600 * 1000;
    cfg->backend.scrub_interval_ms = 24 * 3600 * 1000;
    snprintf(cfg->gateway.listen, sizeof(cfg->gateway.listen), "127.0.0.1:9000");
    snprintf(cfg->gateway.credentials, sizeof(cfg->gateway.credentials), "/etc/augur/credentials");
    cfg->gateway.threads = 16;
    cfg->gateway.max_connections = 1024;
    cfg->gateway.idle_timeout_ms = 60 * 1000;
    cfg->gateway.multipart_expiry_ms = 7ULL * 24 * 3600 * 1000;
    cfg->cache.block_size = 1 << 20;
    cfg->cache.ram_size = 256 << 20;
    cfg->cache.ssd_size = 0;
    cfg->cache.ssd_min_free = 1ULL << 30;
    cfg->cache.redis_size = 256 << 20;
    cfg->cache.redis_block_max = 256 << 10;
    snprintf(cfg->cache.ram_policy, sizeof(cfg->cache.ram_policy), "s3fifo");
    snprintf(cfg->cache.ssd_policy, sizeof(cfg->cache.ssd_policy), "s3fifo");
    snprintf(cfg->cache.redis_policy, sizeof(cfg->cache.redis_policy), "lru");
    cfg->cache.manifest_ttl_ms = 60 * 1000;
    cfg->cache.prefetch_inflight = 64 << 20;
    cfg->cache.prefetch_rate = 0;
    cfg->cache.readahead_max = 32 << 20;
    cfg->fuse.attr_timeout_ms = 1000;
    cfg->fuse.entry_timeout_ms = 1000;
    snprintf(cfg->predictor.model, sizeof(cfg->predictor.model), "markov");
    cfg->predictor.min_confidence = 60;
    snprintf(cfg->predictor.prefetch_tier, sizeof(cfg->predictor.prefetch_tier), "ram");
    cfg->predictor.threads = 1;
    cfg->predictor.train_steps_per_sec = 2;
    cfg->predictor.queue_events = 1 << 16;
    cfg->predictor.ring_events = 1 << 16;
    cfg->predictor.table_keys = 1 << 20;
    cfg->predictor.save_interval_ms = 300 * 1000;
}

/* True if value is one of the comma-separated choices. */
static int config_one_of(const char *value, const char *choices)
{
    size_t n = strlen(value);
    for (const char *p = choices; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Append "dir:/a, dir:/b" to cfg->backend.nodes. A long list continues on indented lines,
 * which libinih hands over as further values of the same key. */
static int parse_nodes(load_ctx_t *c, const char *value)
{
    aug_config_t *cfg = c->cfg;
    char *copy = strdup(value);
    if (!copy) return aug_err_set(c->err, AUG_ENOMEM, "%s:%d: out of memory", c->name, c->line);
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *spec = trim(tok);
        if (*spec == '\0') continue;
        if (strncmp(spec, "dir:", 4) != 0 || spec[4] != '/') {
            rc = aug_err_set(c->err, AUG_ECONFIG,
                             "%s:%d: node '%s' is not of the form dir:/absolute/path", c->name,
                             c->line, spec);
            break;
        }
        if (strlen(spec) >= sizeof(cfg->backend.nodes[0])) {
            rc = aug_err_set(c->err, AUG_ECONFIG, "%s:%d: node path too long", c->name, c->line);
            break;
        }
        for (int i = 0; i < cfg->backend.n_nodes; i++) {
            if (strcmp(cfg->backend.nodes[i], spec) == 0) {
                rc = aug_err_set(c->err, AUG_ECONFIG, "%s:%d: node '%s' is listed twice", c->name,
                                 c->line, spec);
                goto out;
            }
        }
        if (cfg->backend.n_nodes == AUG_MAX_NODES) {
            rc = aug_err_set(c->err, AUG_ECONFIG, "%s:%d: more than %d nodes", c->name, c->line,
                             AUG_MAX_NODES);
            break;
        }
        snprintf(cfg->backend.nodes[cfg->backend.n_nodes++], sizeof(cfg->backend.nodes[0]), "%s",
                 spec);
    }
out:
    free(copy);
    return rc;
}

static int set_key(load_ctx_t *c, const config_key_t *k, const char *value)
{
    char *field = (char *)c->cfg + k->offset;
    switch (k->type) {
    case KEY_INT: {
        char *end;
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end != '\0' || v < k->min || v > k->max)
            return aug_err_set(c->err, AUG_ECONFIG,
                               "%s:%d: %s must be a whole number from %lld to %lld, not '%s'",
                               c->name, c->line, k->name, k->min, k->max, value);
        *(int *)field = (int)v;
        return 0;
    }
    case KEY_SIZE: {
        uint64_t v;
        if (aug_parse_size(value, &v) != 0)
            return aug_err_set(c->err, AUG_ECONFIG,
                               "%s:%d: %s must be a size such as 64K, 1M or 2G, not '%s'", c->name,
                               c->line, k->name, value);
        if ((long long)v < k->min || (k->max && (long long)v > k->max))
            return aug_err_set(c->err, AUG_ECONFIG,
                               "%s:%d: %s must be between %lld and %lld bytes, not '%s'", c->name,
                               c->line, k->name, k->min, k->max, value);
        *(uint64_t *)field = v;
        return 0;
    }
    case KEY_DURATION: {
        uint64_t v;
        if (aug_parse_duration_ms(value, &v) != 0)
            return aug_err_set(c->err, AUG_ECONFIG,
                               "%s:%d: %s must be a duration such as 30s, 10m or 1h, not '%s'",
                               c->name, c->line, k->name, value);
        *(uint64_t *)field = v;
        return 0;
    }
    case KEY_PATH:
        if (value[0] != '/' || strlen(value) >= PATH_MAX)
            return aug_err_set(c->err, AUG_ECONFIG, "%s:%d: %s must be an absolute path", c->name,
                               c->line, k->name);
        snprintf(field, PATH_MAX, "%s", value);
        return 0;
    case KEY_POLICY:
        if (!aug_policy_name_valid(value))
            return aug_err_set(c->err, AUG_ECONFIG, "%s:%d: %s must be one of %s, not '%s'",
                               c->name, c->line, k->name, AUG_POLICY_NAMES, value);
        __attribute__((fallthrough)); /* stored like a string */
    case KEY_STRING:
        if (strlen(value) >= (size_t)k->max)
            return aug_err_set(c->err, AUG_ECONFIG, "%s:%d: %s is longer than %lld characters",
                               c->name, c->line, k->name, k->max - 1);
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case KEY_LOG_LEVEL:
        if (aug_log_parse_level(value, (aug_log_level_t *)field) != 0)
            return aug_err_set(c->err, AUG_ECONFIG,
                               "%s:%d: log_level must be error, warn, info or debug, not '%s'",
                               c->name, c->line, value);
        return 0;
    case KEY_NODES:
        return parse_nodes(c, value);
    case KEY_BOOL:
        if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
            strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
            *(int *)field = 1;
        else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 ||
                 strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0)
            *(int *)field = 0;
        else
            return aug_err_set(c->err, AUG_ECONFIG, "%s:%d: %s must be true or false, not '%s'",
                               c->name, c->line, k->name, value);
        return 0;
    }
    return AUG_EINVAL;
}

static int known_section(const char *section)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(config_keys[i].section, section) == 0) return 1;
    return 0;
}

/* libinih handler: returns 1 to continue, 0 to stop on the first error. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_ctx_t *c = user;
    if (c->err->code != AUG_OK) return 0;
    c->err_line = c->line;    /* where any error set below is */
    if (section[0] == '\0') { /* "[] unknown" would not tell the user what to do */
        aug_err_set(c->err, AUG_ECONFIG, "%s:%d: '%s' is outside any [section]", c->name, c->line,
                    name);
        return 0;
    }
    if (!known_section(section)) {
        aug_err_set(c->err, AUG_ECONFIG, "%s:%d: unknown section [%s]", c->name, c->line, section);
        return 0;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(config_keys[i].section, section) == 0 &&
            strcmp(config_keys[i].name, name) == 0) {
            c->key_line[i] = c->line;
            return set_key(c, &config_keys[i], value) == 0;
        }
    }
    aug_err_set(c->err, AUG_ECONFIG, "%s:%d: unknown key '%s' in [%s]", c->name, c->line, name,
                section);
    return 0;
}

/* libinih reader: hands over one line at a time so we know the current line number. */
static char *read_line(char *buf, int size, void *stream)
{
    load_ctx_t *c = stream;
    if (c->err->code != AUG_OK) return NULL;
    if (c->fp) {
        if (!fgets(buf, size, c->fp)) {
            /* a read error (a directory given as the file, say) must not pass for the end */
            if (ferror(c->fp)) {
                aug_err_set(c->err, AUG_ECONFIG, "%s: cannot read configuration: %s", c->name,
                            strerror(errno));
                c->err_line = c->line + 1;
            }
            return NULL;
        }
        size_t n = strlen(buf);
        if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(c->fp)) {
            aug_err_set(c->err, AUG_ECONFIG,
                        "%s:%d: line longer than %d characters; continue long values on "
                        "indented lines",
                        c->name, c->line + 1, size - 2);
            c->err_line = c->line + 1;
            return NULL;
        }
    } else {
        const char *p = c->text + c->text_pos;
        if (*p == '\0') return NULL;
        int n = 0;
        while (p[n] && p[n] != '\n' && n < size - 2)
            n++;
        if (p[n] && p[n] != '\n') {
            aug_err_set(c->err, AUG_ECONFIG,
                        "%s:%d: line longer than %d characters; continue long values on "
                        "indented lines",
                        c->name, c->line + 1, size - 2);
            c->err_line = c->line + 1;
            return NULL;
        }
        if (p[n] == '\n') n++;
        memcpy(buf, p, (size_t)n);
        buf[n] = '\0';
        c->text_pos += (size_t)n;
    }
    c->line++;
    return buf;
}

static int line_of(const load_ctx_t *c, const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(config_keys[i].section, section) == 0 && strcmp(config_keys[i].name, name) == 0)
            return c->key_line[i];
    return 0;
}

/* Checks that need several keys at once; reported at the line of the key that settles it. */
static int check_consistency(load_ctx_t *c)
{
    aug_config_t *cfg = c->cfg;
    int k = cfg->backend.data_shards, m = cfg->backend.parity_shards;
    if (cfg->backend.write_quorum == 0) cfg->backend.write_quorum = k + 1 > k + m ? k + m : k + 1;
    if (cfg->backend.write_quorum < k || cfg->backend.write_quorum > k + m) {
        int line = line_of(c, "backend", "write_quorum");
        return aug_err_set(c->err, AUG_ECONFIG,
                           "%s:%d: write_quorum must be between data_shards (%d) and "
                           "data_shards + parity_shards (%d), not %d",
                           c->name, line, k, k + m, cfg->backend.write_quorum);
    }
    if (!config_one_of(cfg->predictor.model, "markov,lstm,off"))
        return aug_err_set(c->err, AUG_ECONFIG,
                           "%s:%d: [predictor] model must be markov, lstm or off, not '%s'",
                           c->name, line_of(c, "predictor", "model"), cfg->predictor.model);
    if (!config_one_of(cfg->predictor.prefetch_tier, "ram,ssd,off"))
        return aug_err_set(c->err, AUG_ECONFIG,
                           "%s:%d: [predictor] prefetch_tier must be ram, ssd or off, not '%s'",
                           c->name, line_of(c, "predictor", "prefetch_tier"),
                           cfg->predictor.prefetch_tier);
    if (cfg->backend.n_nodes > 0 && cfg->backend.n_nodes < k + m) {
        int line = line_of(c, "backend", "nodes");
        return aug_err_set(c->err, AUG_ECONFIG,
                           "%s:%d: %d nodes are too few for %d data + %d parity shards "
                           "(need at least %d)",
                           c->name, line, cfg->backend.n_nodes, k, m, k + m);
    }
    return 0;
}

static int load(load_ctx_t *c)
{
    aug_err_clear(c->err);
    int rc = ini_parse_stream(read_line, c, on_key, c);
    /* libinih goes on after a line it cannot parse and may then call on_key for a later
     * line: report whichever error comes first in the file, not the later one */
    if (c->err->code != AUG_OK && !(rc > 0 && rc < c->err_line)) return c->err->code;
    if (rc > 0)
        return aug_err_set(c->err, AUG_ECONFIG,
                           "%s:%d: not an INI line (expected [section] or key = value)", c->name,
                           rc);
    if (rc < 0) return aug_err_set(c->err, AUG_ECONFIG, "%s: cannot be parsed", c->name);
    return check_consistency(c);
}

int aug_config_load_string(aug_config_t *cfg, const char *text, const char *name, aug_err_t *err)
{
    aug_err_t local;
    load_ctx_t c = {.cfg = cfg, .name = name, .text = text, .err = err ? err : &local};
    snprintf(cfg->path, sizeof(cfg->path), "%s", name);
    return load(&c);
}

int aug_config_load(aug_config_t *cfg, const char *path, aug_err_t *err)
{
    aug_err_t local;
    load_ctx_t c = {.cfg = cfg, .name = path, .err = err ? err : &local};
    c.fp = fopen(path, "r");
    if (!c.fp) return aug_err_set(c.err, AUG_ECONFIG, "%s: cannot open configuration: %m", path);
    snprintf(cfg->path, sizeof(cfg->path), "%s", path);
    int rc = load(&c);
    fclose(c.fp);
    return rc;
}
