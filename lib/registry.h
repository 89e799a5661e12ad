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
 * SHA-256 of its canonical JSON without them; of its pushed "checks" only
 * the states count. */
typedef struct RegistryDigest {
        uint8_t bytes[32];
        bool set;
} RegistryDigest;

int registry_digest(json_t *root, RegistryDigest *ret);
/* The same digest for the collector's repeat path: root is the
 * registration parsed without its "checks" (checks.h, checks_scan()), scan
 * gives their states. Equal to registry_digest() of the whole registration. */
struct ChecksScan;
int registry_digest_scanned(json_t *root, const struct ChecksScan *scan, RegistryDigest *ret);
/* Set the mtime of the node's file to seen_at, and nothing else (a repeat). */
int registry_touch(int dirfd, const char *identity, int64_t seen_at);

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

/* The one staleness rule, for the collector, `muster nodes` and
 * check_mcollective: a node last heard from at mtime (seconds) is stale at
 * now when now - mtime > interval + grace. */
bool registry_is_stale(int64_t now, int64_t mtime, int64_t interval, int64_t grace);
/* The same for a node's file, by its mtime. */
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
/* The same; rewrite: write the file even when the digest is unchanged (the
 * collector refreshes a node's pushed check outputs now and then, as the
 * digest covers the checks' states only). */
int registry_store_full(int dirfd, const Registration *reg, int64_t now, int64_t seen_at, RegistryDigest *known,
                        bool rewrite, bool *ret_new);

/* The registry's index: REGISTRY_INDEX_NAME/registry in the state
 * directory, written by the collector (temp file + rename, both inside that
 * subdirectory, so writing it leaves the state directory's mtime alone), so
 * that discovery need not parse every node's file. Per node it holds what
 * discovery and filters need (collective, interval, agents, classes, facts)
 * and the key of the file it was taken from: inode number, birth time (or
 * change time where the file system has none) and size; a trailer holds the
 * node count and a SHA-256 of the rest. An index failing that check is not
 * used at all.
 *
 * Staleness, in two steps:
 * - The index carries the state directory's inode and mtime taken before
 *   the writer's walk, when they did not move during it and were at least
 *   2 s old (a change within the same clock tick would leave them equal).
 *   Adding, removing or replacing a node file (the collector rewrites a
 *   changed registration as a new file and renames it over the old one)
 *   moves the directory's mtime; a repeat registration only sets the file's
 *   own mtime. A reader whose stat() of the directory gives the same stamp
 *   uses the index alone.
 * - Otherwise the reader lists the directory and stat()s every file: one
 *   whose key matches its entry is taken from the index, any other is read
 *   as without an index, and a node in the index without its file is not
 *   listed. A stale index is thus never wrong, only slower; the collector
 *   rewrites it when nodes changed (at most every REGISTRY_INDEX_INTERVAL)
 *   and again when it could not be stamped.
 * The name starts with '.', so check_mcollective and registry_list skip it. */
#define REGISTRY_INDEX_INTERVAL_SEC 30
#define REGISTRY_INDEX_NAME ".index"

/* What a scan gives for each node. Everything is borrowed for the call only. */
typedef struct RegistryNode {
        const char *identity;
        struct timespec mtime;       /* when the node was last heard from; zero when taken from a
                                      * current index without REGISTRY_SCAN_MTIME */
        bool valid;                  /* the file holds a registration of this node */
        const char *collective;      /* NULL unless valid */
        int64_t interval;
        char *const *agents;         /* NULL-terminated; NULL unless valid */
        char *const *classes;
        json_t *facts;               /* only with REGISTRY_SCAN_FACTS, may be NULL */
} RegistryNode;

typedef enum RegistryScanFlags {
        REGISTRY_SCAN_PARSE = 1 << 0,    /* collective, interval, agents, classes */
        REGISTRY_SCAN_FACTS = 1 << 1,    /* facts too (implies PARSE) */
        REGISTRY_SCAN_NO_INDEX = 1 << 2, /* read every file, as without an index */
        REGISTRY_SCAN_MTIME = 1 << 3,    /* the callback needs mtime (then every file is stat()ed) */
} RegistryScanFlags;

typedef enum RegistryIndexState {
        REGISTRY_INDEX_UNUSED,      /* not asked for, or not needed (no PARSE) */
        REGISTRY_INDEX_MISSING,
        REGISTRY_INDEX_INVALID,     /* unreadable, corrupt or of another format */
        REGISTRY_INDEX_USED,
} RegistryIndexState;

typedef struct RegistryScanStats {
        RegistryIndexState index;
        size_t n_nodes;              /* given to the callback */
        size_t n_indexed;            /* of them, taken from the index */
        size_t n_read;               /* of them, read from their file */
        size_t n_index_entries;      /* in the index */
        bool stamped;                /* scan: the directory had not changed since the index was
                                      * written, no file was looked at; write: the index carries
                                      * the directory's stamp (otherwise write it again later) */
} RegistryScanStats;

typedef int (*registry_node_cb_t)(const RegistryNode *n, void *userdata);
/* Every node file of dir, in directory order, taken from the index where it
 * is current. A negative return of cb stops the scan and is returned. stats
 * may be NULL. */
int registry_scan(const char *dir, RegistryScanFlags flags, registry_node_cb_t cb, void *userdata,
                  RegistryScanStats *stats);

/* 1 when the index of the directory dfd is whole and carries the
 * directory's current stamp (nothing added, removed or replaced since it
 * was written: readers take it as it is), 0 when it is missing, invalid
 * or older, -ENOMEM. */
int registry_index_is_current(int dfd);

/* Rewrite dir's index (atomically); files whose key matches the old index
 * are not read again. stats (may be NULL): n_nodes written, n_indexed
 * reused, n_read parsed. */
int registry_index_write(const char *dir, RegistryScanStats *stats);
