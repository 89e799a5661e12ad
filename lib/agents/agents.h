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
        /* Another action of the same agent that the policy must allow too:
         * one that does what it does, many times over (nrpe runallcommands
         * runs what runcommand runs), is never allowed where that one is not. */
        const char *policy_also;
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

/* nrpe runallcommands: every command of the node's NRPE config, each run as
 * runcommand runs it (with no arguments: $ARGn$ are empty), answered in one
 * reply once all have finished:
 *   data = {"commands": {NAME: {exitcode, output, perfdata, long_output}}}
 *   statuscode 0 "OK" when every command is OK (or none is defined), else
 *   1 and the worst state (CRITICAL > WARNING > UNKNOWN) as statusmsg.
 * The handler answers DISPATCH_RUN_ALL with a batch: the caller runs each
 * pending command (its own queue, limits, user and timeout), reports each
 * result, and replies when the batch is complete. */
typedef struct NrpeBatch NrpeBatch;

NrpeBatch *nrpe_batch_new(void);
NrpeBatch *nrpe_batch_ref(NrpeBatch *b);
NrpeBatch *nrpe_batch_unref(NrpeBatch *b);
/* Adds a command to run. */
int nrpe_batch_add_command(NrpeBatch *b, const char *command, const char *command_line);
/* The commands to run, in name order. */
size_t nrpe_batch_n_commands(const NrpeBatch *b);
const char *nrpe_batch_command(const NrpeBatch *b, size_t i);
const char *nrpe_batch_command_line(const NrpeBatch *b, size_t i);
/* Records the result of a command (run or not: exitcode 3 and an UNKNOWN
 * line when it could not run). Returns true when every command added has
 * its result. A result lost to out of memory still counts; the reply is
 * then NULL. */
bool nrpe_batch_add_result(NrpeBatch *b, const char *command, int exitcode, const char *output, size_t size);
bool nrpe_batch_complete(const NrpeBatch *b);
/* The reply: data (new reference; NULL on out of memory, the answer is then
 * "unknown error"), statuscode and statusmsg as above. */
json_t *nrpe_batch_reply(const NrpeBatch *b, int *ret_statuscode, const char **ret_statusmsg);
/* Whatever the caller keeps with the batch (freed with it by destroy). */
void nrpe_batch_set_userdata(NrpeBatch *b, void *userdata, void (*destroy)(void *userdata));
void *nrpe_batch_get_userdata(const NrpeBatch *b);
