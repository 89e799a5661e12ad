/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Who may call what. One rule a line, first match wins:
 *
 *   policy default deny
 *   allow  nagios   nrpe       runcommand
 *   allow  *        discovery  ping
 *   allow  ops      rpcutil    inventory,daemon_stats
 *   deny   psk      *          *
 *
 * The caller is the key id of an Ed25519-signed request, "psk" for one
 * signed with the pre-shared key, or "*". Agent and actions are names or
 * "*"; actions a comma-separated list. Without a matching rule the
 * default applies (allow, unless the file says otherwise). */

typedef struct Policy Policy;

/* Errors name file:line and make this return -EINVAL. */
int policy_load(const char *path, Policy **ret);
int policy_parse(const char *name, const char *text, Policy **ret);
Policy *policy_free(Policy *p);
static inline void policy_freep(Policy **p) { policy_free(*p); }

/* A NULL policy allows everything. */
bool policy_allows(const Policy *p, const char *caller, const char *agent, const char *action);
