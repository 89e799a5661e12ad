/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "amqp-session.h"
#include "config.h"
#include "filter.h"
#include "sign.h"

/* The requesting side, shared by `muster` and `check-mc-nrpe`: discovery,
 * publishing, and collecting replies as they arrive. */

typedef struct ClientReply {
        char *identity;
        int statuscode;
        char *statusmsg;
        json_t *data;
        uint64_t rtt_usec;        /* from publishing the request */
} ClientReply;

typedef struct ClientResult {
        ClientReply *replies;
        size_t n_replies;
        char **expected;          /* discovered nodes (NULL for a pure broadcast ping) */
        char **missing;           /* expected, no reply (sorted) */
        char **unreachable;       /* subset of missing: no queue on the broker (registry discovery) */
        uint64_t discovery_usec;
        uint64_t total_usec;      /* from the first publish to the end of the wait */
        bool timed_out;           /* the overall deadline ended the wait */
} ClientResult;

void client_result_done(ClientResult *r);

typedef void (*client_reply_cb_t)(const ClientReply *reply, size_t n_received, size_t n_expected, void *userdata);

typedef struct ClientRequest {
        const char *agent;
        const char *action;
        json_t *data;                  /* may be NULL */
        const Filter *filter;          /* may be NULL */
        DiscoveryMethod method;
        uint64_t discovery_timeout_usec;
        uint64_t timeout_usec;         /* bounds the whole call, discovery included */
        bool discovery_only;           /* `muster ping`: the discovery replies are the result */
        client_reply_cb_t on_reply;
        void *userdata;
} ClientRequest;

typedef struct Client {
        MusterConfig *config;
        Psk *psk;
        Signer signer;            /* what requests are signed with */
        KeyRing *node_keys;       /* who replies may be signed by */
        Verifier verifier;
        AmqpSession session;
        char *callerid;
        uint64_t deadline;             /* CLOCK_MONOTONIC usec */
        char error[AMQP_ERROR_MAX + 256];
} Client;

/* Read key, connect to a broker, start consuming the direct reply-to
 * pseudo-queue. Returns a negative errno with c->error set. */
int client_open(Client *c, MusterConfig *config, uint64_t deadline);
void client_close(Client *c);

int client_call(Client *c, const ClientRequest *req, ClientResult *ret);

/* Expected nodes from the registry directory, filtered client side. */
int client_registry_discover(const char *dir, const Filter *filter, char ***ret);
