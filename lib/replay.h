/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Remembers request ids until their TTL has passed, to drop replays. */
typedef struct ReplayCache ReplayCache;

ReplayCache *replay_cache_new(size_t max_entries);
ReplayCache *replay_cache_free(ReplayCache *c);

/* 0 when id was new (it is now remembered until expires_at, in seconds);
 * -EEXIST when it was seen and has not expired; -ENOSPC when the cache is
 * full of unexpired ids. */
int replay_cache_add(ReplayCache *c, const char *id, int64_t expires_at, int64_t now);

/* Forget expired ids; returns how many. */
size_t replay_cache_prune(ReplayCache *c, int64_t now);
size_t replay_cache_size(const ReplayCache *c);
