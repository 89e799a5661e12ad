/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <jansson.h>

#include "agents/agents.h"
#include "config.h"
#include "message.h"
#include "nrpe.h"
#include "policy.h"
#include "replay.h"
#include "sign.h"

/* The responder's decision path for one delivery, shared by the daemon and
 * the node simulator: size, signature, schema, freshness, replay,
 * collective, filter, agent and action. It does not log and does no I/O. */

typedef enum DropReason {
        DROP_OVERSIZE,
        DROP_UNSIGNED,
        DROP_BAD_SIGNATURE,
        DROP_MALFORMED,
        DROP_EXPIRED,
        DROP_FUTURE,
        DROP_REPLAYED,
        DROP_WRONG_COLLECTIVE,
        DROP_REPLAY_CACHE_FULL,
        DROP_UNKNOWN_KEY,
        DROP_PSK_REFUSED,
        DROP_REPLAY_QUOTA,
        DROP_REPLY_TO,
        _DROP_MAX,
} DropReason;

const char *drop_reason_to_string(DropReason r);

/* The replay cache: at most REPLAY_CACHE_MAX request ids, of which one
 * signer may hold REPLAY_QUOTA_PER_SIGNER. Ids are kept for at most
 * security.max_ttl + max_clock_skew, so one signer may have that many
 * requests run within that window. */
#define REPLAY_CACHE_MAX (UINT32_C(1) << 20)
#define REPLAY_QUOTA_PER_SIGNER (UINT32_C(1) << 17)
ReplayCache *responder_replay_cache_new(void);

typedef struct ResponderStats {
        uint64_t received;
        uint64_t dropped[_DROP_MAX];
        uint64_t filtered;       /* valid, but not for us */
        uint64_t served;         /* answered (any statuscode) */
        uint64_t by_agent[_AGENT_MAX];   /* by AgentId */
        uint64_t denied;
        uint64_t checks_run;
        uint64_t checks_timed_out;
} ResponderStats;

typedef struct ResponderCore {
        const MusterConfig *config;
        const Psk *psk;
        ReplayCache *replay;
        json_t *facts;           /* object of strings */
        char **classes;
        const NrpeConfig *nrpe;
        int64_t started_at;      /* realtime seconds */
        /* Optional, for per-client keys and authorization; without them
         * the PSK signs and verifies and everything is allowed. */
        const Verifier *verifier;
        const Signer *signer;
        const Policy *policy;
        ResponderStats stats;
} ResponderCore;

typedef enum DispatchKind {
        DISPATCH_DROP,      /* invalid: log (rate limited) and forget */
        DISPATCH_IGNORE,    /* valid, but the filter does not select us: stay silent */
        DISPATCH_REPLY,     /* answer now */
        DISPATCH_RUN,       /* run an NRPE command, then answer with nrpe_result_data() */
        DISPATCH_RUN_ALL,   /* run every command of batch, then answer with nrpe_batch_reply() */
} DispatchKind;

typedef struct Dispatch {
        DispatchKind kind;
        DropReason reason;                 /* DROP */
        char detail[MESSAGE_ERROR_MAX];    /* DROP: human readable */
        Request *request;                  /* IGNORE, REPLY, RUN */
        int statuscode;                    /* REPLY */
        char *statusmsg;                   /* REPLY */
        json_t *data;                      /* REPLY */
        char *command;                     /* RUN: command name */
        char *command_line;                /* RUN: expanded command line */
        NrpeBatch *batch;                  /* RUN_ALL: the commands and their results */
        char caller[KEY_ID_MAX];           /* who signed it: a key id, "psk" or "local"; set once the
                                            * signature verified */
        bool denied;                       /* REPLY: refused by the policy */
} Dispatch;

void dispatch_done(Dispatch *d);

int responder_dispatch(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *signature,
                       int64_t now, Dispatch *ret);
/* A request from the local control socket, whose peer the daemon already
 * authenticated by its credentials: no signature; the caller is "local". */
int responder_dispatch_local(ResponderCore *c, const void *body, size_t size, int64_t now, Dispatch *ret);

/* The same, with the x-muster-key-id header of Ed25519-signed requests. */
int responder_dispatch_keyed(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *key_id,
                             const char *signature, int64_t now, Dispatch *ret);

/* The same, with the delivery's reply_to (NULL: none), which must be
 * allowed by responder.allowed_reply_to (DROP_REPLY_TO otherwise). The
 * responder daemon uses this one. */
int responder_dispatch_delivery(ResponderCore *c, const void *body, size_t size, const char *scheme,
                                const char *key_id, const char *signature, const char *reply_to, int64_t now,
                                Dispatch *ret);

/* Whether replies may be sent to reply_to: it matches an entry of
 * responder.allowed_reply_to exactly, or its prefix when the entry ends
 * in '*'. */
bool responder_reply_to_allowed(const ResponderCore *c, const char *reply_to);

/* Build the signed reply body for a request. */
int responder_build_reply(ResponderCore *c, const Request *req, int statuscode, const char *statusmsg, json_t *data,
                          int64_t now, char **ret_body, size_t *ret_size, char ret_sig[static SIGNATURE_HEX_MAX]);

/* The same, signed with c->signer when set; ret_scheme/ret_key_id say how. */
int responder_build_reply_signed(ResponderCore *c, const Request *req, int statuscode, const char *statusmsg,
                                 json_t *data, int64_t now, char **ret_body, size_t *ret_size,
                                 char ret_sig[static SIGNATURE_HEX_MAX], const char **ret_scheme,
                                 const char **ret_key_id);

/* For the agents' handlers: answer now (data NULL: an empty object). */
int dispatch_reply(Dispatch *d, int statuscode, const char *statusmsg, json_t *data);
/* The same with data a builder just made: NULL means the builder ran out of
 * memory, and the answer is then "unknown error", never a statuscode with
 * missing data. */
int dispatch_reply_data(Dispatch *d, int statuscode, const char *statusmsg, json_t *data);

/* The counters rpcutil daemon_stats and inventory report. */
json_t *responder_stats_json(const ResponderCore *c, int64_t now);

/* The agents this node serves, as "NodeInfo" for filter matching. */
bool responder_serves(const ResponderCore *c, const char *agent);
