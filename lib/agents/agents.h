/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* The agents muster-responder serves, in one table: each agent's name, its
 * actions and their handlers. The responder's dispatch, config validation
 * ([responder] agents=), the daemon stats and the client's hints all read
 * it. A handler decides what the responder does with a request that passed
 * every check (signature, TTL, collective, filter, policy, replay): it fills
 * the Dispatch through dispatch_reply()/dispatch_reply_data() or asks for a
 * check run (DISPATCH_RUN). It does not log and does no I/O; a negative
 * return is out of memory. */

typedef struct ResponderCore ResponderCore;
typedef struct Dispatch Dispatch;
typedef struct Request Request;

typedef int (*AgentHandler)(ResponderCore *c, const Request *req, int64_t now, Dispatch *d);

typedef struct AgentAction {
        const char *name;
        AgentHandler handler;
} AgentAction;

typedef enum AgentId {
        AGENT_DISCOVERY,
        AGENT_RPCUTIL,
        AGENT_NRPE,
        _AGENT_MAX,
} AgentId;

typedef struct Agent {
        const char *name;
        const AgentAction *actions;   /* in name order */
        size_t n_actions;
} Agent;

extern const Agent agent_discovery, agent_rpcutil, agent_nrpe;

/* Indexed by AgentId; also the order of the stats' "agents" object and of
 * the default [responder] agents=. */
extern const Agent *const agent_table[_AGENT_MAX];

/* The agent's id, or -ENOENT. */
int agent_from_string(const char *name);
const Agent *agent_get(const char *name);
const AgentAction *agent_find_action(const Agent *a, const char *action);

/* "a, b, c": the actions of an agent (NULL for an unknown agent, or out of
 * memory); the caller frees it. */
char *agent_actions_joined(const char *agent);
/* Every agent's name, in table order, joined by sep, the last two by
 * last_sep (NULL: out of memory). */
char *agent_names_joined(const char *sep, const char *last_sep);

/* The nrpe agent's reply data for one finished command: {command,
 * exitcode 0..3, output, perfdata, long_output}. NULL: out of memory. */
json_t *nrpe_result_data(const char *command, int exitcode, const char *output, size_t size);
