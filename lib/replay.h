/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Remembers request ids until their TTL has passed, to drop replays.
 *
 * Ids are kept in a keyed Hashmap (hashmap.h): SipHash-2-4 under a random
 * key drawn at creation, so
 * a sender cannot choose ids that collide into one chain. Each id belongs
 * to an owner (the key that signed the request); an owner may hold at most
 * its quota of unexpired ids, so one key cannot fill the cache for all. */
typedef struct ReplayCache ReplayCache;

/* Without a quota set, an owner may hold all max_entries. NULL on failure
 * (out of memory, or no randomness), with errno set. */
ReplayCache *replay_cache_new(size_t max_entries);
ReplayCache *replay_cache_free(ReplayCache *c);

/* Ids one owner may hold at once (0: no limit beyond max_entries). */
void replay_cache_set_quota(ReplayCache *c, size_t per_owner);

/* 0 when id was new (it is now remembered until expires_at, in seconds);
 * -EEXIST when it was seen and has not expired; -ENOSPC when the cache is
 * full of unexpired ids; -EDQUOT when owner already holds its quota of
 * unexpired ids; -ENOMEM. owner NULL is the anonymous owner "". */
int replay_cache_add_owned(ReplayCache *c, const char *owner, const char *id, int64_t expires_at, int64_t now);
int replay_cache_add(ReplayCache *c, const char *id, int64_t expires_at, int64_t now);

/* Whether id is remembered and has not expired. */
bool replay_cache_contains(const ReplayCache *c, const char *id, int64_t now);

/* Forget expired ids; returns how many. */
size_t replay_cache_prune(ReplayCache *c, int64_t now);
size_t replay_cache_size(const ReplayCache *c);
/* How many ids owner holds (expired ones not yet pruned included). */
size_t replay_cache_owner_size(const ReplayCache *c, const char *owner);
