/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "agents/agents.h"
#include "util.h"

const Agent *const agent_table[_AGENT_MAX] = {
        [AGENT_DISCOVERY] = &agent_discovery,
        [AGENT_RPCUTIL] = &agent_rpcutil,
        [AGENT_NRPE] = &agent_nrpe,
};

int agent_from_string(const char *name) {
        if (!name)
                return -ENOENT;
        for (int i = 0; i < _AGENT_MAX; i++)
                if (streq(agent_table[i]->name, name))
                        return i;
        return -ENOENT;
}

const Agent *agent_get(const char *name) {
        int i = agent_from_string(name);
        return i < 0 ? NULL : agent_table[i];
}

const AgentAction *agent_find_action(const Agent *a, const char *action) {
        if (!a || !action)
                return NULL;
        for (size_t i = 0; i < a->n_actions; i++)
                if (streq(a->actions[i].name, action))
                        return &a->actions[i];
        return NULL;
}

static char *join(const char *const *names, size_t n, const char *sep, const char *last_sep) {
        size_t len = 1;
        for (size_t i = 0; i < n; i++)
                len += strlen(names[i]) + MAX(strlen(sep), strlen(last_sep));
        char *s = malloc(len), *p = s;
        if (!s)
                return NULL;
        *p = '\0';
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        p = stpcpy(p, i + 1 == n ? last_sep : sep);
                p = stpcpy(p, names[i]);
        }
        return s;
}

char *agent_actions_joined(const char *agent) {
        const Agent *a = agent_get(agent);
        const char *names[32];

        if (!a || a->n_actions > ELEMENTSOF(names))
                return NULL;
        for (size_t i = 0; i < a->n_actions; i++)
                names[i] = a->actions[i].name;
        return join(names, a->n_actions, ", ", ", ");
}

char *agent_names_joined(const char *sep, const char *last_sep) {
        const char *names[_AGENT_MAX];

        for (size_t i = 0; i < _AGENT_MAX; i++)
                names[i] = agent_table[i]->name;
        return join(names, _AGENT_MAX, sep, last_sep);
}
