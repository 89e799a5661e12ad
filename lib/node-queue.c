/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "federation.h"
#include "node-queue.h"
#include "topology.h"
#include "util.h"

static int queue_bind(AmqpSession *s, const char *queue, const char *exchange, const char *key) {
        amqp_queue_bind(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                        amqp_cstring_bytes(key), amqp_empty_table);
        return amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "queue bind", s->error, sizeof s->error);
}

int node_queue_setup(AmqpSession *s, const MusterConfig *c, const char *identity, const char *bcast,
                     const char *directed, char **ret_queue, char **ret_consumer_tag) {
        _cleanup_free_ char *queue = NULL, *key = NULL, *tag = NULL;
        amqp_queue_declare_ok_t *q;
        amqp_basic_consume_ok_t *ok;
        int r;

        q = amqp_queue_declare(s->conn, AMQP_CHANNEL, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "queue declare", s->error, sizeof s->error);
        if (r < 0)
                return r;
        queue = strndup(q->queue.bytes, q->queue.len);
        if (!queue)
                return -ENOMEM;

        for (char **a = c->agents; a && *a; a++) {
                free(key);
                key = routing_key_agent(c->collective, *a);
                if (!key)
                        return -ENOMEM;
                r = queue_bind(s, queue, bcast, key);
                if (r < 0)
                        return r;
        }
        free(key);
        key = routing_key_node(c->collective, identity);
        if (!key)
                return -ENOMEM;
        r = queue_bind(s, queue, directed, key);
        if (r < 0)
                return r;

        ok = amqp_basic_consume(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 1,
                                amqp_empty_table);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "basic consume", s->error, sizeof s->error);
        if (r < 0)
                return r;
        tag = strndup(ok->consumer_tag.bytes, ok->consumer_tag.len);
        if (!tag)
                return -ENOMEM;

        if (ret_queue)
                *ret_queue = TAKE_PTR(queue);
        *ret_consumer_tag = TAKE_PTR(tag);
        return 0;
}

void delivery_headers_read(const amqp_basic_properties_t *p, DeliveryHeaders *ret) {
        DeliveryHeaders *h = ret;

        h->reply_to = NULL;
        if ((p->_flags & AMQP_BASIC_REPLY_TO_FLAG) && p->reply_to.len > 0 && p->reply_to.len < sizeof h->reply_to_buf &&
            !memchr(p->reply_to.bytes, 0, p->reply_to.len)) {
                memcpy(h->reply_to_buf, p->reply_to.bytes, p->reply_to.len);
                h->reply_to_buf[p->reply_to.len] = '\0';
                h->reply_to = h->reply_to_buf;
        }
        h->scheme = amqp_header_string(p, SIGNATURE_HEADER_SCHEME, h->scheme_buf, sizeof h->scheme_buf);
        h->key_id = amqp_header_string(p, SIGNATURE_HEADER_KEY_ID, h->key_id_buf, sizeof h->key_id_buf);
        h->signature = amqp_header_string(p, SIGNATURE_HEADER_VALUE, h->signature_buf, sizeof h->signature_buf);
        h->federated = amqp_delivery_federated(p);
}
