/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "federation.h"
#include "util.h"

#define RECEIVED_FROM_HEADER "x-received-from"

bool amqp_delivery_federated(const amqp_basic_properties_t *p) {
        size_t klen = strlen(RECEIVED_FROM_HEADER);

        if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
                return false;
        for (int i = 0; i < p->headers.num_entries; i++) {
                const amqp_table_entry_t *e = &p->headers.entries[i];
                if (e->key.len == klen && memcmp(e->key.bytes, RECEIVED_FROM_HEADER, klen) == 0)
                        return true;
        }
        return false;
}

int amqp_session_declare_reply_exchange(AmqpSession *s, const MusterConfig *c, char **ret) {
        _cleanup_free_ char *name = NULL;
        int r;

        if (!c->federated_replies) {
                *ret = NULL;
                return 0;
        }
        if (config_exchange(c, "reply", &name) < 0)
                return -ENOMEM;
        amqp_exchange_declare(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(name), amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                              amqp_empty_table);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "exchange declare", s->error, sizeof s->error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(name);
        return 0;
}
