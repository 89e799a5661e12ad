/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hashmap.h"
#include "macro.h"
#include "replay.h"

/* Both tables are the shared Hashmap, keyed (request ids and signers are
 * chosen by senders) and borrowing their keys, which live in the values. */

typedef struct Owner {
        size_t count;
        char name[];
} Owner;

typedef struct Entry {
        Owner *owner;
        int64_t expires_at;
        char id[];
} Entry;

struct ReplayCache {
        Hashmap *entries;   /* id -> Entry */
        Hashmap *owners;    /* name -> Owner */
        size_t max_entries;
        size_t quota;
        int64_t last_full_prune;
        bool pruned_once;
};

ReplayCache *replay_cache_new(size_t max_entries) {
        ReplayCache *c = calloc(1, sizeof *c);
        if (!c)
                return NULL;
        c->entries = hashmap_new_full(HASHMAP_KEYED | HASHMAP_BORROW_KEYS);
        c->owners = c->entries ? hashmap_new_full(HASHMAP_KEYED | HASHMAP_BORROW_KEYS) : NULL;
        if (!c->owners) {
                int saved_errno = errno;
                replay_cache_free(c);
                errno = saved_errno;
                return NULL;
        }
        c->max_entries = max_entries;
        return c;
}

ReplayCache *replay_cache_free(ReplayCache *c) {
        if (!c)
                return NULL;
        hashmap_free(c->entries, free);
        hashmap_free(c->owners, free);
        free(c);
        return NULL;
}

void replay_cache_set_quota(ReplayCache *c, size_t per_owner) {
        c->quota = per_owner;
}

static Owner *owner_get(ReplayCache *c, const char *name) {
        Owner *o = hashmap_get(c->owners, name);
        if (o)
                return o;
        size_t len = strlen(name);
        o = calloc(1, sizeof *o + len + 1);
        if (!o)
                return NULL;
        memcpy(o->name, name, len + 1);
        if (hashmap_put(c->owners, o->name, o) < 0) {
                free(o);
                return NULL;
        }
        return o;
}

static void owner_put(ReplayCache *c, Owner *o) {
        if (--o->count > 0)
                return;
        (void) hashmap_remove(c->owners, o->name);
        free(o);
}

typedef struct PruneContext {
        ReplayCache *cache;
        int64_t now;
} PruneContext;

static bool entry_expired(const char *id, void *value, void *userdata) {
        PruneContext *p = userdata;
        Entry *e = value;

        if (e->expires_at >= p->now)
                return false;
        owner_put(p->cache, e->owner);
        free(e);
        return true;
}

size_t replay_cache_prune(ReplayCache *c, int64_t now) {
        return hashmap_remove_if(c->entries, entry_expired, &(PruneContext) { .cache = c, .now = now });
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
        const Entry *e = hashmap_get(c->entries, id);
        return e && e->expires_at >= now;
}

int replay_cache_add_owned(ReplayCache *c, const char *owner, const char *id, int64_t expires_at, int64_t now) {
        Entry *e = hashmap_get(c->entries, id);
        Owner *o;

        owner = owner ?: "";
        if (e) {
                if (e->expires_at >= now)
                        return -EEXIST;
                /* Expired: it is new again, now held by owner. */
                o = owner_get(c, owner);
                if (!o)
                        return -ENOMEM;
                o->count++;
                owner_put(c, e->owner);
                e->owner = o;
                e->expires_at = expires_at;
                return 0;
        }

        o = hashmap_get(c->owners, owner);
        if (c->quota > 0 && o && o->count >= c->quota) {
                prune_when_full(c, now);
                o = hashmap_get(c->owners, owner);
                if (o && o->count >= c->quota)
                        return -EDQUOT;
        }
        if (hashmap_size(c->entries) >= c->max_entries) {
                prune_when_full(c, now);
                if (hashmap_size(c->entries) >= c->max_entries)
                        return -ENOSPC;
        }

        size_t len = strlen(id);
        e = calloc(1, sizeof *e + len + 1);
        if (!e)
                return -ENOMEM;
        memcpy(e->id, id, len + 1);
        o = owner_get(c, owner);
        if (!o) {
                free(e);
                return -ENOMEM;
        }
        if (hashmap_put(c->entries, e->id, e) < 0) {
                o->count++;
                owner_put(c, o);   /* forgets an owner made for this id alone */
                free(e);
                return -ENOMEM;
        }
        o->count++;
        e->owner = o;
        e->expires_at = expires_at;
        return 0;
}

int replay_cache_add(ReplayCache *c, const char *id, int64_t expires_at, int64_t now) {
        return replay_cache_add_owned(c, NULL, id, expires_at, now);
}

size_t replay_cache_size(const ReplayCache *c) {
        return hashmap_size(c->entries);
}

size_t replay_cache_owner_size(const ReplayCache *c, const char *owner) {
        const Owner *o = hashmap_get(c->owners, owner ?: "");
        return o ? o->count : 0;
}
