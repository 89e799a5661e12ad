/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/random.h>

#include "macro.h"
#include "replay.h"

#define OWNER_BUCKETS 64

typedef struct Owner {
        struct Owner *next;
        size_t count;
        char name[];
} Owner;

typedef struct Entry {
        struct Entry *next;
        Owner *owner;
        int64_t expires_at;
        char id[];
} Entry;

struct ReplayCache {
        uint8_t key[16];
        Entry **buckets;
        size_t n_buckets;
        size_t n_entries;
        size_t max_entries;
        size_t quota;
        int64_t last_full_prune;
        bool pruned_once;
        Owner *owners[OWNER_BUCKETS];
};

/* SipHash-2-4 (Aumasson and Bernstein), little-endian words. */
#define ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
        do {                                                                   \
                v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
                v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
                v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
                v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
        } while (0)

static uint64_t le64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

uint64_t siphash24(const void *data, size_t size, const uint8_t key[static 16]) {
        const uint8_t *in = data;
        uint64_t k0 = le64(key), k1 = le64(key + 8);
        uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
        uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
        uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
        uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
        uint64_t b = (uint64_t) size << 56;
        size_t i;

        for (i = 0; i + 8 <= size; i += 8) {
                uint64_t m = le64(in + i);
                v3 ^= m;
                SIPROUND;
                SIPROUND;
                v0 ^= m;
        }
        for (size_t j = 0; i + j < size; j++)
                b |= (uint64_t) in[i + j] << (8 * j);
        v3 ^= b;
        SIPROUND;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash(const ReplayCache *c, const char *s) {
        return siphash24(s, strlen(s), c->key);
}

static int random_key(uint8_t key[static 16]) {
        size_t n = 0;
        while (n < 16) {
                ssize_t k = getrandom(key + n, 16 - n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n += (size_t) k;
        }
        return 0;
}

ReplayCache *replay_cache_new(size_t max_entries) {
        ReplayCache *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        int r = random_key(c->key);
        if (r < 0) {
                free(c);
                errno = -r;
                return NULL;
        }
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
        for (size_t i = 0; i < OWNER_BUCKETS; i++)
                for (Owner *o = c->owners[i], *n; o; o = n) {
                        n = o->next;
                        free(o);
                }
        free(c->buckets);
        explicit_bzero(c->key, sizeof c->key);
        free(c);
        return NULL;
}

void replay_cache_set_quota(ReplayCache *c, size_t per_owner) {
        c->quota = per_owner;
}

static Owner **owner_slot(const ReplayCache *c, const char *name) {
        Owner *const *p = &c->owners[hash(c, name) % OWNER_BUCKETS];
        while (*p && !streq((*p)->name, name))
                p = &(*p)->next;
        return (Owner **) p;
}

static Owner *owner_get(ReplayCache *c, const char *name) {
        Owner **p = owner_slot(c, name);
        if (*p)
                return *p;
        size_t len = strlen(name);
        Owner *o = calloc(1, sizeof *o + len + 1);
        if (!o)
                return NULL;
        memcpy(o->name, name, len + 1);
        *p = o;
        return o;
}

static void owner_put(ReplayCache *c, Owner *o) {
        if (--o->count > 0)
                return;
        Owner **p = owner_slot(c, o->name);
        *p = o->next;
        free(o);
}

static void grow(ReplayCache *c) {
        size_t nb = c->n_buckets * 2;
        Entry **b = calloc(nb, sizeof(Entry *));
        if (!b)
                return; /* keep going with longer chains */
        for (size_t i = 0; i < c->n_buckets; i++)
                for (Entry *e = c->buckets[i], *n; e; e = n) {
                        n = e->next;
                        size_t k = hash(c, e->id) & (nb - 1);
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
                                owner_put(c, e->owner);
                                free(e);
                                n++;
                        } else
                                p = &e->next;
                }
        c->n_entries -= n;
        return n;
}

/* A full cache is scanned for expired ids at most once a second, so that a
 * sender who keeps it full cannot make every request walk all of it. */
static void prune_when_full(ReplayCache *c, int64_t now) {
        if (c->pruned_once && c->last_full_prune == now)
                return;
        c->pruned_once = true;
        c->last_full_prune = now;
        replay_cache_prune(c, now);
}

bool replay_cache_contains(const ReplayCache *c, const char *id, int64_t now) {
        size_t k = hash(c, id) & (c->n_buckets - 1);
        for (const Entry *e = c->buckets[k]; e; e = e->next)
                if (streq(e->id, id))
                        return e->expires_at >= now;
        return false;
}

int replay_cache_add_owned(ReplayCache *c, const char *owner, const char *id, int64_t expires_at, int64_t now) {
        size_t k = hash(c, id) & (c->n_buckets - 1);

        for (Entry *e = c->buckets[k]; e; e = e->next)
                if (streq(e->id, id)) {
                        if (e->expires_at >= now)
                                return -EEXIST;
                        /* Expired: it is new again, now held by owner. */
                        Owner *o = owner_get(c, owner ?: "");
                        if (!o)
                                return -ENOMEM;
                        o->count++;
                        owner_put(c, e->owner);
                        e->owner = o;
                        e->expires_at = expires_at;
                        return 0;
                }

        owner = owner ?: "";
        Owner *o = *owner_slot(c, owner);
        if (c->quota > 0 && o && o->count >= c->quota) {
                prune_when_full(c, now);
                o = *owner_slot(c, owner);
                if (o && o->count >= c->quota)
                        return -EDQUOT;
        }
        if (c->n_entries >= c->max_entries) {
                prune_when_full(c, now);
                if (c->n_entries >= c->max_entries)
                        return -ENOSPC;
        }
        if (c->n_entries >= c->n_buckets * 2) {
                grow(c);
                k = hash(c, id) & (c->n_buckets - 1);
        }

        size_t len = strlen(id);
        Entry *e = calloc(1, sizeof *e + len + 1);
        if (!e)
                return -ENOMEM;
        o = owner_get(c, owner);
        if (!o) {
                free(e);
                return -ENOMEM;
        }
        o->count++;
        memcpy(e->id, id, len + 1);
        e->owner = o;
        e->expires_at = expires_at;
        e->next = c->buckets[k];
        c->buckets[k] = e;
        c->n_entries++;
        return 0;
}

int replay_cache_add(ReplayCache *c, const char *id, int64_t expires_at, int64_t now) {
        return replay_cache_add_owned(c, NULL, id, expires_at, now);
}

size_t replay_cache_size(const ReplayCache *c) {
        return c->n_entries;
}

size_t replay_cache_owner_size(const ReplayCache *c, const char *owner) {
        const Owner *o = *owner_slot(c, owner ?: "");
        return o ? o->count : 0;
}
