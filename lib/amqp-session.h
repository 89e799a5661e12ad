/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <amqp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "config.h"

#define AMQP_CHANNEL 1
#define AMQP_ERROR_MAX 512

/* One connection to one broker out of the configured list. */
typedef struct AmqpSession {
        amqp_connection_state_t conn;
        size_t next_index;          /* broker to try first on the next connect */
        unsigned failures;          /* consecutive failed connects, for backoff */
        char *url;                  /* the broker we are connected to, without credentials */
        char error[AMQP_ERROR_MAX]; /* last error, for STATUS= and logs */
        bool tls;                   /* frames go through librabbitmq's TLS socket: never batched */
        bool batching;              /* amqp_session_publish() queues frames until amqp_session_flush() */
        uint8_t *out;               /* queued frames, whole ones only */
        size_t out_size, out_alloc;
        uint8_t *body;              /* a message body that came in several frames */
        size_t body_alloc;
} AmqpSession;

/* Try every broker of the list once, starting with the last one that worked
 * (or, after a failed round, the next one), until one accepts us. Opens channel AMQP_CHANNEL.
 * Returns 0, or a negative errno with s->error describing every failure. */
int amqp_session_connect(AmqpSession *s, const MusterConfig *c);
void amqp_session_close(AmqpSession *s);
/* Close and free everything s holds; for _cleanup_(amqp_session_done). */
void amqp_session_done(AmqpSession *s);
static inline bool amqp_session_is_open(const AmqpSession *s) { return s->conn != NULL; }
int amqp_session_fd(const AmqpSession *s);

/* Next reconnect delay: capped exponential backoff with jitter, from
 * broker.reconnect_min to broker.reconnect_max; each call counts one more
 * failure. Callers set s->failures = 0 once connected AND set up, so that a
 * failure after login (a refused queue declaration) backs off too. */
uint64_t amqp_session_backoff_usec(AmqpSession *s, const MusterConfig *c);

/* Translate a reply into 0 / negative errno, with text in err. */
int amqp_reply_to_errno(amqp_rpc_reply_t r, const char *what, char *err, size_t n);
int amqp_status_to_errno(int status);

/* Declare muster's exchanges (idempotent). */
int amqp_session_declare_exchanges(AmqpSession *s, const MusterConfig *c);

/* Publish body with muster's signature headers. The strings of o
 * (reply_to, signature, scheme, key_id, message_id) may be NULL. */
typedef struct PublishOptions {
        const char *reply_to;
        const char *signature;   /* hex */
        const char *scheme;      /* default hmac-sha256 */
        const char *key_id;      /* with ed25519 */
        bool mandatory;
        bool persistent;
        const char *message_id;
        uint64_t expiration_ms;  /* 0: none */
} PublishOptions;
int amqp_session_publish(AmqpSession *s, const char *exchange, const char *routing_key, const void *body,
                         size_t size, const PublishOptions *o);

/* Many publishes in a row: between amqp_session_batch_begin() and
 * amqp_session_flush(), amqp_session_publish() encodes the frames of each
 * message into one buffer, written to the socket about every 64 KiB,
 * instead of three send() calls per message (librabbitmq's
 * amqp_basic_publish()). Over TLS, publishing stays unbatched. Every
 * frame queued is on the wire when amqp_session_flush() returns 0; on an
 * error s->error says why and the connection is to be closed. */
void amqp_session_batch_begin(AmqpSession *s);
int amqp_session_flush(AmqpSession *s);

/* Read a string header into buf; NULL when absent or not a string. */
const char *amqp_header_string(const amqp_basic_properties_t *p, const char *key, char *buf, size_t n);

/* Process every frame already available, without blocking: deliveries go
 * to cb; returned messages and confirms are consumed; a cancelled consumer,
 * a closed channel or connection, or a socket error return a negative errno
 * with s->error describing it (the caller reconnects). */
typedef void (*amqp_delivery_cb_t)(amqp_envelope_t *env, void *userdata);
int amqp_session_drain(AmqpSession *s, amqp_delivery_cb_t cb, void *userdata);

/* One message read frame by frame, without the copies of
 * amqp_consume_message(): a delivery, or a message the broker returned
 * (mandatory, unroutable). Everything points into librabbitmq's buffers
 * or s->body, valid until the next call on s. */
typedef struct AmqpMessage {
        amqp_method_number_t method;            /* AMQP_BASIC_DELIVER_METHOD or AMQP_BASIC_RETURN_METHOD */
        const amqp_basic_deliver_t *deliver;    /* with AMQP_BASIC_DELIVER_METHOD */
        const amqp_basic_return_t *returned;    /* with AMQP_BASIC_RETURN_METHOD */
        const amqp_basic_properties_t *properties;
        const void *body;
        size_t size;
} AmqpMessage;

/* Wait up to timeout (NULL: without end) for the next message. Returns 0
 * with *ret; -ETIMEDOUT when none came; -EAGAIN after another frame that
 * needs nothing (consume-ok, a confirm, a cancel, ...); -ESHUTDOWN when
 * the broker closed the channel or the connection, and any
 * other negative errno when the connection failed, both with s->error. */
int amqp_session_read(AmqpSession *s, const struct timeval *timeout, AmqpMessage *ret);

/* Strip user:password@ from a URL for display. */
char *url_strip_credentials(const char *url);
