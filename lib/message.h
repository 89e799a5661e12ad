/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "filter.h"

#define PROTOCOL_REQUEST      "muster:request:1"
#define PROTOCOL_REPLY        "muster:reply:1"
#define PROTOCOL_REGISTRATION "muster:registration:1"

#define MESSAGE_SIZE_DEFAULT (UINT64_C(1) << 20)
#define TTL_MAX (7 * 86400)

typedef enum StatusCode {
        STATUS_OK = 0,
        STATUS_ABORTED = 1,
        STATUS_UNKNOWN_ACTION = 2,
        STATUS_MISSING_DATA = 3,
        STATUS_INVALID_DATA = 4,
        STATUS_UNKNOWN_ERROR = 5,
        _STATUS_MAX,
} StatusCode;

const char *status_code_to_string(int code);

typedef struct Request {
        json_t *root;            /* owns everything below */
        const char *requestid;
        const char *senderid;
        const char *callerid;
        const char *collective;
        const char *agent;
        const char *action;
        int64_t msgtime;
        int64_t ttl;
        Filter *filter;
        json_t *data;            /* object, borrowed from root */
} Request;

typedef struct Reply {
        json_t *root;            /* NULL when read by the fast path: the strings then point into the Reply's
                                  * own copy of the body, and data is owned */
        const char *requestid;
        const char *senderid;
        const char *agent;
        const char *action;
        int64_t msgtime;
        int statuscode;
        const char *statusmsg;
        json_t *data;
} Reply;

typedef struct Registration {
        json_t *root;
        const char *identity;
        const char *collective;
        int64_t msgtime;
        int64_t interval;
        json_t *facts;           /* object of strings */
        json_t *classes;         /* array of strings */
        json_t *agents;          /* array of strings */
        const char *boot_id;
        int64_t uptime;
        const char *version;
} Registration;

Request *request_free(Request *r);
Reply *reply_free(Reply *r);
Registration *registration_free(Registration *r);
static inline void request_freep(Request **r) { request_free(*r); }
static inline void reply_freep(Reply **r) { reply_free(*r); }
static inline void registration_freep(Registration **r) { registration_free(*r); }
#define _cleanup_request_ __attribute__((cleanup(request_freep)))
#define _cleanup_reply_ __attribute__((cleanup(reply_freep)))
#define _cleanup_registration_ __attribute__((cleanup(registration_freep)))

/* Parse and validate a body. On failure: -EMSGSIZE (over max_size), -EBADMSG
 * (not JSON / not UTF-8 / schema violation), with err set to a human
 * readable reason. */
#define MESSAGE_ERROR_MAX 256
int request_parse(const void *body, size_t size, uint64_t max_size, Request **ret, char err[static MESSAGE_ERROR_MAX]);
int reply_parse(const void *body, size_t size, uint64_t max_size, Reply **ret, char err[static MESSAGE_ERROR_MAX]);

/* The data object of the last reply read with this cache, and its text: a
 * reply whose data has the very same text gets a new reference to the same
 * object instead of a new one (a ping's {"pong": <second>} is the same for
 * every node that answers within that second, and each jansson object is
 * four allocations of fresh memory). Such objects are shared between
 * replies: read them, never change them. Zero-initialised; done() drops it. */
typedef struct ReplyDataCache {
        char *text;
        size_t size, alloc;
        json_t *data;
        /* Set by the caller (NULL: keep all): data holds only these keys.
         * The others are read and checked as before, never built, so a reply
         * is accepted or refused just the same. */
        char *const *keep;
} ReplyDataCache;
void reply_data_cache_done(ReplyDataCache *c);   /* keeps keep */
/* reply_parse() with a cache (NULL: none); accepts and refuses exactly what
 * reply_parse() does, with the same errors. */
int reply_parse_cached(const void *body, size_t size, uint64_t max_size, ReplyDataCache *cache, Reply **ret,
                       char err[static MESSAGE_ERROR_MAX]);
int registration_parse(const void *body, size_t size, uint64_t max_size, Registration **ret,
                       char err[static MESSAGE_ERROR_MAX]);

/* Validate a parsed registration JSON object (used by the registry reader). */
int registration_from_json(json_t *root, Registration **ret, char err[static MESSAGE_ERROR_MAX]);

/* Freshness: 0, or -ETIME (expired: now > msgtime + ttl) or -EDOM (from the
 * future by more than skew). Times in seconds. */
int message_check_time(int64_t msgtime, int64_t ttl, int64_t now, int64_t skew);

/* Builders: return a new JSON object (NULL on OOM). data/filter may be NULL. */
json_t *request_build(const char *requestid, const char *senderid, const char *callerid, const char *collective,
                      const char *agent, const char *action, int64_t msgtime, int64_t ttl, const Filter *filter,
                      json_t *data);
json_t *reply_build(const char *requestid, const char *senderid, const char *agent, const char *action,
                    int64_t msgtime, int statuscode, const char *statusmsg, json_t *data);

json_t *registration_build(const char *identity, const char *collective, int64_t msgtime, int64_t interval,
                           json_t *facts, char *const *classes, char *const *agents, const char *boot_id,
                           int64_t uptime, const char *version);

/* Serialize compactly; ret is malloc'd. */
int message_dump(const json_t *j, char **ret, size_t *ret_size);

/* Whether a string is an acceptable caller id: 1..256 printable ASCII. */
bool callerid_is_valid(const char *s);
bool requestid_is_valid(const char *s);
