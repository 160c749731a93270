/* gateway.h - the S3 endpoint: HTTP (libmicrohttpd), SigV4/SigV2, S3 operations over the store.
 *
 * gateway_start() returns once the endpoint listens; requests are served on the gateway's own
 * threads until gateway_stop(). */
#ifndef AUGUR_GATEWAY_H
#define AUGUR_GATEWAY_H

#include "backend/backend.h"
#include "cache/cache.h"
#include "common/common.h"

#include <stdatomic.h>

typedef struct gateway gateway_t;

/* Start serving cfg->gateway over cache c (which must outlive the gateway): objects are
 * read and written through it, buckets and uploads go to its backend. Fails with
 * AUG_ECONFIG for a bad listen address or an unsafe or broken credentials file, AUG_EIO
 * if the address cannot be bound. Caller stops and frees with gateway_stop(). */
int gateway_start(const aug_config_t *cfg, cache_t *c, gateway_t **out, aug_err_t *err);
/* ---- the admin endpoint (admin.c) ---------------------------------------------------- */

typedef struct admin admin_t;
/* Scrub results augurd keeps for /metrics (updated by its scrubber thread). */
typedef struct admin_heal_stats {
    _Atomic uint64_t runs, shards_repaired, manifests_repaired;
} admin_heal_stats_t;
/* Serve /metrics (Prometheus text) and /status (text, ?format=json) on cfg->admin.listen to
 * requests carrying "Authorization: Bearer TOKEN" (the token in cfg->admin.token_file, which
 * must not be readable by others: AUG_ECONFIG). gw and heal may be NULL. */
int admin_start(const aug_config_t *cfg, cache_t *c, gateway_t *gw,
                const admin_heal_stats_t *heal, admin_t **out, aug_err_t *err);
void admin_stop(admin_t *a);
/* Where /metrics and /status learn the mount's staged writes (files written through it and
 * not uploaded yet, and their bytes) when this augurd serves one: fn(arg, &files, &bytes) is
 * called per request, from the endpoint's thread. Set once the mount is up; NULL clears it
 * (do so before the mount is stopped). Thread-safe. */
typedef void (*admin_staged_fn)(void *arg, uint64_t *files, uint64_t *bytes);
void admin_set_staged(admin_t *a, admin_staged_fn fn, void *arg);

/* The TCP port actually bound (useful with port 0). */
int gateway_port(const gateway_t *gw);
/* Stop accepting, finish or abort requests in flight, free everything. NULL is allowed. */
void gateway_stop(gateway_t *gw);

#endif
