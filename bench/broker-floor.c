/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* broker-floor: what the broker alone costs for muster's traffic patterns,
 * with no muster code in the way (no JSON, no signatures, no filters).
 *
 *   broker-floor serve --config C --queues N [--connections K]
 *       N exclusive, server-named queues in one process, spread over K
 *       connections like muster-simulator, each bound to a fanout exchange,
 *       (under its own key) to a direct exchange and (three keys, one per
 *       agent) to a topic exchange, each with its own
 *       consumer (prefetch 64, manual acks, one multiple ack per read, as
 *       muster-responder). Every delivery is answered at once by publishing
 *       the request body back, untouched, to its reply_to; a request that
 *       carries headers (ping --muster-like) gets a reply with muster's
 *       properties (content type, delivery mode, two signature headers).
 *
 *   broker-floor ping --config C --queues N [--mode fanout|topic|direct]
 *                     [--muster-like] [--expiration MS] [--repeat R]
 *       The client: consume amq.rabbitmq.reply-to, publish one message to
 *       the fanout exchange (or to a topic exchange every queue is bound to
 *       three times, like muster's broadcast, or N messages, one per queue,
 *       to the direct exchange, like registry discovery), time until N
 *       replies arrived. --muster-like gives the requests (and so the
 *       replies) the size and properties of muster's messages, so that
 *       what the broker pays for the message shape shows apart from what
 *       muster's own code costs.
 *       Prints one JSON line: setup_ms, rtt_ms per repeat, median_ms.
 *
 *   broker-floor drain --config C --queue NAME --count M [--prefetch P]
 *       Consume M messages from an existing queue with one multiple ack per
 *       read from the socket, as muster-collector does (prefetch 256 by
 *       default), and print the rate:
 *       the broker's ceiling for the collector. */

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "amqp-session.h"
#include "config.h"
#include "log.h"
#include "util.h"

#define PREFETCH 64
#define REPLY_TO "amq.rabbitmq.reply-to"
#define REPEAT_MAX 1000

typedef enum Mode {
        MODE_FANOUT,
        MODE_DIRECT,
        MODE_TOPIC,
} Mode;

static const char *arg_config = NULL;
static size_t arg_queues = 100;
static unsigned arg_connections = 4;
static Mode arg_mode = MODE_FANOUT;
static unsigned arg_repeat = 1;
static const char *arg_queue = NULL;
static uint64_t arg_count = 0;
static unsigned arg_prefetch = 256;
static uint64_t arg_timeout_usec = 60 * USEC_PER_SEC;
static uint64_t arg_expiration_ms = 0;
static bool arg_muster_like = false;

/* --muster-like: the message shape of muster's requests and replies, to tell
 * what the broker pays for the shape from what muster's code costs. */
#define MUSTER_LIKE_BODY_SIZE 420
#define FAKE_SIGNATURE "0000000000000000000000000000000000000000000000000000000000000000"

static void muster_like_properties(amqp_basic_properties_t *p, amqp_table_entry_t entries[static 2]) {
        entries[0] = (amqp_table_entry_t) {
                .key = amqp_cstring_bytes("x-muster-signature-scheme"),
                .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("hmac-sha256") },
        };
        entries[1] = (amqp_table_entry_t) {
                .key = amqp_cstring_bytes("x-muster-signature"),
                .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(FAKE_SIGNATURE) },
        };
        p->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
        p->content_type = amqp_cstring_bytes("application/json");
        p->delivery_mode = AMQP_DELIVERY_NONPERSISTENT;
        p->headers = (amqp_table_t) { .num_entries = 2, .entries = entries };
}

typedef struct Server Server;

typedef struct FloorConn {
        Server *server;
        unsigned index;
        AmqpSession session;
        sd_event_source *io_source;
        uint64_t last_delivery_tag;
} FloorConn;

struct Server {
        sd_event *event;
        MusterConfig *config;
        FloorConn *conns;
        size_t n_conns;
        uint64_t deliveries, replies;
        int exit_code;
};

typedef struct Exchanges {
        char *fanout, *direct, *topic;
} Exchanges;

static void exchanges_done(Exchanges *e) {
        free(e->fanout);
        free(e->direct);
        free(e->topic);
        *e = (Exchanges) {};
}

static int exchange_names(const MusterConfig *c, Exchanges *ret) {
        Exchanges e = {};
        if (asprintf(&e.fanout, "%s.floor", c->prefix) < 0 || asprintf(&e.direct, "%s.floor.direct", c->prefix) < 0 ||
            asprintf(&e.topic, "%s.floor.topic", c->prefix) < 0) {
                exchanges_done(&e);
                return -ENOMEM;
        }
        *ret = e;
        return 0;
}

static int rpc_errno(AmqpSession *s, const char *what) {
        return amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), what, s->error, sizeof s->error);
}

static int declare_floor_exchanges(AmqpSession *s, const Exchanges *e) {
        const struct {
                const char *name, *type;
        } t[] = { { e->fanout, "fanout" }, { e->direct, "direct" }, { e->topic, "topic" } };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                amqp_exchange_declare(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(t[i].name),
                                      amqp_cstring_bytes(t[i].type), 0, 0, 0, 0, amqp_empty_table);
                r = rpc_errno(s, "exchange declare");
                if (r < 0)
                        return r;
        }
        return 0;
}

static void server_fail(Server *s, int r) {
        if (s->exit_code == 0)
                s->exit_code = r < 0 ? r : -EIO;
        (void) sd_event_exit(s->event, s->exit_code);
}

/* No parsing: the body goes back as it came. */
static void on_floor_delivery(amqp_envelope_t *env, void *userdata) {
        FloorConn *c = userdata;
        const amqp_basic_properties_t *p = &env->message.properties;
        amqp_basic_properties_t props = {};
        amqp_table_entry_t entries[2];

        /* Requests shaped like muster's (ping --muster-like) get replies
         * shaped like muster's; telling them apart needs no parsing. */
        if (p->_flags & AMQP_BASIC_HEADERS_FLAG)
                muster_like_properties(&props, entries);
        c->last_delivery_tag = env->delivery_tag;
        c->server->deliveries++;
        if (!(p->_flags & AMQP_BASIC_REPLY_TO_FLAG))
                return;
        int st = amqp_basic_publish(c->session.conn, AMQP_CHANNEL, amqp_empty_bytes, p->reply_to, 0, 0, &props,
                                    env->message.body);
        if (st != AMQP_STATUS_OK) {
                log_error("Connection %u: publish failed: %s", c->index, amqp_error_string2(st));
                server_fail(c->server, amqp_status_to_errno(st));
                return;
        }
        c->server->replies++;
}

static int floor_conn_drain(FloorConn *c) {
        int r;

        c->last_delivery_tag = 0;
        r = amqp_session_drain(&c->session, on_floor_delivery, c);
        if (r < 0) {
                log_error_errno(r, "Connection %u: %s", c->index, c->session.error);
                server_fail(c->server, r);
                return r;
        }
        if (c->last_delivery_tag > 0) {
                int st = amqp_basic_ack(c->session.conn, AMQP_CHANNEL, c->last_delivery_tag, 1);
                if (st != AMQP_STATUS_OK) {
                        server_fail(c->server, amqp_status_to_errno(st));
                        return amqp_status_to_errno(st);
                }
        }
        return 0;
}

static int on_floor_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        (void) floor_conn_drain(userdata);
        return 0;
}

static int on_floor_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Server *s = userdata;
        for (size_t i = 0; i < s->n_conns; i++)
                if (floor_conn_drain(&s->conns[i]) < 0)
                        return 0;
        (void) event_source_rearm(es, 5 * USEC_PER_SEC);
        return 0;
}

static int on_floor_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        Server *s = userdata;
        (void) sd_event_exit(s->event, 0);
        return 0;
}

/* Bound like a muster responder queue: to the fanout exchange, under its own
 * key to the direct one, and once per agent to the topic one. */
static int floor_queue_setup(FloorConn *c, size_t i, const Exchanges *e) {
        static const char *const agents[] = { "discovery", "rpcutil", "nrpe" };
        AmqpSession *as = &c->session;
        _cleanup_free_ char *queue = NULL;
        char key[64];
        amqp_queue_declare_ok_t *q;
        int r;

        q = amqp_queue_declare(as->conn, AMQP_CHANNEL, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        r = rpc_errno(as, "queue declare");
        if (r < 0)
                return r;
        queue = strndup(q->queue.bytes, q->queue.len);
        if (!queue)
                return -ENOMEM;
        amqp_queue_bind(as->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(e->fanout),
                        amqp_empty_bytes, amqp_empty_table);
        r = rpc_errno(as, "queue bind");
        if (r < 0)
                return r;
        snprintf(key, sizeof key, "floor.%zu", i + 1);
        amqp_queue_bind(as->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(e->direct),
                        amqp_cstring_bytes(key), amqp_empty_table);
        r = rpc_errno(as, "queue bind");
        if (r < 0)
                return r;
        for (size_t k = 0; k < ELEMENTSOF(agents); k++) {
                snprintf(key, sizeof key, "floor.agent.%s", agents[k]);
                amqp_queue_bind(as->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_cstring_bytes(e->topic),
                                amqp_cstring_bytes(key), amqp_empty_table);
                r = rpc_errno(as, "queue bind");
                if (r < 0)
                        return r;
        }
        amqp_basic_consume(as->conn, AMQP_CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 1,
                           amqp_empty_table);
        r = rpc_errno(as, "basic consume");
        amqp_maybe_release_buffers(as->conn);
        return r;
}

typedef struct SetupJob {
        Server *server;
        FloorConn *conn;
        const Exchanges *exchanges;
        pthread_t thread;
        int result;
        size_t failed;
} SetupJob;

/* One thread per connection, each on its own connection only: the
 * declarations are synchronous calls, and this keeps every core of the
 * broker busy. */
static void *setup_thread(void *userdata) {
        SetupJob *j = userdata;

        for (size_t i = j->conn->index; i < arg_queues; i += j->server->n_conns) {
                j->result = floor_queue_setup(j->conn, i, j->exchanges);
                if (j->result < 0) {
                        j->failed = i;
                        break;
                }
        }
        return NULL;
}

static int run_serve(MusterConfig *config) {
        _cleanup_(exchanges_done) Exchanges ex = {};
        _cleanup_free_ SetupJob *jobs = NULL;
        sd_event_source *timer = NULL;
        Server s = { .config = config };
        size_t started;
        int r;

        if (exchange_names(config, &ex) < 0)
                return log_oom();
        r = sd_event_new(&s.event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");

        s.n_conns = MIN((size_t) arg_connections, arg_queues);
        s.conns = calloc(s.n_conns, sizeof *s.conns);
        if (!s.conns) {
                r = log_oom();
                goto finish;
        }
        for (size_t i = 0; i < s.n_conns; i++) {
                FloorConn *c = &s.conns[i];
                c->server = &s;
                c->index = (unsigned) i;
                r = amqp_session_connect(&c->session, config);
                if (r >= 0)
                        r = declare_floor_exchanges(&c->session, &ex);
                if (r >= 0) {
                        amqp_basic_qos(c->session.conn, AMQP_CHANNEL, 0, PREFETCH, 0);
                        r = rpc_errno(&c->session, "basic qos");
                }
                if (r < 0) {
                        log_error_errno(r, "Failed to set up connection %zu: %s", i, c->session.error);
                        goto finish;
                }
        }
        jobs = calloc(s.n_conns, sizeof *jobs);
        if (!jobs) {
                r = log_oom();
                goto finish;
        }
        started = 0;
        for (size_t i = 0; i < s.n_conns; i++) {
                jobs[i] = (SetupJob) { .server = &s, .conn = &s.conns[i], .exchanges = &ex };
                int k = pthread_create(&jobs[i].thread, NULL, setup_thread, &jobs[i]);
                if (k != 0) {
                        r = log_error_errno(-k, "Failed to start a setup thread: %m");
                        break;
                }
                started++;
        }
        for (size_t i = 0; i < started; i++)
                (void) pthread_join(jobs[i].thread, NULL);
        if (started < s.n_conns)
                goto finish;
        for (size_t i = 0; i < s.n_conns; i++)
                if (jobs[i].result < 0) {
                        r = log_error_errno(jobs[i].result, "Failed to set up queue %zu: %s", jobs[i].failed + 1,
                                            s.conns[i].session.error);
                        goto finish;
                }
        for (size_t i = 0; i < s.n_conns; i++) {
                r = sd_event_add_io(s.event, &s.conns[i].io_source, amqp_session_fd(&s.conns[i].session), EPOLLIN,
                                    on_floor_io, &s.conns[i]);
                if (r < 0) {
                        log_error_errno(r, "Failed to watch the connection: %m");
                        goto finish;
                }
        }
        if ((r = sd_event_add_signal(s.event, NULL, SIGTERM, on_floor_signal, &s)) < 0 ||
            (r = sd_event_add_signal(s.event, NULL, SIGINT, on_floor_signal, &s)) < 0 ||
            (r = sd_event_add_time_relative(s.event, &timer, CLOCK_MONOTONIC, 5 * USEC_PER_SEC, 0, on_floor_timer,
                                            &s)) < 0) {
                log_error_errno(r, "Failed to set up the event loop: %m");
                goto finish;
        }

        printf("READY %zu\n", arg_queues);
        fflush(stdout);
        r = sd_event_loop(s.event);
        if (r >= 0)
                r = s.exit_code;
        printf("STATS {\"deliveries\": %" PRIu64 ", \"replies\": %" PRIu64 "}\n", s.deliveries, s.replies);
        fflush(stdout);

finish:
        sd_event_source_disable_unref(timer);
        for (size_t i = 0; s.conns && i < s.n_conns; i++) {
                sd_event_source_disable_unref(s.conns[i].io_source);
                amqp_session_close(&s.conns[i].session);
                free(s.conns[i].session.url);
        }
        free(s.conns);
        sd_event_unref(s.event);
        return r;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Wait until n replies to round `round` arrived; others are ignored. */
static int collect_replies(AmqpSession *s, unsigned round, size_t n, uint64_t deadline, size_t *ret_got) {
        char want[32];
        size_t got = 0;
        int len = snprintf(want, sizeof want, "floor %u", round);
        size_t size = arg_muster_like ? MUSTER_LIKE_BODY_SIZE : (size_t) len;

        while (got < n) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        break;
                uint64_t left = deadline - now;
                struct timeval tv = { .tv_sec = (time_t) (left / USEC_PER_SEC),
                                      .tv_usec = (suseconds_t) (left % USEC_PER_SEC) };
                amqp_envelope_t env;

                amqp_maybe_release_buffers(s->conn);
                amqp_rpc_reply_t res = amqp_consume_message(s->conn, &env, &tv, 0);
                if (res.reply_type == AMQP_RESPONSE_NORMAL) {
                        if (env.message.body.len == size && memcmp(env.message.body.bytes, want, len) == 0 &&
                            (size == (size_t) len || ((const char *) env.message.body.bytes)[len] == ' '))
                                got++;
                        amqp_destroy_envelope(&env);
                        continue;
                }
                if (res.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && res.library_error == AMQP_STATUS_TIMEOUT)
                        break;
                if (res.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                    res.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
                        amqp_frame_t frame;
                        struct timeval zero = {};
                        int st = amqp_simple_wait_frame_noblock(s->conn, &frame, &zero);
                        if (st != AMQP_STATUS_OK && st != AMQP_STATUS_TIMEOUT)
                                return amqp_status_to_errno(st);
                        continue;
                }
                return amqp_reply_to_errno(res, "receive", s->error, sizeof s->error);
        }
        *ret_got = got;
        return 0;
}

static int run_ping(MusterConfig *config) {
        _cleanup_(exchanges_done) Exchanges ex = {};
        _cleanup_free_ uint64_t *rtt = NULL, *sorted = NULL;
        _cleanup_free_ size_t *got = NULL;
        AmqpSession s = {};
        char expiration[32];
        amqp_table_entry_t entries[2];
        amqp_basic_properties_t props = {
                ._flags = AMQP_BASIC_REPLY_TO_FLAG,
                .reply_to = amqp_cstring_bytes(REPLY_TO),
        };
        uint64_t setup;
        bool complete;
        int r;

        if (arg_muster_like) {
                muster_like_properties(&props, entries);
                props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
                props.message_id = amqp_cstring_bytes("0123456789abcdef0123456789abcdef");
        }

        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        if (exchange_names(config, &ex) < 0)
                return log_oom();
        if (arg_expiration_ms > 0) {
                /* As muster's requests carry (client.c publish_request). */
                snprintf(expiration, sizeof expiration, "%" PRIu64, arg_expiration_ms);
                props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
                props.expiration = amqp_cstring_bytes(expiration);
        }
        rtt = calloc(arg_repeat, sizeof *rtt);
        sorted = calloc(arg_repeat, sizeof *sorted);
        got = calloc(arg_repeat, sizeof *got);
        if (!rtt || !sorted || !got)
                return log_oom();

        r = amqp_session_connect(&s, config);
        if (r >= 0)
                r = declare_floor_exchanges(&s, &ex);
        if (r >= 0) {
                amqp_basic_consume(s.conn, AMQP_CHANNEL, amqp_cstring_bytes(REPLY_TO), amqp_empty_bytes, 0, 1, 0,
                                   amqp_empty_table);
                r = rpc_errno(&s, "consume replies");
        }
        if (r < 0) {
                log_error_errno(r, "Failed to set up: %s", s.error);
                goto finish;
        }
        setup = now_usec(CLOCK_MONOTONIC) - t0;

        for (unsigned round = 0; round < arg_repeat; round++) {
                char body[MUSTER_LIKE_BODY_SIZE];
                int len = snprintf(body, sizeof body, "floor %u", round);
                if (arg_muster_like) {
                        memset(body + len, ' ', sizeof body - (size_t) len);
                        len = (int) sizeof body;
                }
                amqp_bytes_t b = { .len = (size_t) len, .bytes = body };
                uint64_t start = now_usec(CLOCK_MONOTONIC);

                if (arg_mode != MODE_DIRECT) {
                        bool topic = arg_mode == MODE_TOPIC;
                        int st = amqp_basic_publish(s.conn, AMQP_CHANNEL, amqp_cstring_bytes(topic ? ex.topic : ex.fanout),
                                                    topic ? amqp_cstring_bytes("floor.agent.discovery") : amqp_empty_bytes,
                                                    0, 0, &props, b);
                        if (st != AMQP_STATUS_OK) {
                                r = log_error_errno(amqp_status_to_errno(st), "Publish failed: %s",
                                                    amqp_error_string2(st));
                                goto finish;
                        }
                } else
                        for (size_t i = 0; i < arg_queues; i++) {
                                char key[64];
                                snprintf(key, sizeof key, "floor.%zu", i + 1);
                                int st = amqp_basic_publish(s.conn, AMQP_CHANNEL, amqp_cstring_bytes(ex.direct),
                                                            amqp_cstring_bytes(key), 0, 0, &props, b);
                                if (st != AMQP_STATUS_OK) {
                                        r = log_error_errno(amqp_status_to_errno(st), "Publish failed: %s",
                                                            amqp_error_string2(st));
                                        goto finish;
                                }
                        }
                r = collect_replies(&s, round, arg_queues, start + arg_timeout_usec, &got[round]);
                if (r < 0) {
                        log_error_errno(r, "Lost the broker: %s", s.error);
                        goto finish;
                }
                rtt[round] = now_usec(CLOCK_MONOTONIC) - start;
                sorted[round] = rtt[round];
        }
        qsort(sorted, arg_repeat, sizeof *sorted, cmp_u64);

        printf("{\"mode\": \"%s\", \"queues\": %zu, \"setup_ms\": %.3f, \"median_ms\": %.3f, \"rtt_ms\": [",
               arg_mode == MODE_FANOUT ? "fanout" : arg_mode == MODE_TOPIC ? "topic" : "direct", arg_queues,
               (double) setup / 1000.0,
               (double) sorted[arg_repeat / 2] / 1000.0);
        for (unsigned i = 0; i < arg_repeat; i++)
                printf("%s%.3f", i ? ", " : "", (double) rtt[i] / 1000.0);
        printf("], \"replies\": [");
        complete = true;
        for (unsigned i = 0; i < arg_repeat; i++) {
                printf("%s%zu", i ? ", " : "", got[i]);
                complete = complete && got[i] == arg_queues;
        }
        printf("]}\n");
        r = complete ? 0 : -ETIMEDOUT;

finish:
        amqp_session_close(&s);
        free(s.url);
        return r;
}

static int run_drain(MusterConfig *config) {
        AmqpSession s = {};
        uint64_t n = 0, first = 0, deadline, last_tag, end;
        bool block;
        int r;

        if (!arg_queue || arg_count == 0)
                return log_error_errno(-EINVAL, "drain needs --queue and --count.");
        r = amqp_session_connect(&s, config);
        if (r >= 0) {
                amqp_basic_qos(s.conn, AMQP_CHANNEL, 0, (uint16_t) MIN(arg_prefetch, 65535u), 0);
                r = rpc_errno(&s, "basic qos");
        }
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        if (r >= 0) {
                amqp_basic_consume(s.conn, AMQP_CHANNEL, amqp_cstring_bytes(arg_queue), amqp_empty_bytes, 0, 0, 0,
                                   amqp_empty_table);
                r = rpc_errno(&s, "basic consume");
        }
        if (r < 0) {
                log_error_errno(r, "Failed to set up: %s", s.error);
                goto finish;
        }
        /* Like the collector: one multiple ack per read from the socket. */
        deadline = start + arg_timeout_usec;
        last_tag = 0;
        block = true;
        while (n < arg_count && now_usec(CLOCK_MONOTONIC) < deadline) {
                struct timeval tv = { .tv_sec = block ? 1 : 0 };
                amqp_envelope_t env;

                amqp_maybe_release_buffers(s.conn);
                amqp_rpc_reply_t res = amqp_consume_message(s.conn, &env, &tv, 0);
                if (res.reply_type == AMQP_RESPONSE_NORMAL) {
                        if (n == 0)
                                first = now_usec(CLOCK_MONOTONIC);
                        n++;
                        last_tag = env.delivery_tag;
                        amqp_destroy_envelope(&env);
                        block = false;
                        if (n < arg_count)
                                continue;
                } else if (!(res.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                             res.library_error == AMQP_STATUS_TIMEOUT)) {
                        r = amqp_reply_to_errno(res, "receive", s.error, sizeof s.error);
                        log_error_errno(r, "%s", s.error);
                        goto finish;
                }
                /* Nothing more buffered: ack what we have. */
                if (last_tag) {
                        int st = amqp_basic_ack(s.conn, AMQP_CHANNEL, last_tag, 1);
                        if (st != AMQP_STATUS_OK) {
                                r = amqp_status_to_errno(st);
                                goto finish;
                        }
                        last_tag = 0;
                }
                block = true;
        }
        end = now_usec(CLOCK_MONOTONIC);
        printf("{\"count\": %" PRIu64 ", \"ms\": %.3f, \"ms_from_first\": %.3f, \"per_sec\": %.0f}\n", n,
               (double) (end - start) / 1000.0, (double) (end - first) / 1000.0,
               (double) n * 1e6 / (double) MAX(end - start, (uint64_t) 1));
        r = n == arg_count ? 0 : -ETIMEDOUT;
finish:
        amqp_session_close(&s);
        free(s.url);
        return r;
}

static void help(void) {
        printf("Usage: broker-floor serve|ping|drain --config PATH [OPTIONS]\n\n"
               "The broker's own cost for muster's patterns, with no muster code in the way.\n\n"
               "  -c --config=PATH       muster.conf with the broker URL and the exchange prefix\n"
               "  -n --queues=N          Queues (serve) or replies to wait for (ping) (default 100)\n"
               "     --connections=K     serve: connections to spread the queues over (default 4)\n"
               "     --mode=MODE         ping: fanout (one publish to a fanout exchange), topic (one\n"
               "                         publish to a topic exchange, every queue bound to it three\n"
               "                         times like a responder), direct (N publishes, one per queue)\n"
               "     --expiration=MS     ping: per-message TTL on the requests, as muster sets\n"
               "     --muster-like       ping: messages shaped like muster's: %d-byte requests with\n"
               "                         content type, delivery mode, two signature headers and a\n"
               "                         message id; serve answers requests that carry headers with\n"
               "                         replies of the same size and properties\n"
               "     --repeat=R          ping: round trips in this process (default 1)\n"
               "     --queue=NAME        drain: the queue\n"
               "     --count=M           drain: messages to consume\n"
               "     --prefetch=P        drain: unacked messages in flight (default 256)\n"
               "  -t --timeout=DURATION  ping/drain: give up after this (default 60s)\n"
               "  -h --help              Show this help\n", MUSTER_LIKE_BODY_SIZE);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CONNECTIONS = 0x100,
                ARG_MODE,
                ARG_REPEAT,
                ARG_QUEUE,
                ARG_COUNT,
                ARG_PREFETCH,
                ARG_EXPIRATION,
                ARG_MUSTER_LIKE,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "queues", required_argument, NULL, 'n' },
                { "connections", required_argument, NULL, ARG_CONNECTIONS },
                { "mode", required_argument, NULL, ARG_MODE },
                { "repeat", required_argument, NULL, ARG_REPEAT },
                { "queue", required_argument, NULL, ARG_QUEUE },
                { "count", required_argument, NULL, ARG_COUNT },
                { "prefetch", required_argument, NULL, ARG_PREFETCH },
                { "expiration", required_argument, NULL, ARG_EXPIRATION },
                { "muster-like", no_argument, NULL, ARG_MUSTER_LIKE },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        uint64_t u;
        unsigned v;
        int c;

        while ((c = getopt_long(argc, argv, "c:n:t:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'n':
                        if (parse_uint64(optarg, &u) < 0 || u < 1 || u > 1000000)
                                return log_error_errno(-EINVAL, "Invalid --queues \"%s\".", optarg);
                        arg_queues = (size_t) u;
                        break;
                case ARG_CONNECTIONS:
                        if (parse_uint(optarg, &v) < 0 || v < 1 || v > 256)
                                return log_error_errno(-EINVAL, "Invalid --connections \"%s\".", optarg);
                        arg_connections = v;
                        break;
                case ARG_MODE:
                        if (streq(optarg, "fanout"))
                                arg_mode = MODE_FANOUT;
                        else if (streq(optarg, "direct"))
                                arg_mode = MODE_DIRECT;
                        else if (streq(optarg, "topic"))
                                arg_mode = MODE_TOPIC;
                        else
                                return log_error_errno(-EINVAL, "Invalid --mode \"%s\".", optarg);
                        break;
                case ARG_REPEAT:
                        if (parse_uint(optarg, &v) < 0 || v < 1 || v > REPEAT_MAX)
                                return log_error_errno(-EINVAL, "Invalid --repeat \"%s\".", optarg);
                        arg_repeat = v;
                        break;
                case ARG_QUEUE:
                        arg_queue = optarg;
                        break;
                case ARG_COUNT:
                        if (parse_uint64(optarg, &u) < 0 || u < 1)
                                return log_error_errno(-EINVAL, "Invalid --count \"%s\".", optarg);
                        arg_count = u;
                        break;
                case ARG_PREFETCH:
                        if (parse_uint(optarg, &v) < 0 || v < 1 || v > 65535)
                                return log_error_errno(-EINVAL, "Invalid --prefetch \"%s\".", optarg);
                        arg_prefetch = v;
                        break;
                case ARG_MUSTER_LIKE:
                        arg_muster_like = true;
                        break;
                case ARG_EXPIRATION:
                        if (parse_uint64(optarg, &u) < 0)
                                return log_error_errno(-EINVAL, "Invalid --expiration \"%s\".", optarg);
                        arg_expiration_ms = u;
                        break;
                case 't':
                        if (parse_duration(optarg, &u) < 0 || u == 0)
                                return log_error_errno(-EINVAL, "Invalid --timeout \"%s\".", optarg);
                        arg_timeout_usec = u;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind != argc - 1)
                return log_error_errno(-EINVAL, "Expected one of serve, ping, drain; see --help.");
        if (!arg_config)
                return log_error_errno(-EINVAL, "--config is required.");
        return 1;
}

static int run(int argc, char *argv[]) {
        MusterConfig config;
        sigset_t ss;
        int r;

        log_setup("broker-floor", false);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        const char *verb = argv[optind];

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        if (streq(verb, "serve") && sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %m");

        r = config_init(&config);
        if (r < 0)
                return log_oom();
        r = config_load(&config, arg_config, false);
        if (r >= 0)
                r = config_resolve_secrets(&config);
        if (r < 0) {
                config_done(&config);
                return log_error_errno(r, "Failed to load %s.", arg_config);
        }
        log_set_max_level(config.log_level);

        if (streq(verb, "serve"))
                r = run_serve(&config);
        else if (streq(verb, "ping"))
                r = run_ping(&config);
        else if (streq(verb, "drain"))
                r = run_drain(&config);
        else
                r = log_error_errno(-EINVAL, "Unknown verb \"%s\"; see --help.", verb);
        config_done(&config);
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
