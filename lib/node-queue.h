/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <amqp.h>
#include <stdbool.h>

#include "amqp-session.h"
#include "config.h"
#include "sign.h"

/* A request receiver's side of the broker, shared by muster-responder and
 * the bench's simulator: its queue and bindings, and what it reads from a
 * delivery besides the body. */

/* Declare the node's exclusive, server-named queue, bind it to the
 * broadcast exchange once per configured agent and to the directed
 * exchange under identity, and consume from it with manual acks. Set
 * basic.qos before. ret_queue may be NULL. Errors leave s->error set. */
int node_queue_setup(AmqpSession *s, const MusterConfig *c, const char *identity, const char *bcast,
                     const char *directed, char **ret_queue, char **ret_consumer_tag);

/* The pointers are NULL when the header is missing, else point into the
 * struct. */
typedef struct DeliveryHeaders {
        const char *scheme, *key_id, *signature;
        const char *reply_to;      /* NULL also when empty or not a plain string */
        bool federated;            /* came from another site through federation */

        char scheme_buf[32], key_id_buf[KEY_ID_MAX], signature_buf[SIGNATURE_HEX_MAX], reply_to_buf[256];
} DeliveryHeaders;

void delivery_headers_read(const amqp_basic_properties_t *p, DeliveryHeaders *ret);
