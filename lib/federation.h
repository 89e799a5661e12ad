/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <amqp.h>
#include <stdbool.h>

#include "amqp-session.h"
#include "config.h"

/* Sites joined by RabbitMQ exchange federation (muster(7), "TWO SITES").
 *
 * A request from another site reaches a responder through a federation
 * link, which adds an x-received-from header. Its reply_to names the
 * asking client's direct reply-to (or queue) on the other site's broker, so
 * the local default exchange cannot deliver it. With
 * responder.federated_replies, such replies go to <prefix>.reply (topic,
 * durable) under the same routing key, and a shovel on the asking site
 * carries them to its default exchange, which delivers them. */

/* Whether a delivery came through a federation link. */
bool amqp_delivery_federated(const amqp_basic_properties_t *p);

/* The exchange the reply to a request goes to: NULL for the default
 * exchange, or *reply_exchange when the request was federated and
 * federated replies are on. */
static inline const char *federation_reply_exchange(const MusterConfig *c, const char *reply_exchange,
                                                    bool federated) {
        return federated && c->federated_replies ? reply_exchange : NULL;
}

/* Declare <prefix>.reply and store its name in *ret, when
 * responder.federated_replies is on; *ret = NULL otherwise. */
int amqp_session_declare_reply_exchange(AmqpSession *s, const MusterConfig *c, char **ret);
