/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "amqp-session.h"
#include "config.h"
#include "filter.h"
#include "registry.h"
#include "sign.h"

/* The requesting side, shared by `muster` and `check-mc-nrpe`: discovery,
 * publishing, and collecting replies as they arrive. */

/* Owned by the ClientResult, freed by client_result_done(). */
typedef struct ClientReply {
        char *identity;
        int statuscode;
        char *statusmsg;          /* in the same allocation as identity */
        json_t *data;             /* may be shared with other replies whose data was the same text: read only */
        uint64_t rtt_usec;        /* from publishing the request */
} ClientReply;

typedef struct ClientResult {
        ClientReply *replies;
        size_t n_replies;
        char **expected;          /* discovered nodes (NULL for a pure broadcast ping) */
        char **missing;           /* expected, no reply (sorted) */
        char **unreachable;       /* subset of missing: no queue on the broker (directed requests) */
        uint64_t discovery_usec;
        uint64_t total_usec;      /* from the first publish to the end of the wait */
        uint64_t run_usec;        /* the whole call, discovery and batch pauses included */
        size_t n_discovered;      /* nodes found by discovery, before --limit */
        size_t n_batches;         /* requests sent in how many batches (0: none sent) */
        bool directed;            /* the request went to each expected node directly */
        bool timed_out;           /* the overall deadline ended the wait */
} ClientResult;

void client_result_done(ClientResult *r);

typedef void (*client_reply_cb_t)(const ClientReply *reply, size_t n_received, size_t n_expected, void *userdata);
/* Broadcast discovery: called once when it starts (n 0, done false), at
 * every new node, and once when it ends (done true). For a broadcast ping,
 * which is its own discovery, the answers go to on_reply with n_expected 0
 * in between. */
typedef void (*client_discovery_cb_t)(size_t n_discovered, uint64_t timeout_usec, bool done, void *userdata);

typedef struct ClientRequest {
        const char *agent;
        const char *action;
        json_t *data;                  /* may be NULL */
        const Filter *filter;          /* may be NULL */
        DiscoveryMethod method;
        uint64_t discovery_timeout_usec;
        uint64_t timeout_usec;         /* bounds the whole call, discovery included */
        bool discovery_only;           /* `muster ping`: the discovery replies are the result */
        char **targets;                /* address these identities directly, no discovery (may be NULL) */
        bool direct_identities;        /* -I names without a /regex/ are the targets, as mco does */
        size_t limit;                  /* keep at most this many discovered nodes (0: all) */
        unsigned limit_percent;        /* or this percentage of them (0: none), at least one */
        bool limit_random;             /* pick them at random with limit_seed, not the first ones */
        uint64_t limit_seed;
        size_t batch_size;             /* send to this many nodes at a time (0: all at once) */
        unsigned batch_percent;        /* or this percentage of the discovered nodes */
        uint64_t batch_sleep_usec;     /* pause between batches */
        client_reply_cb_t on_reply;
        bool drop_data;                /* data reaches on_reply only: ClientReply.data is NULL in the
                                        * result, so a large fleet's replies are not all kept parsed */
        char *const *data_keys;        /* NULL, or a reply's data holds only these keys: the rest is
                                        * read and checked, not built (what on_reply does not read) */
        client_discovery_cb_t on_discovery;
        void *userdata;
} ClientRequest;

typedef struct Client {
        MusterConfig *config;
        Psk *psk;
        Signer signer;            /* what requests are signed with */
        KeyRing *node_keys;       /* who replies may be signed by */
        Verifier verifier;
        char **warnings;          /* client_open() loading the keys: for the tool to log (log_warnings()) */
        AmqpSession session;
        char *callerid;
        uint64_t deadline;             /* CLOCK_MONOTONIC usec */
        char error[AMQP_ERROR_MAX + 256];
} Client;

/* Read key, connect to a broker, start consuming the direct reply-to
 * pseudo-queue. Returns a negative errno with c->error set. Either way
 * c->warnings holds what loading the keys went on past. */
int client_open(Client *c, MusterConfig *config, uint64_t deadline);
void client_close(Client *c);

int client_call(Client *c, const ClientRequest *req, ClientResult *ret);

/* What a collated NRPE check keeps of each reply: its Nagios state, and its
 * output when keep_output (check-mc-nrpe -v); in arrival order, so reply i
 * of the result is states[i]. Set a request's on_reply to
 * client_nrpe_tally_reply, userdata to the tally, drop_data, and data_keys
 * to client_nrpe_tally_keys(): ~100 bytes kept per node instead of the
 * parsed data, and only the keys read built. */
typedef struct ClientNrpeTally {
        uint8_t *states;               /* NAGIOS_OK .. NAGIOS_UNKNOWN; UNKNOWN without an integer exitcode */
        char **outputs;                /* NULL each where the reply had no output string */
        size_t n, alloc_states, alloc_outputs;
        bool keep_output;
        int error;                     /* -ENOMEM once a reply could not be kept */
} ClientNrpeTally;
/* The Nagios state of an NRPE result object ({"exitcode": N, ...}); UNKNOWN
 * without an integer exitcode (data may be NULL). */
int client_nrpe_state(const json_t *data);
void client_nrpe_tally_reply(const ClientReply *reply, size_t n_received, size_t n_expected, void *userdata);
void client_nrpe_tally_done(ClientNrpeTally *t);
/* The keys of a reply's data the tally reads (set keep_output first). */
char *const *client_nrpe_tally_keys(const ClientNrpeTally *t);

/* Expected nodes from the registry directory, filtered client side; only
 * registrations of collective (when not NULL) count. ret_agents (may be
 * NULL) receives every agent the registrations of that collective name. */
int client_registry_discover(const char *dir, const char *collective, const Filter *filter, char ***ret,
                             char ***ret_agents);
/* The same, with extra scan flags (REGISTRY_SCAN_NO_INDEX reads every file
 * as without an index: the bench's baseline; REGISTRY_SCAN_MTIME checks
 * every file against the index as when it is stale). stats may be NULL. */
int client_registry_discover_full(const char *dir, const char *collective, const Filter *filter,
                                  RegistryScanFlags flags, char ***ret, char ***ret_agents,
                                  RegistryScanStats *stats);

/* Whether the filter's identities are all plain names (no /regex/). */
bool filter_identities_are_names(const Filter *f);

/* Keep count (or percent %, at least one) of the nodes in *l: the first ones,
 * or with random a repeatable pseudo-random pick from seed. */
int client_limit_nodes(char ***l, size_t count, unsigned percent, bool random, uint64_t seed);
