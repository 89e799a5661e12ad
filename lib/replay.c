/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"
#include "replay.h"

typedef struct Entry {
        struct Entry *next;
        int64_t expires_at;
        char id[];
} Entry;

struct ReplayCache {
        Entry **buckets;
        size_t n_buckets;
        size_t n_entries;
        size_t max_entries;
};

static uint64_t hash(const char *s) {
        /* FNV-1a; ids are random, so this is plenty. */
        uint64_t h = UINT64_C(1469598103934665603);
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(1099511628211);
        return h;
}

ReplayCache *replay_cache_new(size_t max_entries) {
        ReplayCache *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->n_buckets = 1024;
        c->buckets = calloc(c->n_buckets, sizeof(Entry *));
        if (!c->buckets) {
                free(c);
                return NULL;
        }
        c->max_entries = max_entries;
        return c;
}

ReplayCache *replay_cache_free(ReplayCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_buckets; i++)
                for (Entry *e = c->buckets[i], *n; e; e = n) {
                        n = e->next;
                        free(e);
                }
        free(c->buckets);
        free(c);
        return NULL;
}

static void grow(ReplayCache *c) {
        size_t nb = c->n_buckets * 2;
        Entry **b = calloc(nb, sizeof(Entry *));
        if (!b)
                return; /* keep going with longer chains */
        for (size_t i = 0; i < c->n_buckets; i++)
                for (Entry *e = c->buckets[i], *n; e; e = n) {
                        n = e->next;
                        size_t k = hash(e->id) & (nb - 1);
                        e->next = b[k];
                        b[k] = e;
                }
        free(c->buckets);
        c->buckets = b;
        c->n_buckets = nb;
}

size_t replay_cache_prune(ReplayCache *c, int64_t now) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_buckets; i++)
                for (Entry **p = &c->buckets[i]; *p;) {
                        Entry *e = *p;
                        if (e->expires_at < now) {
                                *p = e->next;
                                free(e);
                                n++;
                        } else
                                p = &e->next;
                }
        c->n_entries -= n;
        return n;
}

int replay_cache_add(ReplayCache *c, const char *id, int64_t expires_at, int64_t now) {
        size_t k = hash(id) & (c->n_buckets - 1);

        for (Entry *e = c->buckets[k]; e; e = e->next)
                if (streq(e->id, id)) {
                        if (e->expires_at >= now)
                                return -EEXIST;
                        e->expires_at = expires_at;
                        return 0;
                }

        if (c->n_entries >= c->max_entries) {
                replay_cache_prune(c, now);
                if (c->n_entries >= c->max_entries)
                        return -ENOSPC;
        }
        if (c->n_entries >= c->n_buckets * 2) {
                grow(c);
                k = hash(id) & (c->n_buckets - 1);
        }

        size_t len = strlen(id);
        Entry *e = calloc(1, sizeof *e + len + 1);
        if (!e)
                return -ENOMEM;
        memcpy(e->id, id, len + 1);
        e->expires_at = expires_at;
        e->next = c->buckets[k];
        c->buckets[k] = e;
        c->n_entries++;
        return 0;
}

size_t replay_cache_size(const ReplayCache *c) {
        return c->n_entries;
}
