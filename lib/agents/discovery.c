/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The discovery agent: "ping" answers {"pong": now}, which is how a
 * broadcast discovery finds the nodes. */
#include "agents/agents.h"
#include "responder-core.h"

static int discovery_ping(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        return dispatch_reply_data(d, STATUS_OK, "OK", json_pack("{s:I}", "pong", (json_int_t) now));
}

static const AgentAction actions[] = {
        { "ping", discovery_ping },
};

const Agent agent_discovery = {
        .name = "discovery",
        .actions = actions,
        .n_actions = ELEMENTSOF(actions),
};
