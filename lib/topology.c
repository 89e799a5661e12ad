/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "topology.h"

static char *routing_key(const char *collective, const char *kind, const char *name) {
        char *key;
        return asprintf(&key, "%s.%s.%s", collective, kind, name) < 0 ? NULL : key;
}

char *routing_key_agent(const char *collective, const char *agent) {
        return routing_key(collective, "agent", agent);
}

char *routing_key_node(const char *collective, const char *identity) {
        return routing_key(collective, "node", identity);
}

char *routing_key_registration(const char *collective, const char *identity) {
        return routing_key(collective, "registration", identity);
}
