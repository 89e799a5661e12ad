/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rpcutil agent: what a node is (inventory, facts, agents) and how its
 * responder is doing (daemon_stats). */
#include <time.h>

#include "agents/agents.h"
#include "responder-core.h"
#include "util.h"

static int64_t system_uptime(void) {
        struct timespec ts;
        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return 0;
        return ts.tv_sec;
}

static json_t *strv_to_json(char *const *l) {
        json_t *a = json_array();
        if (!a)
                return NULL;
        for (; l && *l; l++)
                if (json_array_append_new(a, json_string(*l)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static int rpcutil_agent_inventory(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        return dispatch_reply_data(d, STATUS_OK, "OK", json_pack("{s:o}", "agents", strv_to_json(c->config->agents)));
}

static int rpcutil_daemon_stats(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        return dispatch_reply_data(d, STATUS_OK, "OK", json_pack("{s:o}", "stats", responder_stats_json(c, now)));
}

static int rpcutil_get_fact(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        json_t *f = req->data ? json_object_get(req->data, "fact") : NULL;
        if (!f)
                return dispatch_reply(d, STATUS_MISSING_DATA, "Missing data: fact", NULL);
        if (!json_is_string(f))
                return dispatch_reply(d, STATUS_INVALID_DATA, "Invalid data: fact must be a string", NULL);
        json_t *v = json_object_get(c->facts, json_string_value(f));
        return dispatch_reply_data(d, STATUS_OK, "OK", json_pack("{s:O, s:O}", "fact", f, "value", v ?: json_null()));
}

static int rpcutil_inventory(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        return dispatch_reply_data(d, STATUS_OK, "OK",
                                   json_pack("{s:O, s:o, s:o, s:s, s:s, s:s, s:I, s:o}",
                                             "facts", c->facts,
                                             "classes", strv_to_json(c->classes),
                                             "agents", strv_to_json(c->config->agents),
                                             "identity", c->config->identity,
                                             "collective", c->config->collective,
                                             "version", PACKAGE_VERSION,
                                             "uptime", (json_int_t) system_uptime(),
                                             "stats", responder_stats_json(c, now)));
}

static const AgentAction actions[] = {
        { "agent_inventory", rpcutil_agent_inventory },
        { "daemon_stats", rpcutil_daemon_stats },
        { "get_fact", rpcutil_get_fact },
        { "inventory", rpcutil_inventory },
};

const Agent agent_rpcutil = {
        .name = "rpcutil",
        .actions = actions,
        .n_actions = ELEMENTSOF(actions),
};
