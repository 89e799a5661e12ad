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

typedef struct RegistryList {
        RegistryEntry *entries;
        size_t n;
} RegistryList;

void registry_list_done(RegistryList *l);

/* Read every file of dir whose name is a valid identity (names starting with
 * '.' are temp files and skipped). Files that are not valid registrations are
 * listed with registration == NULL. Sorted by identity. */
int registry_list(const char *dir, bool parse, RegistryList *ret);

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
