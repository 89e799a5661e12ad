/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "filter.h"
#include "message.h"

/* Pushed checks: the results of the NRPE commands a node runs at each beat
 * ([heartbeat] checks), carried in its registration as
 *   "checks": {"check_disk": {"state": 0, "output": "DISK OK", "perfdata": "/=1MB;...",
 *                             "duration_usec": 1234, "when": 1700000000}, ...}
 * "state" is the Nagios state 0..3, "when" (Unix seconds, node clock) when
 * the check ended. */

#define CHECKS_MAX 64
#define CHECK_OUTPUT_MAX 1024          /* bytes of output and of perfdata kept per check */

/* One result as the heartbeat puts it into the registration. output and
 * perfdata are cut at CHECK_OUTPUT_MAX bytes (at a UTF-8 boundary). */
json_t *check_result_build(int state, const char *output, const char *perfdata, uint64_t duration_usec,
                           int64_t when);

/* Validate a registration's "checks" (NULL: none). -EBADMSG with err set. */
int checks_validate(json_t *checks, char err[static MESSAGE_ERROR_MAX]);


/* The collector's repeat path (muster(7), PUSHED CHECKS): a registration
 * whose checks' states did not change is only touched on disk, so the
 * outputs, perfdata and durations need not become JSON values at all.
 * checks_scan() finds the top-level "checks" member in the raw body and
 * reads it in one pass, without allocating: the names (pointing into the
 * body), states and times. It takes only a strict subset of what
 * registration_parse() + checks_validate() accept: plain string escapes
 * (no \u), unsigned integers without sign, fraction or exponent, no keys
 * but the five of a result, no duplicate keys. Everything else, valid or
 * not, gives -EAGAIN: the caller then parses the whole body as before, so
 * acceptance and the reasons of rejection do not depend on this.
 * Returns 1 when found and taken, 0 when the body has no top-level
 * "checks" (the whole parse alone applies), -EAGAIN otherwise. On 1, the
 * body without [cut_start, cut_end) is the same object without its
 * "checks" member (and one comma), its other members untouched: that is
 * what the caller parses. */
typedef struct ChecksScanItem {
        const char *name;      /* into the body, not NUL-terminated */
        size_t name_len;
        int8_t state;
        int64_t when;
} ChecksScanItem;

typedef struct ChecksScan {
        size_t cut_start, cut_end; /* the "checks" member: body[cut_start..cut_end) */
        size_t n;
        ChecksScanItem items[CHECKS_MAX];
} ChecksScan;

int checks_scan(const char *body, size_t size, ChecksScan *ret);

/* The state of one check in a registration's "checks", -ENOENT when absent. */
int checks_get_state(json_t *checks, const char *name, int64_t *ret_when);

/* The collector's index of every node's check states, in the state
 * directory as CHECKS_INDEX_NAME (a leading '.': never taken for a node):
 *   muster-checks 1
 *   IDENTITY INO.BTIME_SEC.BTIME_NSEC INTERVAL NAME=STATE NAME=STATE ...
 * Written atomically (temp file + rename), at most about once a second,
 * after a node's file was (re)written, so that check-mc-nrpe
 * --from-registry reads one small file and the files' metadata (as
 * check_mcollective does) instead of parsing every file. The key (inode
 * number and birth time) names the file version the line was taken from:
 * the collector replaces a changed file by a new one and only sets the
 * mtime of a repeat, so a file whose key differs is newer than the index
 * and is read instead. A stale index is thus slower, never wrong. */
/* Under the registry index's directory (REGISTRY_INDEX_NAME): writing it
 * there does not move the state directory's mtime, which the registry
 * index takes as its stamp. */
#define CHECKS_INDEX_NAME ".index/checks"

typedef struct ChecksFileKey {
        uint64_t ino;
        int64_t btime_sec;
        uint32_t btime_nsec;
} ChecksFileKey;

/* statx() of dirfd/name: its key, mtime, whether it is a regular file. */
int checks_file_key(int dirfd, const char *name, ChecksFileKey *ret_key, int64_t *ret_mtime, bool *ret_regular);

typedef struct ChecksIndexNode {
        const char *identity;  /* not NUL-terminated: identity_len bytes of the mapped file */
        size_t identity_len;
        ChecksFileKey key;
        int64_t interval;
        const char *states;    /* "NAME=STATE NAME=STATE" as in the file, states_len bytes */
        size_t states_len;
} ChecksIndexNode;

typedef struct ChecksIndex {
        ChecksIndexNode *nodes;
        size_t n;
        void *map;             /* the file, mapped read-only; identity and states point into it */
        size_t map_size;
} ChecksIndex;

/* -ENOENT when there is no index (a collector older than pushed checks, or
 * none ran yet), -EBADMSG when it is not one. */
int checks_index_read(int dirfd, ChecksIndex *ret);
void checks_index_done(ChecksIndex *x);
/* The state of check name in one node's "NAME=STATE ..." list: 0..3, or -ENOENT. */
int checks_index_state(const ChecksIndexNode *n, const char *name);

/* Writing: open, add one line per node, commit (rename over the old one). */
typedef struct ChecksIndexWriter ChecksIndexWriter;
int checks_index_writer_new(int dirfd, ChecksIndexWriter **ret);
/* names/states: n checks of one node. */
int checks_index_writer_add(ChecksIndexWriter *w, const char *identity, const ChecksFileKey *key, int64_t interval,
                            char *const *names,
                            const int8_t *states, size_t n);
int checks_index_writer_commit(ChecksIndexWriter *w);
ChecksIndexWriter *checks_index_writer_free(ChecksIndexWriter *w);

/* check-mc-nrpe --from-registry: one check's stored results, collated.
 * Nodes come from the directory; their states from the check index where
 * it is current for the file, otherwise from the file;
 * filter (may be NULL or empty) applies to the stored facts, classes,
 * agents and identity. A node whose file is older than its interval plus
 * grace counts UNKNOWN and is listed in ret_stale; with a filter, a
 * matching node that does not push the check counts UNKNOWN and is listed
 * in ret_not_pushed. names[state] as in NagiosCollation (unsorted); the
 * OK nodes are only counted (n_ok) unless flags has CHECKS_COLLATE_LIST_OK:
 * nothing prints them by name, and listing and sorting 100,000 of them was a
 * third of the work. */
typedef enum ChecksCollateFlags {
        CHECKS_COLLATE_LIST_OK = 1 << 0,
} ChecksCollateFlags;

typedef struct ChecksCollation {
        char **names[4];
        size_t n_ok;             /* OK nodes not listed in names[0] */
        char **stale;
        char **not_pushed;
        size_t n;                /* nodes counted */
        bool used_index;
        size_t n_read;           /* files read because the index did not cover them */
        size_t n_names[4], alloc_names[4], n_stale, alloc_stale, n_not_pushed, alloc_not_pushed;
} ChecksCollation;

int checks_collate_registry(const char *dir, const char *collective, const Filter *filter, const char *check,
                            int64_t now, int64_t grace, int64_t default_interval, ChecksCollateFlags flags,
                            ChecksCollation *ret);
void checks_collation_done(ChecksCollation *c);
