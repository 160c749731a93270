/* cache_reader.c - reading a version through the cache block by block, with sequential
 * readahead: a reader that keeps reading the next block gets the following blocks fetched
 * ahead, in a window that doubles while the pattern holds and collapses when it breaks. */
#include "tiers.h"

#include <stdlib.h>
#include <string.h>

struct cache_reader {
    cache_t *c;
    backend_manifest_t *m;
    uint64_t pos, end;
    block_buf_t *cur; /* block holding pos, once loaded */
    uint64_t cur_index;
    backend_reader_t *direct; /* inline versions: read straight from the manifest */
    /* readahead */
    uint64_t last_index;   /* last block read, UINT64_MAX before the first */
    uint64_t window;       /* blocks to keep ahead */
    uint64_t ahead_until;  /* blocks up to this index have been requested */
};

int cache_reader_open(cache_t *c, const backend_manifest_t *m, uint64_t off, uint64_t len,
                      cache_reader_t **out, aug_err_t *err)
{
    cache_reader_t *r = calloc(1, sizeof(*r));
    if (!r) return aug_err_set(err, AUG_ENOMEM, "out of memory");
    r->c = c;
    r->m = backend_manifest_copy(m);
    if (!r->m) {
        free(r);
        return aug_err_set(err, AUG_ENOMEM, "out of memory");
    }
    r->pos = off < m->size ? off : m->size;
    r->end = len > m->size - r->pos ? m->size : r->pos + len;
    r->cur_index = UINT64_MAX;
    r->last_index = UINT64_MAX;
    /* inline bytes are in the manifest already: nothing to cache */
    if (backend_manifest_is_inline(r->m)) {
        int rc = backend_reader_open(cache_backend(c), r->m, r->pos, r->end - r->pos, &r->direct,
                                     err);
        if (rc != 0) {
            backend_manifest_free(r->m);
            free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

/* The reader moved to block index: grow, keep or reset the readahead window and ask for the
 * blocks it now covers. */
static void readahead(cache_reader_t *r, uint64_t index)
{
    cache_t *c = r->c;
    uint64_t bs = cache_block_size(c);
    uint64_t max_blocks = cache_readahead_max(c) / bs;
    uint64_t last_block = (r->m->size - 1) / bs;
    if (max_blocks == 0) return;
    if (r->last_index != UINT64_MAX && index == r->last_index + 1) {
        r->window = r->window ? r->window * 2 : 1;
        if (r->window > max_blocks) r->window = max_blocks;
    } else if (index != r->last_index) {
        r->window = 0; /* not sequential (or the first read): no readahead yet */
        r->ahead_until = index;
    }
    r->last_index = index;
    if (r->window == 0) return;
    uint64_t want = index + r->window;
    if (want > last_block) want = last_block;
    uint64_t from = r->ahead_until > index ? r->ahead_until + 1 : index + 1;
    if (from > want) return;
    uint64_t id =
        cache_prefetch(c, r->m, from * bs, (want - from + 1) * bs, CACHE_PRIO_READAHEAD);
    if (id) cache_note_prefetch(c, (int)(want - from + 1), 0);
    r->ahead_until = want;
}

ssize_t cache_reader_read(cache_reader_t *r, void *buf, size_t len, aug_err_t *err)
{
    if (r->pos >= r->end || len == 0) return 0;
    if (r->direct) {
        ssize_t n = backend_reader_read(r->direct, buf, len, err);
        if (n > 0) r->pos += (uint64_t)n;
        return n;
    }
    uint64_t bs = cache_block_size(r->c);
    uint64_t index = r->pos / bs;
    if (index != r->cur_index) {
        block_buf_unref(r->cur);
        r->cur = NULL;
        readahead(r, index);
        r->cur = cache_get_block(r->c, r->m, index, 0, err);
        if (!r->cur) return err && err->code ? err->code : AUG_EIO;
        r->cur_index = index;
    }
    uint64_t in = r->pos - index * bs;
    if (in >= r->cur->len) return aug_err_set(err, AUG_ECORRUPT, "block shorter than expected");
    uint64_t n = r->cur->len - in;
    if (n > r->end - r->pos) n = r->end - r->pos;
    if (n > len) n = len;
    memcpy(buf, r->cur->data + in, (size_t)n);
    r->pos += n;
    return (ssize_t)n;
}

void cache_reader_close(cache_reader_t *r)
{
    if (!r) return;
    block_buf_unref(r->cur);
    backend_reader_close(r->direct);
    backend_manifest_free(r->m);
    free(r);
}

int cache_read(cache_t *c, const backend_manifest_t *m, uint64_t off, uint64_t len,
               backend_sink_fn sink, void *arg, aug_err_t *err)
{
    cache_reader_t *r;
    int rc = cache_reader_open(c, m, off, len, &r, err);
    if (rc != 0) return rc;
    uint8_t *buf = malloc(256u << 10);
    if (!buf) rc = aug_err_set(err, AUG_ENOMEM, "out of memory");
    while (rc == 0) {
        ssize_t n = cache_reader_read(r, buf, 256u << 10, err);
        if (n < 0) rc = (int)n;
        if (n <= 0) break;
        rc = sink(arg, buf, (size_t)n);
        if (rc != 0) aug_err_set(err, rc, "read stopped by its consumer");
    }
    free(buf);
    cache_reader_close(r);
    return rc;
}
