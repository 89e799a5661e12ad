/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster-simulator: many node identities in one process, for benchmarks.
 *
 * Every identity has what a real muster-responder has on the broker: its
 * own exclusive, server-named queue, bound once per agent to the broadcast
 * exchange and once to the directed exchange under its identity, with its
 * own consumer (prefetch 64, manual acks). Every delivery goes through the
 * library's responder path, exactly as in the daemon:
 * responder_dispatch_keyed() (size, signature, schema, freshness, replay,
 * collective, policy, filter, agent), responder_build_reply_signed() (reply
 * and signature), then one publish to the request's reply_to. Keys, client
 * key ring and policy are loaded from the config as muster-responder loads
 * them. Each identity has its own ResponderCore, its own MusterConfig (a
 * shallow copy of the loaded one with the identity replaced), its own facts
 * and its own replay cache: the same request id reaches every node, so one
 * shared cache would drop all but the first.
 *
 * What differs from N real machines: the N identities' work is serialized
 * on this process's one thread (and shares the machine with the broker),
 * so the simulator is pessimistic for the fleet's side of a round trip.
 *
 * NRPE requests are answered in-process ("OK - simulated") or really run
 * through muster-responder's own job queue (lib/jobqueue.c) on the sd-event
 * loop, with one process-wide limit on concurrent checks, since all
 * identities share this machine. The queue and bindings of each identity
 * are set up by the daemon's node_queue_setup(). */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "amqp-session.h"
#include "config.h"
#include "credentials.h"
#include "daemon-util.h"
#include "federation.h"
#include "hashmap.h"
#include "jobqueue.h"
#include "log.h"
#include "message.h"
#include "nagios.h"
#include "node-queue.h"
#include "nrpe.h"
#include "policy.h"
#include "registry.h"
#include "responder-core.h"
#include "topology.h"
#include "util.h"

#define PREFETCH 64                /* as muster-responder */
#define REPLAY_MAX (1u << 20)      /* as muster-responder */
#define IDENTITY_MAX 64
#define TIMER_USEC (5 * USEC_PER_SEC)
#define SIMULATED_OUTPUT "OK - simulated"

typedef enum CheckMode {
        CHECK_INPROC,
        CHECK_EXEC,
} CheckMode;

static const char *arg_config = NULL;
static size_t arg_nodes = 100;
static const char *arg_prefix = "sim";
static CheckMode arg_check_mode = CHECK_INPROC;
static char **arg_inproc_commands = NULL;
static char **arg_distinct_commands = NULL;   /* answered in-process, the output naming the node */
static unsigned arg_connections = 4;
static unsigned arg_max_running = 0;       /* 0: responder.max_concurrent_checks */
static const char *arg_registry_dir = NULL;
static size_t arg_bench_checks = 0;
static const char *arg_bench_command = "check_dummy";

typedef struct Sim Sim;
typedef struct Conn Conn;

typedef struct SimNode {
        char identity[IDENTITY_MAX];
        MusterConfig config;       /* shallow copy of Sim.config: never config_done() it */
        ResponderCore core;
        Conn *conn;
} SimNode;

struct Conn {
        Sim *sim;
        unsigned index;
        AmqpSession session;
        Hashmap *by_tag;           /* consumer tag -> SimNode */
        sd_event_source *io_source;
        uint64_t last_delivery_tag;
};

struct Sim {
        sd_event *event;
        MusterConfig config;
        Credentials creds;         /* shared, read-only during dispatch: the PSK, or one Ed25519 key
                                    * for all identities, and the client keys */
        Policy *policy;
        NrpeConfig *nrpe;
        char **classes[3];         /* shared, read-only: {sim, web}, {sim, db}, {sim, cache} */
        char *reply_exchange;      /* <prefix>.reply with responder.federated_replies */

        SimNode *nodes;
        size_t n_nodes;
        Conn *conns;
        size_t n_conns;

        JobQueue jobs;             /* muster-responder's, with one limit for all identities;
                                    * a job's userdata is its SimNode, NULL in --bench-checks */
        sd_event_source *timer_source;
        uint64_t last_prune_usec;

        uint64_t deliveries, replies, publish_failures, unknown_tag, checks_inproc, checks_exec;
        size_t bench_left;
        uint64_t bench_exitcodes[4];
        RateLimit drop_ratelimit;
        int exit_code;
};

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

static void sim_fail(Sim *s, int r) {
        if (s->exit_code == 0)
                s->exit_code = r < 0 ? r : -EIO;
        (void) sd_event_exit(s->event, s->exit_code);
}

/* The reply of one simulated node, as muster-responder's manager_send_reply()
 * publishes it. */
static int node_send_reply(SimNode *n, const Request *req, const char *reply_to, bool federated, int statuscode,
                           const char *statusmsg, json_t *data) {
        Sim *s = n->conn->sim;
        _cleanup_free_ char *body = NULL;
        const char *scheme = NULL, *key_id = NULL;
        char sig[SIGNATURE_HEX_MAX];
        size_t size;
        int r;

        r = responder_build_reply_signed(&n->core, req, statuscode, statusmsg, data, now_sec(), &body, &size, sig,
                                         &scheme, &key_id);
        if (r < 0)
                return log_error_errno(r, "Failed to build reply of %s to %s: %m", n->identity, req->requestid);
        if (!reply_to)
                return 0;
        const char *exchange = federation_reply_exchange(&s->config, s->reply_exchange, federated);
        r = amqp_session_publish(&n->conn->session, exchange ?: "", reply_to, body, size,
                                 &(PublishOptions) { .signature = sig, .scheme = scheme, .key_id = key_id });
        if (r < 0) {
                s->publish_failures++;
                log_error_errno(r, "Failed to publish reply of %s: %s", n->identity, n->conn->session.error);
                sim_fail(s, r);
                return r;
        }
        s->replies++;
        return 0;
}

static void job_finished(Job *j, int error, int exitcode, const char *output, size_t size,
                         uint64_t duration_usec, void *userdata) {
        Sim *s = userdata;
        SimNode *n = j->userdata;

        if (error < 0) {
                log_error_errno(error, "Failed to start check %s: %m", j->command);
                sim_fail(s, error);
                return;
        }
        s->checks_exec++;
        if (n) {
                n->core.stats.checks_run++;
                _cleanup_json_ json_t *data = nrpe_result_data(j->command, exitcode, output, size);
                if (!data)
                        sim_fail(s, log_oom());
                else
                        (void) node_send_reply(n, j->request, j->reply_to, j->federated,
                                               exitcode == 0 ? STATUS_OK : STATUS_ABORTED,
                                               nagios_state_name(exitcode), data);
        } else {
                s->bench_exitcodes[exitcode >= 0 && exitcode <= 3 ? exitcode : 3]++;
                if (--s->bench_left == 0)
                        (void) sd_event_exit(s->event, 0);
        }
}

static bool command_inproc(const char *command) {
        return arg_check_mode == CHECK_INPROC || strv_contains(arg_inproc_commands, command) ||
                strv_contains(arg_distinct_commands, command);
}

/* The daemon's manager_handle_request(), for one simulated node. */
static void node_handle_request(SimNode *n, const void *body, size_t size, const char *scheme, const char *key_id,
                                const char *sig, const char *reply_to, bool federated) {
        Sim *s = n->conn->sim;
        Dispatch d;
        int r;

        r = responder_dispatch_keyed(&n->core, body, size, scheme, key_id, sig, now_sec(), &d);
        if (r < 0) {
                log_error_errno(r, "Failed to process request for %s: %m", n->identity);
                dispatch_done(&d);
                sim_fail(s, r);
                return;
        }

        switch (d.kind) {
        case DISPATCH_DROP: {
                unsigned suppressed = 0;
                if (ratelimit_below(&s->drop_ratelimit, &suppressed))
                        log_warning("%s: dropped request (%s): %s", n->identity, drop_reason_to_string(d.reason),
                                    d.detail);
                break;
        }
        case DISPATCH_IGNORE:
                break;

        case DISPATCH_REPLY:
                (void) node_send_reply(n, d.request, reply_to, federated, d.statuscode, d.statusmsg, d.data);
                break;

        case DISPATCH_RUN: {
                if (command_inproc(d.command)) {
                        /* A distinct command's output names the node and
                         * carries a per-node figure, as real check output
                         * does: no two replies' data are alike. */
                        char buf[160];
                        const char *out = SIMULATED_OUTPUT;
                        if (strv_contains(arg_distinct_commands, d.command)) {
                                size_t h = 2166136261u;
                                for (const char *c = n->identity; *c; c++)
                                        h = (h ^ (unsigned char) *c) * 16777619u;
                                (void) snprintf(buf, sizeof buf,
                                                "OK - simulated on %s: load %zu.%02zu|load=%zu.%02zu;5;10;0",
                                                n->identity, h % 7, h % 97, h % 7, h % 97);
                                out = buf;
                        }
                        _cleanup_json_ json_t *data = nrpe_result_data(d.command, 0, out, strlen(out));
                        if (!data) {
                                sim_fail(s, log_oom());
                                break;
                        }
                        n->core.stats.checks_run++;
                        s->checks_inproc++;
                        (void) node_send_reply(n, d.request, reply_to, federated, STATUS_OK,
                                               nagios_state_name(0), data);
                        break;
                }
                Job *j;
                if (job_new_from_dispatch(&d, reply_to, federated, NULL, &j) < 0) {
                        sim_fail(s, log_oom());
                        break;
                }
                j->userdata = n;
                jobqueue_submit(&s->jobs, j);
                break;
        }

        case DISPATCH_RUN_ALL: {
                /* nrpe runallcommands: every command answered in-process. */
                size_t k = nrpe_batch_n_commands(d.batch);
                for (size_t i = 0; i < k; i++)
                        (void) nrpe_batch_add_result(d.batch, nrpe_batch_command(d.batch, i), 0, SIMULATED_OUTPUT,
                                                     strlen(SIMULATED_OUTPUT));
                int statuscode;
                const char *statusmsg;
                _cleanup_json_ json_t *data = nrpe_batch_reply(d.batch, &statuscode, &statusmsg);
                if (!data) {
                        sim_fail(s, log_oom());
                        break;
                }
                n->core.stats.checks_run += k;
                s->checks_inproc += k;
                (void) node_send_reply(n, d.request, reply_to, federated, statuscode, statusmsg, data);
                break;
        }
        }
        dispatch_done(&d);
}

static void on_delivery(amqp_envelope_t *env, void *userdata) {
        Conn *c = userdata;
        Sim *s = c->sim;
        DeliveryHeaders h;
        char tag[256];
        SimNode *n = NULL;

        c->last_delivery_tag = env->delivery_tag;
        s->deliveries++;

        if (env->consumer_tag.len < sizeof tag) {
                memcpy(tag, env->consumer_tag.bytes, env->consumer_tag.len);
                tag[env->consumer_tag.len] = '\0';
                n = hashmap_get(c->by_tag, tag);
        }
        if (!n) {
                s->unknown_tag++;
                return;
        }

        delivery_headers_read(&env->message.properties, &h);
        node_handle_request(n, env->message.body.bytes, env->message.body.len, h.scheme, h.key_id, h.signature,
                            h.reply_to, h.federated);
}

/* As the daemon: read everything available, then ack it all at once. */
static int conn_drain(Conn *c) {
        int r;

        c->last_delivery_tag = 0;
        r = amqp_session_drain(&c->session, on_delivery, c);
        if (r < 0) {
                log_error_errno(r, "Connection %u: %s", c->index, c->session.error);
                sim_fail(c->sim, r);
                return r;
        }
        if (c->last_delivery_tag > 0) {
                int st = amqp_basic_ack(c->session.conn, AMQP_CHANNEL, c->last_delivery_tag, 1);
                if (st != AMQP_STATUS_OK) {
                        r = amqp_status_to_errno(st);
                        log_error_errno(r, "Connection %u: ack failed: %s", c->index, amqp_error_string2(st));
                        sim_fail(c->sim, r);
                        return r;
                }
        }
        return 0;
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        (void) conn_drain(userdata);
        return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Sim *s = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        /* Lets librabbitmq send heartbeats and notice a dead broker. */
        for (size_t i = 0; i < s->n_conns; i++)
                if (conn_drain(&s->conns[i]) < 0)
                        return 0;
        /* As the daemon: forget expired request ids every 10 s. */
        if (now - s->last_prune_usec >= 10 * USEC_PER_SEC) {
                int64_t t = now_sec();
                for (size_t i = 0; i < s->n_nodes; i++)
                        replay_cache_prune(s->nodes[i].core.replay, t);
                s->last_prune_usec = now;
        }
        (void) event_source_rearm(es, TIMER_USEC);
        return 0;
}

static int on_exit_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        Sim *s = userdata;
        (void) sd_event_exit(s->event, 0);
        return 0;
}

static json_t *sim_stats(const Sim *s) {
        ResponderStats t = {};
        size_t replay_ids = 0;
        for (size_t i = 0; i < s->n_nodes; i++) {
                const ResponderStats *st = &s->nodes[i].core.stats;
                replay_ids += replay_cache_size(s->nodes[i].core.replay);
                t.received += st->received;
                t.filtered += st->filtered;
                t.served += st->served;
                t.checks_run += st->checks_run;
                for (int k = 0; k < _DROP_MAX; k++)
                        t.dropped[k] += st->dropped[k];
        }
        uint64_t dropped = 0;
        for (int k = 0; k < _DROP_MAX; k++)
                dropped += t.dropped[k];
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                         "nodes", (json_int_t) s->n_nodes,
                         "replay_ids", (json_int_t) replay_ids,
                         "deliveries", (json_int_t) s->deliveries,
                         "received", (json_int_t) t.received,
                         "served", (json_int_t) t.served,
                         "filtered", (json_int_t) t.filtered,
                         "dropped", (json_int_t) dropped,
                         "replies", (json_int_t) s->replies,
                         "publish_failures", (json_int_t) s->publish_failures,
                         "unknown_consumer_tag", (json_int_t) s->unknown_tag,
                         "checks_inproc", (json_int_t) s->checks_inproc,
                         "checks_exec", (json_int_t) s->checks_exec,
                         "checks_running", (json_int_t) s->jobs.n_running);
}

static void sim_print_stats(const Sim *s) {
        _cleanup_json_ json_t *j = sim_stats(s);
        _cleanup_free_ char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        printf("STATS %s\n", strna(t));
        fflush(stdout);
}

static int on_usr1(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata) {
        sim_print_stats(userdata);
        return 0;
}

/* A few facts per identity, so that filters select subsets:
 * group = i % 10 ("-F group=0" selects 10 %), rack = i / 40 % 25,
 * role = web, db or cache by i % 3. */
static int node_facts(size_t i, json_t **ret) {
        static const char *const roles[] = { "web", "db", "cache" };
        char group[16], rack[16];

        snprintf(group, sizeof group, "%zu", i % 10);
        snprintf(rack, sizeof rack, "r%02zu", i / 40 % 25);
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "group", group, "rack", rack, "role", roles[i % 3],
                              "os", "debian");
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

static int sim_setup_nodes(Sim *s) {
        int64_t now = now_sec();

        s->nodes = calloc(arg_nodes, sizeof *s->nodes);
        if (!s->nodes)
                return log_oom();
        for (size_t i = 0; i < arg_nodes; i++) {
                SimNode *n = &s->nodes[i];
                int k = snprintf(n->identity, sizeof n->identity, "%s%05zu", arg_prefix, i + 1);
                if (k < 0 || (size_t) k >= sizeof n->identity || !identity_is_valid(n->identity))
                        return log_error_errno(-EINVAL, "Invalid identity \"%s%05zu\".", arg_prefix, i + 1);
                n->config = s->config;
                n->config.identity = n->identity;
                n->core = (ResponderCore) {
                        .config = &n->config,
                        .psk = s->creds.psk,
                        .verifier = &s->creds.verifier,
                        .signer = &s->creds.signer,
                        .policy = s->policy,
                        .nrpe = s->nrpe,
                        .classes = s->classes[i % 3],
                        .started_at = now,
                        .replay = replay_cache_new(REPLAY_MAX),
                };
                if (!n->core.replay || node_facts(i, &n->core.facts) < 0)
                        return log_oom();
                s->n_nodes++;
        }
        return 0;
}

/* Registration files as the collector writes them, through the collector's
 * own registry_store(). */
static int sim_write_registry(Sim *s) {
        _cleanup_close_ int dfd = -1;
        int64_t now = now_sec();
        int r;

        (void) mkdir(arg_registry_dir, 0755);
        dfd = open(arg_registry_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", arg_registry_dir);

        for (size_t i = 0; i < s->n_nodes; i++) {
                SimNode *n = &s->nodes[i];
                _cleanup_json_ json_t *j = NULL;
                _cleanup_free_ char *body = NULL;
                _cleanup_registration_ Registration *reg = NULL;
                char err[MESSAGE_ERROR_MAX], boot_id[64];
                size_t size;

                snprintf(boot_id, sizeof boot_id, "00000000-0000-4000-8000-%012zu", i + 1);
                j = registration_build(n->identity, s->config.collective, now,
                                       (int64_t) (s->config.heartbeat_interval_usec / USEC_PER_SEC), n->core.facts,
                                       n->core.classes, s->config.agents, boot_id, 3600, PACKAGE_VERSION);
                if (!j || message_dump(j, &body, &size) < 0)
                        return log_oom();
                r = registration_parse(body, size, s->config.max_message_size, &reg, err);
                if (r < 0)
                        return log_error_errno(r, "Registration of %s is invalid: %s", n->identity, err);
                r = registry_store(dfd, reg, now, now, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to write the registration of %s: %m", n->identity);
        }
        return 0;
}

static int conn_setup(Sim *s, Conn *c) {
        int r;

        r = amqp_session_connect(&c->session, &s->config);
        if (r < 0)
                return log_error_errno(r, "Failed to connect: %s", c->session.error);
        r = amqp_session_declare_exchanges(&c->session, &s->config);
        if (r < 0)
                return log_error_errno(r, "Failed to declare exchanges: %s", c->session.error);
        if (!s->reply_exchange) {
                r = amqp_session_declare_reply_exchange(&c->session, &s->config, &s->reply_exchange);
                if (r < 0)
                        return log_error_errno(r, "Failed to declare the reply exchange: %s", c->session.error);
        }
        /* Per consumer (global=0), as every responder has its own. */
        amqp_basic_qos(c->session.conn, AMQP_CHANNEL, 0, PREFETCH, 0);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(c->session.conn), "basic qos", c->session.error,
                                sizeof c->session.error);
        if (r < 0)
                return log_error_errno(r, "%s", c->session.error);
        c->by_tag = hashmap_new();
        if (!c->by_tag)
                return log_oom();
        return 0;
}

/* What muster-responder's manager_setup_consumer() does, for one identity. */
static int node_setup_consumer(Sim *s, SimNode *n, const char *bcast, const char *directed) {
        AmqpSession *as = &n->conn->session;
        _cleanup_free_ char *tag = NULL;
        int r;

        r = node_queue_setup(as, &n->config, n->identity, bcast, directed, NULL, &tag);
        if (r < 0)
                return r;
        amqp_maybe_release_buffers(as->conn);
        r = hashmap_put(n->conn->by_tag, tag, n);
        if (r < 0)
                return r;
        if (r == 0)
                return -EEXIST; /* the broker handed out a tag twice? */
        return 0;
}

typedef struct SetupJob {
        Sim *sim;
        Conn *conn;
        const char *bcast, *directed;
        pthread_t thread;
        int result;
        size_t failed_node;
} SetupJob;

/* Declaring queues and bindings is one synchronous call after another; a
 * thread per connection keeps the broker busy on every core meanwhile.
 * Each thread touches only its own connection, its hashmap and its nodes. */
static void *setup_thread(void *userdata) {
        SetupJob *j = userdata;
        Sim *s = j->sim;

        for (size_t i = j->conn->index; i < s->n_nodes; i += s->n_conns) {
                j->result = node_setup_consumer(s, &s->nodes[i], j->bcast, j->directed);
                if (j->result < 0) {
                        j->failed_node = i;
                        break;
                }
        }
        return NULL;
}

static int sim_connect(Sim *s) {
        _cleanup_free_ char *bcast = NULL, *directed = NULL;
        _cleanup_free_ SetupJob *jobs = NULL;
        int r;

        if (config_exchange(&s->config, "broadcast", &bcast) < 0 ||
            config_exchange(&s->config, "directed", &directed) < 0)
                return log_oom();

        s->n_conns = MIN((size_t) arg_connections, MAX(s->n_nodes, (size_t) 1));
        s->conns = calloc(s->n_conns, sizeof *s->conns);
        jobs = calloc(s->n_conns, sizeof *jobs);
        if (!s->conns || !jobs)
                return log_oom();
        for (size_t i = 0; i < s->n_conns; i++) {
                Conn *c = &s->conns[i];
                c->sim = s;
                c->index = (unsigned) i;
                r = conn_setup(s, c);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < s->n_nodes; i++)
                s->nodes[i].conn = &s->conns[i % s->n_conns];

        size_t started = 0;
        r = 0;
        for (size_t i = 0; i < s->n_conns; i++) {
                jobs[i] = (SetupJob) { .sim = s, .conn = &s->conns[i], .bcast = bcast, .directed = directed };
                int k = pthread_create(&jobs[i].thread, NULL, setup_thread, &jobs[i]);
                if (k != 0) {
                        r = log_error_errno(-k, "Failed to start a setup thread: %m");
                        break;
                }
                started++;
        }
        for (size_t i = 0; i < started; i++)
                (void) pthread_join(jobs[i].thread, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < started; i++) {
                if (jobs[i].result == -ENOMEM)
                        return log_oom();
                if (jobs[i].result < 0)
                        return log_error_errno(jobs[i].result, "Failed to set up the queue of %s: %s",
                                               s->nodes[jobs[i].failed_node].identity, s->conns[i].session.error);
        }

        for (size_t i = 0; i < s->n_conns; i++) {
                Conn *c = &s->conns[i];
                r = sd_event_add_io(s->event, &c->io_source, amqp_session_fd(&c->session), EPOLLIN, on_io, c);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch the broker connection: %m");
        }
        return 0;
}

static void sim_free(Sim *s) {
        if (!s)
                return;
        jobqueue_clear(&s->jobs);
        for (size_t i = 0; i < s->n_conns; i++) {
                Conn *c = &s->conns[i];
                c->io_source = sd_event_source_disable_unref(c->io_source);
                amqp_session_close(&c->session);
                free(c->session.url);
                hashmap_free(c->by_tag, NULL);
        }
        free(s->conns);
        for (size_t i = 0; i < s->n_nodes; i++) {
                replay_cache_free(s->nodes[i].core.replay);
                json_decref(s->nodes[i].core.facts);
        }
        free(s->nodes);
        s->timer_source = sd_event_source_disable_unref(s->timer_source);
        sd_event_unref(s->event);
        for (size_t i = 0; i < ELEMENTSOF(s->classes); i++)
                strv_free(s->classes[i]);
        nrpe_config_free(s->nrpe);
        policy_free(s->policy);
        credentials_done(&s->creds);
        free(s->reply_exchange);
        config_done(&s->config);
        free(s);
}

static void sim_freep(Sim **s) {
        sim_free(*s);
}

static int sim_new(Sim **ret) {
        _cleanup_(sim_freep) Sim *s = NULL;
        static const char *const roles[] = { "web", "db", "cache" };
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return log_oom();
        s->drop_ratelimit = (RateLimit) RATELIMIT_INIT(10 * USEC_PER_SEC, 10);

        r = config_load_all(arg_config, 0, &s->config, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to load %s.", strna(arg_config));
        log_set_max_level(s->config.log_level);

        if (arg_bench_checks == 0) {
                /* What muster-responder's runtime_load() sets up. */
                char error[CREDENTIALS_ERROR_MAX];
                _cleanup_strv_free_ char **warnings = NULL;
                r = credentials_load(&s->config, CREDENTIALS_SIGN | CREDENTIALS_CLIENT_KEYS, &s->creds, &warnings,
                                     error, sizeof error);
                log_warnings(warnings);
                if (r < 0)
                        return log_error_errno(r, "Failed to %s.", error);
                if (s->config.policy_file) {
                        r = policy_load(s->config.policy_file, &s->policy);
                        if (r < 0)
                                return log_error_errno(r, "Failed to load the policy %s: %m", s->config.policy_file);
                }
        }
        r = nrpe_config_load(s->config.nrpe_dir, &s->nrpe);
        if (r < 0)
                return log_error_errno(r, "Failed to load NRPE commands from %s: %m", s->config.nrpe_dir);
        for (size_t i = 0; i < ELEMENTSOF(s->classes); i++)
                if (strv_extend(&s->classes[i], "sim") < 0 || strv_extend(&s->classes[i], roles[i]) < 0)
                        return log_oom();
        s->jobs = (JobQueue) {
                .max_running = arg_max_running > 0 ? arg_max_running : s->config.max_concurrent_checks,
                .timeout_usec = s->config.nrpe_timeout_usec,
                .output_max = s->config.nrpe_output_max,
                .finished = job_finished,
                .userdata = s,
        };

        r = sigprocmask_block(SIGTERM, SIGINT, SIGUSR1, SIGCHLD, -1);
        if (r < 0)
                return log_error_errno(r, "Failed to block signals: %m");
        r = sd_event_new(&s->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        s->jobs.event = s->event;
        if ((r = sd_event_add_signal(s->event, NULL, SIGTERM, on_exit_signal, s)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGINT, on_exit_signal, s)) < 0 ||
            (r = sd_event_add_signal(s->event, NULL, SIGUSR1, on_usr1, s)) < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");

        *ret = TAKE_PTR(s);
        return 0;
}

/* --bench-checks: the checks' own cost on this machine, with the same
 * runner and the same concurrency limit, and no broker. */
static int run_bench_checks(Sim *s) {
        const char *line = nrpe_config_find(s->nrpe, arg_bench_command);
        int r;

        if (!line)
                return log_error_errno(-ENOENT, "No command %s in %s.", arg_bench_command, s->config.nrpe_dir);
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        s->bench_left = arg_bench_checks;
        for (size_t i = 0; i < arg_bench_checks; i++) {
                Job *j;
                if (job_new_command(arg_bench_command, line, &j) < 0)
                        return log_oom();
                jobqueue_submit(&s->jobs, j);
                if (s->exit_code < 0)
                        return s->exit_code;
        }
        r = sd_event_loop(s->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        if (s->exit_code < 0)
                return s->exit_code;
        uint64_t wall = now_usec(CLOCK_MONOTONIC) - start;
        printf("CHECKS {\"checks\": %zu, \"max_running\": %u, \"wall_ms\": %.3f, \"ok\": %" PRIu64
               ", \"not_ok\": %" PRIu64 "}\n",
               arg_bench_checks, s->jobs.max_running, (double) wall / 1000.0, s->bench_exitcodes[0],
               s->bench_exitcodes[1] + s->bench_exitcodes[2] + s->bench_exitcodes[3]);
        return 0;
}

static void help(void) {
        printf("Usage: muster-simulator --config PATH [OPTIONS]\n\n"
               "Host many muster node identities in one process, each with its own queue,\n"
               "bindings and consumer, answering through the responder's own code.\n\n"
               "  -c --config=PATH            muster.conf with the broker, psk_file, collective\n"
               "                              and nrpe command_dir\n"
               "  -n --nodes=N                Number of identities (default 100)\n"
               "     --prefix-identity=STR    Identities are STR00001, STR00002, ... (default sim)\n"
               "     --check-mode=MODE        inproc: answer NRPE requests at once with\n"
               "                              \"" SIMULATED_OUTPUT "\"; exec: run the command line\n"
               "     --inproc-command=NAME    Answer NAME in-process even with --check-mode=exec\n"
               "     --distinct-command=NAME  Answer NAME in-process with an output that names the\n"
               "                              node (every reply's data differs)\n"
               "     --max-running=N          Concurrent checks in exec mode, all identities together\n"
               "                              (default responder.max_concurrent_checks)\n"
               "     --connections=N          AMQP connections to spread the identities over (default 4)\n"
               "     --registry-dir=DIR       Write a registration file per identity into DIR\n"
               "     --bench-checks=N         Run N checks of --bench-command with the same runner\n"
               "                              and limit, no broker, print their wall time, exit\n"
               "     --bench-command=NAME     (default check_dummy)\n"
               "  -h --help                   Show this help\n\n"
               "Prints \"READY N\" once every queue is consuming, \"STATS {...}\" on SIGUSR1\n"
               "and at exit (SIGTERM/SIGINT).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_PREFIX = 0x100,
                ARG_CHECK_MODE,
                ARG_INPROC_COMMAND,
                ARG_DISTINCT_COMMAND,
                ARG_MAX_RUNNING,
                ARG_CONNECTIONS,
                ARG_REGISTRY_DIR,
                ARG_BENCH_CHECKS,
                ARG_BENCH_COMMAND,
        };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "nodes", required_argument, NULL, 'n' },
                { "prefix-identity", required_argument, NULL, ARG_PREFIX },
                { "check-mode", required_argument, NULL, ARG_CHECK_MODE },
                { "inproc-command", required_argument, NULL, ARG_INPROC_COMMAND },
                { "distinct-command", required_argument, NULL, ARG_DISTINCT_COMMAND },
                { "max-running", required_argument, NULL, ARG_MAX_RUNNING },
                { "connections", required_argument, NULL, ARG_CONNECTIONS },
                { "registry-dir", required_argument, NULL, ARG_REGISTRY_DIR },
                { "bench-checks", required_argument, NULL, ARG_BENCH_CHECKS },
                { "bench-command", required_argument, NULL, ARG_BENCH_COMMAND },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        uint64_t u;
        unsigned v;
        int c;

        while ((c = getopt_long(argc, argv, "c:n:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 'n':
                        if (parse_uint64(optarg, &u) < 0 || u < 1 || u > 99999)
                                return log_error_errno(-EINVAL, "Invalid --nodes \"%s\", expected 1 to 99999.",
                                                       optarg);
                        arg_nodes = (size_t) u;
                        break;
                case ARG_PREFIX:
                        if (strlen(optarg) > 32)
                                return log_error_errno(-EINVAL, "Identity prefix too long.");
                        arg_prefix = optarg;
                        break;
                case ARG_CHECK_MODE:
                        if (streq(optarg, "inproc"))
                                arg_check_mode = CHECK_INPROC;
                        else if (streq(optarg, "exec"))
                                arg_check_mode = CHECK_EXEC;
                        else
                                return log_error_errno(-EINVAL, "Invalid --check-mode \"%s\", expected inproc or exec.",
                                                       optarg);
                        break;
                case ARG_INPROC_COMMAND:
                case ARG_DISTINCT_COMMAND:
                        if (!nrpe_command_name_is_valid(optarg))
                                return log_error_errno(-EINVAL, "Invalid command name \"%s\".", optarg);
                        if (strv_extend(c == ARG_INPROC_COMMAND ? &arg_inproc_commands : &arg_distinct_commands,
                                        optarg) < 0)
                                return log_oom();
                        break;
                case ARG_MAX_RUNNING:
                        if (parse_uint(optarg, &v) < 0 || v < 1 || v > 4096)
                                return log_error_errno(-EINVAL, "Invalid --max-running \"%s\".", optarg);
                        arg_max_running = v;
                        break;
                case ARG_CONNECTIONS:
                        if (parse_uint(optarg, &v) < 0 || v < 1 || v > 256)
                                return log_error_errno(-EINVAL, "Invalid --connections \"%s\".", optarg);
                        arg_connections = v;
                        break;
                case ARG_REGISTRY_DIR:
                        arg_registry_dir = optarg;
                        break;
                case ARG_BENCH_CHECKS:
                        if (parse_uint64(optarg, &u) < 0 || u < 1 || u > 1000000)
                                return log_error_errno(-EINVAL, "Invalid --bench-checks \"%s\".", optarg);
                        arg_bench_checks = (size_t) u;
                        break;
                case ARG_BENCH_COMMAND:
                        arg_bench_command = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "This program takes no arguments.");
        if (!arg_config)
                return log_error_errno(-EINVAL, "--config is required.");
        return 1;
}

static int run(int argc, char *argv[]) {
        int r;

        log_setup("muster-simulator", false);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        _cleanup_(sim_freep) Sim *s = NULL;
        r = sim_new(&s);
        if (r < 0)
                return r;

        if (arg_bench_checks > 0)
                return run_bench_checks(s);

        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        r = sim_setup_nodes(s);
        if (r < 0)
                return r;
        if (arg_registry_dir) {
                r = sim_write_registry(s);
                if (r < 0)
                        return r;
        }
        uint64_t t1 = now_usec(CLOCK_MONOTONIC);
        r = sim_connect(s);
        if (r < 0)
                return r;
        uint64_t t2 = now_usec(CLOCK_MONOTONIC);
        log_info("%zu identities on %zu connection(s): set up in %.0f ms, queues consuming after %.0f ms more.",
                 s->n_nodes, s->n_conns, (double) (t1 - t0) / 1000.0, (double) (t2 - t1) / 1000.0);

        r = sd_event_add_time_relative(s->event, &s->timer_source, CLOCK_MONOTONIC, TIMER_USEC, 0, on_timer, s);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the timer: %m");
        s->last_prune_usec = now_usec(CLOCK_MONOTONIC);

        printf("READY %zu\n", s->n_nodes);
        fflush(stdout);

        /* Anything that arrived while we set up. */
        for (size_t i = 0; i < s->n_conns; i++)
                (void) conn_drain(&s->conns[i]);

        r = sd_event_loop(s->event);
        sim_print_stats(s);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return s->exit_code;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        strv_free(arg_inproc_commands);
        strv_free(arg_distinct_commands);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
