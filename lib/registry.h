/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#include "message.h"

/* The collector's state directory: one file per node, named by its
 * identity, holding the registration JSON plus "received" (when its content
 * last changed). The file's mtime is when the node was last heard from. */

typedef struct RegistryEntry {
        char *identity;
        struct timespec mtime;
        int64_t interval;         /* from the registration, 0 if unknown */
        json_t *root;             /* the file's JSON, NULL when unreadable */
        Registration *registration; /* NULL when the file is not a valid registration */
} RegistryEntry;

/* What a registration says, timestamps aside (msgtime, uptime, received):
 * SHA-256 of its canonical JSON without them. */
typedef struct RegistryDigest {
        uint8_t bytes[32];
        bool set;
} RegistryDigest;

int registry_digest(json_t *root, RegistryDigest *ret);

typedef struct RegistryList {
        RegistryEntry *entries;
        size_t n;
} RegistryList;

void registry_list_done(RegistryList *l);

/* Read every file of dir whose name is a valid identity (names starting with
 * '.' are temp files and skipped). Files that are not valid registrations are
 * listed with registration == NULL. Sorted by identity. */
int registry_list(const char *dir, bool parse, RegistryList *ret);

/* The same files one at a time, in directory order, without holding them all
 * in memory: cb owns the entry it is given (registry_entry_done() it). A
 * negative return of cb stops the walk and is returned. */
typedef int (*registry_entry_cb_t)(RegistryEntry *e, void *userdata);
int registry_foreach(const char *dir, bool parse, registry_entry_cb_t cb, void *userdata);

/* Read one node's file. */
int registry_read(const char *dir, const char *identity, RegistryEntry *ret);
void registry_entry_done(RegistryEntry *e);

/* Whether a node counts as stale at now (seconds): now - mtime > interval + grace. */
bool registry_entry_is_stale(const RegistryEntry *e, int64_t now, int64_t interval, int64_t grace);

/* For filters: the node's identity, facts, classes and agents. The strv
 * arrays are allocated into ret_classes/ret_agents. */
int registry_entry_node_info(const RegistryEntry *e, void *ret_node_info, char ***ret_classes, char ***ret_agents);

/* Write (atomically: temp file in dir + rename) or touch the node's file.
 * dirfd is an O_DIRECTORY fd of the state directory. When the registration
 * equals the stored one but for msgtime/uptime, only the mtime is set and 0
 * is returned; 1 when the file was (re)written. The mtime is set to seen_at
 * (when the node sent it), "received" to now; -errno on failure (the state
 * is unchanged then). *ret_new tells whether the file did not exist before. */
int registry_store(int dirfd, const Registration *reg, int64_t now, int64_t seen_at, bool *ret_new);

/* The same, for a caller that remembers each node's digest (the collector):
 * when *known is set and equal to the incoming registration's, the stored
 * file is not read back; an unset one means "unknown, compare with the file".
 * On success *known is the digest of what the file now holds. */
int registry_store_known(int dirfd, const Registration *reg, int64_t now, int64_t seen_at, RegistryDigest *known,
                         bool *ret_new);
